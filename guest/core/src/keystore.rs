//! The keystore seam: where the box asks for signatures it cannot make.
//!
//! Shaped like rustls' `SigningKey`: the box names a key, learns what it can
//! sign, and hands over the TLS-defined message to be signed. No key bytes
//! ever cross this seam. In the component it is the WIT `keystore` import;
//! natively (tests, benchmarks) any Rust implementation.

use alloc::string::String;
use alloc::vec::Vec;

use rustls::SignatureScheme;

/// What the box may know of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// DER SubjectPublicKeyInfo of the key.
    pub subject_public_key_info: Vec<u8>,
    /// The schemes the keystore will make with it.
    pub schemes: Vec<SignatureScheme>,
}

/// Why a keystore did not sign. Carries no key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreError {
    /// No such key in the configuration.
    #[error("unknown key {0:?}")]
    UnknownKey(String),
    /// The key cannot make this scheme.
    #[error("the key cannot sign with {0:?}")]
    UnsupportedScheme(SignatureScheme),
    /// The keystore policy refused the message.
    #[error("signing refused: {0}")]
    Refused(String),
    /// The keystore failed.
    #[error("keystore failure: {0}")]
    Failed(String),
}

/// One session-ticket key, wrapped for one box: RFC 3394 AES key wrap
/// under a key only the token and that box can derive (see
/// [`crate::tickets`]). The bytes are ciphertext, never the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedTicketKey {
    /// The key's public name (16 bytes), written at the start of every
    /// ticket it seals, so that a rotated key is still found.
    pub name: Vec<u8>,
    /// The key, wrapped.
    pub wrapped_key: Vec<u8>,
    /// Whether new tickets are sealed with it (the current key); the
    /// others only open tickets issued before the last rotation.
    pub issue: bool,
}

/// What the keystore answers a box that asks for the ticket keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedTicketKeys {
    /// The token's (or a relay's) transfer key, in the form of the box's
    /// key (X25519: 32 bytes; P-256: SEC1 uncompressed): the other half of
    /// the key agreement that wrapped the keys.
    pub token_public_key: Vec<u8>,
    /// The keys that may open tickets, each wrapped.
    pub keys: Vec<WrappedTicketKey>,
}

/// Signs with long-term identity keys the box never sees.
pub trait Keystore: Send + Sync {
    /// Describe the key named `key`.
    fn describe_key(&self, key: &str) -> Result<KeyInfo, KeystoreError>;

    /// Sign `message` (a TLS CertificateVerify or ServerKeyExchange content)
    /// with `key` using `scheme`; ECDSA signatures are DER.
    fn sign(&self, key: &str, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, KeystoreError>;

    /// The session-ticket keys, wrapped for the box whose ephemeral public
    /// key is `box_public_key` (X25519, or P-256 SEC1 uncompressed, as the
    /// server's resumption settings name). A keystore without ticket keys
    /// says so; the box then issues no tickets.
    fn ticket_keys(&self, box_public_key: &[u8]) -> Result<WrappedTicketKeys, KeystoreError> {
        let _ = box_public_key;
        Err(KeystoreError::Failed("this keystore holds no ticket keys".into()))
    }

    /// Which set of ticket keys [`Self::ticket_keys`] would wrap now: a
    /// number that changes when the keys rotate or are made anew (`None`:
    /// no ticket keys yet). A relay that keeps the keys asks it to know
    /// when to fetch them again; it never needs the token.
    fn ticket_keys_epoch(&self) -> Option<u64> {
        None
    }
}

impl<K: Keystore + ?Sized> Keystore for alloc::sync::Arc<K> {
    fn describe_key(&self, key: &str) -> Result<KeyInfo, KeystoreError> {
        (**self).describe_key(key)
    }

    fn sign(&self, key: &str, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        (**self).sign(key, scheme, message)
    }

    fn ticket_keys(&self, box_public_key: &[u8]) -> Result<WrappedTicketKeys, KeystoreError> {
        (**self).ticket_keys(box_public_key)
    }

    fn ticket_keys_epoch(&self) -> Option<u64> {
        (**self).ticket_keys_epoch()
    }
}
