//! `tlsbox-example-echo [ADDR] [CERT.pem KEY.pem]`: a TLS echo server, each
//! connection in its own box. Defaults: 127.0.0.1:4433 and the repository's
//! test certificate for localhost (trust `tests/test-ca/ca.pem`).
//!
//! ```text
//! cargo run --release -p tlsbox-example-echo &
//! openssl s_client -connect 127.0.0.1:4433 -CAfile tests/test-ca/ca.pem -servername localhost
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tlsbox_host::keystore::software::SoftwareKeystore;
use tlsbox_host::{Engine, EngineConfig, Identity, ServerConfig, ServerOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:4433".into());
    let test_ca = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/test-ca");
    let cert = args
        .next()
        .map_or_else(|| test_ca.join("ecdsa-p256.pem"), PathBuf::from);
    let key = args
        .next()
        .map_or_else(|| test_ca.join("ecdsa-p256.key"), PathBuf::from);

    // The key goes to a keystore; the box only ever gets its name.
    let mut keys = SoftwareKeystore::new();
    keys.load_pem_file("server", &key)
        .with_context(|| format!("loading {}", key.display()))?;
    let chain = std::fs::read(&cert).with_context(|| format!("reading {}", cert.display()))?;
    let chain = rustls_pki_types::pem::PemObject::pem_slice_iter(&chain)
        .map(|c: Result<rustls_pki_types::CertificateDer<'static>, _>| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .context("parsing the certificate chain")?;

    let engine = Engine::new(EngineConfig::default())?;
    let options = ServerOptions {
        identity: Identity {
            certificate_chain: chain,
            key: "server".into(),
            schemes: vec![],
        },
        ..Default::default()
    };
    let config = ServerConfig::new(&engine, &options, Arc::new(keys))?;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("echoing TLS on {addr}");
    tlsbox_example_echo::serve(listener, engine, config).await?;
    Ok(())
}
