//! `tlsbox client`: from flags to a listener spec and a checked client
//! configuration (rebuilt on reload).

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use tlsbox_host::keystore::Keystore;
use tlsbox_host::{ClientConfig, ClientOptions, Engine, PeerPolicy};

use super::server::{limits, parse_pin};
use super::{keysource, Address, ClientArgs};
use crate::proxy::{ListenerSpec, Role, TlsConfig, TlsState};

/// Check the listen address (loopback unless told otherwise).
pub(crate) async fn spec(args: &ClientArgs) -> Result<ListenerSpec> {
    let listen = args.listen.clone().context("client mode needs --listen")?;
    let target = target(args)?;
    if matches!(target, Address::Unix(_)) {
        bail!("--target of client mode is a TLS server: HOST:PORT");
    }
    if !listen.is_local().await? && !args.unsafe_listen {
        bail!("refusing to listen on {listen} (not loopback) without --unsafe-listen");
    }
    Ok(ListenerSpec {
        listen,
        limits: limits(&args.limits),
        role: Role::Client { target },
    })
}

fn target(args: &ClientArgs) -> Result<Address> {
    args.target
        .as_deref()
        .context("client mode needs --target HOST:PORT")?
        .parse()
        .map_err(anyhow::Error::msg)
}

/// Read trust anchors, client identity and verify rules; check them in a box.
pub(crate) fn build(
    engine: &Engine,
    args: &ClientArgs,
    meter: &dyn Fn(Arc<dyn Keystore>) -> Arc<dyn Keystore>,
) -> Result<TlsState> {
    let target = target(args)?;
    let server_name = match &args.override_server_name {
        Some(name) => name.clone(),
        None => target.host().context("--target has no host")?.to_string(),
    };
    let trust_anchors = match &args.cacert {
        Some(path) => keysource::read_chain(path)?,
        None => super::connect::system_roots()?,
    };
    let client = keysource::load_client(args.cert.as_ref(), args.key.as_ref(), &args.pkcs11)?;
    let identity = client.identities.into_iter().next();
    let verify = &args.verify;
    let peer_policy = PeerPolicy {
        common_names: verify.verify_cn.clone(),
        organizational_units: verify.verify_ou.clone(),
        dns_names: verify.verify_dns.clone(),
        uris: verify.verify_uri.clone(),
        spki_sha256: verify
            .verify_spki_pin
            .iter()
            .map(|p| parse_pin(p))
            .collect::<Result<_>>()?,
    };
    let leaves = identity
        .iter()
        .filter_map(|i| i.certificate_chain.first().cloned())
        .collect();
    let options = ClientOptions {
        server_name,
        trust_anchors,
        identity,
        alpn_protocols: args.protocol.alpn_protocols(),
        groups: args.protocol.groups.clone(),
        cipher_suites: args.protocol.cipher_suites.clone(),
        versions: args.protocol.versions(),
        peer_policy,
        key_policy: args.protocol.key_policy(),
    };
    let config = ClientConfig::new(engine, &options, meter(client.keystore)).context("client configuration")?;
    Ok(TlsState {
        _relay: None,
        config: TlsConfig::Client(config),
        leaves,
        tokens: client.tokens,
        trust_hint: None,
    })
}
