//! Load and faults, bounded: 2,000 sequential and 200 concurrent handshakes
//! against `tlsbox server` with a SoftHSM2 key, then 500 idle connections
//! held for 30 s: no failure, and every box is gone afterwards. And a token
//! that disappears mid-run and comes back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::*;
use tlsbox_host::core::{ClientConfig, ClientOptions, Connection};
use tlsbox_host::keystore::software::SoftwareKeystore;
use tlsbox_test_support::softhsm;

/// A native client (the box's own TLS core, outside any box) over a
/// blocking socket: the cheapest real TLS peer for load.
struct Client {
    tcp: TcpStream,
    tls: Connection,
}

impl Client {
    fn connect(port: u16, config: &ClientConfig) -> Result<Self, String> {
        let tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| e.to_string())?;
        let tls = Connection::new_client(config).map_err(|e| e.to_string())?;
        Ok(Self { tcp, tls })
    }

    /// Send `line`, read until it comes back; handshakes on the way.
    fn echo(&mut self, line: &[u8]) -> Result<(), String> {
        let mut written = 0;
        let mut got = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if written < line.len() {
                written += self.tls.write_plaintext(&line[written..]).map_err(|e| e.to_string())?;
            }
            let out = self.tls.take_ciphertext(64 * 1024);
            self.tcp.write_all(&out).map_err(|e| e.to_string())?;
            got.extend(self.tls.read_plaintext(64 * 1024).map_err(|e| e.to_string())?);
            if got.len() >= line.len() {
                return match got.as_slice() == line {
                    true => Ok(()),
                    false => Err(format!("echo differs: {got:?}")),
                };
            }
            let n = self.tcp.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err(format!("closed after {} bytes", got.len()));
            }
            self.tls.feed_ciphertext(&buf[..n]).map_err(|e| e.to_string())?;
        }
    }
}

fn client_config(anchor: &std::path::Path) -> ClientConfig {
    use rustls_pki_types::pem::PemObject;
    let anchors = rustls_pki_types::CertificateDer::pem_file_iter(anchor)
        .unwrap()
        .map(|c| c.unwrap().to_vec())
        .collect();
    let options = ClientOptions {
        server_name: "localhost".into(),
        trust_anchors: anchors,
        ..Default::default()
    };
    ClientConfig::new(&options, Arc::new(SoftwareKeystore::new()))
        .unwrap()
        .with_key_log_for_tests(Arc::new(TestKeyLog))
}

/// `tlsbox server` forwarding to `backend` with the token key `key`, a
/// status endpoint and the test PIN: the command, its TLS port and its
/// status port. Wait on the status port (bound last): a probe of the TLS
/// port would count as a failed handshake.
fn token_server(
    home: &std::path::Path,
    backend: &Backend,
    key: &str,
    module: &std::path::Path,
) -> (std::process::Command, u16, u16) {
    let (port, status_port) = (free_port(), free_port());
    let mut cmd = tlsbox(home);
    cmd.args(["server", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--target", &backend.address(), "--disable-authentication"])
        .args(["--key", key])
        .arg("--pkcs11-module")
        .arg(module)
        .args(["--status", &format!("127.0.0.1:{status_port}")])
        .env("PKCS11_PIN", softhsm::PIN);
    (cmd, port, status_port)
}

fn live_boxes(status_port: u16) -> f64 {
    let text = http_get(status_port, "/_metrics");
    let line = text
        .lines()
        .find(|l| l.starts_with("tlsbox_live_boxes "))
        .unwrap_or_else(|| panic!("no tlsbox_live_boxes in {text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// Wait until the server holds no box (connections close asynchronously).
fn wait_for_no_boxes(status_port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while live_boxes(status_port) != 0.0 {
        assert!(
            Instant::now() < deadline,
            "boxes still alive: {}",
            live_boxes(status_port)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_thousand_sequential_and_two_hundred_concurrent_handshakes_with_a_token_key() {
    let hsm = softhsm::get();
    let home = tempfile::tempdir().unwrap();
    let token = format!("pkcs11:token={}", softhsm::TOKEN);
    let keys = |args: &[&str]| {
        tlsbox_keys(home.path(), softhsm::PIN, args);
    };
    let cert = home.path().join("load.pem");
    let key = token_key(keys, &token, "load", &cert, true);

    let backend = Backend::start(BackendMode::Echo);
    let (mut cmd, port, status_port) = token_server(home.path(), &backend, &key, &hsm.module);
    cmd.env("TLSBOX_LOG", "warn");
    let _server = Proxy::spawn(home.path(), cmd, status_port);
    assert_eq!(live_boxes(status_port), 0.0);
    let config = client_config(&cert);

    let start = Instant::now();
    for i in 0..2000 {
        let mut client = Client::connect(port, &config).unwrap();
        client
            .echo(b"sequential\n")
            .unwrap_or_else(|e| panic!("handshake {i}: {e}"));
    }
    let sequential = start.elapsed();

    let barrier = Arc::new(Barrier::new(200));
    let start = Instant::now();
    let threads: Vec<_> = (0..200)
        .map(|i| {
            let (barrier, config) = (barrier.clone(), config.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut client = Client::connect(port, &config).unwrap();
                client
                    .echo(b"concurrent\n")
                    .unwrap_or_else(|e| panic!("concurrent {i}: {e}"));
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let concurrent = start.elapsed();
    eprintln!(
        "2000 sequential handshakes+echo: {:.1} s ({:.0}/s); 200 concurrent: {:.2} s",
        sequential.as_secs_f64(),
        2000.0 / sequential.as_secs_f64(),
        concurrent.as_secs_f64()
    );
    wait_for_no_boxes(status_port);
    let metrics = http_get(status_port, "/_metrics");
    let ok = metrics
        .lines()
        .find(|l| l.starts_with("tlsbox_handshakes_ok_total"))
        .unwrap();
    assert!(ok.ends_with(" 2200"), "{ok}");
    assert!(!metrics.contains("tlsbox_handshakes_failed_total"), "{metrics}");
}

/// Resident set of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn five_hundred_idle_connections_survive_thirty_seconds() {
    let home = tempfile::tempdir().unwrap();
    let backend = Backend::start(BackendMode::Echo);
    let (server, status_port) =
        Proxy::server_with_status(home.path(), &backend.address(), &["--disable-authentication"]);
    let config = client_config(&pki_path("ca.pem"));
    // The baseline is taken with no box alive.
    wait_for_no_boxes(status_port);
    let before = rss_kib(server.child.id());
    let mut clients: Vec<Client> = (0..500)
        .map(|i| {
            let mut c = Client::connect(server.port, &config).unwrap();
            c.echo(b"hello\n").unwrap_or_else(|e| panic!("connection {i}: {e}"));
            c
        })
        .collect();
    assert_eq!(live_boxes(status_port), 500.0);
    let after = rss_kib(server.child.id());
    eprintln!(
        "500 idle connections: resident {before} KiB -> {after} KiB, {} KiB per connection",
        after.saturating_sub(before) / 500
    );
    std::thread::sleep(Duration::from_secs(30));
    for (i, c) in clients.iter_mut().enumerate() {
        c.echo(b"still here\n")
            .unwrap_or_else(|e| panic!("connection {i} after 30 s: {e}"));
    }
    drop(clients);
    wait_for_no_boxes(status_port);
}

/// A token that disappears (its SoftHSM2 directory moved away) fails
/// handshakes with a keystore error while the process stays up; when it
/// comes back, handshakes succeed again without a restart.
#[test]
fn a_token_that_disappears_and_returns_is_used_again_without_a_restart() {
    let module = softhsm::get().module.clone();
    let home = tempfile::tempdir().unwrap();
    // A token store of this test's own: moving it away touches no other test.
    let store = home.path().join("softhsm");
    let conf = softhsm::new_store(&store, &["comes-and-goes"]);
    let tokens = store.join("tokens");
    let keys = |args: &[&str]| {
        let out = tlsbox(home.path())
            .arg("keys")
            .args(args)
            .arg("--pkcs11-module")
            .arg(&module)
            .env("PKCS11_PIN", softhsm::PIN)
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
    };
    let cert = home.path().join("k.pem");
    let key = token_key(keys, "pkcs11:token=comes-and-goes", "k", &cert, false);

    let backend = Backend::start(BackendMode::Echo);
    let (mut cmd, port, status_port) = token_server(home.path(), &backend, &key, &module);
    cmd.args(["--cert", cert.to_str().unwrap()]).env("SOFTHSM2_CONF", &conf);
    let mut server = Proxy::spawn(home.path(), cmd, status_port);
    let config = client_config(&cert);
    let handshake = || Client::connect(port, &config).and_then(|mut c| c.echo(b"ping\n"));
    handshake().unwrap();
    let status = |want: &str| http_get(status_port, "/_status").contains(want);
    assert!(
        status("\"token_reachable\": true"),
        "{}",
        http_get(status_port, "/_status")
    );

    let away = store.join("tokens.away");
    std::fs::rename(&tokens, &away).unwrap();
    // The box cannot send an alert once the handshake is encrypted: the
    // client sees the connection close.
    for _ in 0..3 {
        assert!(handshake().is_err());
    }
    assert!(server.child.try_wait().unwrap().is_none(), "the server exited");
    server.wait_for_log("handshake failed", 3);
    assert!(
        server
            .log()
            .contains("error=keystore: keystore failure: token \"comes-and-goes\""),
        "{}",
        server.log()
    );
    assert!(
        status("\"token_reachable\": false"),
        "{}",
        http_get(status_port, "/_status")
    );

    std::fs::rename(&away, &tokens).unwrap();
    // Re-initialising the module is tried at most once a second.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut outcome = handshake();
    while outcome.is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        outcome = handshake();
    }
    outcome.unwrap_or_else(|e| panic!("the token came back but handshakes still fail: {e}\n{}", server.log()));
    for _ in 0..5 {
        handshake().unwrap();
    }
    assert!(
        status("\"token_reachable\": true"),
        "{}",
        http_get(status_port, "/_status")
    );
    assert!(server.log().contains("re-initialis"), "{}", server.log());
}
