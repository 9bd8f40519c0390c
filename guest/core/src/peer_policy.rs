//! Which verified peers are let in: ghostunnel-style allow-lists on the
//! peer's leaf certificate, taken inside the box so that a refused peer gets
//! `access_denied` during the handshake, before any plaintext moves.
//!
//! The rules form a disjunction: a peer whose chain the trust anchors verify
//! is accepted when any one rule matches. A policy with no rule accepts
//! every verified peer (`--allow-all`).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use der::asn1::{Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef};
use der::oid::ObjectIdentifier;
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::Certificate;

use crate::error::Error;

/// id-at-commonName (RFC 4519).
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
/// id-at-organizationalUnitName (RFC 4519).
const ORGANIZATIONAL_UNIT: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.11");
/// id-ce-subjectAltName (RFC 5280 §4.2.1.6).
const SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");

/// Allow-list rules on the peer's leaf certificate; any match admits it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerPolicy {
    /// Exact subject common names.
    pub common_names: Vec<String>,
    /// Exact subject organizational units.
    pub organizational_units: Vec<String>,
    /// Exact DNS subject alternative names (compared as text, no lookup).
    pub dns_names: Vec<String>,
    /// URI subject alternative names (SPIFFE IDs); a path segment `*`
    /// matches one segment, `**` any number of segments.
    pub uris: Vec<String>,
    /// SHA-256 digests of the peer's SubjectPublicKeyInfo (DER).
    pub spki_sha256: Vec<Vec<u8>>,
}

/// The outcome of a policy check, for the connection's log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Admitted by the named rule.
    Allowed(String),
    /// Refused; says what the peer presented and that no rule matched.
    Denied(String),
}

/// The names in a leaf certificate that the rules look at.
#[derive(Debug, Default)]
struct PeerNames {
    common_names: Vec<String>,
    organizational_units: Vec<String>,
    dns_names: Vec<String>,
    uris: Vec<String>,
    spki_sha256: [u8; 32],
}

impl PeerPolicy {
    /// True when no rule is set: every verified peer is admitted.
    pub fn is_open(&self) -> bool {
        self.common_names.is_empty()
            && self.organizational_units.is_empty()
            && self.dns_names.is_empty()
            && self.uris.is_empty()
            && self.spki_sha256.is_empty()
    }

    /// Refuse malformed rules when the configuration is built, not at the
    /// first peer.
    pub fn check(&self) -> Result<(), Error> {
        for pin in &self.spki_sha256 {
            if pin.len() != 32 {
                return Err(Error::InvalidConfig(format!(
                    "an SPKI pin is a SHA-256 digest of 32 bytes, not {}",
                    pin.len()
                )));
            }
        }
        for pattern in &self.uris {
            check_uri_pattern(pattern)?;
        }
        Ok(())
    }

    /// Judge the peer by its DER leaf certificate (already verified against
    /// the trust anchors).
    pub fn evaluate(&self, leaf: &[u8]) -> Verdict {
        if self.is_open() {
            return Verdict::Allowed("any verified peer".into());
        }
        let names = match PeerNames::of(leaf) {
            Ok(names) => names,
            Err(e) => return Verdict::Denied(format!("unreadable certificate: {e}")),
        };
        if let Some(cn) = names.common_names.iter().find(|cn| self.common_names.contains(cn)) {
            return Verdict::Allowed(format!("allow-cn={cn}"));
        }
        if let Some(ou) = names
            .organizational_units
            .iter()
            .find(|ou| self.organizational_units.contains(ou))
        {
            return Verdict::Allowed(format!("allow-ou={ou}"));
        }
        if let Some(dns) = names.dns_names.iter().find(|d| self.dns_names.contains(d)) {
            return Verdict::Allowed(format!("allow-dns={dns}"));
        }
        for pattern in &self.uris {
            if let Some(uri) = names.uris.iter().find(|u| uri_matches(pattern, u)) {
                return Verdict::Allowed(format!("allow-uri={pattern} ({uri})"));
            }
        }
        if self.spki_sha256.iter().any(|pin| pin.as_slice() == names.spki_sha256) {
            return Verdict::Allowed(format!("allow-spki-pin=sha256:{}", hex(&names.spki_sha256)));
        }
        Verdict::Denied(format!(
            "no allow rule matched the peer (CN {:?}, OU {:?}, DNS {:?}, URI {:?}, SPKI sha256:{})",
            names.common_names,
            names.organizational_units,
            names.dns_names,
            names.uris,
            hex(&names.spki_sha256)
        ))
    }
}

/// The first subject common name of a DER certificate (for logs and PROXY
/// headers; the policy itself looks at all of them).
pub fn subject_common_name(leaf: &[u8]) -> Option<String> {
    PeerNames::of(leaf).ok()?.common_names.into_iter().next()
}

impl PeerNames {
    fn of(leaf: &[u8]) -> Result<Self, der::Error> {
        let cert = Certificate::from_der(leaf)?;
        let tbs = &cert.tbs_certificate;
        let mut names = PeerNames::default();
        for rdn in tbs.subject.0.iter() {
            for atv in rdn.0.iter() {
                let list = if atv.oid == COMMON_NAME {
                    &mut names.common_names
                } else if atv.oid == ORGANIZATIONAL_UNIT {
                    &mut names.organizational_units
                } else {
                    continue;
                };
                if let Some(text) = directory_string(&atv.value) {
                    list.push(text);
                }
            }
        }
        for ext in tbs.extensions.iter().flatten() {
            if ext.extn_id != SUBJECT_ALT_NAME {
                continue;
            }
            let san = SubjectAltName::from_der(ext.extn_value.as_bytes())?;
            for name in san.0 {
                match name {
                    GeneralName::DnsName(dns) => names.dns_names.push(dns.to_string()),
                    GeneralName::UniformResourceIdentifier(uri) => names.uris.push(uri.to_string()),
                    _ => {}
                }
            }
        }
        let spki = tbs.subject_public_key_info.to_der()?;
        names.spki_sha256 = Sha256::digest(&spki).into();
        Ok(names)
    }
}

/// An X.520 DirectoryString (or IA5String) as text.
fn directory_string(value: &der::Any) -> Option<String> {
    if let Ok(s) = Utf8StringRef::try_from(value) {
        return Some(s.to_string());
    }
    if let Ok(s) = PrintableStringRef::try_from(value) {
        return Some(s.to_string());
    }
    if let Ok(s) = Ia5StringRef::try_from(value) {
        return Some(s.to_string());
    }
    TeletexStringRef::try_from(value).ok().map(|s| s.to_string())
}

/// Wildcards are whole path segments: `*` or `**`, nothing like `a*b`.
fn check_uri_pattern(pattern: &str) -> Result<(), Error> {
    let (_, path) = split_authority(pattern);
    for segment in path.split('/') {
        if segment.contains('*') && segment != "*" && segment != "**" {
            return Err(Error::InvalidConfig(format!(
                "URI pattern {pattern:?}: a wildcard must be a whole path segment (* or **)"
            )));
        }
    }
    if split_authority(pattern).0.contains('*') {
        return Err(Error::InvalidConfig(format!(
            "URI pattern {pattern:?}: wildcards are allowed in the path only"
        )));
    }
    Ok(())
}

/// `scheme://authority` and the path after it.
fn split_authority(uri: &str) -> (&str, &str) {
    let after_scheme = uri.find("://").map_or(0, |i| i + 3);
    match uri.get(after_scheme..).and_then(|rest| rest.find('/')) {
        Some(i) => uri.split_at(after_scheme + i),
        None => (uri, ""),
    }
}

/// Whether `uri` matches `pattern` (ghostunnel's wildcard rules).
pub fn uri_matches(pattern: &str, uri: &str) -> bool {
    let (pattern_authority, pattern_path) = split_authority(pattern);
    let (authority, path) = split_authority(uri);
    if !pattern_authority.eq_ignore_ascii_case(authority) {
        return false;
    }
    let pattern: Vec<&str> = pattern_path.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    segments_match(&pattern, &path)
}

fn segments_match(pattern: &[&str], path: &[&str]) -> bool {
    match (pattern.split_first(), path.split_first()) {
        (None, None) => true,
        (Some((&"**", rest)), _) => {
            (0..=path.len()).any(|skip| path.get(skip..).is_some_and(|p| segments_match(rest, p)))
        }
        (Some((&"*", rest)), Some((segment, path_rest))) => !segment.is_empty() && segments_match(rest, path_rest),
        (Some((want, rest)), Some((segment, path_rest))) => want == segment && segments_match(rest, path_rest),
        _ => false,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_wildcards_are_whole_segments() {
        let m = uri_matches;
        assert!(m("spiffe://ex.org/web", "spiffe://ex.org/web"));
        assert!(!m("spiffe://ex.org/web", "spiffe://ex.org/web/x"));
        assert!(m("spiffe://ex.org/*", "spiffe://ex.org/web"));
        assert!(!m("spiffe://ex.org/*", "spiffe://ex.org/ns/web"));
        assert!(!m("spiffe://ex.org/*", "spiffe://ex.org/"));
        assert!(m("spiffe://ex.org/ns/*/sa/*", "spiffe://ex.org/ns/prod/sa/web"));
        assert!(m("spiffe://ex.org/**", "spiffe://ex.org/ns/prod/sa/web"));
        assert!(m("spiffe://ex.org/ns/**/web", "spiffe://ex.org/ns/web"));
        assert!(m("spiffe://ex.org/ns/**/web", "spiffe://ex.org/ns/a/b/web"));
        assert!(!m("spiffe://ex.org/**", "spiffe://other.org/web"));
        assert!(!m("spiffe://ex.org/web", "spiffe://ex.org.evil/web"));
    }

    #[test]
    fn bad_patterns_and_pins_are_refused() {
        let policy = |uris: &[&str], pins: Vec<Vec<u8>>| PeerPolicy {
            uris: uris.iter().map(ToString::to_string).collect(),
            spki_sha256: pins,
            ..Default::default()
        };
        assert!(policy(&["spiffe://ex.org/web*"], vec![]).check().is_err());
        assert!(policy(&["spiffe://*.org/web"], vec![]).check().is_err());
        assert!(policy(&[], vec![vec![0; 31]]).check().is_err());
        assert!(policy(&["spiffe://ex.org/**"], vec![vec![0; 32]]).check().is_ok());
    }

    fn leaf(pem: &[u8]) -> Vec<u8> {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::from_pem_slice(pem)
            .map(|c| c.to_vec())
            .unwrap_or_default()
    }

    #[test]
    fn rules_match_the_names_in_real_certificates() {
        let client = leaf(include_bytes!("../../../tests/test-ca/client.pem"));
        let spiffe = leaf(include_bytes!("../../../tests/test-ca/spiffe-client.pem"));
        let allowed = |policy: PeerPolicy, der: &[u8]| matches!(policy.evaluate(der), Verdict::Allowed(_));
        let cn = |v: &str| PeerPolicy {
            common_names: alloc::vec![v.into()],
            ..Default::default()
        };
        assert!(allowed(cn("client.test"), &client));
        assert!(!allowed(cn("client"), &client));
        let ou = PeerPolicy {
            organizational_units: alloc::vec!["tests".into()],
            ..Default::default()
        };
        assert!(allowed(ou.clone(), &client));
        assert!(!allowed(ou, &spiffe));
        let dns = PeerPolicy {
            dns_names: alloc::vec!["client.test".into()],
            ..Default::default()
        };
        assert!(allowed(dns, &client));
        let uri = |v: &str| PeerPolicy {
            uris: alloc::vec![v.into()],
            ..Default::default()
        };
        assert!(allowed(uri("spiffe://tlsbox.test/ns/*/sa/web"), &spiffe));
        assert!(!allowed(uri("spiffe://tlsbox.test/ns/dev/**"), &spiffe));
        assert!(!allowed(uri("spiffe://tlsbox.test/**"), &client));
        let Ok(parsed) = Certificate::from_der(&client) else {
            panic!("client.pem does not parse")
        };
        let spki = parsed
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .unwrap_or_default();
        let pin = PeerPolicy {
            spki_sha256: alloc::vec![Sha256::digest(&spki).to_vec()],
            ..Default::default()
        };
        assert_eq!(
            pin.evaluate(&client),
            Verdict::Allowed(format!("allow-spki-pin=sha256:{}", hex(&Sha256::digest(&spki))))
        );
        assert!(!allowed(pin, &spiffe));
        assert!(allowed(PeerPolicy::default(), &client));
    }

    #[test]
    fn garbage_certificate_is_denied_not_a_panic() {
        let policy = PeerPolicy {
            common_names: alloc::vec!["client".into()],
            ..Default::default()
        };
        assert!(matches!(policy.evaluate(b"\x30\x03garbage"), Verdict::Denied(_)));
        assert!(matches!(policy.evaluate(&[]), Verdict::Denied(_)));
    }
}
