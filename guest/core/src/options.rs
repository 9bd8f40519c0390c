//! Plain settings for a server or client, mirroring the WIT records.

use alloc::string::String;
use alloc::vec::Vec;

use rustls::{CipherSuite, NamedGroup, ProtocolVersion, SignatureScheme};

pub use crate::peer_policy::PeerPolicy;

/// A certificate chain and the keystore key that signs for it.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// DER certificates, leaf first.
    pub certificate_chain: Vec<Vec<u8>>,
    /// The keystore's name for the key (never key bytes).
    pub key: String,
    /// Schemes to use, in preference order (empty: what the keystore reports).
    pub schemes: Vec<SignatureScheme>,
}

/// How a server treats client certificates.
#[derive(Debug, Clone, Default)]
pub enum ClientAuth {
    /// Not requested.
    #[default]
    None,
    /// Requested; verified against these DER trust anchors if sent.
    Optional(Vec<Vec<u8>>),
    /// Required and verified against these DER trust anchors.
    Required(Vec<Vec<u8>>),
}

/// Session resumption with stateless tickets (RFC 8446 §4.6.1), sealed
/// with ticket keys the keystore hands over wrapped ([`crate::tickets`]).
/// TLS 1.3 only. A resumed session keeps the client certificate of the
/// session it resumes, unverified again: with client authentication, only
/// turn tickets on if that is acceptable (the CLI does not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resumption {
    /// NewSessionTicket messages sent after each TLS 1.3 handshake.
    pub tickets_per_handshake: u8,
    /// Ticket lifetime, in seconds, told to the client (at most 7 days).
    /// The keystore must keep each ticket key at least this long past its
    /// last use for sealing.
    pub ticket_lifetime: u32,
    /// The key agreement that carries the ticket keys into each box:
    /// X25519, or secp256r1 for a token without X25519 (the keystore says
    /// which its token does).
    pub transfer_group: NamedGroup,
}

/// Longest ticket lifetime RFC 8446 §4.6.1 allows: 7 days.
pub const MAX_TICKET_LIFETIME: u32 = 7 * 24 * 3600;

/// When to refresh traffic keys, and what may leave the box, beyond the
/// handshake: settings shared by servers and clients.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPolicy {
    /// Send a TLS 1.3 KeyUpdate (asking the peer for one too) after this
    /// many plaintext bytes were sent under one key; 0: only when rustls'
    /// AEAD confidentiality limit calls for it.
    pub key_update_after_bytes: u64,
    /// Allow `export_keying_material` (RFC 8446 §7.5). Off by default: the
    /// exported bytes are derived from the session's master secret and
    /// leave the box.
    pub allow_exporter: bool,
}

/// Settings of a server.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// The server's certificate and key (also the one served when no other
    /// identity fits the client's SNI).
    pub identity: Identity,
    /// More identities: the first whose leaf certificate is valid for the
    /// name the client asks for (SNI) is served instead of `identity`.
    pub sni_identities: Vec<Identity>,
    /// ALPN protocols, in preference order.
    pub alpn_protocols: Vec<Vec<u8>>,
    /// Versions (empty: TLS 1.3 and 1.2).
    pub versions: Vec<ProtocolVersion>,
    /// Suites in preference order (empty: the default order).
    pub cipher_suites: Vec<CipherSuite>,
    /// Groups in preference order (empty: the default order).
    pub groups: Vec<NamedGroup>,
    /// Client certificate policy.
    pub client_auth: ClientAuth,
    /// Which verified client certificates are admitted (with client auth).
    pub peer_policy: PeerPolicy,
    /// Tickets for resumption; `None`: none issued, none accepted.
    pub resumption: Option<Resumption>,
    /// KeyUpdate and exporter policy.
    pub key_policy: KeyPolicy,
}

/// Settings of a client.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Name to send (SNI) and verify: DNS name or IP address.
    pub server_name: String,
    /// DER trust anchors.
    pub trust_anchors: Vec<Vec<u8>>,
    /// Client certificate, for mutual TLS.
    pub identity: Option<Identity>,
    /// ALPN protocols, in preference order.
    pub alpn_protocols: Vec<Vec<u8>>,
    /// Versions (empty: TLS 1.3 and 1.2).
    pub versions: Vec<ProtocolVersion>,
    /// Suites in preference order (empty: the default order).
    pub cipher_suites: Vec<CipherSuite>,
    /// Groups in preference order (empty: the default order).
    pub groups: Vec<NamedGroup>,
    /// Which verified server certificates are admitted, beyond the name check.
    pub peer_policy: PeerPolicy,
    /// KeyUpdate and exporter policy.
    pub key_policy: KeyPolicy,
}
