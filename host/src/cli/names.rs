//! IANA and OpenSSL-style names for what was negotiated.

use tlsbox_host::core::rustls::{NamedGroup, ProtocolVersion};
use tlsbox_host::SessionInfo;

/// `TLSv1.3`, `TLSv1.2`.
pub(crate) fn version(info: &SessionInfo) -> String {
    match info.version {
        Some(ProtocolVersion::TLSv1_3) => "TLSv1.3".into(),
        Some(ProtocolVersion::TLSv1_2) => "TLSv1.2".into(),
        Some(other) => format!("{other:?}"),
        None => "-".into(),
    }
}

/// The cipher suite's IANA name, e.g. `TLS13_AES_128_GCM_SHA256`.
pub(crate) fn suite(info: &SessionInfo) -> String {
    info.cipher_suite.map_or_else(|| "-".into(), |s| format!("{s:?}"))
}

/// The key exchange group's IANA name, e.g. `X25519`.
pub(crate) fn group(info: &SessionInfo) -> String {
    info.group.map_or_else(|| "-".into(), |g| format!("{g:?}"))
}

/// The ALPN protocol, or `-`.
pub(crate) fn alpn(info: &SessionInfo) -> String {
    info.alpn_protocol
        .as_deref()
        .map_or_else(|| "-".into(), |a| String::from_utf8_lossy(a).into_owned())
}

/// Parse a `--groups` entry: IANA names, case-insensitive, or the usual
/// aliases (`P-256`, `P-384`).
pub(crate) fn parse_group(name: &str) -> Result<NamedGroup, String> {
    match name.to_ascii_lowercase().as_str() {
        "x25519mlkem768" => Ok(NamedGroup::X25519MLKEM768),
        "x25519" => Ok(NamedGroup::X25519),
        "secp256r1" | "p-256" | "p256" => Ok(NamedGroup::secp256r1),
        "secp384r1" | "p-384" | "p384" => Ok(NamedGroup::secp384r1),
        _ => Err(format!(
            "unknown group {name:?}: use X25519MLKEM768, X25519, secp256r1 or secp384r1"
        )),
    }
}

/// One line for logs and the client's summary.
pub(crate) fn summary(info: &SessionInfo) -> String {
    format!(
        "version={} cipher_suite={} group={} alpn={} resumed={}",
        version(info),
        suite(info),
        group(info),
        alpn(info),
        info.resumed
    )
}
