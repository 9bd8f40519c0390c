//! WIT types to and from the core's types.

use rustls::{AlertDescription as A, CipherSuite as C, NamedGroup as G, ProtocolVersion, SignatureScheme as S};
use tlsbox_core::keystore::KeystoreError;

use crate::bindings::exports::tlsbox::tls::tls::{
    self as wit, AlertDescription, AlertSent, CipherSuite, ClientAuth, NamedGroup, Phase, TlsError,
};
use crate::bindings::tlsbox::tls::types::{KeystoreError as WitKeystoreError, SignatureScheme};

pub(crate) fn scheme_from_wit(s: SignatureScheme) -> S {
    match s {
        SignatureScheme::RsaPkcs1Sha256 => S::RSA_PKCS1_SHA256,
        SignatureScheme::RsaPkcs1Sha384 => S::RSA_PKCS1_SHA384,
        SignatureScheme::RsaPkcs1Sha512 => S::RSA_PKCS1_SHA512,
        SignatureScheme::EcdsaSecp256r1Sha256 => S::ECDSA_NISTP256_SHA256,
        SignatureScheme::EcdsaSecp384r1Sha384 => S::ECDSA_NISTP384_SHA384,
        SignatureScheme::RsaPssRsaeSha256 => S::RSA_PSS_SHA256,
        SignatureScheme::RsaPssRsaeSha384 => S::RSA_PSS_SHA384,
        SignatureScheme::RsaPssRsaeSha512 => S::RSA_PSS_SHA512,
        SignatureScheme::Ed25519 => S::ED25519,
    }
}

pub(crate) fn scheme_to_wit(s: S) -> Option<SignatureScheme> {
    Some(match s {
        S::RSA_PKCS1_SHA256 => SignatureScheme::RsaPkcs1Sha256,
        S::RSA_PKCS1_SHA384 => SignatureScheme::RsaPkcs1Sha384,
        S::RSA_PKCS1_SHA512 => SignatureScheme::RsaPkcs1Sha512,
        S::ECDSA_NISTP256_SHA256 => SignatureScheme::EcdsaSecp256r1Sha256,
        S::ECDSA_NISTP384_SHA384 => SignatureScheme::EcdsaSecp384r1Sha384,
        S::RSA_PSS_SHA256 => SignatureScheme::RsaPssRsaeSha256,
        S::RSA_PSS_SHA384 => SignatureScheme::RsaPssRsaeSha384,
        S::RSA_PSS_SHA512 => SignatureScheme::RsaPssRsaeSha512,
        S::ED25519 => SignatureScheme::Ed25519,
        _ => return None,
    })
}

pub(crate) fn keystore_error_from_wit(e: WitKeystoreError) -> KeystoreError {
    match e {
        WitKeystoreError::UnknownKey(k) => KeystoreError::UnknownKey(k),
        WitKeystoreError::UnsupportedScheme(s) => KeystoreError::UnsupportedScheme(scheme_from_wit(s)),
        WitKeystoreError::Refused(r) => KeystoreError::Refused(r),
        WitKeystoreError::Failed(r) => KeystoreError::Failed(r),
    }
}

pub(crate) fn keystore_error_to_wit(e: KeystoreError) -> WitKeystoreError {
    match e {
        KeystoreError::UnknownKey(k) => WitKeystoreError::UnknownKey(k),
        KeystoreError::UnsupportedScheme(s) => match scheme_to_wit(s) {
            Some(s) => WitKeystoreError::UnsupportedScheme(s),
            None => WitKeystoreError::Failed(format!("unsupported scheme {s:?}")),
        },
        KeystoreError::Refused(r) => WitKeystoreError::Refused(r),
        KeystoreError::Failed(r) => WitKeystoreError::Failed(r),
        other => WitKeystoreError::Failed(other.to_string()),
    }
}

fn version_from_wit(v: wit::ProtocolVersion) -> ProtocolVersion {
    match v {
        wit::ProtocolVersion::Tls12 => ProtocolVersion::TLSv1_2,
        wit::ProtocolVersion::Tls13 => ProtocolVersion::TLSv1_3,
    }
}

fn version_to_wit(v: ProtocolVersion) -> Option<wit::ProtocolVersion> {
    match v {
        ProtocolVersion::TLSv1_2 => Some(wit::ProtocolVersion::Tls12),
        ProtocolVersion::TLSv1_3 => Some(wit::ProtocolVersion::Tls13),
        _ => None,
    }
}

/// Each WIT suite and the rustls suite it names.
const SUITES: [(CipherSuite, C); 9] = [
    (CipherSuite::Tls13Aes128GcmSha256, C::TLS13_AES_128_GCM_SHA256),
    (CipherSuite::Tls13Aes256GcmSha384, C::TLS13_AES_256_GCM_SHA384),
    (
        CipherSuite::Tls13Chacha20Poly1305Sha256,
        C::TLS13_CHACHA20_POLY1305_SHA256,
    ),
    (
        CipherSuite::TlsEcdheEcdsaWithAes128GcmSha256,
        C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        CipherSuite::TlsEcdheEcdsaWithAes256GcmSha384,
        C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        CipherSuite::TlsEcdheEcdsaWithChacha20Poly1305Sha256,
        C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        CipherSuite::TlsEcdheRsaWithAes128GcmSha256,
        C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        CipherSuite::TlsEcdheRsaWithAes256GcmSha384,
        C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        CipherSuite::TlsEcdheRsaWithChacha20Poly1305Sha256,
        C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

const GROUPS: [(NamedGroup, G); 4] = [
    (NamedGroup::X25519Mlkem768, G::X25519MLKEM768),
    (NamedGroup::X25519, G::X25519),
    (NamedGroup::Secp256r1, G::secp256r1),
    (NamedGroup::Secp384r1, G::secp384r1),
];

fn suite_from_wit(s: CipherSuite) -> C {
    SUITES.iter().find(|(w, _)| *w == s).map_or(C::Unknown(0), |(_, c)| *c)
}

fn suite_to_wit(s: C) -> Option<CipherSuite> {
    SUITES.iter().find(|(_, c)| *c == s).map(|(w, _)| *w)
}

pub(crate) fn group_from_wit(g: NamedGroup) -> G {
    GROUPS.iter().find(|(w, _)| *w == g).map_or(G::Unknown(0), |(_, n)| *n)
}

fn group_to_wit(g: G) -> Option<NamedGroup> {
    GROUPS.iter().find(|(_, n)| *n == g).map(|(w, _)| *w)
}

fn identity_from_wit(id: wit::Identity) -> tlsbox_core::Identity {
    tlsbox_core::Identity {
        certificate_chain: id.certificate_chain,
        key: id.key,
        schemes: id.schemes.into_iter().map(scheme_from_wit).collect(),
    }
}

fn key_policy_from_wit(p: wit::KeyPolicy) -> tlsbox_core::KeyPolicy {
    tlsbox_core::KeyPolicy {
        key_update_after_bytes: p.key_update_after_bytes,
        allow_exporter: p.allow_exporter,
    }
}

fn peer_policy_from_wit(p: wit::PeerPolicy) -> tlsbox_core::PeerPolicy {
    tlsbox_core::PeerPolicy {
        common_names: p.common_names,
        organizational_units: p.organizational_units,
        dns_names: p.dns_names,
        uris: p.uris,
        spki_sha256: p.spki_sha256,
    }
}

pub(crate) fn server_options(o: wit::ServerOptions) -> Result<tlsbox_core::ServerOptions, TlsError> {
    Ok(tlsbox_core::ServerOptions {
        identity: identity_from_wit(o.identity),
        sni_identities: o.sni_identities.into_iter().map(identity_from_wit).collect(),
        peer_policy: peer_policy_from_wit(o.peer_policy),
        alpn_protocols: o.alpn_protocols,
        versions: o.versions.into_iter().map(version_from_wit).collect(),
        cipher_suites: o.cipher_suites.into_iter().map(suite_from_wit).collect(),
        groups: o.groups.into_iter().map(group_from_wit).collect(),
        client_auth: match o.client_auth {
            ClientAuth::None => tlsbox_core::ClientAuth::None,
            ClientAuth::Optional(a) => tlsbox_core::ClientAuth::Optional(a),
            ClientAuth::Required(a) => tlsbox_core::ClientAuth::Required(a),
        },
        resumption: o.resumption.map(|r| tlsbox_core::Resumption {
            tickets_per_handshake: r.tickets_per_handshake,
            ticket_lifetime: r.ticket_lifetime,
            transfer_group: group_from_wit(r.transfer_group),
        }),
        key_policy: key_policy_from_wit(o.key_policy),
    })
}

pub(crate) fn client_options(o: wit::ClientOptions) -> Result<tlsbox_core::ClientOptions, TlsError> {
    Ok(tlsbox_core::ClientOptions {
        server_name: o.server_name,
        trust_anchors: o.trust_anchors,
        identity: o.identity.map(identity_from_wit),
        alpn_protocols: o.alpn_protocols,
        versions: o.versions.into_iter().map(version_from_wit).collect(),
        cipher_suites: o.cipher_suites.into_iter().map(suite_from_wit).collect(),
        groups: o.groups.into_iter().map(group_from_wit).collect(),
        peer_policy: peer_policy_from_wit(o.peer_policy),
        key_policy: key_policy_from_wit(o.key_policy),
    })
}

fn alert_to_wit(a: A) -> AlertDescription {
    match a {
        A::CloseNotify => AlertDescription::CloseNotify,
        A::UnexpectedMessage => AlertDescription::UnexpectedMessage,
        A::BadRecordMac => AlertDescription::BadRecordMac,
        A::RecordOverflow => AlertDescription::RecordOverflow,
        A::HandshakeFailure => AlertDescription::HandshakeFailure,
        A::BadCertificate => AlertDescription::BadCertificate,
        A::UnsupportedCertificate => AlertDescription::UnsupportedCertificate,
        A::CertificateRevoked => AlertDescription::CertificateRevoked,
        A::CertificateExpired => AlertDescription::CertificateExpired,
        A::CertificateUnknown => AlertDescription::CertificateUnknown,
        A::IllegalParameter => AlertDescription::IllegalParameter,
        A::UnknownCA => AlertDescription::UnknownCa,
        A::AccessDenied => AlertDescription::AccessDenied,
        A::DecodeError => AlertDescription::DecodeError,
        A::DecryptError => AlertDescription::DecryptError,
        A::ProtocolVersion => AlertDescription::ProtocolVersion,
        A::InsufficientSecurity => AlertDescription::InsufficientSecurity,
        A::InternalError => AlertDescription::InternalError,
        A::InappropriateFallback => AlertDescription::InappropriateFallback,
        A::UserCanceled => AlertDescription::UserCanceled,
        A::MissingExtension => AlertDescription::MissingExtension,
        A::UnsupportedExtension => AlertDescription::UnsupportedExtension,
        A::UnrecognisedName => AlertDescription::UnrecognizedName,
        A::BadCertificateStatusResponse => AlertDescription::BadCertificateStatusResponse,
        A::UnknownPSKIdentity => AlertDescription::UnknownPskIdentity,
        A::CertificateRequired => AlertDescription::CertificateRequired,
        A::NoApplicationProtocol => AlertDescription::NoApplicationProtocol,
        other => AlertDescription::Other(u8::from(other)),
    }
}

pub(crate) fn error_to_wit(e: tlsbox_core::Error) -> TlsError {
    use tlsbox_core::Error as E;
    match e {
        E::Protocol { alert, reason } => TlsError::Protocol(AlertSent {
            alert: alert_to_wit(alert),
            reason,
        }),
        E::Certificate { alert, reason } => TlsError::Certificate(AlertSent {
            alert: alert_to_wit(alert),
            reason,
        }),
        E::ClosedWithoutAlert(reason) => TlsError::ClosedWithoutAlert(reason),
        E::PeerAlert(alert) => TlsError::PeerAlert(alert_to_wit(alert)),
        E::Keystore(k) => TlsError::Keystore(keystore_error_to_wit(k)),
        E::InvalidConfig(r) => TlsError::InvalidConfig(r),
        E::InvalidState(r) => TlsError::InvalidState(r),
        E::Failed => TlsError::Failed,
        other => TlsError::InvalidState(other.to_string()),
    }
}

pub(crate) fn status_to_wit(s: tlsbox_core::Status) -> wit::Status {
    wit::Status {
        phase: match s.phase {
            tlsbox_core::Phase::Handshaking => Phase::Handshaking,
            tlsbox_core::Phase::Established => Phase::Established,
            tlsbox_core::Phase::Closed => Phase::Closed,
        },
        wants_read: s.wants_read,
        wants_write: s.wants_write,
        plaintext_ready: u32::try_from(s.plaintext_ready).unwrap_or(u32::MAX),
        peer_closed: s.peer_closed,
    }
}

pub(crate) fn session_info_to_wit(i: tlsbox_core::SessionInfo) -> wit::SessionInfo {
    wit::SessionInfo {
        version: i.version.and_then(version_to_wit),
        cipher_suite: i.cipher_suite.and_then(suite_to_wit),
        group: i.group.and_then(group_to_wit),
        alpn_protocol: i.alpn_protocol,
        server_name: i.server_name,
        peer_certificates: i.peer_certificates,
        peer_allowed_by: i.peer_allowed_by,
        resumed: i.resumed,
    }
}
