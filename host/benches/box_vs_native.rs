//! The box against native rustls with the same RustCrypto provider, side by
//! side in one run.
//!
//! Measured side is always the server; the peer is always native
//! `tlsbox_core` (a client trusting the server's CA, name `localhost`).
//!
//! - **Handshakes**: TLS 1.3, default suites, one pair of rows (µs per
//!   handshake, handshakes/s) for each server identity and key-exchange
//!   group; the group is fixed on both the server and the client (the
//!   client offers a key share for it alone, so there is no
//!   HelloRetryRequest) and named in the row label:
//!   - P-256 and RSA-2048 in a software keystore
//!     (`tests/test-ca/{ecdsa-p256,rsa-2048}.{pem,key}`, client trusting
//!     `tests/test-ca/ca.pem`), X25519;
//!   - P-256 in the software keystore again, with the post-quantum hybrid
//!     X25519MLKEM768 (the provider's default first group) beside its X25519
//!     row. Its shares are larger (client 1216 B: ML-KEM-768 encapsulation
//!     key and X25519 public; server 1120 B: ML-KEM-768 ciphertext and X25519
//!     public, against 32 B each for X25519), and the server's timed work
//!     adds an ML-KEM-768 encapsulation; the client's key generation and
//!     decapsulation are not timed;
//!   - P-256 and RSA-2048 generated inside a PKCS#11 token (SoftHSM2, a
//!     private token store for this process), signing through a
//!     `Pkcs11Keystore`, with a self-signed certificate made by the token key
//!     that the client takes as its trust anchor. The "native" column is
//!     native rustls signing through the *same* `Pkcs11Keystore`, so the
//!     ratio still isolates the box's cost; the token's own signing time is
//!     in both columns. X25519. Without `softhsm2-util` these rows are left
//!     out (with a note on stderr).
//!
//!   Only server-side calls are timed: creating the server connection (for
//!   the box that includes instantiating a fresh box, as production does)
//!   and its feed/take calls, which include the keystore's signature. Dropping
//!   the connection and all client work are not timed. RSA-2048 rows run
//!   fewer handshakes per batch (its signatures are ~10x slower). Each case
//!   first checks, untimed, that a box handshake negotiated TLS 1.3 and the
//!   case's group, and that the client saw the case's certificate.
//! - **Bulk**: for each TLS 1.3 AEAD, 16 MiB per sample in 16 KiB writes,
//!   P-256 software identity, X25519. "encrypt" times the server's
//!   `write_plaintext` + `take_ciphertext`; "decrypt" times its
//!   `feed_ciphertext` + `read_plaintext`. Reported in MB/s of plaintext
//!   (1 MB = 10^6 bytes).
//!
//! Box and native samples are interleaved (alternating which goes first)
//! and each figure is the median of the samples, so a noisy shared machine
//! skews both sides alike. Progress goes to stderr, the markdown table to
//! stdout.
//!
//! Run: `cargo bench -p tlsbox-host --bench box_vs_native`; name sections
//! after `--` (`handshakes`, `memory`, `bulk`) to run only those.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../tests/guest_command/mod.rs"]
mod guest_command;

use cryptoki::types::AuthPin;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tlsbox_core::rustls::{CipherSuite, NamedGroup, ProtocolVersion};
use tlsbox_host::keystore::pkcs11::tooling::{KeyAlgorithm, TokenAdmin};
use tlsbox_host::keystore::pkcs11::{KeySource, Pkcs11Keystore, Pkcs11Uri};
use tlsbox_host::keystore::software::{SoftwareKey, SoftwareKeystore};
use tlsbox_host::keystore::Keystore;
use tlsbox_host::{Engine, EngineConfig, Phase, SessionInfo, Status};
use tlsbox_test_support::{installed, softhsm};

/// The bulk rows' server identity: file stem under `tests/test-ca/` and key
/// name.
const IDENTITY: &str = "ecdsa-p256";
/// The RSA software identity, likewise.
const RSA_IDENTITY: &str = "rsa-2048";
/// Key labels in the SoftHSM2 token.
const TOKEN_P256: &str = "p256";
const TOKEN_RSA: &str = "rsa2048";
/// Handshake samples (batches), and handshakes in each: P-256, RSA-2048.
const HANDSHAKE_BATCHES: usize = 9;
const HANDSHAKES_PER_BATCH: usize = 50;
const RSA_HANDSHAKES_PER_BATCH: usize = 25;
/// Untimed handshakes per side before a handshake case's samples.
const HANDSHAKE_WARMUP: usize = 10;
/// Bulk samples per AEAD and direction, and plaintext moved in each.
const BULK_SAMPLES: usize = 7;
const BULK_BYTES: usize = 16 << 20;
/// Plaintext per `write_plaintext` call.
const WRITE_SIZE: usize = 16 << 10;
/// Most bytes asked for per `take_ciphertext` / `read_plaintext` call (the
/// host's per-call limit).
const CALL_MAX: usize = tlsbox_host::connection::MAX_CHUNK;
/// Established connections kept per memory sample, and samples.
const IDLE_CONNECTIONS: usize = 200;
const MEMORY_SAMPLES: usize = 3;
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
    /// Both software identities ([`IDENTITY`], [`RSA_IDENTITY`]); also the
    /// clients' (unused) keystore.
    keys: Arc<dyn Keystore>,
    chain: Vec<Vec<u8>>,
    client: tlsbox_core::ClientConfig,
}

/// One server identity to measure handshakes with, and a client trusting it.
struct HandshakeCase {
    /// Row label: key type and where the key is.
    name: &'static str,
    /// The one key-exchange group of both server and client.
    group: NamedGroup,
    /// Key name in `keys`.
    key: String,
    keys: Arc<dyn Keystore>,
    chain: Vec<Vec<u8>>,
    client: tlsbox_core::ClientConfig,
    per_batch: usize,
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

/// A TLS 1.3 client for `localhost` trusting `trust_anchors`, offering only
/// `group` (so its one key share is for that group).
fn client_config(
    trust_anchors: Vec<Vec<u8>>,
    group: NamedGroup,
    keys: &Arc<dyn Keystore>,
) -> tlsbox_core::ClientConfig {
    let client_options = tlsbox_core::ClientOptions {
        server_name: "localhost".into(),
        trust_anchors,
        versions: vec![ProtocolVersion::TLSv1_3],
        groups: vec![group],
        ..Default::default()
    };
    tlsbox_core::ClientConfig::new(&client_options, keys.clone()).unwrap()
}

/// TLS 1.3, `group` only, and the given suites (empty: the default order).
fn server_options(
    chain: &[Vec<u8>],
    key: &str,
    group: NamedGroup,
    suites: &[CipherSuite],
) -> tlsbox_core::ServerOptions {
    tlsbox_core::ServerOptions {
        identity: tlsbox_core::Identity {
            certificate_chain: chain.to_vec(),
            key: key.into(),
            schemes: vec![],
        },
        versions: vec![ProtocolVersion::TLSv1_3],
        cipher_suites: suites.to_vec(),
        groups: vec![group],
        ..Default::default()
    }
}

/// Both server configurations for `options`, signing through the same
/// `keys`: (box, native).
fn server_configs(
    engine: &Engine,
    options: &tlsbox_core::ServerOptions,
    keys: &Arc<dyn Keystore>,
) -> (tlsbox_host::ServerConfig, tlsbox_core::ServerConfig) {
    let boxed = tlsbox_host::ServerConfig::new(engine, options, keys.clone()).unwrap();
    let native = tlsbox_core::ServerConfig::new(options, keys.clone()).unwrap();
    (boxed, native)
}

impl Setup {
    fn new() -> Self {
        let mut keys = SoftwareKeystore::new();
        for stem in [IDENTITY, RSA_IDENTITY] {
            keys.insert(
                stem,
                SoftwareKey::from_pem_file(&pki_path(&format!("{stem}.key"))).unwrap(),
            );
        }
        let keys: Arc<dyn Keystore> = Arc::new(keys);
        Self {
            engine: Engine::new(EngineConfig::default()).unwrap(),
            client: client_config(der_certs("ca.pem"), NamedGroup::X25519, &keys),
            keys,
            chain: der_certs(&format!("{IDENTITY}.pem")),
        }
    }

    /// Both server configurations of the bulk identity (X25519) for
    /// `suites`: (box, native).
    fn server_configs(&self, suites: &[CipherSuite]) -> (tlsbox_host::ServerConfig, tlsbox_core::ServerConfig) {
        let options = server_options(&self.chain, IDENTITY, NamedGroup::X25519, suites);
        server_configs(&self.engine, &options, &self.keys)
    }

    /// A software-keystore identity from `tests/test-ca/<stem>.{pem,key}`,
    /// server and client fixed to `group`.
    fn software_case(&self, name: &'static str, stem: &str, group: NamedGroup, per_batch: usize) -> HandshakeCase {
        HandshakeCase {
            name,
            group,
            key: stem.into(),
            keys: self.keys.clone(),
            chain: der_certs(&format!("{stem}.pem")),
            client: client_config(der_certs("ca.pem"), group, &self.keys),
            per_batch,
        }
    }
}

/// `pkcs11:` URI of `label` in the SoftHSM2 test token (empty: the token).
fn token_uri(label: &str) -> Pkcs11Uri {
    format!("pkcs11:token={};object={label};type=private", softhsm::TOKEN)
        .parse()
        .unwrap()
}

/// The SoftHSM2 token identities (P-256, RSA-2048): each key generated inside
/// the token, a self-signed certificate for `localhost` made by it, and a
/// `Pkcs11Keystore` holding it; X25519. Empty (with a note on stderr)
/// without SoftHSM2. Call before anything else loads a PKCS#11 module.
fn token_cases(client_keys: &Arc<dyn Keystore>) -> Vec<HandshakeCase> {
    if !installed("softhsm2-util") {
        eprintln!("softhsm2-util is not installed: leaving out the SoftHSM2 rows (tests/run.sh installs it)");
        return Vec::new();
    }
    let hsm = softhsm::get();
    let pin = AuthPin::from(softhsm::PIN.to_string());
    let admin = TokenAdmin::open(&hsm.module, &token_uri(""), &pin).unwrap();
    let wanted = [
        (
            TOKEN_P256,
            KeyAlgorithm::EcP256,
            "P-256 in SoftHSM2, X25519",
            HANDSHAKES_PER_BATCH,
        ),
        (
            TOKEN_RSA,
            KeyAlgorithm::Rsa2048,
            "RSA-2048 in SoftHSM2, X25519",
            RSA_HANDSHAKES_PER_BATCH,
        ),
    ];
    let mut cases = Vec::new();
    for (i, (label, algorithm, name, per_batch)) in wanted.into_iter().enumerate() {
        admin.generate(label, &[i as u8 + 1], algorithm).unwrap();
        let pem = admin.self_signed(&token_uri(label), &["localhost".into()], 30).unwrap();
        let cert = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap().to_vec();
        let mut keys = Pkcs11Keystore::new();
        let source = KeySource {
            uri: token_uri(label),
            module: Some(hsm.module.clone()),
            token_label: None,
            pin: Some(pin.clone()),
        };
        keys.add_key(label, &source).unwrap();
        cases.push(HandshakeCase {
            name,
            group: NamedGroup::X25519,
            key: label.into(),
            keys: Arc::new(keys),
            client: client_config(vec![cert.clone()], NamedGroup::X25519, client_keys),
            chain: vec![cert],
            per_batch,
        });
    }
    cases
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

/// µs of server-side time per handshake, over a batch of `count`.
fn handshake_batch<S: Endpoint>(
    new_server: impl Fn() -> S,
    client_config: &tlsbox_core::ClientConfig,
    count: usize,
) -> f64 {
    let mut total = Duration::ZERO;
    for _ in 0..count {
        let (server, client, spent) = handshake(&new_server, client_config);
        total += spent;
        drop(black_box(server));
        drop(client);
    }
    total.as_secs_f64() * 1e6 / count as f64
}

/// Measure one handshake case, box against native; push its two rows.
fn handshake_rows(engine: &Engine, case: &HandshakeCase, rows: &mut Vec<Row>) {
    let options = server_options(&case.chain, &case.key, case.group, &[]);
    let (box_config, native_config) = server_configs(engine, &options, &case.keys);
    let new_box = || engine.new_server(&box_config).unwrap();
    let new_native = || tlsbox_core::Connection::new_server(&native_config).unwrap();
    let (mut server, mut client, _) = handshake(new_box, &case.client);
    let info = server.info();
    assert_eq!(info.version, Some(ProtocolVersion::TLSv1_3), "{}", case.name);
    assert_eq!(
        info.group,
        Some(case.group),
        "{}: server negotiated another group",
        case.name
    );
    let client_info = client.info();
    assert_eq!(
        client_info.group,
        Some(case.group),
        "{}: client negotiated another group",
        case.name
    );
    assert_eq!(
        client_info.peer_certificates, case.chain,
        "{}: another certificate",
        case.name
    );
    let suite = info.cipher_suite.unwrap();
    drop(server);
    // Warm-up (caches, allocator, pooling slots, token session), not measured.
    for _ in 0..HANDSHAKE_WARMUP {
        drop(handshake(new_box, &case.client));
        drop(handshake(new_native, &case.client));
    }
    eprintln!(
        "handshakes, {}: {HANDSHAKE_BATCHES} batches of {} each side (negotiated {suite:?}, {:?})",
        case.name, case.per_batch, case.group
    );
    let (box_us, native_us) = interleaved(
        HANDSHAKE_BATCHES,
        || handshake_batch(new_box, &case.client, case.per_batch),
        || handshake_batch(new_native, &case.client, case.per_batch),
    );
    rows.push(Row::new(
        format!("TLS 1.3 handshake, server, {} (µs)", case.name),
        (box_us, native_us),
    ));
    rows.push(Row {
        measure: format!("TLS 1.3 handshakes/s, server, {}", case.name),
        boxed: 1e6 / box_us,
        native: 1e6 / native_us,
        decimals: 0,
    });
}

#[cfg(target_env = "gnu")]
extern "C" {
    /// glibc: give freed heap pages back to the system.
    fn malloc_trim(pad: usize) -> i32;
}

/// This process's proportional set size (Pss), in KiB, after glibc has
/// given back freed heap pages (otherwise what one sample frees hides what
/// the next one allocates).
///
/// Pss, not VmRSS: every box maps the same copy-on-write image of the
/// component's data segments (wasmtime's `memory_init_cow`); VmRSS counts
/// those shared pages once per box, Pss once in all.
fn resident_kib() -> f64 {
    // SAFETY: malloc_trim only releases free memory; any pad is valid.
    #[cfg(target_env = "gnu")]
    unsafe {
        malloc_trim(0);
    }
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap();
    let line = rollup.lines().find(|l| l.starts_with("Pss:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Memory the servers hold: resident memory, plus what the box engine's
/// pool kept resident for closed boxes and the new ones took over (their
/// tables: resident before the sample began, theirs now).
struct Held<'a> {
    resident: f64,
    pool_kept: usize,
    engine: Option<&'a tlsbox_host::Engine>,
}

impl<'a> Held<'a> {
    fn now(engine: Option<&'a tlsbox_host::Engine>) -> Self {
        Self {
            resident: resident_kib(),
            pool_kept: engine.map_or(0, tlsbox_host::Engine::pool_bytes_kept_resident),
            engine,
        }
    }

    /// KiB held per server since `self`, for `servers` servers.
    fn per_server_since(&self, servers: usize) -> f64 {
        let now = Held::now(self.engine);
        // Signed: what the pool came to keep during the sample is the
        // pool's, not the servers'.
        let taken_over = (self.pool_kept as f64 - now.pool_kept as f64) / 1024.0;
        (now.resident - self.resident + taken_over) / servers as f64
    }
}

/// KiB of memory per established, idle server connection:
/// [`IDLE_CONNECTIONS`] servers kept after a handshake and one small
/// exchange each way, the client dropped at once (its memory is reused for
/// the next one, so only the servers accumulate).
fn idle_memory_sample<S: Endpoint>(
    new_server: impl Fn() -> S,
    engine: Option<&tlsbox_host::Engine>,
    client_config: &tlsbox_core::ClientConfig,
    traffic: usize,
) -> f64 {
    let before = Held::now(engine);
    let mut servers = Vec::with_capacity(IDLE_CONNECTIONS);
    for _ in 0..IDLE_CONNECTIONS {
        let (mut server, mut client, _) = handshake(&new_server, client_config);
        exchange(&mut client, &mut server, b"ping");
        exchange(&mut server, &mut client, b"pong");
        let chunk = vec![0x5au8; WRITE_SIZE];
        for _ in 0..traffic / WRITE_SIZE {
            exchange(&mut client, &mut server, &chunk);
            exchange(&mut server, &mut client, &chunk);
        }
        drop(client);
        servers.push(server);
    }
    let per_server = before.per_server_since(IDLE_CONNECTIONS);
    drop(black_box(servers));
    per_server
}

/// `data` from one endpoint to the other, all of it read there.
fn exchange(from: &mut impl Endpoint, to: &mut impl Endpoint, data: &[u8]) {
    let mut sent = 0;
    let mut got = 0;
    while sent < data.len() || got < data.len() {
        if sent < data.len() {
            sent += from.write(&data[sent..]);
        }
        feed_all(to, &take_all(from));
        loop {
            let read = to.read();
            if read.is_empty() {
                break;
            }
            got += read.len();
        }
    }
    assert_eq!(got, data.len());
}

/// KiB of memory per new server connection, before any byte (for the box:
/// a fresh instance, configured).
fn new_memory_sample<S>(new_server: impl Fn() -> S, engine: Option<&tlsbox_host::Engine>) -> f64 {
    let before = Held::now(engine);
    let servers: Vec<S> = (0..IDLE_CONNECTIONS).map(|_| new_server()).collect();
    let per_server = before.per_server_since(IDLE_CONNECTIONS);
    drop(black_box(servers));
    per_server
}

/// µs to create a server connection (for the box: a fresh instance and its
/// configuration), over a batch; nothing is fed to it.
fn creation_sample<S>(new_server: impl Fn() -> S) -> f64 {
    const BATCH: usize = 200;
    let start = Instant::now();
    for _ in 0..BATCH {
        drop(black_box(new_server()));
    }
    start.elapsed().as_secs_f64() * 1e6 / BATCH as f64
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
    guest_command::alternate(samples, || b.push(boxed()), || n.push(native()));
    (median(b), median(n))
}

struct Row {
    measure: String,
    boxed: f64,
    native: f64,
    decimals: usize,
}

impl Row {
    /// A row of medians (box, native), one decimal.
    fn new(measure: impl Into<String>, (boxed, native): (f64, f64)) -> Self {
        Self {
            measure: measure.into(),
            boxed,
            native,
            decimals: 1,
        }
    }
}

fn ratio(boxed: f64, native: f64) -> String {
    let r = boxed / native;
    if r < 0.1 {
        format!("{r:.3}")
    } else {
        format!("{r:.2}")
    }
}

/// The provider's TLS 1.3 record seal and open of 16 KiB, timed inside
/// wasm (`tlsbox-guest-bench records`, the box's code generation settings)
/// and natively, interleaved: figure name -> (wasm, native) medians.
fn record_baseline() -> std::collections::BTreeMap<String, (f64, f64)> {
    let command = guest_command::GuestCommand::load().unwrap();
    let budget = Duration::from_millis(300);
    let mut wasm: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    let mut native: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    eprintln!("record baseline: {BULK_SAMPLES} samples each side");
    guest_command::alternate(
        BULK_SAMPLES,
        || {
            let out = command.run(&["records", &budget.as_millis().to_string()]).unwrap();
            for (name, value, _) in guest_command::figures(&out) {
                wasm.entry(name).or_default().push(value);
            }
        },
        || {
            for m in tlsbox_guest_bench::measure_records(budget) {
                native.entry(m.name).or_default().push(m.value);
            }
        },
    );
    wasm.into_iter()
        .filter_map(|(name, w)| {
            let n = native.remove(&name)?;
            Some((name, (median(w), median(n))))
        })
        .collect()
}

/// Whether to run a section (`handshakes`, `memory`, `bulk`): all of them,
/// unless some are named on the command line
/// (`cargo bench --bench box_vs_native -- memory`).
fn section(name: &str) -> bool {
    const SECTIONS: [&str; 3] = ["handshakes", "memory", "bulk"];
    let named: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| SECTIONS.contains(&a.as_str()))
        .collect();
    named.is_empty() || named.iter().any(|a| a == name)
}

fn main() {
    let wall = Instant::now();
    let setup = Setup::new();
    let mut rows = Vec::new();

    // Handshakes, default suites, software keystore and token side by side,
    // and the two key-exchange groups side by side on the P-256 software
    // identity.
    let tokens = token_cases(&setup.keys);
    let token_rows = !tokens.is_empty();
    let mut tokens = tokens.into_iter();
    let mut cases = vec![
        setup.software_case(
            "P-256, software keystore, X25519",
            IDENTITY,
            NamedGroup::X25519,
            HANDSHAKES_PER_BATCH,
        ),
        setup.software_case(
            "P-256, software keystore, X25519MLKEM768",
            IDENTITY,
            NamedGroup::X25519MLKEM768,
            HANDSHAKES_PER_BATCH,
        ),
    ];
    cases.extend(tokens.next());
    cases.push(setup.software_case(
        "RSA-2048, software keystore, X25519",
        RSA_IDENTITY,
        NamedGroup::X25519,
        RSA_HANDSHAKES_PER_BATCH,
    ));
    cases.extend(tokens);
    for case in cases.iter().filter(|_| section("handshakes")) {
        handshake_rows(&setup.engine, case, &mut rows);
    }
    drop(cases);

    // Memory per idle connection and the cost of a new connection, with
    // the default suites.
    if section("memory") {
        let (box_config, native_config) = setup.server_configs(&[]);
        let new_box = || setup.engine.new_server(&box_config).unwrap();
        let new_native = || tlsbox_core::Connection::new_server(&native_config).unwrap();
        // Warm-up: pool slots, allocator arenas.
        let engine = Some(&setup.engine);
        idle_memory_sample(new_box, engine, &setup.client, 0);
        idle_memory_sample(new_native, None, &setup.client, 0);
        eprintln!("memory: {MEMORY_SAMPLES} samples of {IDLE_CONNECTIONS} idle connections each side");
        for (traffic, label) in [(0, "after the handshake"), (1 << 20, "after 1 MiB each way")] {
            let (b, n) = interleaved(
                MEMORY_SAMPLES,
                || idle_memory_sample(new_box, engine, &setup.client, traffic),
                || idle_memory_sample(new_native, None, &setup.client, traffic),
            );
            rows.push(Row::new(
                format!("memory per idle established connection, {label} (KiB)"),
                (b, n),
            ));
        }
        let (b, n) = interleaved(
            MEMORY_SAMPLES,
            || new_memory_sample(new_box, engine),
            || new_memory_sample(new_native, None),
        );
        rows.push(Row::new("memory per new connection, before any byte (KiB)", (b, n)));
        let (b, n) = interleaved(7, || creation_sample(new_box), || creation_sample(new_native));
        rows.push(Row::new(
            "new server connection, before any byte (µs; box: instantiation incl.)",
            (b, n),
        ));
    }

    // Bulk, one AEAD at a time; first the baseline: the provider's record
    // seal and open inside the guest, with no boundary crossing.
    let records = if section("bulk") {
        record_baseline()
    } else {
        Default::default()
    };
    let chunk: Vec<u8> = (0..WRITE_SIZE).map(|i| (i * 31 % 251) as u8).collect();
    for (suite, name) in AEADS.into_iter().filter(|_| section("bulk")) {
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
        rows.push(Row::new(format!("{name} encrypt (MB/s)"), (b, n)));
        let (b, n) = interleaved(
            BULK_SAMPLES,
            || decrypt_sample(new_box, &setup, suite, &chunk, BULK_BYTES),
            || decrypt_sample(new_native, &setup, suite, &chunk, BULK_BYTES),
        );
        rows.push(Row::new(format!("{name} decrypt (MB/s)"), (b, n)));
        for direction in ["seal", "open"] {
            let figure = format!("{} record {direction}, 16 KiB", suite.as_str().unwrap_or_default());
            if let Some(&(b, n)) = records.get(&figure) {
                rows.push(Row::new(
                    format!("{name} record {direction} alone, in the guest, no boundary (MB/s)"),
                    (b, n),
                ));
            }
        }
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
        "Medians: handshakes TLS 1.3, group as labelled (fixed on server and client, no HelloRetryRequest), \
         {HANDSHAKE_BATCHES} batches × {HANDSHAKES_PER_BATCH} (RSA-2048: × {RSA_HANDSHAKES_PER_BATCH}), \
         server-side calls only (creation incl. box instantiation; the keystore's signature incl.), {}; \
         X25519MLKEM768 key shares: client 1216 B, server 1120 B (X25519: 32 B each); \
         bulk {BULK_SAMPLES} samples × {} MiB in {} KiB writes, X25519, server measured, native peer; \
         MB = 10^6 bytes. Took {:.0} s.",
        if token_rows {
            "SoftHSM2 rows: native = tlsbox_core signing through the same Pkcs11Keystore"
        } else {
            "no SoftHSM2 rows (softhsm2-util not installed)"
        },
        BULK_BYTES >> 20,
        WRITE_SIZE >> 10,
        wall.elapsed().as_secs_f64()
    );
    if token_rows {
        // The token store of this run (tlsbox_test_support keeps it).
        let _ = std::fs::remove_dir_all(&softhsm::get().dir);
    }
}
