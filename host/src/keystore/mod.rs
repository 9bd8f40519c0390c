//! Keystores: where identity keys live and signatures are made. The box
//! reaches them only through the WIT `keystore` import, implemented here.
//!
//! The trait is [`tlsbox_core::keystore::Keystore`], shaped like rustls'
//! `SigningKey`: describe a key, sign a TLS message with it. Key bytes never
//! cross it. [`software::SoftwareKeystore`] holds keys from PEM files; the
//! PKCS#11 keystore slots in behind the same trait.

pub mod bounded;
pub mod pkcs11;
pub mod policy;
pub mod software;

pub use tlsbox_core::keystore::{KeyInfo, Keystore, KeystoreError, WrappedTicketKey, WrappedTicketKeys};

use crate::bindings::keystore::{self as wit, Host};
use crate::bindings::types::{self, KeystoreError as WitKeystoreError, SignatureScheme};
use crate::convert;
use crate::engine::HostState;

/// Longest key name the box may send (names are config strings, not data).
const MAX_KEY_NAME: usize = 4096;

impl types::Host for HostState {}

impl Host for HostState {
    fn describe_key(&mut self, key: String) -> Result<wit::KeyInfo, WitKeystoreError> {
        if key.len() > MAX_KEY_NAME {
            return Err(WitKeystoreError::UnknownKey("(name too long)".into()));
        }
        let info = self
            .keystore
            .describe_key(&key)
            .map_err(convert::keystore_error_to_wit)?;
        Ok(wit::KeyInfo {
            subject_public_key_info: info.subject_public_key_info,
            schemes: info.schemes.into_iter().filter_map(convert::scheme_to_wit).collect(),
        })
    }

    fn sign(&mut self, key: String, scheme: SignatureScheme, message: Vec<u8>) -> Result<Vec<u8>, WitKeystoreError> {
        if key.len() > MAX_KEY_NAME {
            return Err(WitKeystoreError::UnknownKey("(name too long)".into()));
        }
        let scheme = convert::scheme_from_wit(scheme);
        // Invariant 3: not a signing oracle. Only TLS-shaped messages.
        if let Err(why) = policy::check_message(&message) {
            tracing::warn!(key = %key, ?scheme, reason = why, "refused to sign a message that is not a TLS handshake signature");
            return Err(WitKeystoreError::Refused(why.into()));
        }
        self.keystore.sign(&key, scheme, &message).map_err(|e| {
            tracing::warn!(key = %key, ?scheme, error = %e, "keystore did not sign");
            convert::keystore_error_to_wit(e)
        })
    }

    fn ticket_keys(&mut self, box_public_key: Vec<u8>) -> Result<wit::WrappedTicketKeys, WitKeystoreError> {
        // An X25519 key or an uncompressed P-256 point: anything else is
        // not worth a token call.
        let x25519 = box_public_key.len() == 32;
        let p256 = box_public_key.len() == 65 && box_public_key.first() == Some(&4);
        if !x25519 && !p256 {
            return Err(WitKeystoreError::Refused(
                "the box's public key is neither X25519 nor an uncompressed P-256 point".into(),
            ));
        }
        let keys = self.keystore.ticket_keys(&box_public_key).map_err(|e| {
            tracing::debug!(error = %e, "no ticket keys for this box");
            convert::keystore_error_to_wit(e)
        })?;
        Ok(wit::WrappedTicketKeys {
            token_public_key: keys.token_public_key,
            keys: keys
                .keys
                .into_iter()
                .map(|k| wit::WrappedTicketKey {
                    name: k.name,
                    wrapped_key: k.wrapped_key,
                    issue: k.issue,
                })
                .collect(),
        })
    }
}
