//! The TLS core of tlsbox: what runs inside the box.
//!
//! rustls 0.23 driven sans-IO over memory buffers ([`driver`]), our own
//! RustCrypto [`provider`], and a [`signer`] that asks a [`keystore`] for
//! signatures instead of holding a private key. It builds natively (tests,
//! benchmarks, native comparisons) and for `wasm32-wasip2`, where the
//! `tlsbox-guest` crate exports it as a component.
//!
//! ```
//! use std::sync::Arc;
//! use tlsbox_core::{ClientConfig, ClientOptions, Connection};
//! # struct NoKeys;
//! # impl tlsbox_core::keystore::Keystore for NoKeys {
//! #     fn describe_key(&self, k: &str) -> Result<tlsbox_core::keystore::KeyInfo, tlsbox_core::keystore::KeystoreError> {
//! #         Err(tlsbox_core::keystore::KeystoreError::UnknownKey(k.into()))
//! #     }
//! #     fn sign(&self, k: &str, _: rustls::SignatureScheme, _: &[u8]) -> Result<Vec<u8>, tlsbox_core::keystore::KeystoreError> {
//! #         Err(tlsbox_core::keystore::KeystoreError::UnknownKey(k.into()))
//! #     }
//! # }
//! use rustls::pki_types::{pem::PemObject, CertificateDer};
//! let ca = CertificateDer::from_pem_slice(include_bytes!("../../../tests/test-ca/ca.pem")).unwrap();
//! let options = ClientOptions {
//!     server_name: "localhost".into(),
//!     trust_anchors: vec![ca.to_vec()],
//!     ..Default::default()
//! };
//! let config = ClientConfig::new(&options, Arc::new(NoKeys)).unwrap();
//! let mut conn = Connection::new_client(&config).unwrap();
//! let client_hello = conn.take_ciphertext(16 * 1024);
//! assert_eq!(client_hello.first(), Some(&0x16)); // a handshake record
//! ```
#![forbid(unsafe_code)]

extern crate alloc;

pub mod driver;
pub mod error;
pub mod keystore;
pub mod options;
pub mod peer_policy;
pub mod provider;
pub mod random;
pub mod signer;
pub mod tickets;

pub use driver::{ClientConfig, Connection, Phase, ServerConfig, SessionInfo, Status};
pub use error::Error;
pub use options::{ClientAuth, ClientOptions, Identity, KeyPolicy, Resumption, ServerOptions};
pub use peer_policy::{PeerPolicy, Verdict};
pub use rustls;
