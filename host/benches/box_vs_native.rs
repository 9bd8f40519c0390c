//! The box against native rustls with the same RustCrypto provider, side by
//! side in one run.
//!
//! Measured side is always the server; the peer is always native
//! `tlsbox_core` (a client trusting the server's CA, name `localhost`).
//!
//! - **Handshakes**: TLS 1.3, X25519, default suites, one pair of rows (µs
//!   per handshake, handshakes/s) for each server identity:
//!   - P-256 and RSA-2048 in a software keystore
//!     (`tests/test-ca/{ecdsa-p256,rsa-2048}.{pem,key}`, client trusting
//!     `tests/test-ca/ca.pem`);
//!   - P-256 and RSA-2048 generated inside a PKCS#11 token (SoftHSM2, a
//!     private token store for this process), signing through a
//!     `Pkcs11Keystore`, with a self-signed certificate made by the token key
//!     that the client takes as its trust anchor. The "native" column is
//!     native rustls signing through the *same* `Pkcs11Keystore`, so the
//!     ratio still isolates the box's cost; the token's own signing time is
//!     in both columns. Without `softhsm2-util` these rows are left out
//!     (with a note on stderr).
//!
//!   Only server-side calls are timed: creating the server connection (for
//!   the box that includes instantiating a fresh box, as production does)
//!   and its feed/take calls, which include the keystore's signature. Dropping
//!   the connection and all client work are not timed. RSA-2048 rows run
//!   fewer handshakes per batch (its signatures are ~10x slower).
//! - **Bulk**: for each TLS 1.3 AEAD, 16 MiB per sample in 16 KiB writes,
//!   P-256 software identity. "encrypt" times the server's
//!   `write_plaintext` + `take_ciphertext`; "decrypt" times its
//!   `feed_ciphertext` + `read_plaintext`. Reported in MB/s of plaintext
//!   (1 MB = 10^6 bytes).
//!
//! Box and native samples are interleaved (alternating which goes first)
//! and each figure is the median of the samples, so a noisy shared machine
//! skews both sides alike. Progress goes to stderr, the markdown table to
//! stdout.
//!
//! Run: `cargo bench -p tlsbox-host --bench box_vs_native`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tlsbox_core::rustls::{CipherSuite, NamedGroup, ProtocolVersion};
use tlsbox_host::keystore::software::{SoftwareKey, SoftwareKeystore};
use tlsbox_host::{Engine, EngineConfig, Phase, SessionInfo, Status};

/// The server's identity: file stem under `tests/test-ca/` and key name.
const IDENTITY: &str = "ecdsa-p256";
/// Handshake samples (batches), and handshakes in each.
const HANDSHAKE_BATCHES: usize = 9;
const HANDSHAKES_PER_BATCH: usize = 50;
/// Bulk samples per AEAD and direction, and plaintext moved in each.
const BULK_SAMPLES: usize = 7;
const BULK_BYTES: usize = 16 << 20;
/// Plaintext per `write_plaintext` call.
const WRITE_SIZE: usize = 16 << 10;
/// Most bytes asked for per `take_ciphertext` / `read_plaintext` call (the
/// host's per-call limit).
const CALL_MAX: usize = tlsbox_host::connection::MAX_CHUNK;
/// A TLS 1.3 handshake needs two flights from the client; allow slack.
const MAX_ROUNDS: usize = 8;

const AEADS: [(CipherSuite, &str); 3] = [
    (CipherSuite::TLS13_AES_128_GCM_SHA256, "AES-128-GCM"),
    (CipherSuite::TLS13_AES_256_GCM_SHA384, "AES-256-GCM"),
    (CipherSuite::TLS13_CHACHA20_POLY1305_SHA256, "ChaCha20-Poly1305"),
];

/// The sans-IO calls both the box and the native connection offer
/// (failures are bugs here: unwrap).
trait Endpoint {
    fn feed(&mut self, data: &[u8]) -> usize;
    fn take(&mut self) -> Vec<u8>;
    fn write(&mut self, data: &[u8]) -> usize;
    fn read(&mut self) -> Vec<u8>;
    fn status(&mut self) -> Status;
    fn info(&mut self) -> SessionInfo;
}

impl Endpoint for tlsbox_host::Connection {
    fn feed(&mut self, data: &[u8]) -> usize {
        self.feed_ciphertext(data).unwrap()
    }
    fn take(&mut self) -> Vec<u8> {
        self.take_ciphertext(CALL_MAX).unwrap()
    }
    fn write(&mut self, data: &[u8]) -> usize {
        self.write_plaintext(data).unwrap()
    }
    fn read(&mut self) -> Vec<u8> {
        self.read_plaintext(CALL_MAX).unwrap()
    }
    fn status(&mut self) -> Status {
        tlsbox_host::Connection::status(self).unwrap()
    }
    fn info(&mut self) -> SessionInfo {
        self.session_info().unwrap()
    }
}

impl Endpoint for tlsbox_core::Connection {
    fn feed(&mut self, data: &[u8]) -> usize {
        self.feed_ciphertext(data).unwrap()
    }
    fn take(&mut self) -> Vec<u8> {
        self.take_ciphertext(CALL_MAX)
    }
    fn write(&mut self, data: &[u8]) -> usize {
        self.write_plaintext(data).unwrap()
    }
    fn read(&mut self) -> Vec<u8> {
        self.read_plaintext(CALL_MAX).unwrap()
    }
    fn status(&mut self) -> Status {
        tlsbox_core::Connection::status(self)
    }
    fn info(&mut self) -> SessionInfo {
        self.session_info()
    }
}

/// Everything set up once, untimed.
struct Setup {
    engine: Engine,
    keys: Arc<SoftwareKeystore>,
    chain: Vec<Vec<u8>>,
    client: tlsbox_core::ClientConfig,
}

fn pki_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/test-ca")
        .join(name)
}

fn der_certs(file: &str) -> Vec<Vec<u8>> {
    CertificateDer::pem_file_iter(pki_path(file))
        .unwrap()
        .map(|c| c.unwrap().as_ref().to_vec())
        .collect()
}

impl Setup {
    fn new() -> Self {
        let mut keys = SoftwareKeystore::new();
        keys.insert(
            IDENTITY,
            SoftwareKey::from_pem_file(&pki_path(&format!("{IDENTITY}.key"))).unwrap(),
        );
        let keys = Arc::new(keys);
        let client_options = tlsbox_core::ClientOptions {
            server_name: "localhost".into(),
            trust_anchors: der_certs("ca.pem"),
            versions: vec![ProtocolVersion::TLSv1_3],
            groups: vec![NamedGroup::X25519],
            ..Default::default()
        };
        let client = tlsbox_core::ClientConfig::new(&client_options, keys.clone()).unwrap();
        Self {
            engine: Engine::new(EngineConfig::default()).unwrap(),
            keys,
            chain: der_certs(&format!("{IDENTITY}.pem")),
            client,
        }
    }

    /// TLS 1.3, X25519, and the given suites (empty: the default order).
    fn server_options(&self, suites: &[CipherSuite]) -> tlsbox_core::ServerOptions {
        tlsbox_core::ServerOptions {
            identity: tlsbox_core::Identity {
                certificate_chain: self.chain.clone(),
                key: IDENTITY.into(),
                schemes: vec![],
            },
            versions: vec![ProtocolVersion::TLSv1_3],
            cipher_suites: suites.to_vec(),
            groups: vec![NamedGroup::X25519],
            ..Default::default()
        }
    }

    /// Both server configurations for `suites`: (box, native).
    fn server_configs(&self, suites: &[CipherSuite]) -> (tlsbox_host::ServerConfig, tlsbox_core::ServerConfig) {
        let options = self.server_options(suites);
        let boxed = tlsbox_host::ServerConfig::new(&self.engine, &options, self.keys.clone()).unwrap();
        let native = tlsbox_core::ServerConfig::new(&options, self.keys.clone()).unwrap();
        (boxed, native)
    }
}

/// Feed all of `data` to `to` (no plaintext is expected: handshake only).
fn feed_all(to: &mut impl Endpoint, data: &[u8]) {
    let mut off = 0;
    while off < data.len() {
        let n = to.feed(&data[off..]);
        assert!(n > 0, "the receiver took no handshake bytes");
        off += n;
    }
}

/// Everything `from` has to send.
fn take_all(from: &mut impl Endpoint) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let chunk = from.take();
        if chunk.is_empty() {
            return out;
        }
        out.extend_from_slice(&chunk);
    }
}

/// One full handshake against a native client. Returns both endpoints and
/// the time spent in server-side calls (creation included).
fn handshake<S: Endpoint>(
    new_server: impl FnOnce() -> S,
    client_config: &tlsbox_core::ClientConfig,
) -> (S, tlsbox_core::Connection, Duration) {
    let mut client = tlsbox_core::Connection::new_client(client_config).unwrap();
    let mut to_server = take_all(&mut client);

    let start = Instant::now();
    let mut server = black_box(new_server());
    let mut spent = start.elapsed();

    let mut done = false;
    for _ in 0..MAX_ROUNDS {
        let start = Instant::now();
        if !to_server.is_empty() {
            feed_all(&mut server, black_box(&to_server));
        }
        let to_client = take_all(&mut server);
        spent += start.elapsed();

        feed_all(&mut client, &to_client);
        to_server = take_all(&mut client);
        if to_server.is_empty() && to_client.is_empty() {
            done = true;
            break;
        }
    }
    assert!(done, "handshake did not finish in {MAX_ROUNDS} rounds");
    assert_eq!(server.status().phase, Phase::Established);
    assert_eq!(Endpoint::status(&mut client).phase, Phase::Established);
    (server, client, spent)
}

/// µs of server-side time per handshake, over a batch.
fn handshake_batch<S: Endpoint>(new_server: impl Fn() -> S, client_config: &tlsbox_core::ClientConfig) -> f64 {
    let mut total = Duration::ZERO;
    for _ in 0..HANDSHAKES_PER_BATCH {
        let (server, client, spent) = handshake(&new_server, client_config);
        total += spent;
        drop(black_box(server));
        drop(client);
    }
    total.as_secs_f64() * 1e6 / HANDSHAKES_PER_BATCH as f64
}

fn mb_per_s(bytes: usize, spent: Duration) -> f64 {
    bytes as f64 / spent.as_secs_f64() / 1e6
}

fn check_suite(server: &mut impl Endpoint, suite: CipherSuite) {
    let info = server.info();
    assert_eq!(info.version, Some(ProtocolVersion::TLSv1_3));
    assert_eq!(info.cipher_suite, Some(suite));
    assert_eq!(info.group, Some(NamedGroup::X25519));
}

/// Server → client: time in the server's write_plaintext + take_ciphertext.
fn encrypt_sample<S: Endpoint>(
    new_server: impl FnOnce() -> S,
    setup: &Setup,
    suite: CipherSuite,
    chunk: &[u8],
    total: usize,
) -> f64 {
    let (mut server, mut client, _) = handshake(new_server, &setup.client);
    check_suite(&mut server, suite);
    let mut spent = Duration::ZERO;
    let (mut sent, mut received) = (0, 0);
    while received < total {
        let start = Instant::now();
        let accepted = if sent < total {
            let want = chunk.len().min(total - sent);
            server.write(black_box(&chunk[..want]))
        } else {
            0
        };
        let ciphertext = server.take();
        spent += start.elapsed();
        sent += accepted;
        assert!(
            accepted > 0 || !ciphertext.is_empty(),
            "encrypt stalled at {sent} of {total} bytes"
        );

        // The native peer takes it all, reading plaintext between feeds.
        let mut off = 0;
        loop {
            let fed = if off < ciphertext.len() {
                client.feed(&ciphertext[off..])
            } else {
                0
            };
            off += fed;
            let plaintext = client.read();
            received += plaintext.len();
            if off == ciphertext.len() && plaintext.is_empty() {
                break;
            }
            assert!(fed > 0 || !plaintext.is_empty(), "the peer stalled");
        }
    }
    assert_eq!(received, total);
    mb_per_s(total, spent)
}

/// Client → server: time in the server's feed_ciphertext + read_plaintext.
fn decrypt_sample<S: Endpoint>(
    new_server: impl FnOnce() -> S,
    setup: &Setup,
    suite: CipherSuite,
    chunk: &[u8],
    total: usize,
) -> f64 {
    let (mut server, mut client, _) = handshake(new_server, &setup.client);
    check_suite(&mut server, suite);
    let mut spent = Duration::ZERO;
    let (mut sent, mut received) = (0, 0);
    let mut in_flight: Vec<u8> = Vec::new();
    let (mut off, mut idle) = (0, 0);
    while received < total {
        if sent < total {
            let want = chunk.len().min(total - sent);
            sent += client.write(&chunk[..want]);
        }
        if off == in_flight.len() {
            in_flight = client.take();
            off = 0;
        }

        let start = Instant::now();
        let fed = if off < in_flight.len() {
            server.feed(black_box(&in_flight[off..]))
        } else {
            0
        };
        let plaintext = server.read();
        spent += start.elapsed();

        off += fed;
        let got = black_box(plaintext).len();
        received += got;
        if fed == 0 && got == 0 {
            idle += 1;
            assert!(idle < 4, "decrypt stalled at {received} of {total} bytes");
        } else {
            idle = 0;
        }
    }
    assert_eq!(received, total);
    mb_per_s(total, spent)
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Run box and native samples alternately (alternating which goes first);
/// return the medians (box, native).
fn interleaved(samples: usize, mut boxed: impl FnMut() -> f64, mut native: impl FnMut() -> f64) -> (f64, f64) {
    let (mut b, mut n) = (Vec::with_capacity(samples), Vec::with_capacity(samples));
    for i in 0..samples {
        if i % 2 == 0 {
            b.push(boxed());
            n.push(native());
        } else {
            n.push(native());
            b.push(boxed());
        }
    }
    (median(b), median(n))
}

struct Row {
    measure: String,
    boxed: f64,
    native: f64,
    decimals: usize,
}

fn ratio(boxed: f64, native: f64) -> String {
    let r = boxed / native;
    if r < 0.1 {
        format!("{r:.3}")
    } else {
        format!("{r:.2}")
    }
}

fn main() {
    let wall = Instant::now();
    let setup = Setup::new();
    let mut rows = Vec::new();

    // Handshakes, default suites.
    let (box_config, native_config) = setup.server_configs(&[]);
    let new_box = || setup.engine.new_server(&box_config).unwrap();
    let new_native = || tlsbox_core::Connection::new_server(&native_config).unwrap();
    let (mut server, _, _) = handshake(new_box, &setup.client);
    let suite = server.info().cipher_suite.unwrap();
    drop(server);
    // Warm-up (caches, allocator, pooling slots), not measured.
    for _ in 0..10 {
        drop(handshake(new_box, &setup.client));
        drop(handshake(new_native, &setup.client));
    }
    eprintln!("handshakes: {HANDSHAKE_BATCHES} batches of {HANDSHAKES_PER_BATCH} each side (negotiated {suite:?})");
    let (box_us, native_us) = interleaved(
        HANDSHAKE_BATCHES,
        || handshake_batch(new_box, &setup.client),
        || handshake_batch(new_native, &setup.client),
    );
    rows.push(Row {
        measure: "handshake, server, P-256, TLS 1.3 X25519 (µs)".into(),
        boxed: box_us,
        native: native_us,
        decimals: 1,
    });
    rows.push(Row {
        measure: "handshakes/s, server, P-256".into(),
        boxed: 1e6 / box_us,
        native: 1e6 / native_us,
        decimals: 0,
    });

    // Bulk, one AEAD at a time.
    let chunk: Vec<u8> = (0..WRITE_SIZE).map(|i| (i * 31 % 251) as u8).collect();
    for (suite, name) in AEADS {
        let (box_config, native_config) = setup.server_configs(&[suite]);
        let new_box = || setup.engine.new_server(&box_config).unwrap();
        let new_native = || tlsbox_core::Connection::new_server(&native_config).unwrap();
        // Warm-up, 1 MiB each way and side.
        encrypt_sample(new_box, &setup, suite, &chunk, 1 << 20);
        encrypt_sample(new_native, &setup, suite, &chunk, 1 << 20);
        decrypt_sample(new_box, &setup, suite, &chunk, 1 << 20);
        decrypt_sample(new_native, &setup, suite, &chunk, 1 << 20);

        eprintln!(
            "{name}: {BULK_SAMPLES} samples of {} MiB each way and side",
            BULK_BYTES >> 20
        );
        let (b, n) = interleaved(
            BULK_SAMPLES,
            || encrypt_sample(new_box, &setup, suite, &chunk, BULK_BYTES),
            || encrypt_sample(new_native, &setup, suite, &chunk, BULK_BYTES),
        );
        rows.push(Row {
            measure: format!("{name} encrypt (MB/s)"),
            boxed: b,
            native: n,
            decimals: 1,
        });
        let (b, n) = interleaved(
            BULK_SAMPLES,
            || decrypt_sample(new_box, &setup, suite, &chunk, BULK_BYTES),
            || decrypt_sample(new_native, &setup, suite, &chunk, BULK_BYTES),
        );
        rows.push(Row {
            measure: format!("{name} decrypt (MB/s)"),
            boxed: b,
            native: n,
            decimals: 1,
        });
    }

    println!("| measure | box (wasm) | native | box/native |");
    println!("|---|---:|---:|---:|");
    for row in &rows {
        let d = row.decimals;
        println!(
            "| {} | {:.d$} | {:.d$} | {} |",
            row.measure,
            row.boxed,
            row.native,
            ratio(row.boxed, row.native)
        );
    }
    println!();
    println!(
        "Medians: handshakes {HANDSHAKE_BATCHES} batches × {HANDSHAKES_PER_BATCH} (server-side calls only, \
         creation incl. box instantiation); bulk {BULK_SAMPLES} samples × {} MiB in {} KiB writes, \
         server measured, native peer; MB = 10^6 bytes. Took {:.0} s.",
        BULK_BYTES >> 20,
        WRITE_SIZE >> 10,
        wall.elapsed().as_secs_f64()
    );
}
