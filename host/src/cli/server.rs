//! `tlsbox server`: accept TLS, each connection in its own box.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use tlsbox_host::{Engine, EngineConfig, Identity, ServerConfig, ServerOptions};
use tokio::net::TcpListener;

use super::{identity, keysource, names, responder, ServerArgs};

pub(crate) async fn run(args: ServerArgs) -> Result<()> {
    if !args.listen.ip().is_loopback() && !args.unsafe_listen {
        bail!(
            "refusing to listen on {} (not loopback) without --unsafe-listen",
            args.listen
        );
    }
    let (chain, keys) = match args.key.as_deref() {
        Some(key) => keysource::load(args.cert.as_deref(), key, &args.pkcs11)?,
        None => {
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
            let key = generated.key.to_string_lossy().into_owned();
            keysource::load(Some(&generated.cert), &key, &args.pkcs11)?
        }
    };
    let engine = Engine::new(EngineConfig::default()).context("starting the engine")?;
    let options = ServerOptions {
        identity: Identity {
            certificate_chain: chain,
            key: keysource::KEY_NAME.into(),
            schemes: vec![],
        },
        alpn_protocols: args.protocol.alpn_protocols(),
        groups: args.protocol.groups.clone(),
        ..Default::default()
    };
    let config = ServerConfig::new(&engine, &options, keys).context("server configuration")?;

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
