//! `tlsbox server`: from flags to a listener spec and a checked server
//! configuration (rebuilt on reload).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use tlsbox_host::core::options::MAX_TICKET_LIFETIME;
use tlsbox_host::core::rustls::NamedGroup;
use tlsbox_host::core::Resumption;
use tlsbox_host::keystore::Keystore;
use tlsbox_host::relay::{RelayedKeystore, TicketRelay};
use tlsbox_host::{ClientAuth, Engine, PeerPolicy, ServerConfig, ServerOptions};

use super::{identity, keysource, LimitArgs, ServerArgs};
use crate::proxy::{self, forward_bounds, Limits, ListenerSpec, Role, TlsConfig, TlsState};

/// The listen address when none is given.
const DEFAULT_LISTEN: &str = "127.0.0.1:8443";

/// A new ticket key twice a day; a ticket opens for 12 to 24 hours.
const DEFAULT_TICKET_ROTATION: Duration = Duration::from_secs(12 * 3600);

/// Two tickets, as OpenSSL sends: a client may open two connections at once.
const DEFAULT_TICKETS_PER_HANDSHAKE: u8 = 2;

/// Check the addresses (loopback unless told otherwise) and fix the role.
pub(crate) async fn spec(args: &ServerArgs) -> Result<ListenerSpec> {
    let listen = match &args.listen {
        Some(a) => a.clone(),
        None => DEFAULT_LISTEN.parse().map_err(anyhow::Error::msg)?,
    };
    if !listen.is_local().await? && !args.unsafe_listen {
        bail!("refusing to listen on {listen} (not loopback) without --unsafe-listen");
    }
    if let Some(target) = &args.target {
        if !target.is_local().await? && !args.unsafe_target {
            bail!("refusing to forward to {target} (not loopback or a UNIX socket) without --unsafe-target");
        }
    }
    Ok(ListenerSpec {
        listen,
        limits: limits(&args.limits),
        role: Role::Server {
            target: args.target.clone(),
            proxy_protocol_out: args.proxy_protocol,
            proxy_protocol_in: args.proxy_protocol_in,
        },
    })
}

/// The limits flags, with defaults.
pub(crate) fn limits(args: &LimitArgs) -> Limits {
    Limits {
        max_conns: args
            .max_concurrent_conns
            .map_or(proxy::DEFAULT_MAX_CONNS, |n| n as usize)
            .max(1),
        max_handshakes: args.max_concurrent_handshakes.map_or(64, |n| n as usize).max(1),
        max_signatures: args.max_queued_signatures.map_or(32, |n| n as usize).max(1),
        handshake_timeout: Duration::from_secs(args.handshake_timeout.unwrap_or(10)),
        bounds: forward_bounds(
            args.idle_timeout.filter(|s| *s > 0).map(Duration::from_secs),
            args.max_conn_lifetime.filter(|s| *s > 0).map(Duration::from_secs),
        ),
    }
}

/// Read certificates, keys, CA bundle and allow-lists; check them in a box.
pub(crate) fn build(
    engine: &Engine,
    args: &ServerArgs,
    meter: &dyn Fn(Arc<dyn Keystore>) -> Arc<dyn Keystore>,
) -> Result<TlsState> {
    let rotation = ticket_rotation(args);
    let (loaded, trust_hint) = if args.key.is_empty() {
        if !args.cert.is_empty() {
            bail!("--cert needs --key");
        }
        let (loaded, ca) = generated_identity(args, rotation)?;
        (loaded, Some(ca))
    } else {
        (
            keysource::load_all(&args.cert, &args.key, &args.pkcs11, rotation)?,
            None,
        )
    };
    let (client_auth, peer_policy) = client_authentication(args)?;
    let mut identities = loaded.identities.into_iter();
    let identity = identities.next().context("no identity")?;
    let sni_identities: Vec<_> = identities.collect();
    let leaves = std::iter::once(&identity)
        .chain(&sni_identities)
        .filter_map(|i| i.certificate_chain.first().cloned())
        .collect();
    let options = ServerOptions {
        identity,
        sni_identities,
        alpn_protocols: args.protocol.alpn_protocols(),
        groups: args.protocol.groups.clone(),
        cipher_suites: args.protocol.cipher_suites.clone(),
        versions: args.protocol.versions(),
        client_auth,
        peer_policy,
        resumption: loaded.tickets.map(|token_group| Resumption {
            tickets_per_handshake: args
                .tickets
                .tickets_per_handshake
                .unwrap_or(DEFAULT_TICKETS_PER_HANDSHAKE),
            ticket_lifetime: u32::try_from(rotation.unwrap_or(DEFAULT_TICKET_ROTATION).as_secs())
                .unwrap_or(MAX_TICKET_LIFETIME)
                .min(MAX_TICKET_LIFETIME),
            // From a relay box, the transfer is always over X25519.
            transfer_group: match args.tickets.no_ticket_relay {
                true => token_group,
                false => NamedGroup::X25519,
            },
        }),
        key_policy: args.protocol.key_policy(),
    };
    let (keystore, relay) = match loaded.tickets {
        // The token is asked for the ticket keys once per relay and
        // rotation; the relays wrap them for each connection's box.
        Some(token_group) if !args.tickets.no_ticket_relay => {
            let relay = Arc::new(TicketRelay::new(
                engine,
                loaded.keystore.clone(),
                token_group,
                tlsbox_host::relay::default_slots(),
            ));
            let keystore: Arc<dyn Keystore> = Arc::new(RelayedKeystore::new(loaded.keystore, &relay));
            (keystore, Some(relay))
        }
        _ => (loaded.keystore, None),
    };
    let config = ServerConfig::new(engine, &options, meter(keystore)).context("server configuration")?;
    Ok(TlsState {
        config: TlsConfig::Server(config),
        leaves,
        tokens: loaded.tokens,
        _relay: relay,
        trust_hint,
    })
}

/// The zero-configuration identity: a local CA's certificate for
/// localhost, and that CA's certificate file. How to trust it is said once
/// the listener is bound, with the port it got (`--listen 127.0.0.1:0`).
fn generated_identity(args: &ServerArgs, rotation: Option<Duration>) -> Result<(keysource::Loaded, PathBuf)> {
    let dir = match &args.state_dir {
        Some(d) => d.clone(),
        None => dirs::data_dir()
            .context("no data directory; pass --state-dir")?
            .join("tlsbox"),
    };
    let generated = identity::load_or_generate(&dir)?;
    super::say(format_args!(
        "tlsbox: serving a generated certificate for localhost: {}",
        generated.cert.display()
    ));
    let key = generated.key.to_string_lossy().into_owned();
    let loaded = keysource::load_all(&[generated.cert], &[key], &args.pkcs11, rotation)?;
    Ok((loaded, generated.ca_cert))
}

/// How often ticket keys rotate, or `None` for no tickets. With client
/// certificates there are none: a resumed session would skip the
/// certificate's verification and the --allow-* policy.
fn ticket_rotation(args: &ServerArgs) -> Option<Duration> {
    if args.tickets.no_tickets {
        return None;
    }
    if args.cacert.is_some() && !args.disable_authentication {
        tracing::info!("session tickets off: client certificates are verified on every handshake");
        return None;
    }
    Some(args.tickets.ticket_rotation.unwrap_or(DEFAULT_TICKET_ROTATION))
}

/// Client certificates: asked for when --cacert is given, and with
/// --target only under an explicit policy (ghostunnel's safe default).
fn client_authentication(args: &ServerArgs) -> Result<(ClientAuth, PeerPolicy)> {
    let allow = &args.allow;
    let policy = PeerPolicy {
        common_names: allow.allow_cn.clone(),
        organizational_units: allow.allow_ou.clone(),
        dns_names: allow.allow_dns.clone(),
        uris: allow.allow_uri.clone(),
        spki_sha256: allow
            .allow_spki_pin
            .iter()
            .map(|p| parse_pin(p))
            .collect::<Result<_>>()?,
    };
    let explicit = allow.allow_all || !policy.is_open();
    if args.disable_authentication {
        return Ok((ClientAuth::None, PeerPolicy::default()));
    }
    if args.target.is_some() && !explicit {
        bail!(
            "--target needs an explicit client policy: --cacert with --allow-all or an --allow-* rule \
             (--allow-cn, --allow-ou, --allow-dns, --allow-uri, --allow-spki-pin), or --disable-authentication"
        );
    }
    match &args.cacert {
        Some(path) => Ok((ClientAuth::Required(keysource::read_chain(path)?), policy)),
        None if explicit => bail!("--allow-* rules need --cacert: the CA bundle client certificates must chain to"),
        None => Ok((ClientAuth::None, PeerPolicy::default())),
    }
}

/// `sha256:HEX` or `sha256:BASE64` (of the DER SubjectPublicKeyInfo).
pub(crate) fn parse_pin(pin: &str) -> Result<Vec<u8>> {
    let Some(digest) = pin.strip_prefix("sha256:").or_else(|| pin.strip_prefix("sha256//")) else {
        bail!("SPKI pin {pin:?}: expected sha256:HEX or sha256:BASE64");
    };
    let bytes = if digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| {
                digest
                    .get(2 * i..2 * i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .context("bad hex")
            })
            .collect::<Result<Vec<u8>>>()?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(digest)
            .with_context(|| format!("SPKI pin {pin:?}: neither hex nor base64"))?
    };
    if bytes.len() != 32 {
        bail!(
            "SPKI pin {pin:?}: a SHA-256 digest has 32 bytes, this has {}",
            bytes.len()
        );
    }
    Ok(bytes)
}
