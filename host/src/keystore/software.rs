//! A keystore holding keys in this process's memory, loaded from PEM files
//! (PKCS#8, SEC1 or PKCS#1) or generated. For development and for users
//! without a token; the PKCS#11 keystore keeps keys out of every process.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use pkcs8::{DecodePrivateKey, EncodePublicKey};
use rand_core::OsRng;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use signature::{RandomizedSigner, Signer};
use tlsbox_core::rustls::SignatureScheme;

use super::{KeyInfo, Keystore, KeystoreError};

/// One private key. Every variant zeroizes its secret on drop.
pub enum SoftwareKey {
    /// ECDSA on P-256.
    EcdsaP256(p256::ecdsa::SigningKey),
    /// ECDSA on P-384.
    EcdsaP384(p384::ecdsa::SigningKey),
    /// Ed25519.
    Ed25519(ed25519_dalek::SigningKey),
    /// RSA (PSS and PKCS#1 v1.5 signatures).
    Rsa(Box<rsa::RsaPrivateKey>),
}

impl fmt::Debug for SoftwareKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            SoftwareKey::EcdsaP256(_) => "EcdsaP256",
            SoftwareKey::EcdsaP384(_) => "EcdsaP384",
            SoftwareKey::Ed25519(_) => "Ed25519",
            SoftwareKey::Rsa(_) => "Rsa",
        };
        f.write_str(kind)
    }
}

/// Why a key could not be loaded. Never includes key bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// No private key in the PEM input.
    #[error("no private key found in PEM ({0})")]
    NoKey(String),
    /// A key of a type or curve the keystore does not support.
    #[error("unsupported private key: {0}")]
    Unsupported(String),
}

impl SoftwareKey {
    /// Parse the first private key in PEM text.
    pub fn from_pem(pem: &[u8]) -> Result<Self, LoadError> {
        let der = PrivateKeyDer::from_pem_slice(pem).map_err(|e| LoadError::NoKey(e.to_string()))?;
        Self::from_der(&der)
    }

    /// Load the first private key of a PEM file.
    pub fn from_pem_file(path: &Path) -> Result<Self, LoadError> {
        let pem = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_pem(&pem)
    }

    /// Parse a DER private key (PKCS#8, SEC1 or PKCS#1).
    pub fn from_der(der: &PrivateKeyDer<'_>) -> Result<Self, LoadError> {
        match der {
            PrivateKeyDer::Pkcs8(k) => {
                let bytes = k.secret_pkcs8_der();
                if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_der(bytes) {
                    return Ok(Self::EcdsaP256(k));
                }
                if let Ok(k) = p384::ecdsa::SigningKey::from_pkcs8_der(bytes) {
                    return Ok(Self::EcdsaP384(k));
                }
                if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_der(bytes) {
                    return Ok(Self::Ed25519(k));
                }
                if let Ok(k) = rsa::RsaPrivateKey::from_pkcs8_der(bytes) {
                    return Self::rsa(k);
                }
                Err(LoadError::Unsupported(
                    "PKCS#8 key is not P-256, P-384, Ed25519 or RSA".into(),
                ))
            }
            PrivateKeyDer::Sec1(k) => {
                let bytes = k.secret_sec1_der();
                if let Ok(k) = p256::SecretKey::from_sec1_der(bytes) {
                    return Ok(Self::EcdsaP256(k.into()));
                }
                if let Ok(k) = p384::SecretKey::from_sec1_der(bytes) {
                    return Ok(Self::EcdsaP384(k.into()));
                }
                Err(LoadError::Unsupported("SEC1 key is not on P-256 or P-384".into()))
            }
            PrivateKeyDer::Pkcs1(k) => {
                use rsa::pkcs1::DecodeRsaPrivateKey;
                rsa::RsaPrivateKey::from_pkcs1_der(k.secret_pkcs1_der())
                    .map_err(|e| LoadError::Unsupported(format!("PKCS#1 RSA key: {e}")))
                    .and_then(Self::rsa)
            }
            _ => Err(LoadError::Unsupported("unknown private key encoding".into())),
        }
    }

    /// An RSA key of at least 2048 bits: smaller ones are too weak, and too
    /// short for the RSA-PSS schemes the key would claim (PSS with SHA-512
    /// needs a modulus of more than 1040 bits).
    fn rsa(key: rsa::RsaPrivateKey) -> Result<Self, LoadError> {
        use rsa::traits::PublicKeyParts;
        let bits = key.size() * 8;
        if bits < 2048 {
            return Err(LoadError::Unsupported(format!(
                "RSA key of {bits} bits: at least 2048 are needed"
            )));
        }
        Ok(Self::Rsa(Box::new(key)))
    }

    /// A fresh P-256 key.
    pub fn generate_p256() -> Self {
        Self::EcdsaP256(p256::ecdsa::SigningKey::random(&mut OsRng))
    }

    /// The schemes this key makes, in preference order.
    pub fn schemes(&self) -> Vec<SignatureScheme> {
        match self {
            SoftwareKey::EcdsaP256(_) => vec![SignatureScheme::ECDSA_NISTP256_SHA256],
            SoftwareKey::EcdsaP384(_) => vec![SignatureScheme::ECDSA_NISTP384_SHA384],
            SoftwareKey::Ed25519(_) => vec![SignatureScheme::ED25519],
            SoftwareKey::Rsa(_) => vec![
                SignatureScheme::RSA_PSS_SHA256,
                SignatureScheme::RSA_PSS_SHA384,
                SignatureScheme::RSA_PSS_SHA512,
                SignatureScheme::RSA_PKCS1_SHA256,
                SignatureScheme::RSA_PKCS1_SHA384,
                SignatureScheme::RSA_PKCS1_SHA512,
            ],
        }
    }

    /// DER SubjectPublicKeyInfo of the public half.
    pub fn subject_public_key_info(&self) -> Result<Vec<u8>, KeystoreError> {
        let der = match self {
            SoftwareKey::EcdsaP256(k) => k.verifying_key().to_public_key_der(),
            SoftwareKey::EcdsaP384(k) => k.verifying_key().to_public_key_der(),
            SoftwareKey::Ed25519(k) => k.verifying_key().to_public_key_der(),
            SoftwareKey::Rsa(k) => k.to_public_key().to_public_key_der(),
        };
        der.map(|d| d.into_vec())
            .map_err(|e| KeystoreError::Failed(format!("encoding the public key: {e}")))
    }

    /// Sign `message` with `scheme` (ECDSA: DER signature).
    pub fn sign(&self, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        use sha2::{Sha256, Sha384, Sha512};
        use SignatureScheme as S;
        let failed = |e: signature::Error| KeystoreError::Failed(format!("signing: {e}"));
        match (self, scheme) {
            (SoftwareKey::EcdsaP256(k), S::ECDSA_NISTP256_SHA256) => {
                let sig: p256::ecdsa::DerSignature = k.try_sign(message).map_err(failed)?;
                Ok(sig.as_bytes().to_vec())
            }
            (SoftwareKey::EcdsaP384(k), S::ECDSA_NISTP384_SHA384) => {
                let sig: p384::ecdsa::DerSignature = k.try_sign(message).map_err(failed)?;
                Ok(sig.as_bytes().to_vec())
            }
            (SoftwareKey::Ed25519(k), S::ED25519) => Ok(k.try_sign(message).map_err(failed)?.to_bytes().to_vec()),
            (SoftwareKey::Rsa(k), S::RSA_PSS_SHA256) => rsa_pss::<Sha256>(k, message),
            (SoftwareKey::Rsa(k), S::RSA_PSS_SHA384) => rsa_pss::<Sha384>(k, message),
            (SoftwareKey::Rsa(k), S::RSA_PSS_SHA512) => rsa_pss::<Sha512>(k, message),
            (SoftwareKey::Rsa(k), S::RSA_PKCS1_SHA256) => rsa_pkcs1::<Sha256>(k, message),
            (SoftwareKey::Rsa(k), S::RSA_PKCS1_SHA384) => rsa_pkcs1::<Sha384>(k, message),
            (SoftwareKey::Rsa(k), S::RSA_PKCS1_SHA512) => rsa_pkcs1::<Sha512>(k, message),
            (_, scheme) => Err(KeystoreError::UnsupportedScheme(scheme)),
        }
    }
}

fn rsa_pss<D>(key: &rsa::RsaPrivateKey, message: &[u8]) -> Result<Vec<u8>, KeystoreError>
where
    D: sha2::Digest + sha2::digest::FixedOutputReset,
{
    use signature::SignatureEncoding;
    // Salt length = hash length, as TLS requires (RFC 8446 §4.2.3).
    let signer = rsa::pss::BlindedSigningKey::<D>::new(key.clone());
    let sig = signer
        .try_sign_with_rng(&mut OsRng, message)
        .map_err(|e| KeystoreError::Failed(format!("signing: {e}")))?;
    Ok(sig.to_vec())
}

fn rsa_pkcs1<D>(key: &rsa::RsaPrivateKey, message: &[u8]) -> Result<Vec<u8>, KeystoreError>
where
    D: sha2::Digest + rsa::pkcs8::AssociatedOid,
{
    use signature::SignatureEncoding;
    let signer = rsa::pkcs1v15::SigningKey::<D>::new(key.clone());
    let sig = signer
        .try_sign(message)
        .map_err(|e| KeystoreError::Failed(format!("signing: {e}")))?;
    Ok(sig.to_vec())
}

/// Keys by name, in memory.
#[derive(Default)]
pub struct SoftwareKeystore {
    keys: HashMap<String, SoftwareKey>,
}

impl fmt::Debug for SoftwareKeystore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareKeystore")
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl SoftwareKeystore {
    /// An empty keystore.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `key` under `name` (replacing any key of that name).
    pub fn insert(&mut self, name: impl Into<String>, key: SoftwareKey) {
        self.keys.insert(name.into(), key);
    }

    /// Load a PEM key file under `name`.
    pub fn load_pem_file(&mut self, name: impl Into<String>, path: &Path) -> Result<(), LoadError> {
        let key = SoftwareKey::from_pem_file(path)?;
        self.insert(name, key);
        Ok(())
    }

    fn key(&self, name: &str) -> Result<&SoftwareKey, KeystoreError> {
        self.keys
            .get(name)
            .ok_or_else(|| KeystoreError::UnknownKey(name.to_string()))
    }
}

impl Keystore for SoftwareKeystore {
    fn describe_key(&self, key: &str) -> Result<KeyInfo, KeystoreError> {
        let k = self.key(key)?;
        Ok(KeyInfo {
            subject_public_key_info: k.subject_public_key_info()?,
            schemes: k.schemes(),
        })
    }

    fn sign(&self, key: &str, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        self.key(key)?.sign(scheme, message)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use pkcs8::EncodePrivateKey;

    use super::*;

    #[test]
    fn rsa_keys_under_2048_bits_are_refused() {
        let small = rsa::RsaPrivateKey::new(&mut OsRng, 1024).unwrap();
        let der = small.to_pkcs8_der().unwrap();
        let key = PrivateKeyDer::Pkcs8(der.as_bytes().to_vec().into());
        let err = SoftwareKey::from_der(&key).unwrap_err();
        assert!(err.to_string().contains("1024 bits"), "{err}");
    }
}
