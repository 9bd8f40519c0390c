//! Shared helpers of the integration tests: the checked-in test PKI, one
//! engine per test binary, a keystore with the test keys, and an in-memory
//! pump between two sans-IO endpoints (the box, or native rustls with the
//! same provider).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod box_server;

pub use box_server::BoxServer;
pub use tlsbox_test_support::{free_port, pki_path, require, run, s_client, text, wait_for_port, ServerProcess};

use std::sync::{Arc, OnceLock};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tlsbox_core::keystore::Keystore;
use tlsbox_host::keystore::software::{SoftwareKey, SoftwareKeystore};
use tlsbox_host::{Engine, EngineConfig, Error, SessionInfo, Status};

/// Key types of the test PKI (file stems under `tests/test-ca/`).
pub const KEY_TYPES: [&str; 4] = ["ecdsa-p256", "ecdsa-p384", "rsa-2048", "ed25519"];

/// The DER certificates of `tests/test-ca/<stem>.pem`.
pub fn chain(stem: &str) -> Vec<Vec<u8>> {
    CertificateDer::pem_file_iter(pki_path(&format!("{stem}.pem")))
        .unwrap()
        .map(|c| c.unwrap().as_ref().to_vec())
        .collect()
}

/// The test CA certificate, DER.
pub fn ca() -> Vec<Vec<u8>> {
    chain("ca")
}

/// A software keystore holding the test keys, each under its file stem.
pub fn keystore() -> Arc<SoftwareKeystore> {
    let mut keys = SoftwareKeystore::new();
    for stem in KEY_TYPES.iter().chain(&["client", "untrusted"]) {
        keys.insert(
            *stem,
            SoftwareKey::from_pem_file(&pki_path(&format!("{stem}.key"))).unwrap(),
        );
    }
    Arc::new(keys)
}

/// One engine per test binary: the box is compiled once.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::new(EngineConfig {
            max_instances: 200,
            ..EngineConfig::default()
        })
        .unwrap()
    })
}

/// Server options for the test leaf `stem` (its key is named `stem`).
pub fn server_options(stem: &str) -> tlsbox_core::ServerOptions {
    tlsbox_core::ServerOptions {
        identity: tlsbox_core::Identity {
            certificate_chain: chain(stem),
            key: stem.into(),
            schemes: vec![],
        },
        ..Default::default()
    }
}

/// Client options trusting the test CA, for `localhost`.
pub fn client_options() -> tlsbox_core::ClientOptions {
    tlsbox_core::ClientOptions {
        server_name: "localhost".into(),
        trust_anchors: ca(),
        ..Default::default()
    }
}

/// A native (non-box) server endpoint: rustls with the same provider.
pub fn native_server(options: &tlsbox_core::ServerOptions, keys: Arc<dyn Keystore>) -> tlsbox_core::Connection {
    let config = tlsbox_core::ServerConfig::new(options, keys).unwrap();
    tlsbox_core::Connection::new_server(&config).unwrap()
}

/// A native client endpoint.
pub fn native_client(options: &tlsbox_core::ClientOptions, keys: Arc<dyn Keystore>) -> tlsbox_core::Connection {
    let config = tlsbox_core::ClientConfig::new(options, keys).unwrap();
    tlsbox_core::Connection::new_client(&config).unwrap()
}

/// A box server endpoint.
pub fn box_server(options: &tlsbox_core::ServerOptions, keys: Arc<dyn Keystore>) -> tlsbox_host::Connection {
    let config = tlsbox_host::ServerConfig::new(engine(), options, keys).unwrap();
    engine().new_server(&config).unwrap()
}

/// A box client endpoint.
pub fn box_client(options: &tlsbox_core::ClientOptions, keys: Arc<dyn Keystore>) -> tlsbox_host::Connection {
    let config = tlsbox_host::ClientConfig::new(engine(), options, keys).unwrap();
    engine().new_client(&config).unwrap()
}

/// `n` established connections, each a native client and a server in a
/// box of `engine` (for tests that need many live boxes).
pub fn established_pairs(
    engine: &Engine,
    config: &tlsbox_host::ServerConfig,
    keys: &Arc<SoftwareKeystore>,
    n: usize,
) -> Vec<(tlsbox_core::Connection, tlsbox_host::Connection)> {
    (0..n)
        .map(|_| {
            let mut server = engine.new_server(config).unwrap();
            let mut client = native_client(&client_options(), keys.clone());
            handshake(&mut client, &mut server).unwrap();
            (client, server)
        })
        .collect()
}

/// The sans-IO calls both the box and the native connection offer.
pub trait Endpoint {
    /// Feed ciphertext.
    fn feed(&mut self, data: &[u8]) -> Result<usize, Error>;
    /// Take ciphertext.
    fn take(&mut self) -> Result<Vec<u8>, Error>;
    /// Write plaintext.
    fn write(&mut self, data: &[u8]) -> Result<usize, Error>;
    /// Read plaintext.
    fn read(&mut self, max: usize) -> Result<Vec<u8>, Error>;
    /// Queue close_notify.
    fn close(&mut self) -> Result<(), Error>;
    /// Status.
    fn status(&mut self) -> Result<Status, Error>;
    /// Session info.
    fn info(&mut self) -> Result<SessionInfo, Error>;
}

impl Endpoint for tlsbox_host::Connection {
    fn feed(&mut self, data: &[u8]) -> Result<usize, Error> {
        self.feed_ciphertext(data)
    }
    fn take(&mut self) -> Result<Vec<u8>, Error> {
        self.take_ciphertext(64 * 1024)
    }
    fn write(&mut self, data: &[u8]) -> Result<usize, Error> {
        self.write_plaintext(data)
    }
    fn read(&mut self, max: usize) -> Result<Vec<u8>, Error> {
        self.read_plaintext(max)
    }
    fn close(&mut self) -> Result<(), Error> {
        tlsbox_host::Connection::close(self)
    }
    fn status(&mut self) -> Result<Status, Error> {
        tlsbox_host::Connection::status(self)
    }
    fn info(&mut self) -> Result<SessionInfo, Error> {
        self.session_info()
    }
}

impl Endpoint for tlsbox_core::Connection {
    fn feed(&mut self, data: &[u8]) -> Result<usize, Error> {
        Ok(self.feed_ciphertext(data)?)
    }
    fn take(&mut self) -> Result<Vec<u8>, Error> {
        Ok(self.take_ciphertext(64 * 1024))
    }
    fn write(&mut self, data: &[u8]) -> Result<usize, Error> {
        Ok(self.write_plaintext(data)?)
    }
    fn read(&mut self, max: usize) -> Result<Vec<u8>, Error> {
        Ok(self.read_plaintext(max)?)
    }
    fn close(&mut self) -> Result<(), Error> {
        tlsbox_core::Connection::close(self);
        Ok(())
    }
    fn status(&mut self) -> Result<Status, Error> {
        Ok(tlsbox_core::Connection::status(self))
    }
    fn info(&mut self) -> Result<SessionInfo, Error> {
        Ok(self.session_info())
    }
}

/// Move ciphertext from `from` to `to` until `from` has none left.
/// Returns how many bytes moved.
pub fn flow(from: &mut dyn Endpoint, to: &mut dyn Endpoint) -> Result<usize, Error> {
    let mut moved = 0;
    loop {
        let data = from.take()?;
        if data.is_empty() {
            return Ok(moved);
        }
        let mut off = 0;
        while off < data.len() {
            let n = to.feed(&data[off..])?;
            assert!(n > 0, "the receiver took no ciphertext");
            off += n;
        }
        moved += data.len();
    }
}

/// Run the handshake between a client and a server to completion.
pub fn handshake(client: &mut dyn Endpoint, server: &mut dyn Endpoint) -> Result<(), Error> {
    for _ in 0..20 {
        let a = flow(client, server)?;
        let b = flow(server, client)?;
        let (c, s) = (client.status()?, server.status()?);
        if a == 0 && b == 0 && c.phase != tlsbox_host::Phase::Handshaking && s.phase != tlsbox_host::Phase::Handshaking
        {
            return Ok(());
        }
    }
    panic!("handshake did not complete in 20 rounds");
}

/// Send `data` from `from` to `to`, returning what `to` read. Ciphertext
/// the receiver cannot take yet (its plaintext buffer is full) waits until
/// plaintext has been read.
pub fn transfer(from: &mut dyn Endpoint, to: &mut dyn Endpoint, data: &[u8]) -> Result<Vec<u8>, Error> {
    let mut sent = 0;
    let mut received = Vec::with_capacity(data.len());
    let mut in_flight: Vec<u8> = Vec::new();
    while received.len() < data.len() {
        if sent < data.len() {
            sent += from.write(&data[sent..])?;
        }
        if in_flight.is_empty() {
            in_flight = from.take()?;
        }
        let fed = to.feed(&in_flight)?;
        in_flight.drain(..fed);
        let got = to.read(64 * 1024)?;
        if got.is_empty() && fed == 0 && in_flight.is_empty() && sent == data.len() {
            panic!("transfer stalled at {} of {} bytes", received.len(), data.len());
        }
        received.extend_from_slice(&got);
    }
    assert!(
        in_flight.is_empty() && from.take()?.is_empty(),
        "ciphertext left over after the transfer"
    );
    Ok(received)
}

/// Deterministic test data of `len` bytes.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// A plain rustls connection (on whatever provider its config names), as
/// a test endpoint: an independent peer for the box.
pub struct Native(pub rustls::Connection);

impl Endpoint for Native {
    fn feed(&mut self, data: &[u8]) -> Result<usize, Error> {
        let n = self.0.read_tls(&mut &data[..]).unwrap();
        self.0
            .process_new_packets()
            .map_err(|e| Error::Io(std::io::Error::other(e)))?;
        Ok(n)
    }
    fn take(&mut self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        while self.0.wants_write() {
            self.0.write_tls(&mut out).unwrap();
        }
        Ok(out)
    }
    fn write(&mut self, data: &[u8]) -> Result<usize, Error> {
        Ok(std::io::Write::write(&mut self.0.writer(), data).unwrap())
    }
    fn read(&mut self, max: usize) -> Result<Vec<u8>, Error> {
        let mut buf = vec![0u8; max];
        match std::io::Read::read(&mut self.0.reader(), &mut buf) {
            Ok(n) => buf.truncate(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => buf.clear(),
            Err(e) => return Err(Error::Io(e)),
        }
        Ok(buf)
    }
    fn close(&mut self) -> Result<(), Error> {
        self.0.send_close_notify();
        Ok(())
    }
    fn status(&mut self) -> Result<Status, Error> {
        Ok(Status {
            phase: if self.0.is_handshaking() {
                tlsbox_host::Phase::Handshaking
            } else {
                tlsbox_host::Phase::Established
            },
            wants_read: self.0.wants_read(),
            wants_write: self.0.wants_write(),
            plaintext_ready: 0,
            peer_closed: false,
        })
    }
    fn info(&mut self) -> Result<SessionInfo, Error> {
        Ok(SessionInfo {
            version: self.0.protocol_version(),
            group: self.0.negotiated_key_exchange_group().map(|g| g.name()),
            ..Default::default()
        })
    }
}
