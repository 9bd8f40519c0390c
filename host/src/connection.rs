//! A TLS connection running in its own box, sans-IO: the host-side mirror
//! of the WIT `connection` resource.

use std::sync::Arc;

use wasmtime::component::ResourceAny;
use wasmtime::Store;

use crate::bindings::{tls, Tlsbox};
use crate::convert;
use crate::engine::{Engine, HostState};
use crate::keystore::Keystore;
use crate::Error;

pub use tlsbox_core::{Phase, SessionInfo, Status};

/// The most bytes one call moves across the boundary; bigger transfers are
/// made of several calls.
pub const MAX_CHUNK: usize = 64 * 1024;

/// Server settings, converted once and handed to each new box.
#[derive(Clone)]
pub struct ServerConfig {
    options: Arc<tls::ServerOptions>,
    keystore: Arc<dyn Keystore>,
}

/// Client settings, converted once and handed to each new box.
#[derive(Clone)]
pub struct ClientConfig {
    options: Arc<tls::ClientOptions>,
    keystore: Arc<dyn Keystore>,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("key", &self.options.identity.key)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("server_name", &self.options.server_name)
            .finish_non_exhaustive()
    }
}

impl ServerConfig {
    /// Server settings signing through `keystore`. The box checks them once
    /// here (a throw-away instance), so a bad certificate or key fails now
    /// rather than at the first connection.
    pub fn new(
        engine: &Engine,
        options: &tlsbox_core::ServerOptions,
        keystore: Arc<dyn Keystore>,
    ) -> Result<Self, Error> {
        let config = Self {
            options: Arc::new(convert::server_options(options)),
            keystore,
        };
        engine.new_server(&config)?;
        Ok(config)
    }
}

impl ClientConfig {
    /// Client settings signing (for client certificates) through `keystore`;
    /// checked by the box at once.
    pub fn new(
        engine: &Engine,
        options: &tlsbox_core::ClientOptions,
        keystore: Arc<dyn Keystore>,
    ) -> Result<Self, Error> {
        let config = Self {
            options: Arc::new(convert::client_options(options)),
            keystore,
        };
        engine.new_client(&config)?;
        Ok(config)
    }
}

impl Engine {
    /// A server connection in a new box.
    pub fn new_server(&self, config: &ServerConfig) -> Result<Connection, Error> {
        let (mut store, box_) = self.instantiate(config.keystore.clone())?;
        let api = box_.tlsbox_tls_tls();
        let cfg = trap(api.server_config().call_create(&mut store, &config.options))?.map_err(convert::error)?;
        let conn = trap(api.connection().call_new_server(&mut store, cfg))?.map_err(convert::error)?;
        Ok(Connection {
            store,
            box_,
            conn,
            trapped: None,
        })
    }

    /// A client connection in a new box; its ClientHello is ready to take.
    pub fn new_client(&self, config: &ClientConfig) -> Result<Connection, Error> {
        let (mut store, box_) = self.instantiate(config.keystore.clone())?;
        let api = box_.tlsbox_tls_tls();
        let cfg = trap(api.client_config().call_create(&mut store, &config.options))?.map_err(convert::error)?;
        let conn = trap(api.connection().call_new_client(&mut store, cfg))?.map_err(convert::error)?;
        Ok(Connection {
            store,
            box_,
            conn,
            trapped: None,
        })
    }
}

fn trap<T>(r: wasmtime::Result<T>) -> Result<T, Error> {
    r.map_err(|e| Error::Trap(format!("{e:#}")))
}

/// One TLS connection in its own box.
///
/// Call protocol: `feed_ciphertext` what the network delivers, send what
/// `take_ciphertext` returns, move application data with `write_plaintext`
/// and `read_plaintext`, and check `status` to know what is wanted next.
/// If the box traps, every later call returns [`Error::Trap`].
pub struct Connection {
    store: Store<HostState>,
    box_: Tlsbox,
    conn: ResourceAny,
    trapped: Option<String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("trapped", &self.trapped)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Run one call into the box; a trap poisons this connection only.
    fn call<T>(
        &mut self,
        f: impl FnOnce(tls::GuestConnection<'_>, &mut Store<HostState>, ResourceAny) -> wasmtime::Result<T>,
    ) -> Result<T, Error> {
        if let Some(reason) = &self.trapped {
            return Err(Error::Trap(reason.clone()));
        }
        let api = self.box_.tlsbox_tls_tls().connection();
        // Each call gets its own deadline, counted from now.
        let ticks = self.store.data().call_ticks;
        self.store.set_epoch_deadline(ticks);
        match f(api, &mut self.store, self.conn) {
            Ok(v) => Ok(v),
            Err(e) => {
                let reason = format!("{e:#}");
                tracing::warn!(%reason, "box trapped; ending this connection");
                self.trapped = Some(reason.clone());
                Err(Error::Trap(reason))
            }
        }
    }

    /// Feed ciphertext from the peer; returns how many bytes the box took.
    pub fn feed_ciphertext(&mut self, data: &[u8]) -> Result<usize, Error> {
        let mut taken = 0;
        for chunk in data.chunks(MAX_CHUNK) {
            let n = self
                .call(|api, store, conn| api.call_feed_ciphertext(store, conn, chunk))?
                .map_err(convert::error)?;
            let n = (n as usize).min(chunk.len());
            taken += n;
            if n < chunk.len() {
                break;
            }
        }
        Ok(taken)
    }

    /// Take up to `max` bytes of ciphertext to send.
    pub fn take_ciphertext(&mut self, max: usize) -> Result<Vec<u8>, Error> {
        let max = u32::try_from(max.min(MAX_CHUNK)).unwrap_or(u32::MAX);
        let out = self.call(|api, store, conn| api.call_take_ciphertext(store, conn, max))?;
        // The host distrusts the box: it may not hand back more than asked.
        if out.len() > max as usize {
            return Err(self.misbehaved("returned more ciphertext than asked"));
        }
        Ok(out)
    }

    /// Queue plaintext to send; returns how many bytes the box accepted.
    pub fn write_plaintext(&mut self, data: &[u8]) -> Result<usize, Error> {
        let chunk = data.get(..data.len().min(MAX_CHUNK)).unwrap_or_default();
        let n = self
            .call(|api, store, conn| api.call_write_plaintext(store, conn, chunk))?
            .map_err(convert::error)?;
        Ok((n as usize).min(chunk.len()))
    }

    /// Read up to `max` bytes of plaintext (empty when none is ready).
    pub fn read_plaintext(&mut self, max: usize) -> Result<Vec<u8>, Error> {
        let max = u32::try_from(max.min(MAX_CHUNK)).unwrap_or(u32::MAX);
        let out = self
            .call(|api, store, conn| api.call_read_plaintext(store, conn, max))?
            .map_err(convert::error)?;
        if out.len() > max as usize {
            return Err(self.misbehaved("returned more plaintext than asked"));
        }
        Ok(out)
    }

    /// Queue close_notify.
    pub fn close(&mut self) -> Result<(), Error> {
        self.call(|api, store, conn| api.call_close(store, conn))
    }

    /// Where the connection stands.
    pub fn status(&mut self) -> Result<Status, Error> {
        let s = self.call(|api, store, conn| api.call_status(store, conn))?;
        Ok(convert::status(s))
    }

    /// What was negotiated so far.
    pub fn session_info(&mut self) -> Result<SessionInfo, Error> {
        let i = self.call(|api, store, conn| api.call_session_info(store, conn))?;
        Ok(convert::session_info(i))
    }

    /// Keying material for `label` and `context` (RFC 8446 §7.5), `length`
    /// bytes; fails unless the configuration's key policy allows the
    /// exporter.
    pub fn export_keying_material(
        &mut self,
        label: &[u8],
        context: Option<&[u8]>,
        length: usize,
    ) -> Result<Vec<u8>, Error> {
        let len = u32::try_from(length).unwrap_or(u32::MAX);
        let out = self
            .call(|api, store, conn| api.call_export_keying_material(store, conn, label, context, len))?
            .map_err(convert::error)?;
        if out.len() != length {
            return Err(self.misbehaved("exported a different length than asked"));
        }
        Ok(out)
    }

    /// Fault injection for containment tests: the next call into this box
    /// finds its deadline already passed and traps, as a box stuck in a
    /// loop would.
    #[doc(hidden)]
    pub fn expire_deadline_for_tests(&mut self) {
        self.store.data_mut().call_ticks = 0;
    }

    fn misbehaved(&mut self, what: &str) -> Error {
        let reason = format!("the box {what}");
        self.trapped = Some(reason.clone());
        Error::Trap(reason)
    }
}
