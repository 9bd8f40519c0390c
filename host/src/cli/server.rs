//! `tlsbox server`: accept TLS, each connection in its own box.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tlsbox_host::keystore::software::SoftwareKeystore;
use tlsbox_host::{Engine, EngineConfig, Identity, ServerConfig, ServerOptions};
use tokio::net::TcpListener;

use super::{identity, names, responder, ServerArgs};

/// The keystore's name for the server key.
const KEY_NAME: &str = "server";

pub(crate) async fn run(args: ServerArgs) -> Result<()> {
    if !args.listen.ip().is_loopback() && !args.unsafe_listen {
        bail!(
            "refusing to listen on {} (not loopback) without --unsafe-listen",
            args.listen
        );
    }
    let (cert, key) = match (args.cert, args.key) {
        (Some(cert), Some(key)) => (cert, key),
        _ => {
            let dir = match args.state_dir {
                Some(d) => d,
                None => dirs::data_dir()
                    .context("no data directory; pass --state-dir")?
                    .join("tlsbox"),
            };
            let generated = identity::load_or_generate(&dir)?;
            eprintln!(
                "tlsbox: serving a generated certificate for localhost: {}",
                generated.cert.display()
            );
            eprintln!(
                "tlsbox: trust it with: curl --cacert {} https://localhost:{}/",
                generated.ca_cert.display(),
                args.listen.port()
            );
            (generated.cert, generated.key)
        }
    };

    let chain = read_chain(&cert)?;
    let mut keys = SoftwareKeystore::new();
    keys.load_pem_file(KEY_NAME, &key)
        .with_context(|| format!("loading the key {}", key.display()))?;
    let engine = Engine::new(EngineConfig::default()).context("starting the engine")?;
    let options = ServerOptions {
        identity: Identity {
            certificate_chain: chain,
            key: KEY_NAME.into(),
            schemes: vec![],
        },
        alpn_protocols: args.alpn.iter().map(|p| p.as_bytes().to_vec()).collect(),
        ..Default::default()
    };
    let config = ServerConfig::new(&engine, &options, Arc::new(keys)).context("server configuration")?;

    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    tracing::info!(listen = %listener.local_addr()?, "tlsbox server ready");
    let handshake_timeout = Duration::from_secs(args.handshake_timeout);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                };
                let (engine, config) = (engine.clone(), config.clone());
                tokio::spawn(async move {
                    let accepted = tokio::time::timeout(handshake_timeout, tlsbox_host::stream::accept(&engine, &config, tcp)).await;
                    let mut tls = match accepted {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::info!(%peer, error = %e, "handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::info!(%peer, "handshake timed out");
                            return;
                        }
                    };
                    let info = match tls.session_info() {
                        Ok(info) => info,
                        Err(e) => {
                            tracing::warn!(%peer, error = %e, "session info");
                            return;
                        }
                    };
                    tracing::info!(%peer, "{}", names::summary(&info));
                    if let Err(e) = responder::respond(&mut tls, &info).await {
                        tracing::info!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("interrupted; stopping");
                return Ok(());
            }
        }
    }
}

pub(crate) fn read_chain(path: &Path) -> Result<Vec<Vec<u8>>> {
    let chain = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading {}", path.display()))?
        .map(|c| c.map(|c| c.as_ref().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", path.display()))?;
    if chain.is_empty() {
        bail!("no certificate in {}", path.display());
    }
    Ok(chain)
}
