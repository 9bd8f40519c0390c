//! The core's types (the host API's vocabulary) to and from the WIT types.

use tlsbox_core::keystore::KeystoreError;
use tlsbox_core::rustls::{
    AlertDescription as A, CipherSuite as C, NamedGroup as G, ProtocolVersion, SignatureScheme as S,
};

use crate::bindings::tls::{self, AlertDescription, CipherSuite, ClientAuth, NamedGroup, Phase, TlsError};
use crate::bindings::types::{KeystoreError as WitKeystoreError, SignatureScheme};
use crate::Error;

/// Each WIT scheme and the TLS scheme it names.
const SCHEMES: [(SignatureScheme, S); 9] = [
    (SignatureScheme::RsaPkcs1Sha256, S::RSA_PKCS1_SHA256),
    (SignatureScheme::RsaPkcs1Sha384, S::RSA_PKCS1_SHA384),
    (SignatureScheme::RsaPkcs1Sha512, S::RSA_PKCS1_SHA512),
    (SignatureScheme::EcdsaSecp256r1Sha256, S::ECDSA_NISTP256_SHA256),
    (SignatureScheme::EcdsaSecp384r1Sha384, S::ECDSA_NISTP384_SHA384),
    (SignatureScheme::RsaPssRsaeSha256, S::RSA_PSS_SHA256),
    (SignatureScheme::RsaPssRsaeSha384, S::RSA_PSS_SHA384),
    (SignatureScheme::RsaPssRsaeSha512, S::RSA_PSS_SHA512),
    (SignatureScheme::Ed25519, S::ED25519),
];

/// Each WIT suite and the TLS suite it names.
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

/// Each WIT alert and the TLS alert it names (`other` carries the rest).
const ALERTS: [(AlertDescription, A); 27] = [
    (AlertDescription::CloseNotify, A::CloseNotify),
    (AlertDescription::UnexpectedMessage, A::UnexpectedMessage),
    (AlertDescription::BadRecordMac, A::BadRecordMac),
    (AlertDescription::RecordOverflow, A::RecordOverflow),
    (AlertDescription::HandshakeFailure, A::HandshakeFailure),
    (AlertDescription::BadCertificate, A::BadCertificate),
    (AlertDescription::UnsupportedCertificate, A::UnsupportedCertificate),
    (AlertDescription::CertificateRevoked, A::CertificateRevoked),
    (AlertDescription::CertificateExpired, A::CertificateExpired),
    (AlertDescription::CertificateUnknown, A::CertificateUnknown),
    (AlertDescription::IllegalParameter, A::IllegalParameter),
    (AlertDescription::UnknownCa, A::UnknownCA),
    (AlertDescription::AccessDenied, A::AccessDenied),
    (AlertDescription::DecodeError, A::DecodeError),
    (AlertDescription::DecryptError, A::DecryptError),
    (AlertDescription::ProtocolVersion, A::ProtocolVersion),
    (AlertDescription::InsufficientSecurity, A::InsufficientSecurity),
    (AlertDescription::InternalError, A::InternalError),
    (AlertDescription::InappropriateFallback, A::InappropriateFallback),
    (AlertDescription::UserCanceled, A::UserCanceled),
    (AlertDescription::MissingExtension, A::MissingExtension),
    (AlertDescription::UnsupportedExtension, A::UnsupportedExtension),
    (AlertDescription::UnrecognizedName, A::UnrecognisedName),
    (
        AlertDescription::BadCertificateStatusResponse,
        A::BadCertificateStatusResponse,
    ),
    (AlertDescription::UnknownPskIdentity, A::UnknownPSKIdentity),
    (AlertDescription::CertificateRequired, A::CertificateRequired),
    (AlertDescription::NoApplicationProtocol, A::NoApplicationProtocol),
];

pub(crate) fn scheme_from_wit(s: SignatureScheme) -> S {
    SCHEMES.iter().find(|(w, _)| *w == s).map_or(S::Unknown(0), |(_, t)| *t)
}

pub(crate) fn scheme_to_wit(s: S) -> Option<SignatureScheme> {
    SCHEMES.iter().find(|(_, t)| *t == s).map(|(w, _)| *w)
}

fn alert_from_wit(a: AlertDescription) -> A {
    match a {
        AlertDescription::Other(code) => A::from(code),
        known => ALERTS
            .iter()
            .find(|(w, _)| std::mem::discriminant(w) == std::mem::discriminant(&known))
            .map_or(A::Unknown(0), |(_, t)| *t),
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

pub(crate) fn keystore_error_from_wit(e: WitKeystoreError) -> KeystoreError {
    match e {
        WitKeystoreError::UnknownKey(k) => KeystoreError::UnknownKey(k),
        WitKeystoreError::UnsupportedScheme(s) => KeystoreError::UnsupportedScheme(scheme_from_wit(s)),
        WitKeystoreError::Refused(r) => KeystoreError::Refused(r),
        WitKeystoreError::Failed(r) => KeystoreError::Failed(r),
    }
}

fn version_to_wit(v: ProtocolVersion) -> Option<tls::ProtocolVersion> {
    match v {
        ProtocolVersion::TLSv1_2 => Some(tls::ProtocolVersion::Tls12),
        ProtocolVersion::TLSv1_3 => Some(tls::ProtocolVersion::Tls13),
        _ => None,
    }
}

fn version_from_wit(v: tls::ProtocolVersion) -> ProtocolVersion {
    match v {
        tls::ProtocolVersion::Tls12 => ProtocolVersion::TLSv1_2,
        tls::ProtocolVersion::Tls13 => ProtocolVersion::TLSv1_3,
    }
}

// Settings the box cannot express (an unknown suite) are dropped here; the
// box then applies its defaults for an empty list, or the rest of the list.
fn identity(id: &tlsbox_core::Identity) -> tls::Identity {
    tls::Identity {
        certificate_chain: id.certificate_chain.clone(),
        key: id.key.clone(),
        schemes: id.schemes.iter().filter_map(|s| scheme_to_wit(*s)).collect(),
    }
}

fn suites(list: &[C]) -> Vec<CipherSuite> {
    list.iter()
        .filter_map(|s| SUITES.iter().find(|(_, t)| t == s).map(|(w, _)| *w))
        .collect()
}

pub(crate) fn group_to_wit(g: G) -> Option<NamedGroup> {
    GROUPS.iter().find(|(_, t)| *t == g).map(|(w, _)| *w)
}

fn groups(list: &[G]) -> Vec<NamedGroup> {
    list.iter()
        .filter_map(|g| GROUPS.iter().find(|(_, t)| t == g).map(|(w, _)| *w))
        .collect()
}

fn peer_policy(p: &tlsbox_core::PeerPolicy) -> tls::PeerPolicy {
    tls::PeerPolicy {
        common_names: p.common_names.clone(),
        organizational_units: p.organizational_units.clone(),
        dns_names: p.dns_names.clone(),
        uris: p.uris.clone(),
        spki_sha256: p.spki_sha256.clone(),
    }
}

fn key_policy(p: &tlsbox_core::KeyPolicy) -> tls::KeyPolicy {
    tls::KeyPolicy {
        key_update_after_bytes: p.key_update_after_bytes,
        allow_exporter: p.allow_exporter,
    }
}

pub(crate) fn server_options(o: &tlsbox_core::ServerOptions) -> tls::ServerOptions {
    tls::ServerOptions {
        identity: identity(&o.identity),
        sni_identities: o.sni_identities.iter().map(identity).collect(),
        peer_policy: peer_policy(&o.peer_policy),
        alpn_protocols: o.alpn_protocols.clone(),
        versions: o.versions.iter().filter_map(|v| version_to_wit(*v)).collect(),
        cipher_suites: suites(&o.cipher_suites),
        groups: groups(&o.groups),
        client_auth: match &o.client_auth {
            tlsbox_core::ClientAuth::None => ClientAuth::None,
            tlsbox_core::ClientAuth::Optional(a) => ClientAuth::Optional(a.clone()),
            tlsbox_core::ClientAuth::Required(a) => ClientAuth::Required(a.clone()),
        },
        resumption: o.resumption.as_ref().map(|r| tls::Resumption {
            tickets_per_handshake: r.tickets_per_handshake,
            ticket_lifetime: r.ticket_lifetime,
            // A group the WIT cannot name fails the box's check as x25519
            // would not: make it one the box refuses clearly.
            transfer_group: groups(&[r.transfer_group])
                .first()
                .copied()
                .unwrap_or(NamedGroup::Secp384r1),
        }),
        key_policy: key_policy(&o.key_policy),
    }
}

pub(crate) fn client_options(o: &tlsbox_core::ClientOptions) -> tls::ClientOptions {
    tls::ClientOptions {
        server_name: o.server_name.clone(),
        trust_anchors: o.trust_anchors.clone(),
        identity: o.identity.as_ref().map(identity),
        alpn_protocols: o.alpn_protocols.clone(),
        versions: o.versions.iter().filter_map(|v| version_to_wit(*v)).collect(),
        cipher_suites: suites(&o.cipher_suites),
        groups: groups(&o.groups),
        peer_policy: peer_policy(&o.peer_policy),
        key_policy: key_policy(&o.key_policy),
    }
}

pub(crate) fn error(e: TlsError) -> Error {
    use tlsbox_core::Error as E;
    Error::Tls(match e {
        TlsError::Protocol(s) => E::Protocol {
            alert: alert_from_wit(s.alert),
            reason: s.reason,
        },
        TlsError::Certificate(s) => E::Certificate {
            alert: alert_from_wit(s.alert),
            reason: s.reason,
        },
        TlsError::ClosedWithoutAlert(r) => E::ClosedWithoutAlert(r),
        TlsError::PeerAlert(a) => E::PeerAlert(alert_from_wit(a)),
        TlsError::Keystore(k) => E::Keystore(keystore_error_from_wit(k)),
        TlsError::InvalidConfig(r) => E::InvalidConfig(r),
        TlsError::InvalidState(r) => E::InvalidState(r),
        TlsError::Failed => E::Failed,
    })
}

pub(crate) fn status(s: tls::Status) -> tlsbox_core::Status {
    tlsbox_core::Status {
        phase: match s.phase {
            Phase::Handshaking => tlsbox_core::Phase::Handshaking,
            Phase::Established => tlsbox_core::Phase::Established,
            Phase::Closed => tlsbox_core::Phase::Closed,
        },
        wants_read: s.wants_read,
        wants_write: s.wants_write,
        plaintext_ready: s.plaintext_ready as usize,
        peer_closed: s.peer_closed,
    }
}

pub(crate) fn session_info(i: tls::SessionInfo) -> tlsbox_core::SessionInfo {
    tlsbox_core::SessionInfo {
        version: i.version.map(version_from_wit),
        cipher_suite: i
            .cipher_suite
            .and_then(|s| SUITES.iter().find(|(w, _)| *w == s).map(|(_, t)| *t)),
        group: i
            .group
            .and_then(|g| GROUPS.iter().find(|(w, _)| *w == g).map(|(_, t)| *t)),
        alpn_protocol: i.alpn_protocol,
        server_name: i.server_name,
        peer_certificates: i.peer_certificates,
        peer_allowed_by: i.peer_allowed_by,
        resumed: i.resumed,
    }
}
