//! `tlsbox connect`: a one-shot client, like `openssl s_client`.

use anyhow::{bail, Context, Result};
use tlsbox_host::{ClientConfig, ClientOptions, Engine, EngineConfig};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::keysource::{self, read_chain};
use super::{names, Address, ConnectArgs};

pub(crate) async fn run(args: ConnectArgs) -> Result<()> {
    let address: Address = args.address.parse().map_err(anyhow::Error::msg)?;
    let host = address.host().context("expected HOST:PORT")?;
    let server_name = args.servername.clone().unwrap_or_else(|| host.to_string());
    let trust_anchors = match &args.ca {
        Some(path) => read_chain(path)?,
        None => system_roots()?,
    };
    let client = keysource::load_client(args.cert.as_ref(), args.key.as_ref(), &args.pkcs11)?;
    let (identity, keys) = (client.identities.into_iter().next(), client.keystore);
    let options = ClientOptions {
        server_name,
        trust_anchors,
        identity,
        alpn_protocols: args.protocol.alpn_protocols(),
        groups: args.protocol.groups.clone(),
        cipher_suites: args.protocol.cipher_suites.clone(),
        versions: args.protocol.versions(),
        key_policy: args.protocol.key_policy(),
        ..Default::default()
    };
    let engine = Engine::new(EngineConfig {
        max_instances: 4,
        ..EngineConfig::default()
    })?;
    let config = ClientConfig::new(&engine, &options, keys).context("client configuration")?;
    let tcp = TcpStream::connect(&args.address)
        .await
        .with_context(|| format!("connecting to {}", args.address))?;
    let mut tls = tlsbox_host::stream::connect(&engine, &config, tcp)
        .await
        .context("TLS handshake")?;
    let info = tls.session_info()?;
    super::say(format_args!(
        "tlsbox: connected to {}: {}",
        args.address,
        names::summary(&info)
    ));

    let (mut from_peer, mut to_peer) = tokio::io::split(tls);
    let upstream = tokio::spawn(async move {
        let mut stdin = BufReader::new(tokio::io::stdin());
        tokio::io::copy(&mut stdin, &mut to_peer).await?;
        // stdin ended: send close_notify, keep reading the peer.
        to_peer.shutdown().await?;
        Ok::<_, std::io::Error>(())
    });
    let mut stdout = tokio::io::stdout();
    let copied = tokio::io::copy(&mut from_peer, &mut stdout).await;
    stdout.flush().await?;
    // The peer is done: whatever stdin still holds has nowhere to go.
    if upstream.is_finished() {
        if let Ok(Err(e)) = upstream.await {
            return Err(e).context("writing to the peer");
        }
    } else {
        upstream.abort();
    }
    copied.context("reading from the peer")?;
    Ok(())
}

pub(crate) fn system_roots() -> Result<Vec<Vec<u8>>> {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        bail!("no system trust anchors found; pass --ca");
    }
    Ok(found.certs.into_iter().map(|c| c.as_ref().to_vec()).collect())
}
