//! The host of tlsbox: runs the box (a WebAssembly component holding the
//! TLS state machine and every session secret) in wasmtime, one instance per
//! connection, and moves only ciphertext and plaintext.
//!
//! - [`Engine`] compiles the box once and instantiates it per connection;
//! - [`Connection`] is the sans-IO connection in its own box;
//! - [`stream`] adapts it to tokio (`AsyncRead + AsyncWrite`);
//! - [`keystore`] signs for the box with keys it never sees;
//! - [`proxy_protocol`] tells a backend who the TLS client was (PROXY v2).
//!
//! ```no_run
//! use std::sync::Arc;
//! use tlsbox_host::keystore::software::{SoftwareKey, SoftwareKeystore};
//! use tlsbox_host::{Engine, EngineConfig, ServerConfig};
//! use tlsbox_core::{Identity, ServerOptions};
//!
//! # async fn run(chain: Vec<Vec<u8>>) -> anyhow::Result<()> {
//! let engine = Engine::new(EngineConfig::default())?;
//! let mut keys = SoftwareKeystore::new();
//! keys.insert("identity", SoftwareKey::generate_p256());
//! let options = ServerOptions {
//!     identity: Identity { certificate_chain: chain, key: "identity".into(), schemes: vec![] },
//!     ..Default::default()
//! };
//! let config = ServerConfig::new(&engine, &options, Arc::new(keys))?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
//! let (tcp, _) = listener.accept().await?;
//! let tls = tlsbox_host::stream::accept(&engine, &config, tcp).await?;
//! # Ok(()) }
//! ```
#![deny(unsafe_code)]

mod bindings;
pub mod connection;
mod convert;
pub mod engine;
mod error;
pub mod keystore;
pub mod proxy_protocol;
pub mod relay;
pub mod stream;

pub use connection::{ClientConfig, Connection, ServerConfig};
pub use engine::{Engine, EngineConfig};
pub use error::Error;
pub use tlsbox_core::{
    self as core, ClientAuth, ClientOptions, Identity, PeerPolicy, Phase, ServerOptions, SessionInfo, Status,
};
