//! `tlsbox connect`: stdin to the peer, the peer to stdout, a summary on
//! stderr, and a non-zero exit on any handshake or verification failure.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::*;

const TIMEOUT: Duration = Duration::from_secs(30);

fn connect(port: u16, args: &[&str]) -> std::process::Output {
    let home = tempfile::tempdir().unwrap();
    run(
        tlsbox(home.path())
            .args(["connect", &format!("127.0.0.1:{port}")])
            .args(args),
        b"GET / HTTP/1.0\r\n\r\n",
        TIMEOUT,
    )
}

#[test]
fn talks_to_openssl_s_server_over_tls13_and_tls12() {
    for (flag, version) in [("-tls1_3", "version=TLSv1.3"), ("-tls1_2", "version=TLSv1.2")] {
        let server = ServerProcess::openssl("ecdsa-p256", &[flag]);
        let ca = pki_path("ca.pem");
        let out = connect(
            server.port,
            &["--ca", ca.to_str().unwrap(), "--servername", "localhost"],
        );
        assert!(out.status.success(), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stdout.starts_with("HTTP/1.0 200 ok"), "{stdout}");
        assert!(stderr.contains(version), "{stderr}");
    }
}

#[test]
fn fails_on_an_untrusted_certificate() {
    let server = ServerProcess::openssl("ecdsa-p256", &["-tls1_3"]);
    let ca = pki_path("untrusted-ca.pem");
    let out = connect(
        server.port,
        &["--ca", ca.to_str().unwrap(), "--servername", "localhost"],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("UnknownIssuer"), "{}", text(&out));
    assert!(out.stdout.is_empty(), "no byte of the peer may reach stdout");
}

#[test]
fn fails_on_a_wrong_server_name() {
    let server = ServerProcess::openssl("ecdsa-p256", &["-tls1_3"]);
    let ca = pki_path("ca.pem");
    let out = connect(
        server.port,
        &["--ca", ca.to_str().unwrap(), "--servername", "other.example"],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("not valid for name"), "{}", text(&out));
}

#[test]
fn fails_when_nothing_listens() {
    let port = free_port();
    let ca = pki_path("ca.pem");
    let out = connect(port, &["--ca", ca.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("connecting to"), "{}", text(&out));
}
