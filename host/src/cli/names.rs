//! IANA and OpenSSL-style names for what was negotiated.

use tlsbox_host::core::provider::ALL_CIPHER_SUITES;
use tlsbox_host::core::rustls::{CipherSuite, NamedGroup, ProtocolVersion};
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

/// Parse a `--cipher-suites` entry: an IANA name (`TLS_AES_128_GCM_SHA256`,
/// `TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256`) or the name rustls logs
/// (`TLS13_AES_128_GCM_SHA256`), case-insensitive; only suites the box has.
pub(crate) fn parse_suite(name: &str) -> Result<CipherSuite, String> {
    let wanted = name.to_ascii_uppercase();
    let iana = |suite: CipherSuite| {
        let rustls_name = suite.as_str().unwrap_or_default();
        // rustls names the TLS 1.3 suites TLS13_*; IANA names them TLS_*.
        rustls_name
            .strip_prefix("TLS13_")
            .map_or_else(|| rustls_name.to_string(), |rest| format!("TLS_{rest}"))
    };
    ALL_CIPHER_SUITES
        .iter()
        .map(|s| s.suite())
        .find(|s| iana(*s) == wanted || s.as_str() == Some(wanted.as_str()))
        .ok_or_else(|| {
            let known: Vec<String> = ALL_CIPHER_SUITES.iter().map(|s| iana(s.suite())).collect();
            format!("unknown cipher suite {name:?}: use {}", known.join(", "))
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_are_known_by_their_iana_and_rustls_names_only() {
        assert_eq!(
            parse_suite("TLS_CHACHA20_POLY1305_SHA256"),
            Ok(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256)
        );
        assert_eq!(
            parse_suite("tls13_aes_128_gcm_sha256"),
            Ok(CipherSuite::TLS13_AES_128_GCM_SHA256)
        );
        assert_eq!(
            parse_suite("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
            Ok(CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384)
        );
        let Err(err) = parse_suite("TLS_RSA_WITH_RC4_128_SHA") else {
            panic!("RC4 is not a suite of the box")
        };
        assert!(err.contains("TLS_AES_128_GCM_SHA256"), "{err}");
    }
}
