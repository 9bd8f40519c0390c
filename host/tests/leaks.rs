//! No PIN in any log line, even at trace level: a token with a PIN that
//! cannot appear by chance, the key tooling and a server using it, every
//! line they print searched.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

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
    keys(&["generate", "--token", &token, "--label", "web", "--algorithm", "p256"]);
    let key = format!("{token};object=web");
    let cert = home.path().join("web.pem");
    keys(&[
        "self-sign",
        "--key",
        &key,
        "--name",
        "localhost",
        "--import",
        "--out",
        cert.to_str().unwrap(),
    ]);
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
