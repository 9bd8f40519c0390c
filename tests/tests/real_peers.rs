//! The box against real TLS implementations: OpenSSL, GnuTLS and curl
//! talking to a box server, and the box client talking to `openssl s_server`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::process::Command;
use std::time::Duration;

use tlsbox_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TIMEOUT: Duration = Duration::from_secs(20);

fn s_client(server: &BoxServer, extra: &[&str]) -> String {
    tlsbox_tests::s_client(server.port(), &pki_path("ca.pem"), extra, b"hello from openssl\n")
}

#[test]
fn openssl_s_client_tls13_and_tls12() {
    let server = BoxServer::start(server_options("ecdsa-p256"), keystore());
    let out = s_client(&server, &["-tls1_3"]);
    assert!(out.contains("Verification: OK"), "{out}");
    assert!(out.contains("New, TLSv1.3"), "{out}");
    assert!(out.contains("request=hello from openssl"), "{out}");
    assert!(out.contains("version=Some(TLSv1_3)"), "{out}");

    let out = s_client(&server, &["-tls1_2"]);
    assert!(
        out.contains("New, TLSv1.2, Cipher is ECDHE-ECDSA-CHACHA20-POLY1305"),
        "{out}"
    );
    assert!(out.contains("request=hello from openssl"), "{out}");
}

#[test]
fn openssl_s_client_every_tls12_rsa_suite() {
    let server = BoxServer::start(server_options("rsa-2048"), keystore());
    for (openssl, ours) in [
        ("ECDHE-RSA-AES128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
        ("ECDHE-RSA-AES256-GCM-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
        (
            "ECDHE-RSA-CHACHA20-POLY1305",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        ),
    ] {
        let out = s_client(&server, &["-tls1_2", "-cipher", openssl]);
        assert!(out.contains(&format!("Cipher is {openssl}")), "{out}");
        assert!(out.contains(&format!("suite=Some({ours})")), "{out}");
    }
}

#[test]
fn openssl_s_client_every_tls13_suite() {
    let server = BoxServer::start(server_options("ecdsa-p384"), keystore());
    for suite in [
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
    ] {
        let out = s_client(&server, &["-tls1_3", "-ciphersuites", suite]);
        assert!(out.contains(&format!("New, TLSv1.3, Cipher is {suite}")), "{out}");
        assert!(out.contains("Verification: OK"), "{out}");
    }
}

#[test]
fn openssl_p256_only_and_hello_retry_request() {
    let server = BoxServer::start(server_options("ecdsa-p256"), keystore());
    // The box prefers X25519; a client offering only P-256 gets P-256.
    let out = s_client(&server, &["-tls1_3", "-groups", "P-256"]);
    assert!(out.contains("group=Some(secp256r1)"), "{out}");
    assert!(out.contains("Server Temp Key: ECDH, prime256v1"), "{out}");
    // A first key share the box does not take (X448) forces a
    // HelloRetryRequest for P-256: OpenSSL then sends a second ClientHello.
    let out = s_client(&server, &["-tls1_3", "-groups", "X448:P-256", "-msg"]);
    assert!(out.contains("group=Some(secp256r1)"), "{out}");
    assert_eq!(
        out.matches(", ClientHello").count(),
        2,
        "no HelloRetryRequest seen:\n{out}"
    );
    assert!(out.contains("Verification: OK"), "{out}");
}

#[test]
fn gnutls_cli_tls13_and_tls12() {
    require("gnutls-cli");
    let server = BoxServer::start(server_options("ed25519"), keystore());
    let rsa = BoxServer::start(server_options("rsa-2048"), keystore());
    for (srv, priority, expect) in [
        (&server, "NORMAL:-VERS-ALL:+VERS-TLS1.3", "version=Some(TLSv1_3)"),
        (&rsa, "NORMAL:-VERS-ALL:+VERS-TLS1.2", "version=Some(TLSv1_2)"),
        (&rsa, "NORMAL:-VERS-ALL:+VERS-TLS1.3", "version=Some(TLSv1_3)"),
    ] {
        let mut cmd = Command::new("gnutls-cli");
        cmd.arg("--x509cafile").arg(pki_path("ca.pem")).args([
            "--priority",
            priority,
            "-p",
            &srv.port().to_string(),
            "localhost",
        ]);
        let out = text(&run(&mut cmd, b"hello from gnutls\n", TIMEOUT));
        assert!(out.contains(expect), "{out}");
        assert!(out.contains("request=hello from gnutls"), "{out}");
    }
}

#[test]
fn curl_tls13_and_tls12() {
    require("curl");
    let server = BoxServer::start(server_options("ecdsa-p256"), keystore());
    for (flags, expect) in [
        (&["--tlsv1.3"][..], "version=Some(TLSv1_3)"),
        (&["--tlsv1.2", "--tls-max", "1.2"][..], "version=Some(TLSv1_2)"),
    ] {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--cacert"])
            .arg(pki_path("ca.pem"))
            .args(flags)
            .arg(format!("https://localhost:{}/", server.port()));
        let out = run(&mut cmd, b"", TIMEOUT);
        assert!(out.status.success(), "{}", text(&out));
        let body = String::from_utf8_lossy(&out.stdout);
        assert!(
            body.contains(expect) && body.contains("request=GET / HTTP/1.1"),
            "{body}"
        );
    }
}

async fn box_client_get(port: u16) -> (tlsbox_host::SessionInfo, String) {
    let config = tlsbox_host::ClientConfig::new(engine(), &client_options(), keystore()).unwrap();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut tls = tlsbox_host::stream::connect(engine(), &config, tcp).await.unwrap();
    let info = tls.session_info().unwrap();
    tls.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut page = Vec::new();
    // s_server -www closes the TCP connection after its close_notify.
    let _ = tls.read_to_end(&mut page).await;
    (info, String::from_utf8_lossy(&page).into_owned())
}

#[tokio::test]
async fn box_client_against_openssl_s_server() {
    for (stem, flag, version) in [
        ("ecdsa-p256", "-tls1_3", tlsbox_core::rustls::ProtocolVersion::TLSv1_3),
        ("ecdsa-p256", "-tls1_2", tlsbox_core::rustls::ProtocolVersion::TLSv1_2),
        ("rsa-2048", "-tls1_3", tlsbox_core::rustls::ProtocolVersion::TLSv1_3),
        ("rsa-2048", "-tls1_2", tlsbox_core::rustls::ProtocolVersion::TLSv1_2),
    ] {
        let server = ServerProcess::openssl(stem, &[flag]);
        let (info, page) = box_client_get(server.port).await;
        assert_eq!(info.version, Some(version), "{stem} {flag}");
        assert!(page.starts_with("HTTP/1.0 200 ok"), "{stem} {flag}: {page}");
        assert!(page.contains("Ciphers supported in s_server binary"), "{page}");
    }
}
