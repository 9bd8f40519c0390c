//! Real TLS peers (openssl, gnutls-cli, curl) and a box server on a real
//! socket for them to talk to.

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tlsbox_core::keystore::Keystore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::engine;

/// Panic with a clear message if a peer tool is missing (the README's test
/// command installs them).
pub fn require(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{tool} is not installed: run the README's test command (tests/run.sh), which installs it"
    );
}

/// Run `cmd` with `stdin` fed in, killing it after `timeout`.
pub fn run(cmd: &mut Command, stdin: &[u8], timeout: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    let pid = child.id();
    let guard = std::thread::spawn(move || {
        std::thread::sleep(timeout);
        let _ = Command::new("kill").arg(pid.to_string()).status();
    });
    // Keep stdin open briefly so the tool sends its data before seeing EOF.
    std::thread::sleep(Duration::from_millis(300));
    drop(input);
    let out = child.wait_with_output().unwrap();
    drop(guard);
    out
}

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

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wait until something accepts on `port`.
pub fn wait_for_port(port: u16) {
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("nothing listens on port {port} after 30 s");
}
