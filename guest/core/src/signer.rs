//! A rustls `SigningKey` whose private half stays in the keystore.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use rustls::sign::{Signer, SigningKey};
use rustls::{OtherError, SignatureAlgorithm, SignatureScheme};
use rustls_pki_types::SubjectPublicKeyInfoDer;

use crate::keystore::{Keystore, KeystoreError};

/// A key named in the keystore, with what the keystore said it can do.
pub struct RemoteSigningKey {
    keystore: Arc<dyn Keystore>,
    key: String,
    schemes: Vec<SignatureScheme>,
    spki: Vec<u8>,
    algorithm: SignatureAlgorithm,
}

impl fmt::Debug for RemoteSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSigningKey")
            .field("key", &self.key)
            .field("schemes", &self.schemes)
            .finish_non_exhaustive()
    }
}

impl RemoteSigningKey {
    /// A signing key for `key`, allowed to make `schemes` (empty: the ones
    /// the keystore reports). `spki` is the public key to expect.
    pub fn new(
        keystore: Arc<dyn Keystore>,
        key: String,
        schemes: Vec<SignatureScheme>,
        spki: Vec<u8>,
    ) -> Result<Self, KeystoreError> {
        let algorithm = schemes
            .first()
            .map(|s| scheme_algorithm(*s))
            .ok_or_else(|| KeystoreError::Failed(alloc::format!("key {key:?} offers no signature scheme")))?;
        if schemes.iter().any(|s| scheme_algorithm(*s) != algorithm) {
            return Err(KeystoreError::Failed(alloc::format!(
                "key {key:?} lists schemes of different key types"
            )));
        }
        Ok(Self {
            keystore,
            key,
            schemes,
            spki,
            algorithm,
        })
    }
}

/// The key type behind a scheme.
pub fn scheme_algorithm(scheme: SignatureScheme) -> SignatureAlgorithm {
    match scheme {
        SignatureScheme::ECDSA_NISTP256_SHA256
        | SignatureScheme::ECDSA_NISTP384_SHA384
        | SignatureScheme::ECDSA_NISTP521_SHA512 => SignatureAlgorithm::ECDSA,
        SignatureScheme::ED25519 => SignatureAlgorithm::ED25519,
        SignatureScheme::ED448 => SignatureAlgorithm::ED448,
        _ => SignatureAlgorithm::RSA,
    }
}

impl SigningKey for RemoteSigningKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        // Our preference order (the keystore's list) wins over the peer's.
        let scheme = self.schemes.iter().find(|s| offered.contains(s))?;
        Some(Box::new(RemoteSigner {
            keystore: self.keystore.clone(),
            key: self.key.clone(),
            scheme: *scheme,
        }))
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        Some(SubjectPublicKeyInfoDer::from(self.spki.as_slice()))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }
}

struct RemoteSigner {
    keystore: Arc<dyn Keystore>,
    key: String,
    scheme: SignatureScheme,
}

impl fmt::Debug for RemoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSigner")
            .field("key", &self.key)
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl Signer for RemoteSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        self.keystore
            .sign(&self.key, self.scheme, message)
            .map_err(|e| rustls::Error::Other(OtherError(Arc::new(e))))
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}
