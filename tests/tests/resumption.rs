//! Session resumption with ticket keys kept in the token (SoftHSM2):
//! OpenSSL and GnuTLS resume without a second token signature; rotation
//! keeps the previous key for one period and not longer; another
//! deployment's ticket gets a full handshake; and the bytes that cross the
//! boundary never contain a ticket key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cryptoki::mechanism::MechanismType;
use cryptoki::types::AuthPin;
use rustls::crypto::aws_lc_rs;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tlsbox_core::keystore::{KeyInfo, Keystore, KeystoreError, WrappedTicketKeys};
use tlsbox_core::rustls::{NamedGroup, SignatureScheme};
use tlsbox_core::Resumption;
use tlsbox_host::keystore::pkcs11::tooling::{KeyAlgorithm, TokenAdmin};
use tlsbox_host::keystore::pkcs11::{Clock, KeySource, Pkcs11Keystore, Pkcs11Uri};
use tlsbox_host::relay::{RelayedKeystore, TicketRelay};
use tlsbox_test_support::{leaks, softhsm};
use tlsbox_tests::*;

const ROTATION: Duration = Duration::from_secs(3600);

/// A clock the test moves on, so that rotations pass without waiting.
#[derive(Clone, Default)]
struct TestClock(Arc<AtomicU64>);

impl TestClock {
    fn clock(&self) -> Clock {
        let start = Instant::now();
        let offset = self.0.clone();
        Arc::new(move || start + Duration::from_secs(offset.load(Ordering::SeqCst)))
    }

    fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_secs(), Ordering::SeqCst);
    }
}

/// The token keystore, counting signatures and recording every byte of
/// the ticket-key transfers.
struct Watched {
    inner: Arc<Pkcs11Keystore>,
    signatures: AtomicUsize,
    token_transfers: AtomicUsize,
    transfers: Mutex<Vec<Vec<u8>>>,
}

impl Keystore for Watched {
    fn describe_key(&self, key: &str) -> Result<KeyInfo, KeystoreError> {
        self.inner.describe_key(key)
    }

    fn sign(&self, key: &str, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        self.signatures.fetch_add(1, Ordering::SeqCst);
        self.inner.sign(key, scheme, message)
    }

    fn ticket_keys_epoch(&self) -> Option<u64> {
        self.inner.ticket_keys_epoch()
    }

    fn ticket_keys(&self, box_public_key: &[u8]) -> Result<WrappedTicketKeys, KeystoreError> {
        self.token_transfers.fetch_add(1, Ordering::SeqCst);
        let answer = self.inner.ticket_keys(box_public_key)?;
        let mut seen = self.transfers.lock().unwrap();
        seen.push(box_public_key.to_vec());
        seen.push(answer.token_public_key.clone());
        for k in &answer.keys {
            seen.push(k.name.clone());
            seen.push(k.wrapped_key.clone());
        }
        Ok(answer)
    }
}

/// One deployment: a P-256 key and its self-signed certificate in `token`,
/// ticket keys in the same token.
struct Deployment {
    keys: Arc<Watched>,
    cert: PathBuf,
    clock: TestClock,
}

fn token_uri(token: &str, label: &str) -> Pkcs11Uri {
    format!("pkcs11:token={token};object={label};type=private")
        .parse()
        .unwrap()
}

/// How a deployment's ticket keys are made.
#[derive(Clone, Copy, PartialEq)]
enum Tickets {
    /// As in production (X25519 transfer on SoftHSM2).
    Sealed,
    /// Readable back by the test, with the transfer the token prefers.
    Readable,
    /// Readable, over P-256 (the path of tokens without X25519).
    ReadableP256,
}

fn deployment(token: &str, label: &str, tickets: Tickets) -> Deployment {
    let hsm = softhsm::get();
    let pin = AuthPin::from(softhsm::PIN.to_string());
    // One at a time: SoftHSM2's file store fails token objects made
    // concurrently by the tests' threads (CKR_GENERAL_ERROR).
    static MAKING: Mutex<()> = Mutex::new(());
    let pem = {
        let _one = MAKING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let admin = TokenAdmin::open(&hsm.module, &token_uri(token, ""), &pin).unwrap();
        admin.generate(label, label.as_bytes(), KeyAlgorithm::EcP256).unwrap();
        admin
            .self_signed(&token_uri(token, label), &["localhost".into()], 30)
            .unwrap()
    };
    let cert = hsm.dir.join(format!("{token}-{label}.pem"));
    std::fs::write(&cert, pem).unwrap();
    let mut store = Pkcs11Keystore::new();
    let source = KeySource {
        uri: token_uri(token, label),
        module: Some(hsm.module.clone()),
        token_label: None,
        pin: Some(pin),
    };
    store.add_key("identity", &source).unwrap();
    let clock = TestClock::default();
    match tickets {
        Tickets::Sealed => store.enable_tickets_with_clock("identity", ROTATION, clock.clock()),
        Tickets::Readable => store.enable_readable_tickets_for_tests("identity", ROTATION, clock.clock()),
        Tickets::ReadableP256 => store.enable_p256_tickets_for_tests("identity", ROTATION, clock.clock()),
    }
    .unwrap();
    Deployment {
        keys: Arc::new(Watched {
            inner: Arc::new(store),
            signatures: AtomicUsize::new(0),
            token_transfers: AtomicUsize::new(0),
            transfers: Mutex::new(Vec::new()),
        }),
        cert,
        clock,
    }
}

impl Deployment {
    fn options(&self) -> tlsbox_core::ServerOptions {
        tlsbox_core::ServerOptions {
            identity: tlsbox_core::Identity {
                certificate_chain: vec![CertificateDer::from_pem_file(&self.cert).unwrap().to_vec()],
                key: "identity".into(),
                schemes: vec![],
            },
            resumption: Some(Resumption {
                tickets_per_handshake: 2,
                ticket_lifetime: ROTATION.as_secs() as u32,
                transfer_group: self.keys.inner.ticket_transfer_group().unwrap(),
            }),
            ..Default::default()
        }
    }

    fn serve(&self) -> BoxServer {
        BoxServer::start(self.options(), self.keys.clone())
    }

    fn signatures(&self) -> usize {
        self.keys.signatures.load(Ordering::SeqCst)
    }

    /// Ticket-key transfers the token made (for boxes or relays).
    fn token_transfers(&self) -> usize {
        self.keys.token_transfers.load(Ordering::SeqCst)
    }
}

/// `openssl s_client` saving its session to, or resuming it from, `session`.
fn s_client(server: &BoxServer, ca: &std::path::Path, flag: &str, session: &std::path::Path) -> String {
    s_client_raw(server.port(), ca, &[flag, session.to_str().unwrap()])
}

/// The box server answers a line and closes; `-ign_eof` waits for that,
/// so every ticket has arrived (and is saved) before s_client exits.
fn s_client_raw(port: u16, ca: &std::path::Path, extra: &[&str]) -> String {
    let mut args = vec!["-ign_eof"];
    args.extend_from_slice(extra);
    tlsbox_test_support::s_client(port, ca, &args, b"hello\n")
}

fn outcome(out: &str) -> &'static str {
    if out.contains("Reused, TLSv1.3") {
        "reused"
    } else if out.contains("New, TLSv1.3") {
        "new"
    } else {
        panic!("no TLS 1.3 session: {out}")
    }
}

#[test]
fn the_token_offers_what_ticket_keys_need_and_x25519_is_chosen() {
    // If SoftHSM2 ever lost one of these, every test below would test the
    // fallback instead: check the mechanism list first.
    let hsm = softhsm::get();
    let pin = AuthPin::from(softhsm::PIN.to_string());
    let admin = TokenAdmin::open(&hsm.module, &token_uri(softhsm::TOKEN, ""), &pin).unwrap();
    let mechanisms = admin.mechanisms().unwrap();
    for m in [
        MechanismType::AES_KEY_GEN,
        MechanismType::ECC_KEY_PAIR_GEN,
        MechanismType::ECC_EDWARDS_KEY_PAIR_GEN,
        MechanismType::ECDH1_DERIVE,
        MechanismType::AES_CBC_ENCRYPT_DATA,
        MechanismType::AES_KEY_WRAP,
    ] {
        assert!(mechanisms.contains(&m), "SoftHSM2 lacks {m}");
    }
    let d = deployment(softhsm::TOKEN, "choice", Tickets::Sealed);
    assert_eq!(d.keys.inner.ticket_transfer_group(), Some(NamedGroup::X25519));
}

#[test]
fn openssl_resumes_without_a_token_signature_and_rotation_keeps_one_period_of_overlap() {
    let a = deployment(softhsm::TOKEN, "resume", Tickets::Sealed);
    rotation_case(&a, a.serve());
    assert_eq!(a.token_transfers(), 5, "one per connection");
}

#[test]
fn through_a_relay_the_token_is_asked_once_per_rotation_and_rotation_still_holds() {
    let a = deployment(softhsm::TOKEN, "relayed", Tickets::Sealed);
    let group = a.keys.inner.ticket_transfer_group().unwrap();
    let relay = Arc::new(TicketRelay::new(engine(), a.keys.clone(), group, 1));
    let mut options = a.options();
    options.resumption.as_mut().unwrap().transfer_group = NamedGroup::X25519;
    let server = BoxServer::start(options, Arc::new(RelayedKeystore::new(a.keys.clone(), &relay)));
    rotation_case(&a, server);
    // Five connections; the relay asked at the start and after each of
    // the two key-set changes.
    assert_eq!(a.token_transfers(), 3);
}

fn rotation_case(a: &Deployment, server: BoxServer) {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first.sess"), dir.path().join("second.sess"));

    assert_eq!(outcome(&s_client(&server, &a.cert, "-sess_out", &first)), "new");
    assert_eq!(a.signatures(), 1);
    assert_eq!(outcome(&s_client(&server, &a.cert, "-sess_in", &first)), "reused");
    assert_eq!(a.signatures(), 1, "a resumed handshake needs no token signature");

    // One period on: a new key seals, the old one still opens.
    a.clock.advance(ROTATION + Duration::from_secs(1));
    let out = s_client_raw(
        server.port(),
        &a.cert,
        &[
            "-sess_in",
            first.to_str().unwrap(),
            "-sess_out",
            second.to_str().unwrap(),
        ],
    );
    assert_eq!(outcome(&out), "reused", "during the overlap");
    assert_eq!(a.signatures(), 1);

    // Another period on: the first key is two periods old and gone; the
    // ticket sealed under the second still opens.
    a.clock.advance(ROTATION);
    assert_eq!(
        outcome(&s_client(&server, &a.cert, "-sess_in", &first)),
        "new",
        "after the overlap"
    );
    assert_eq!(a.signatures(), 2, "a full handshake signs in the token");
    assert_eq!(outcome(&s_client(&server, &a.cert, "-sess_in", &second)), "reused");
    assert_eq!(a.signatures(), 2);
}

#[test]
fn tls12_clients_get_no_usable_ticket_and_a_full_handshake_each_time() {
    // A TLS 1.2 ticket would hold the master secret itself: the box seals
    // none (an empty NewSessionTicket, as RFC 5077 allows).
    let a = deployment(softhsm::TOKEN, "tls12", Tickets::Sealed);
    let server = a.serve();
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("tls12.sess");
    let out = s_client_raw(
        server.port(),
        &a.cert,
        &["-tls1_2", "-sess_out", session.to_str().unwrap()],
    );
    assert!(out.contains("New, TLSv1.2"), "{out}");
    assert!(!out.contains("TLS session ticket:"), "no ticket: {out}");
    // OpenSSL keeps no session it cannot resume; if it did, it must not
    // resume.
    if session.exists() {
        let out = s_client_raw(
            server.port(),
            &a.cert,
            &["-tls1_2", "-sess_in", session.to_str().unwrap()],
        );
        assert!(out.contains("New, TLSv1.2"), "{out}");
        assert_eq!(a.signatures(), 2);
    } else {
        assert_eq!(a.signatures(), 1);
    }
    // The same server still resumes TLS 1.3.
    let tls13 = dir.path().join("tls13.sess");
    assert_eq!(outcome(&s_client(&server, &a.cert, "-sess_out", &tls13)), "new");
    assert_eq!(outcome(&s_client(&server, &a.cert, "-sess_in", &tls13)), "reused");
}

#[test]
fn gnutls_cli_resumes() {
    require("gnutls-cli");
    let a = deployment(softhsm::TOKEN, "gnutls", Tickets::Sealed);
    let server = a.serve();
    let mut gnutls = Command::new("gnutls-cli");
    // Under TLS 1.3 gnutls-cli waits only briefly for a ticket before
    // reconnecting; a ticket that waits for the token must still count.
    // It waits for ever when none comes: run() ends it after 30 s.
    gnutls
        .args(["-r", "--waitresumption", "--x509cafile"])
        .arg(&a.cert)
        .args(["-p", &server.port().to_string(), "localhost"])
        .env("SSLKEYLOGFILE", leaks::key_log_file());
    let text = text(&run(&mut gnutls, b"", Duration::from_secs(30)));
    assert!(text.contains("This is a resumed session"), "{text}");
    assert_eq!(a.signatures(), 1, "{text}");
}

#[test]
fn a_ticket_from_another_deployment_gets_a_full_handshake() {
    let a = deployment(softhsm::TOKEN, "home", Tickets::Sealed);
    let b = deployment(softhsm::SECOND_TOKEN, "elsewhere", Tickets::Sealed);
    let (server_a, server_b) = (a.serve(), b.serve());
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("a.sess");
    assert_eq!(outcome(&s_client(&server_a, &a.cert, "-sess_out", &session)), "new");
    // The client offers A's ticket to B: B cannot open it.
    let out = s_client(&server_b, &b.cert, "-sess_in", &session);
    assert_eq!(outcome(&out), "new", "{out}");
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    assert_eq!(b.signatures(), 1);
    // B's own tickets work: the refusal was about A's key.
    let own = dir.path().join("b.sess");
    assert_eq!(outcome(&s_client(&server_b, &b.cert, "-sess_out", &own)), "new");
    assert_eq!(outcome(&s_client(&server_b, &b.cert, "-sess_in", &own)), "reused");
    assert_eq!(b.signatures(), 2);
}

/// A box endpoint that keeps a copy of every byte crossing its boundary.
struct Recorded<E> {
    inner: E,
    seen: Vec<u8>,
}

impl<E: Endpoint> Endpoint for Recorded<E> {
    fn feed(&mut self, data: &[u8]) -> Result<usize, tlsbox_host::Error> {
        let n = self.inner.feed(data)?;
        self.seen.extend_from_slice(&data[..n]);
        Ok(n)
    }
    fn take(&mut self) -> Result<Vec<u8>, tlsbox_host::Error> {
        let out = self.inner.take()?;
        self.seen.extend_from_slice(&out);
        Ok(out)
    }
    fn write(&mut self, data: &[u8]) -> Result<usize, tlsbox_host::Error> {
        let n = self.inner.write(data)?;
        self.seen.extend_from_slice(&data[..n]);
        Ok(n)
    }
    fn read(&mut self, max: usize) -> Result<Vec<u8>, tlsbox_host::Error> {
        let out = self.inner.read(max)?;
        self.seen.extend_from_slice(&out);
        Ok(out)
    }
    fn close(&mut self) -> Result<(), tlsbox_host::Error> {
        self.inner.close()
    }
    fn status(&mut self) -> Result<tlsbox_host::Status, tlsbox_host::Error> {
        self.inner.status()
    }
    fn info(&mut self) -> Result<tlsbox_host::SessionInfo, tlsbox_host::Error> {
        self.inner.info()
    }
}

#[test]
fn the_bytes_crossing_the_boundary_never_contain_a_ticket_key() {
    // A token of its own, whose ticket keys a test may read back; the
    // transfer over X25519 (SoftHSM2's choice) and over P-256.
    boundary_check(
        deployment(softhsm::SECOND_TOKEN, "readable", Tickets::Readable),
        32,
        false,
    );
    boundary_check(
        deployment(softhsm::SECOND_TOKEN, "readable-p256", Tickets::ReadableP256),
        65,
        false,
    );
    // And through a relay box: the token's transfer to the relay, and the
    // relay's to each connection's box.
    boundary_check(
        deployment(softhsm::SECOND_TOKEN, "readable-relay", Tickets::Readable),
        32,
        true,
    );
}

/// Records the ticket-key transfers a box sees, forwarding everything.
struct Tap {
    inner: Arc<dyn Keystore>,
    seen: Mutex<Vec<u8>>,
}

impl Keystore for Tap {
    fn describe_key(&self, key: &str) -> Result<KeyInfo, KeystoreError> {
        self.inner.describe_key(key)
    }

    fn sign(&self, key: &str, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        self.inner.sign(key, scheme, message)
    }

    fn ticket_keys(&self, box_public_key: &[u8]) -> Result<WrappedTicketKeys, KeystoreError> {
        let answer = self.inner.ticket_keys(box_public_key)?;
        let mut seen = self.seen.lock().unwrap();
        seen.extend_from_slice(box_public_key);
        seen.extend_from_slice(&answer.token_public_key);
        for k in &answer.keys {
            seen.extend_from_slice(&k.name);
            seen.extend_from_slice(&k.wrapped_key);
        }
        Ok(answer)
    }
}

fn boundary_check(c: Deployment, public_key_len: usize, relayed: bool) {
    let group = c.keys.inner.ticket_transfer_group().unwrap();
    let relay = Arc::new(TicketRelay::new(engine(), c.keys.clone(), group, 1));
    let tap = Arc::new(Tap {
        inner: match relayed {
            true => Arc::new(RelayedKeystore::new(c.keys.clone(), &relay)),
            false => c.keys.clone(),
        },
        seen: Mutex::new(Vec::new()),
    });
    let anchor = CertificateDer::from_pem_file(&c.cert).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(anchor).unwrap();
    // An independent client that keeps tickets (rustls on aws-lc-rs).
    let client_config = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let connect = || {
        let conn = rustls::ClientConnection::new(client_config.clone(), ServerName::try_from("localhost").unwrap());
        Native(conn.unwrap().into())
    };
    let mut seen = Vec::new();
    let mut resumed = Vec::new();
    // Across a rotation, so both the current and the previous key travel.
    for round in 0..3 {
        if round == 2 {
            c.clock.advance(ROTATION + Duration::from_secs(1));
        }
        let mut server = Recorded {
            inner: box_server(&c.options(), tap.clone()),
            seen: Vec::new(),
        };
        let mut client = connect();
        handshake(&mut client, &mut server).unwrap();
        assert_eq!(
            transfer(&mut server, &mut client, b"ticket after this").unwrap(),
            b"ticket after this"
        );
        assert_eq!(transfer(&mut client, &mut server, b"and back").unwrap(), b"and back");
        resumed.push(server.inner.session_info().unwrap().resumed);
        seen.extend(server.seen);
    }
    assert_eq!(resumed, [false, true, true], "the box opened its own tickets");
    assert_eq!(c.signatures(), 1);

    let keys = c.keys.inner.ticket_key_values_for_tests().unwrap();
    assert_eq!(keys.len(), 2, "current and previous");
    let token_transfers = c.keys.transfers.lock().unwrap().concat();
    let box_transfers = tap.seen.lock().unwrap().clone();
    // Three boxes: two public keys each, and a name and 40 wrapped bytes
    // per key (two keys in the last).
    assert_eq!(box_transfers.len(), 3 * 2 * public_key_len + 4 * (16 + 40));
    if relayed {
        // The relay was filled twice: at first, and after the rotation.
        assert_eq!(token_transfers.len(), 2 * 2 * public_key_len + 3 * (16 + 40));
    } else {
        assert_eq!(token_transfers, box_transfers);
    }
    let transfers = [token_transfers, box_transfers].concat();
    for key in &keys {
        assert_eq!(key.len(), 32);
        for window in key.windows(16) {
            for (what, bytes) in [("transfer", &transfers), ("TLS and plaintext", &seen)] {
                assert!(
                    !bytes.windows(16).any(|w| w == window),
                    "16 bytes of a ticket key crossed the boundary in the {what} bytes"
                );
            }
        }
    }
}
