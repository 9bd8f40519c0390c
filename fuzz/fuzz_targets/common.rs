//! What the targets share: the checked-in test PKI and a keystore that
//! signs with a fixed P-256 key (natively, as the host would).

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tlsbox_core::keystore::{KeyInfo, Keystore, KeystoreError};
use tlsbox_core::rustls::SignatureScheme;

pub const LEAF: &[u8] = include_bytes!("../../tests/test-ca/ecdsa-p256.pem");
pub const CA: &[u8] = include_bytes!("../../tests/test-ca/ca.pem");

/// DER certificates of a PEM text.
pub fn certs(pem: &[u8]) -> Vec<Vec<u8>> {
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .map(|c| c.to_vec())
        .collect()
}

/// A keystore that answers `describe_key` with the leaf's public key and
/// refuses to sign: the fuzzer explores parsing, not signatures.
pub struct NoSign(pub Vec<u8>);

impl Keystore for NoSign {
    fn describe_key(&self, _key: &str) -> Result<KeyInfo, KeystoreError> {
        Ok(KeyInfo {
            subject_public_key_info: self.0.clone(),
            schemes: vec![SignatureScheme::ECDSA_NISTP256_SHA256],
        })
    }

    fn sign(&self, key: &str, _: SignatureScheme, _: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        Err(KeystoreError::Refused(format!("{key}: the fuzzer does not sign")))
    }
}

/// The leaf's SubjectPublicKeyInfo (what the keystore would report).
pub fn leaf_spki() -> Vec<u8> {
    use x509_cert::der::{Decode, Encode};
    certs(LEAF)
        .first()
        .and_then(|der| x509_cert::Certificate::from_der(der).ok())
        .and_then(|c| c.tbs_certificate.subject_public_key_info.to_der().ok())
        .unwrap_or_default()
}
