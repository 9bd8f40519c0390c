//! A box server on a real socket, for real TLS peers to talk to.

use std::net::SocketAddr;
use std::sync::Arc;

use tlsbox_core::keystore::Keystore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::engine;

/// A box server on 127.0.0.1 (a free port) answering each connection with
/// one line naming what was negotiated, after reading a first line.
pub struct BoxServer {
    /// Where it listens.
    pub addr: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

impl BoxServer {
    /// Start it with `options` and `keys`.
    pub fn start(options: tlsbox_core::ServerOptions, keys: Arc<dyn Keystore>) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let config = tlsbox_host::ServerConfig::new(engine(), &options, keys).unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        runtime.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let config = config.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = tlsbox_host::stream::accept(engine(), &config, tcp).await else {
                        return;
                    };
                    let info = tls.session_info().unwrap();
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.contains(&b'\n') {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let body = format!(
                        "negotiated version={:?} suite={:?} group={:?} request={}\n",
                        info.version,
                        info.cipher_suite,
                        info.group,
                        String::from_utf8_lossy(&request).lines().next().unwrap_or("")
                    );
                    let response = if request.starts_with(b"GET ") {
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    } else {
                        body
                    };
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Self {
            addr,
            _runtime: runtime,
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}
