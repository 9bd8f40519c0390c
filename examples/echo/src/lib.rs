//! Embedding example: a TLS echo server whose connections each run in
//! their own box. The whole integration is [`serve`]: accept with tokio,
//! hand the socket to [`tlsbox_host::stream::accept`], use the result as
//! any `AsyncRead + AsyncWrite`.

use tlsbox_host::{Engine, ServerConfig};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// Accept connections on `listener` forever, echoing what each peer sends.
pub async fn serve(listener: TcpListener, engine: Engine, config: ServerConfig) -> std::io::Result<()> {
    loop {
        let (tcp, peer) = listener.accept().await?;
        let (engine, config) = (engine.clone(), config.clone());
        tokio::spawn(async move {
            let mut tls = match tlsbox_host::stream::accept(&engine, &config, tcp).await {
                Ok(tls) => tls,
                Err(e) => {
                    eprintln!("{peer}: handshake failed: {e}");
                    return;
                }
            };
            // Echo until the peer sends close_notify, then answer with ours.
            let (mut reader, mut writer) = tokio::io::split(&mut tls);
            if let Err(e) = tokio::io::copy(&mut reader, &mut writer).await {
                eprintln!("{peer}: {e}");
                return;
            }
            let _ = tls.shutdown().await;
        });
    }
}
