//! The one module that drives rustls: configs built from [`crate::options`],
//! and a sans-IO [`Connection`] over rustls' buffered connection API fed
//! from in-memory buffers. Swapping rustls' API (0.24) should touch this
//! file only.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use std::io::{self, BufRead, Write};

use std::sync::Mutex;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, NoServerSessionStorage, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    AlertDescription, CertificateError, CipherSuite, DigitallySignedStruct, DistinguishedName, NamedGroup,
    ProtocolVersion, RootCertStore, SignatureScheme, SupportedProtocolVersion,
};

use crate::error::Error;
use crate::keystore::Keystore;
use crate::options::{ClientAuth, ClientOptions, Identity, KeyPolicy, ServerOptions, MAX_TICKET_LIFETIME};
use crate::peer_policy::{PeerPolicy, Verdict};
use crate::provider;
use crate::signer::RemoteSigningKey;
use crate::tickets::Ticketer;

/// A checked server configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    config: Arc<rustls::ServerConfig>,
    /// The rules for client certificates, when they are asked for.
    policy: Option<PeerPolicy>,
    denials: Arc<Denials>,
    key_policy: KeyPolicy,
}

/// A checked client configuration.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    config: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
    /// Rules for the server certificate beyond its name, if any.
    policy: Option<PeerPolicy>,
    denials: Arc<Denials>,
    key_policy: KeyPolicy,
}

/// Why the peer policy last refused a peer. rustls' `access_denied` error
/// carries no text, so the verifier leaves it here for the connection's
/// error. The host gives every connection its own box and configuration;
/// a native caller sharing one configuration between concurrent
/// connections may see another connection's reason.
#[derive(Debug, Default)]
struct Denials(Mutex<Option<String>>);

impl Denials {
    fn record(&self, reason: String) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reason);
    }

    fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }
}

/// Apply the peer policy to a chain the trust anchors already verified.
fn judge(policy: &PeerPolicy, denials: &Denials, end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error> {
    match policy.evaluate(end_entity.as_ref()) {
        Verdict::Allowed(_) => Ok(()),
        Verdict::Denied(reason) => {
            denials.record(reason);
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }
}

/// The handshake-signature half of a verifier: the wrapped WebPKI
/// verifier's, unchanged (the policy judges certificates, not signatures).
macro_rules! handshake_signatures_by_webpki {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.webpki.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.webpki.verify_tls13_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.webpki.supported_verify_schemes()
        }
    };
}

/// WebPKI client verification, then the peer policy.
#[derive(Debug)]
struct PolicyClientVerifier {
    webpki: Arc<dyn ClientCertVerifier>,
    policy: PeerPolicy,
    denials: Arc<Denials>,
}

impl ClientCertVerifier for PolicyClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.webpki.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.webpki.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.webpki.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self.webpki.verify_client_cert(end_entity, intermediates, now)?;
        judge(&self.policy, &self.denials, end_entity)?;
        Ok(verified)
    }

    handshake_signatures_by_webpki!();
}

/// WebPKI server verification (chain and name), then the peer policy.
#[derive(Debug)]
struct PolicyServerVerifier {
    webpki: Arc<dyn ServerCertVerifier>,
    policy: PeerPolicy,
    denials: Arc<Denials>,
}

impl ServerCertVerifier for PolicyServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self
            .webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        judge(&self.policy, &self.denials, end_entity)?;
        Ok(verified)
    }

    handshake_signatures_by_webpki!();
}

/// Picks the identity by SNI: the first further identity whose leaf is
/// valid for the name asked for, else the default one.
#[derive(Debug)]
struct SniIdentities {
    default: Arc<CertifiedKey>,
    by_name: Vec<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for SniIdentities {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = client_hello.server_name().and_then(|n| ServerName::try_from(n).ok()) else {
            return Some(self.default.clone());
        };
        let fits = |key: &&Arc<CertifiedKey>| {
            key.end_entity_cert().is_ok_and(|leaf| {
                webpki::EndEntityCert::try_from(leaf)
                    .is_ok_and(|cert| cert.verify_is_valid_for_subject_name(&name).is_ok())
            })
        };
        Some(self.by_name.iter().find(fits).unwrap_or(&self.default).clone())
    }
}

fn config_error(what: &str, err: impl core::fmt::Display) -> Error {
    Error::InvalidConfig(format!("{what}: {err}"))
}

fn crypto_provider(suites: &[CipherSuite], groups: &[NamedGroup]) -> Result<Arc<CryptoProvider>, Error> {
    let suites = suites
        .iter()
        .map(|s| {
            provider::suite_by_id(*s).ok_or_else(|| config_error("cipher suite", format!("{s:?} is not supported")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let groups = groups
        .iter()
        .map(|g| provider::group_by_name(*g).ok_or_else(|| config_error("group", format!("{g:?} is not supported"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(provider::provider_with(&suites, &groups)))
}

fn protocol_versions(versions: &[ProtocolVersion]) -> Result<Vec<&'static SupportedProtocolVersion>, Error> {
    if versions.is_empty() {
        return Ok(alloc::vec![&rustls::version::TLS13, &rustls::version::TLS12]);
    }
    versions
        .iter()
        .map(|v| match v {
            ProtocolVersion::TLSv1_3 => Ok(&rustls::version::TLS13),
            ProtocolVersion::TLSv1_2 => Ok(&rustls::version::TLS12),
            other => Err(config_error("protocol version", format!("{other:?} is not supported"))),
        })
        .collect()
}

fn der_chain(chain: &[Vec<u8>]) -> Vec<CertificateDer<'static>> {
    chain.iter().map(|c| CertificateDer::from(c.clone())).collect()
}

fn root_store(anchors: &[Vec<u8>]) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    for (i, der) in anchors.iter().enumerate() {
        roots
            .add(CertificateDer::from(der.as_slice()))
            .map_err(|e| config_error(&format!("trust anchor #{i}"), e))?;
    }
    Ok(roots)
}

/// Bind a certificate chain to its keystore key, checking that the key the
/// keystore holds is the one the leaf certificate names.
fn certified_key(identity: &Identity, keystore: &Arc<dyn Keystore>) -> Result<Arc<CertifiedKey>, Error> {
    if identity.certificate_chain.is_empty() {
        return Err(Error::InvalidConfig("the certificate chain is empty".into()));
    }
    let info = keystore.describe_key(&identity.key)?;
    let schemes: Vec<SignatureScheme> = if identity.schemes.is_empty() {
        info.schemes.clone()
    } else {
        identity
            .schemes
            .iter()
            .copied()
            .filter(|s| info.schemes.contains(s))
            .collect()
    };
    let signing_key = RemoteSigningKey::new(
        keystore.clone(),
        identity.key.clone(),
        schemes,
        info.subject_public_key_info,
    )?;
    let certified = CertifiedKey::new(der_chain(&identity.certificate_chain), Arc::new(signing_key));
    certified.keys_match().map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => {
            Error::InvalidConfig(format!("key {:?} does not match the leaf certificate", identity.key))
        }
        other => config_error("certificate", other),
    })?;
    Ok(Arc::new(certified))
}

/// The schemes RFC 8446 §4.2.3 allows in a TLS 1.3 CertificateVerify.
const TLS13_SCHEMES: [SignatureScheme; 6] = [
    SignatureScheme::ECDSA_NISTP256_SHA256,
    SignatureScheme::ECDSA_NISTP384_SHA384,
    SignatureScheme::ED25519,
    SignatureScheme::RSA_PSS_SHA256,
    SignatureScheme::RSA_PSS_SHA384,
    SignatureScheme::RSA_PSS_SHA512,
];

/// The versions a server with `key` can speak: a key that can make no
/// TLS 1.3 signature (an RSA key in a token without RSA-PSS) serves TLS 1.2
/// only, rather than failing every TLS 1.3 handshake.
///
/// With several identities, all must agree: a TLS 1.3 handshake that picks
/// an identity unable to sign for it would fail.
fn server_versions(
    requested: &[ProtocolVersion],
    keys: &[(&Arc<CertifiedKey>, &str)],
) -> Result<Vec<ProtocolVersion>, Error> {
    let mut versions = if requested.is_empty() {
        alloc::vec![ProtocolVersion::TLSv1_3, ProtocolVersion::TLSv1_2]
    } else {
        requested.to_vec()
    };
    let tls13 = |key: &&(&Arc<CertifiedKey>, &str)| key.0.key.choose_scheme(&TLS13_SCHEMES).is_some();
    let (able, unable): (Vec<_>, Vec<_>) = keys.iter().partition(tls13);
    match (able.first(), unable.first()) {
        (Some((_, yes)), Some((_, no))) if versions.contains(&ProtocolVersion::TLSv1_3) => {
            return Err(Error::InvalidConfig(format!(
                "key {no:?} can make no TLS 1.3 signature (an RSA key needs RSA-PSS) but key {yes:?} can: \
                 serve TLS 1.2 only, or use keys alike"
            )));
        }
        (None, Some((_, name))) => {
            versions.retain(|v| *v != ProtocolVersion::TLSv1_3);
            if versions.is_empty() {
                return Err(Error::InvalidConfig(format!(
                    "key {name:?} can make no TLS 1.3 signature (an RSA key needs RSA-PSS) and TLS 1.2 is off"
                )));
            }
        }
        _ => {}
    }
    Ok(versions)
}

impl ServerConfig {
    /// Check `options` and build a server configuration signing through `keystore`.
    pub fn new(options: &ServerOptions, keystore: Arc<dyn Keystore>) -> Result<Self, Error> {
        options.peer_policy.check()?;
        let default = certified_key(&options.identity, &keystore)?;
        let by_name = options
            .sni_identities
            .iter()
            .map(|identity| certified_key(identity, &keystore))
            .collect::<Result<Vec<_>, _>>()?;
        let keys: Vec<(&Arc<CertifiedKey>, &str)> = core::iter::once((&default, options.identity.key.as_str()))
            .chain(
                by_name
                    .iter()
                    .zip(&options.sni_identities)
                    .map(|(k, i)| (k, i.key.as_str())),
            )
            .collect();
        let versions = server_versions(&options.versions, &keys)?;
        let provider = crypto_provider(&options.cipher_suites, &options.groups)?;
        let denials = Arc::new(Denials::default());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&protocol_versions(&versions)?)
            .map_err(|e| config_error("versions", e))?;
        let builder = match &options.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Optional(anchors) | ClientAuth::Required(anchors) => {
                let mut verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(root_store(anchors)?), provider);
                if matches!(options.client_auth, ClientAuth::Optional(_)) {
                    verifier = verifier.allow_unauthenticated();
                }
                let webpki = verifier.build().map_err(|e| config_error("client auth", e))?;
                builder.with_client_cert_verifier(Arc::new(PolicyClientVerifier {
                    webpki,
                    policy: options.peer_policy.clone(),
                    denials: denials.clone(),
                }))
            }
        };
        let mut config = builder.with_cert_resolver(Arc::new(SniIdentities { default, by_name }));
        config.alpn_protocols = options.alpn_protocols.clone();
        // The box's suite order wins: it knows which AEAD is fast in wasm.
        config.ignore_client_order = true;
        // One instance per connection: a session cache would live and die
        // with the connection. Resumption is stateless, with tickets
        // sealed under keys every box gets wrapped from the token. 0-RTT
        // stays off (rustls allows it only with a session cache anyway).
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        if let Some(resumption) = &options.resumption {
            if !(1..=MAX_TICKET_LIFETIME).contains(&resumption.ticket_lifetime) {
                return Err(Error::InvalidConfig(format!(
                    "ticket lifetime {} s: must be 1 s to 7 days (RFC 8446 §4.6.1)",
                    resumption.ticket_lifetime
                )));
            }
            if resumption.tickets_per_handshake > MAX_TICKETS_PER_HANDSHAKE {
                return Err(Error::InvalidConfig(format!(
                    "{} tickets per handshake: at most {MAX_TICKETS_PER_HANDSHAKE}",
                    resumption.tickets_per_handshake
                )));
            }
            if !crate::tickets::transfer_group_supported(resumption.transfer_group) {
                return Err(Error::InvalidConfig(format!(
                    "ticket-key transfer over {:?}: only X25519 and secp256r1",
                    resumption.transfer_group
                )));
            }
            config.ticketer = Arc::new(Ticketer::new(
                keystore.clone(),
                resumption.transfer_group,
                resumption.ticket_lifetime,
            ));
            config.send_tls13_tickets = usize::from(resumption.tickets_per_handshake);
        }
        let policy = match options.client_auth {
            ClientAuth::None => None,
            _ => Some(options.peer_policy.clone()),
        };
        Ok(Self {
            config: Arc::new(config),
            policy,
            denials,
            key_policy: options.key_policy.clone(),
        })
    }
}

#[derive(Debug)]
struct ClientIdentity(Arc<CertifiedKey>);

impl ResolvesClientCert for ClientIdentity {
    fn resolve(&self, _root_hint_subjects: &[&[u8]], sigschemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.0.key.choose_scheme(sigschemes).map(|_| self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

#[cfg(feature = "insecure-key-log-for-tests")]
impl ClientConfig {
    /// TEST ONLY: every secret of connections made with this configuration
    /// goes to `log` (NSS key log lines), so that a test can check that none
    /// of them shows up anywhere else.
    pub fn with_key_log_for_tests(mut self, log: Arc<dyn rustls::KeyLog>) -> Self {
        let mut config = (*self.config).clone();
        config.key_log = log;
        self.config = Arc::new(config);
        self
    }
}

impl ClientConfig {
    /// Check `options` and build a client configuration signing through `keystore`.
    pub fn new(options: &ClientOptions, keystore: Arc<dyn Keystore>) -> Result<Self, Error> {
        let server_name = ServerName::try_from(options.server_name.clone())
            .map_err(|e| config_error(&format!("server name {:?}", options.server_name), e))?;
        options.peer_policy.check()?;
        let provider = crypto_provider(&options.cipher_suites, &options.groups)?;
        let webpki = WebPkiServerVerifier::builder_with_provider(
            Arc::new(root_store(&options.trust_anchors)?),
            provider.clone(),
        )
        .build()
        .map_err(|e| config_error("trust anchors", e))?;
        let denials = Arc::new(Denials::default());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&protocol_versions(&options.versions)?)
            .map_err(|e| config_error("versions", e))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PolicyServerVerifier {
                webpki,
                policy: options.peer_policy.clone(),
                denials: denials.clone(),
            }));
        let mut config = match &options.identity {
            None => builder.with_no_client_auth(),
            Some(identity) => {
                builder.with_client_cert_resolver(Arc::new(ClientIdentity(certified_key(identity, &keystore)?)))
            }
        };
        config.alpn_protocols = options.alpn_protocols.clone();
        config.resumption = rustls::client::Resumption::disabled();
        Ok(Self {
            config: Arc::new(config),
            server_name,
            policy: Some(options.peer_policy.clone()).filter(|p| !p.is_open()),
            denials,
            key_policy: options.key_policy.clone(),
        })
    }
}

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The handshake is under way.
    Handshaking,
    /// Application data flows.
    Established,
    /// Closed: both sides sent close_notify, or the connection failed.
    Closed,
}

/// What a connection wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Handshake, data, or closed.
    pub phase: Phase,
    /// More ciphertext from the peer is needed.
    pub wants_read: bool,
    /// Ciphertext is waiting in `take_ciphertext`.
    pub wants_write: bool,
    /// Bytes of plaintext ready to read.
    pub plaintext_ready: usize,
    /// The peer sent close_notify.
    pub peer_closed: bool,
}

/// What was negotiated. All public.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionInfo {
    /// Negotiated version.
    pub version: Option<ProtocolVersion>,
    /// Negotiated cipher suite.
    pub cipher_suite: Option<CipherSuite>,
    /// Negotiated key exchange group.
    pub group: Option<NamedGroup>,
    /// Negotiated ALPN protocol.
    pub alpn_protocol: Option<Vec<u8>>,
    /// SNI: asked for by the client (server side) or sent (client side).
    pub server_name: Option<String>,
    /// The peer's DER certificates, leaf first.
    pub peer_certificates: Vec<Vec<u8>>,
    /// The peer-policy rule that admitted the peer's certificate, if one
    /// was checked.
    pub peer_allowed_by: Option<String>,
    /// Whether the handshake resumed an earlier session (from a ticket).
    pub resumed: bool,
}

/// One TLS connection, sans-IO: ciphertext and plaintext in and out of
/// memory buffers, nothing else.
pub struct Connection {
    tls: rustls::Connection,
    /// SNI sent, on the client side.
    sent_server_name: Option<String>,
    /// The rules that judged the peer's certificate, if any did.
    policy: Option<PeerPolicy>,
    denials: Arc<Denials>,
    /// The error that ended the connection; every later call repeats it.
    failed: Option<Error>,
    /// Records already taken from rustls, not yet by the caller.
    queued: Vec<u8>,
    we_closed: bool,
    peer_closed: bool,
    plaintext_ready: usize,
    key_policy: KeyPolicy,
    /// Plaintext bytes sent under the current traffic key.
    sent_under_key: u64,
}

impl core::fmt::Debug for Connection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

/// Most NewSessionTicket messages a server may send after one handshake.
pub const MAX_TICKETS_PER_HANDSHAKE: u8 = 16;

/// Longest output `export_keying_material` gives.
pub const MAX_EXPORT_LEN: usize = 1024;

/// Most bytes of plaintext and records waiting to be sent, per connection.
/// Received plaintext is bounded by rustls (16 KiB): past it, the box takes
/// no more ciphertext until the application reads.
pub const OUTGOING_LIMIT: usize = 64 * 1024;

/// A `Write` that accepts at most `room` more bytes.
struct Bounded<'a> {
    out: &'a mut Vec<u8>,
    room: usize,
}

impl Write for Bounded<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.room);
        self.out.extend_from_slice(buf.get(..n).unwrap_or_default());
        self.room -= n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Connection {
    /// The server side of a new connection.
    pub fn new_server(config: &ServerConfig) -> Result<Self, Error> {
        let tls = rustls::ServerConnection::new(config.config.clone()).map_err(|e| config_error("server", e))?;
        Ok(Self::wrap(
            tls.into(),
            None,
            config.policy.clone(),
            config.denials.clone(),
            config.key_policy.clone(),
        ))
    }

    /// The client side of a new connection; its ClientHello is ready to take.
    pub fn new_client(config: &ClientConfig) -> Result<Self, Error> {
        let tls = rustls::ClientConnection::new(config.config.clone(), config.server_name.clone())
            .map_err(|e| config_error("client", e))?;
        let sni = match &config.server_name {
            ServerName::DnsName(name) => Some(name.as_ref().to_string()),
            _ => None,
        };
        Ok(Self::wrap(
            tls.into(),
            sni,
            config.policy.clone(),
            config.denials.clone(),
            config.key_policy.clone(),
        ))
    }

    fn wrap(
        mut tls: rustls::Connection,
        sent_server_name: Option<String>,
        policy: Option<PeerPolicy>,
        denials: Arc<Denials>,
        key_policy: KeyPolicy,
    ) -> Self {
        // Unsent data is bounded, whatever the peer or the application do;
        // past it, write_plaintext takes nothing until ciphertext is taken.
        tls.set_buffer_limit(Some(OUTGOING_LIMIT));
        Self {
            tls,
            sent_server_name,
            policy,
            denials,
            failed: None,
            queued: Vec::new(),
            we_closed: false,
            peer_closed: false,
            plaintext_ready: 0,
            key_policy,
            sent_under_key: 0,
        }
    }

    fn check_alive(&self) -> Result<(), Error> {
        match &self.failed {
            Some(_) => Err(Error::Failed),
            None => Ok(()),
        }
    }

    fn fail(&mut self, err: Error) -> Error {
        self.failed = Some(err.clone());
        err
    }

    /// Feed ciphertext from the peer; returns how many bytes were taken.
    /// Fewer than `data.len()` means the box's buffers are full: read
    /// plaintext, then feed the rest.
    pub fn feed_ciphertext(&mut self, data: &[u8]) -> Result<usize, Error> {
        self.check_alive()?;
        let mut taken = 0;
        loop {
            // rustls' input buffer grows by at most 4 KiB per `read_tls`.
            // During the handshake each read is processed at once;
            // afterwards rustls is given all it takes first (a whole
            // record, usually), and processes it in one go rather than
            // after every 4 KiB.
            let handshaking = self.tls.is_handshaking();
            let mut read = 0;
            while let Some(mut rest) = data.get(taken..).filter(|r| !r.is_empty()) {
                match self.tls.read_tls(&mut rest) {
                    Ok(0) => break,
                    Ok(n) => {
                        taken += n;
                        read += n;
                    }
                    // rustls refuses more input while its received-plaintext
                    // buffer (or its input buffer, until processed) is full:
                    // that is backpressure, not an error.
                    Err(_) => break,
                }
                if handshaking {
                    break;
                }
            }
            if read == 0 {
                break;
            }
            // During the handshake, move what earlier records made (a
            // flight) out of rustls first, so that if this record fails,
            // whatever rustls then holds is its answer to this failure and
            // nothing else. (Handshake flights are bounded; application
            // data, which the buffer limit bounds, is not moved.)
            if handshaking {
                self.move_out_ciphertext();
            }
            match self.tls.process_new_packets() {
                Ok(state) => {
                    self.plaintext_ready = state.plaintext_bytes_to_read();
                    self.peer_closed |= state.peer_has_closed();
                }
                Err(e) => {
                    let mut err = Error::from_rustls(&e);
                    if let Error::Certificate {
                        alert: AlertDescription::AccessDenied,
                        reason,
                    } = &mut err
                    {
                        if let Some(why) = self.denials.take() {
                            *reason = format!("peer not allowed: {why}");
                        }
                    }
                    self.name_the_alert_sent(&mut err);
                    return Err(self.fail(err));
                }
            }
        }
        Ok(taken)
    }

    /// rustls picks the alert at the place it finds the fault, and the
    /// error it returns does not always say which one, or whether it sent
    /// one at all. Before the handshake keys exist the alert goes out in the
    /// clear: read it from the record, so the typed error names exactly the
    /// alert the peer will see; when nothing at all was queued, say that no
    /// alert was sent.
    fn name_the_alert_sent(&mut self, err: &mut Error) {
        let mut queued = Vec::new();
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut queued) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let sent = plaintext_alert(&queued);
        let nothing_sent = queued.is_empty();
        self.queued.extend_from_slice(&queued);
        match err {
            Error::Protocol { reason, .. } | Error::Certificate { reason, .. } if nothing_sent => {
                *err = Error::ClosedWithoutAlert(core::mem::take(reason));
            }
            Error::Protocol { alert, .. } | Error::Certificate { alert, .. } => {
                if let Some(sent) = sent {
                    *alert = sent;
                }
            }
            _ => {}
        }
    }

    /// Move all ciphertext rustls holds to the end of `queued`.
    fn move_out_ciphertext(&mut self) {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.queued) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }

    /// Take up to `max` bytes of ciphertext to send.
    pub fn take_ciphertext(&mut self, max: usize) -> Vec<u8> {
        let from_queue = self.queued.len().min(max);
        let mut out: Vec<u8> = self.queued.drain(..from_queue).collect();
        let mut sink = Bounded {
            room: max - out.len(),
            out: &mut out,
        };
        while self.tls.wants_write() && sink.room > 0 {
            match self.tls.write_tls(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        out
    }

    /// Queue plaintext to send; returns how many bytes were accepted (fewer
    /// when unsent ciphertext is piling up: take ciphertext first).
    pub fn write_plaintext(&mut self, data: &[u8]) -> Result<usize, Error> {
        self.check_alive()?;
        if self.we_closed {
            return Err(Error::InvalidState("write after close".into()));
        }
        // Under a KeyUpdate policy, take no more than the current key may
        // still send: the update then comes exactly at the count.
        let data = match self.key_update_room() {
            Some(room) => data.get(..data.len().min(room)).unwrap_or(data),
            None => data,
        };
        let written = self
            .tls
            .writer()
            .write(data)
            .map_err(|e| Error::InvalidState(e.to_string()))?;
        if self.key_update_room().is_some() {
            self.sent_under_key = self.sent_under_key.saturating_add(written as u64);
            if self.sent_under_key >= self.key_policy.key_update_after_bytes {
                // A TLS 1.3 KeyUpdate that asks the peer to update too.
                // rustls refuses while part of a peer's handshake message
                // is buffered: the count stays full, and the next write
                // (given room again below) tries once more.
                if self.tls.refresh_traffic_keys().is_ok() {
                    self.sent_under_key = 0;
                }
            }
        }
        Ok(written)
    }

    /// How many more plaintext bytes the current traffic key may send, when
    /// the key policy counts them (TLS 1.3, established).
    fn key_update_room(&self) -> Option<usize> {
        let limit = self.key_policy.key_update_after_bytes;
        if limit == 0 || self.tls.is_handshaking() || self.tls.protocol_version() != Some(ProtocolVersion::TLSv1_3) {
            return None;
        }
        match limit.checked_sub(self.sent_under_key).filter(|room| *room > 0) {
            Some(room) => Some(usize::try_from(room).unwrap_or(usize::MAX)),
            // An update is owed and rustls could not send it yet: do not
            // hold the data back meanwhile.
            None => Some(usize::MAX),
        }
    }

    /// Derive `length` bytes of keying material from the session (RFC 8446
    /// §7.5, RFC 5705), for `label` and an optional `context`. Only when the
    /// configuration's key policy allows it: the bytes leave the box.
    pub fn export_keying_material(
        &self,
        label: &[u8],
        context: Option<&[u8]>,
        length: usize,
    ) -> Result<Vec<u8>, Error> {
        self.check_alive()?;
        if !self.key_policy.allow_exporter {
            return Err(Error::InvalidState(
                "export-keying-material is off: the configuration's key policy does not allow it".into(),
            ));
        }
        if length == 0 || length > MAX_EXPORT_LEN {
            return Err(Error::InvalidState(format!(
                "export of {length} bytes: 1 to {MAX_EXPORT_LEN} may be asked for"
            )));
        }
        if self.tls.is_handshaking() {
            return Err(Error::InvalidState("export before the handshake is complete".into()));
        }
        self.tls
            .export_keying_material(alloc::vec![0u8; length], label, context)
            .map_err(|e| Error::InvalidState(e.to_string()))
    }

    /// Read up to `max` bytes of plaintext (empty when none is ready).
    pub fn read_plaintext(&mut self, max: usize) -> Result<Vec<u8>, Error> {
        self.check_alive()?;
        let want = max.min(self.plaintext_ready);
        // Copied straight from rustls' buffer into the answer: no zeroed
        // buffer first (this is the bulk receive path).
        let mut out = Vec::with_capacity(want);
        let mut reader = self.tls.reader();
        while out.len() < want {
            let chunk = match reader.fill_buf() {
                Ok(chunk) if !chunk.is_empty() => chunk,
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // What was read is returned; the error comes on the next call.
                Err(_) if !out.is_empty() => break,
                Err(e) => return Err(Error::InvalidState(e.to_string())),
            };
            let n = chunk.len().min(want - out.len());
            out.extend_from_slice(chunk.get(..n).unwrap_or(chunk));
            reader.consume(n);
        }
        self.plaintext_ready = self.plaintext_ready.saturating_sub(out.len());
        Ok(out)
    }

    /// Queue close_notify; nothing more will be written.
    pub fn close(&mut self) {
        if !self.we_closed {
            self.tls.send_close_notify();
            self.we_closed = true;
        }
    }

    /// Where the connection stands.
    pub fn status(&self) -> Status {
        let phase = if self.failed.is_some() || (self.we_closed && self.peer_closed) {
            Phase::Closed
        } else if self.tls.is_handshaking() {
            Phase::Handshaking
        } else {
            Phase::Established
        };
        Status {
            phase,
            wants_read: self.failed.is_none() && !self.peer_closed && self.tls.wants_read(),
            wants_write: !self.queued.is_empty() || self.tls.wants_write(),
            plaintext_ready: self.plaintext_ready,
            peer_closed: self.peer_closed,
        }
    }

    /// The error that ended the connection, if any.
    pub fn error(&self) -> Option<&Error> {
        self.failed.as_ref()
    }

    /// What was negotiated so far.
    pub fn session_info(&self) -> SessionInfo {
        let server_name = match &self.tls {
            rustls::Connection::Server(s) => s.server_name().map(ToString::to_string),
            rustls::Connection::Client(_) => self.sent_server_name.clone(),
        };
        let peer_certificates: Vec<Vec<u8>> = self
            .tls
            .peer_certificates()
            .map(|certs| certs.iter().map(|c| c.as_ref().to_vec()).collect())
            .unwrap_or_default();
        let peer_allowed_by = match (&self.policy, peer_certificates.first()) {
            (Some(policy), Some(leaf)) if !self.tls.is_handshaking() => match policy.evaluate(leaf) {
                Verdict::Allowed(rule) => Some(rule),
                Verdict::Denied(_) => None,
            },
            _ => None,
        };
        SessionInfo {
            version: self.tls.protocol_version(),
            cipher_suite: self.tls.negotiated_cipher_suite().map(|s| s.suite()),
            group: self.tls.negotiated_key_exchange_group().map(|g| g.name()),
            alpn_protocol: self.tls.alpn_protocol().map(<[u8]>::to_vec),
            server_name,
            peer_certificates,
            peer_allowed_by,
            resumed: self.tls.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        }
    }
}

/// The description of the last fatal alert sent in the clear among the
/// records in `bytes` (record headers walked, nothing else trusted).
fn plaintext_alert(bytes: &[u8]) -> Option<AlertDescription> {
    let mut rest = bytes;
    let mut found = None;
    while let [content_type, _, _, hi, lo, body @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        let (record, next) = (body.get(..len)?, body.get(len..)?);
        if let (0x15, [2, description]) = (content_type, record) {
            found = Some(AlertDescription::from(*description));
        }
        rest = next;
    }
    found
}

/// The alert a local error sends, if any (for callers that log it).
pub fn alert_of(err: &Error) -> Option<AlertDescription> {
    match err {
        Error::Protocol { alert, .. } | Error::Certificate { alert, .. } => Some(*alert),
        _ => None,
    }
}
