//! `tlsbox server` with no certificate flags: a generated identity for
//! localhost that curl, OpenSSL and GnuTLS accept at once, reused on restart.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::*;

const TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn generated_identity_serves_the_responder_page_to_real_clients() {
    require("curl");
    require("openssl");
    require("gnutls-cli");
    let home = tempfile::tempdir().unwrap();
    let ca = home.path().join("data/tlsbox/ca.pem");
    let server = tlsbox_server(home.path(), &[]);
    assert!(ca.exists(), "no CA certificate at {}", ca.display());

    // curl, TLS 1.3: the page names version, suite and group.
    let out = run(
        leaks::peer("curl")
            .args(["-sS", "--cacert"])
            .arg(&ca)
            .arg(format!("https://localhost:{}/", server.port)),
        b"",
        TIMEOUT,
    );
    assert!(out.status.success(), "{}", text(&out));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains("version: TLSv1.3"), "{page}");
    assert!(page.contains("cipher suite: TLS13_CHACHA20_POLY1305_SHA256"), "{page}");
    assert!(page.contains("key exchange group: X25519"), "{page}");
    assert!(page.contains("server name: localhost"), "{page}");

    // curl, TLS 1.2, by IP address (the certificate names 127.0.0.1 too).
    let out = run(
        leaks::peer("curl")
            .args(["-sS", "--tls-max", "1.2", "--cacert"])
            .arg(&ca)
            .arg(format!("https://127.0.0.1:{}/", server.port)),
        b"",
        TIMEOUT,
    );
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains("version: TLSv1.2"), "{}", text(&out));
    assert!(
        page.contains("cipher suite: TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
        "{page}"
    );

    // OpenSSL, with a HelloRetryRequest to P-256.
    let out = s_client(
        server.port,
        &ca,
        &["-groups", "X448:P-256"],
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert!(out.contains("Verification: OK"), "{out}");
    assert!(out.contains("key exchange group: secp256r1"), "{out}");

    // GnuTLS.
    let out = run(
        leaks::peer("gnutls-cli")
            .arg("--x509cafile")
            .arg(&ca)
            .args(["-p", &server.port.to_string(), "localhost"]),
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        TIMEOUT,
    );
    let out = text(&out);
    assert!(out.contains("version: TLSv1.3"), "{out}");
}

#[test]
fn generated_identity_is_reused_on_restart() {
    let home = tempfile::tempdir().unwrap();
    let cert = home.path().join("data/tlsbox/localhost.pem");
    let key = home.path().join("data/tlsbox/localhost.key");
    drop(tlsbox_server(home.path(), &[]));
    let first = std::fs::read(&cert).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the key must be readable by its owner only");
    }
    drop(tlsbox_server(home.path(), &[]));
    assert_eq!(std::fs::read(&cert).unwrap(), first, "the certificate was regenerated");
}

#[test]
fn refuses_a_public_listen_address_without_the_unsafe_flag() {
    let home = tempfile::tempdir().unwrap();
    let out = tlsbox(home.path())
        .args(["server", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("--unsafe-listen"), "{}", text(&out));
}

/// A proxy's log can fail to write (a full disk). The server must go on
/// serving: the log lines are lost, not the process. Its standard error is
/// `/dev/full` here, where every write fails with ENOSPC; before, the first
/// line (the "trust it" hint, then tracing's own report of the failed
/// write) panicked and the process exited at once.
#[cfg(target_os = "linux")]
#[test]
fn a_log_that_cannot_be_written_does_not_stop_the_server() {
    require("curl");
    let home = tempfile::tempdir().unwrap();
    let ca = home.path().join("data/tlsbox/ca.pem");
    let port = free_port();
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let mut child = tlsbox(home.path())
        .args(["server", "--listen", &format!("127.0.0.1:{port}")])
        .env("TLSBOX_LOG", "trace")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(full)
        .spawn()
        .unwrap();
    let fetch = || {
        std::process::Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert"])
            .arg(&ca)
            .arg(format!("https://localhost:{port}/"))
            .output()
            .unwrap()
    };
    // No log to read for "ready": poll with curl. Only this server holds a
    // certificate our generated CA signed, so an answer is from it.
    let deadline = std::time::Instant::now() + TIMEOUT;
    let page = loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("tlsbox exited ({status}) with its log on a full disk");
        }
        let out = fetch();
        if out.status.success() {
            break String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(std::time::Instant::now() < deadline, "no answer: {}", text(&out));
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(page.contains("version: TLSv1.3"), "{page}");
    // Still serving after a connection's worth of trace lines were lost.
    assert!(child.try_wait().unwrap().is_none(), "tlsbox exited after serving");
    let again = fetch();
    assert!(again.status.success(), "{}", text(&again));
    let _ = child.kill();
    let _ = child.wait();
}

/// `--listen 127.0.0.1:0` lets the kernel pick the port: the "trust it"
/// hint must name the port the listener got, not 0, and work as printed.
#[test]
fn the_trust_hint_names_the_port_the_listener_got() {
    require("curl");
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("tlsbox.log");
    let mut child = tlsbox(home.path())
        .args(["server", "--listen", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + TIMEOUT;
    let hint = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("trust it with:")) {
            break line.to_string();
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("tlsbox exited ({status}): {text}");
        }
        assert!(std::time::Instant::now() < deadline, "no trust hint: {text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let command = hint.split("trust it with: ").nth(1).unwrap();
    let url = command.split_whitespace().last().unwrap();
    let port: u16 = url
        .trim_start_matches("https://localhost:")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("no port in {hint:?}: {e}"));
    assert_ne!(port, 0, "{hint}");
    let ca = home.path().join("data/tlsbox/ca.pem");
    assert!(command.contains(&format!("--cacert {}", ca.display())), "{hint}");
    let out = run(
        leaks::peer("curl").args(["-sS", "--cacert"]).arg(&ca).arg(url),
        b"",
        TIMEOUT,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("version: TLSv1.3"));
    let _ = child.kill();
    let _ = child.wait();
}
