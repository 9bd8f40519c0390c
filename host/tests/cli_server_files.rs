//! `tlsbox server --cert --key`: given files instead of a generated identity.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::*;

#[test]
fn serves_a_given_rsa_certificate_over_tls12_and_tls13() {
    require("openssl");
    let home = tempfile::tempdir().unwrap();
    let cert = pki_path("rsa-2048.pem");
    let key = pki_path("rsa-2048.key");
    let server = tlsbox_server(
        home.path(),
        &["--cert", cert.to_str().unwrap(), "--key", key.to_str().unwrap()],
    );
    for (flag, expect) in [
        ("-tls1_2", "cipher suite: TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
        ("-tls1_3", "version: TLSv1.3"),
    ] {
        let request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
        let out = s_client(server.port, &pki_path("ca.pem"), &[flag], request);
        assert!(out.contains("Verification: OK") && out.contains(expect), "{out}");
    }
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_refused_at_start() {
    let home = tempfile::tempdir().unwrap();
    let out = tlsbox(home.path())
        .args(["server", "--listen", "127.0.0.1:0", "--cert"])
        .arg(pki_path("rsa-2048.pem"))
        .arg("--key")
        .arg(pki_path("ecdsa-p256.key"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("does not match"), "{}", text(&out));
}

/// A request whose lines end in a bare LF (as tlsfuzzer's and hand-typed
/// ones do) is answered, not left waiting for a CRLF that never comes.
#[test]
fn the_built_in_page_answers_a_request_with_bare_line_feeds() {
    require("openssl");
    let home = tempfile::tempdir().unwrap();
    let cert = pki_path("ecdsa-p256.pem");
    let key = pki_path("ecdsa-p256.key");
    let server = tlsbox_server(
        home.path(),
        &["--cert", cert.to_str().unwrap(), "--key", key.to_str().unwrap()],
    );
    // -ign_eof: s_client waits for the server to answer and close.
    let out = s_client(server.port, &pki_path("ca.pem"), &["-ign_eof"], b"GET / HTTP/1.0\n\n");
    assert!(out.contains("HTTP/1.1 200") || out.contains("HTTP/1.0 200"), "{out}");
}

/// The server picks by its own order: ChaCha20-Poly1305 first by default
/// (the fastest in the box), whatever order openssl offers; `--cipher-suites`
/// changes the order, and an unknown name stops the start.
#[test]
fn the_server_prefers_chacha20_poly1305_unless_told_another_order() {
    require("openssl");
    let home = tempfile::tempdir().unwrap();
    let cert = pki_path("ecdsa-p256.pem");
    let key = pki_path("ecdsa-p256.key");
    let files = ["--cert", cert.to_str().unwrap(), "--key", key.to_str().unwrap()];
    let request = b"GET / HTTP/1.0\r\n\r\n";
    // openssl's own TLS 1.3 order puts AES-256-GCM first.
    let offer = [
        "-tls1_3",
        "-ciphersuites",
        "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256",
    ];

    let server = tlsbox_server(home.path(), &files);
    let out = s_client(server.port, &pki_path("ca.pem"), &offer, request);
    assert!(out.contains("Cipher is TLS_CHACHA20_POLY1305_SHA256"), "{out}");
    drop(server);

    let mut args = files.to_vec();
    args.extend(["--cipher-suites", "TLS_AES_128_GCM_SHA256,TLS_CHACHA20_POLY1305_SHA256"]);
    let server = tlsbox_server(home.path(), &args);
    let out = s_client(server.port, &pki_path("ca.pem"), &offer, request);
    assert!(out.contains("Cipher is TLS_AES_128_GCM_SHA256"), "{out}");
    drop(server);

    let out = tlsbox(home.path())
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--cipher-suites",
            "TLS_RSA_WITH_RC4_128_SHA",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("unknown cipher suite"), "{}", text(&out));
}
