//! No PIN and no session secret in any log line, even at trace level.
//!
//! Every proxy test's log is searched when its proxy is dropped (see
//! `Proxy::spawn`); the tests here check that this search has something to
//! find with, and that it would find a leak.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

mod common;

use std::process::Command;

use common::*;
use tlsbox_test_support::softhsm;

const LABEL: &str = "tlsbox-logcheck";
const DISTINCT_PIN: &str = "Pq7-xZ9k-Lm2w";

#[test]
fn the_pin_never_reaches_a_log_line_even_at_trace() {
    require("openssl");
    let hsm = softhsm::get();
    let out = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            LABEL,
            "--pin",
            DISTINCT_PIN,
            "--so-pin",
            "5678",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let home = tempfile::tempdir().unwrap();
    let pin_file = home.path().join("pin");
    std::fs::write(&pin_file, format!("{DISTINCT_PIN}\n")).unwrap();
    let token = format!("pkcs11:token={LABEL}");
    let mut printed = String::new();
    let mut keys = |args: &[&str]| {
        let out = tlsbox(home.path())
            .arg("keys")
            .args(args)
            .arg("--pkcs11-module")
            .arg(&hsm.module)
            .env("PKCS11_PIN", DISTINCT_PIN)
            .env("TLSBOX_LOG", "trace")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        printed.push_str(&text(&out));
    };
    let cert = home.path().join("web.pem");
    let key = token_key(&mut keys, &token, "web", &cert, true);
    keys(&["list", "--pkcs11-token-label", LABEL]);

    // The PIN from a file this time; a trace-level server doing handshakes.
    let server = Proxy::start(
        home.path(),
        "server",
        &[
            "--key",
            &key,
            "--pkcs11-module",
            hsm.module.to_str().unwrap(),
            "--pkcs11-pin-file",
            pin_file.to_str().unwrap(),
        ],
    );
    for _ in 0..3 {
        let out = s_client(server.port, &cert, &[], b"GET / HTTP/1.0\r\n\r\n");
        assert!(out.contains("Verification: OK"), "{out}");
    }
    // A wrong PIN in a URI: the error says so without repeating it.
    let wrong = tlsbox(home.path())
        .args(["server", "--listen", "127.0.0.1:0", "--key"])
        .arg(format!("{key}?pin-value=Wr0ng-{DISTINCT_PIN}"))
        .arg("--pkcs11-module")
        .arg(&hsm.module)
        .env("TLSBOX_LOG", "trace")
        .env("XDG_CACHE_HOME", concat!(env!("CARGO_TARGET_TMPDIR"), "/cache"))
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(text(&wrong).contains("PIN is incorrect"), "{}", text(&wrong));
    printed.push_str(&text(&wrong));

    let log = server.log();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG") || log.contains("INFO"),
        "{log}"
    );
    for (what, text) in [("server log", &log), ("keys and wrong-PIN output", &printed)] {
        assert!(!text.contains(DISTINCT_PIN), "the PIN shows in the {what}:\n{text}");
    }
}

/// The secrets a peer logs are the box's own, and the search over a proxy's
/// trace log finds one planted there in any encoding: the drop-time check
/// every proxy test runs is not vacuous.
#[test]
fn the_peers_key_log_feeds_a_search_that_would_find_a_leaked_secret() {
    require("openssl");
    let home = tempfile::tempdir().unwrap();
    let backend = Backend::start(BackendMode::EchoLine);
    let server = Proxy::server(home.path(), &backend.address(), &["--disable-authentication"]);
    let before = leaks::logged_secrets().len();
    let out = s_client(server.port, &pki_path("ca.pem"), &["-quiet"], b"secret-free\n");
    assert!(out.contains("secret-free"), "{out}");
    let secrets = leaks::logged_secrets();
    // TLS 1.3: two handshake secrets, two traffic secrets, the exporter.
    assert!(secrets.len() >= before + 5, "{} secrets logged", secrets.len() - before);
    let log = std::fs::read(&server.log).unwrap();
    assert!(String::from_utf8_lossy(&log).contains("TRACE"), "not at trace");
    assert_eq!(leaks::find(&log, &secrets), None);

    let newest = secrets.last().unwrap();
    let window = &newest[..leaks::WINDOW];
    let hex: String = window.iter().map(|b| format!("{b:02X}")).collect();
    for planted in [format!("key={hex}"), format!("key={window:?}")] {
        let mut leaked = log.clone();
        leaked.extend_from_slice(planted.as_bytes());
        assert!(leaks::find(&leaked, &secrets).is_some(), "missed {planted}");
    }
}
