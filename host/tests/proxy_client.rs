//! `tlsbox client`: plaintext in, TLS out, the server verified (chain, name
//! and --verify-* rules), optionally with a client key in a PKCS#11 token;
//! and a real browser through `tlsbox server`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::*;
use tlsbox_test_support::softhsm;

/// Send a line through `port`; what came back before the close.
fn exchange(port: u16, line: &str) -> String {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    conn.write_all(line.as_bytes()).unwrap();
    let mut back = Vec::new();
    let _ = conn.read_to_end(&mut back);
    String::from_utf8_lossy(&back).into_owned()
}

fn openssl_stdout(args: &[&str]) -> String {
    let out = Command::new("sh").arg("-c").arg(args.join(" ")).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn the_client_verifies_the_server_with_its_rules() {
    require("openssl");
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::openssl("ecdsa-p256", &[]);
    let target = format!("127.0.0.1:{}", server.port);
    let ca = pki("ca.pem");
    let pin = openssl_stdout(&[
        "openssl x509 -in",
        &pki("ecdsa-p256.pem"),
        "-pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64",
    ]);
    let other_pin = format!("sha256:{}", "A".repeat(43) + "=");
    let request = "GET / HTTP/1.0\r\n\r\n";
    for (rules, ok) in [
        (vec![], true),
        (vec!["--verify-cn", "localhost"], true),
        (vec!["--verify-cn", "someone-else"], false),
        (vec!["--verify-dns", "localhost"], true),
        (vec!["--verify-ou", "tests"], false),
        (vec!["--verify-uri", "spiffe://tlsbox.test/**"], false),
        (vec!["--verify-spki-pin", &format!("sha256:{pin}")], true),
        (vec!["--verify-spki-pin", &other_pin], false),
    ] {
        let mut args = vec![
            "--target",
            &target,
            "--override-server-name",
            "localhost",
            "--cacert",
            &ca,
        ];
        args.extend(&rules);
        let client = Proxy::start(home.path(), "client", &args);
        let page = exchange(client.port, request);
        if ok {
            // s_server -www answers with its session report.
            assert!(page.contains("TLSv1.3"), "{rules:?}: {page}\n{}", client.log());
        } else {
            assert!(page.is_empty(), "{rules:?}: {page}");
            client.wait_for_log("peer not allowed", 1);
        }
    }
    // A name the certificate is not valid for: refused.
    let client = Proxy::start(
        home.path(),
        "client",
        &[
            "--target",
            &target,
            "--override-server-name",
            "other.test",
            "--cacert",
            &ca,
        ],
    );
    assert!(exchange(client.port, request).is_empty());
    client.wait_for_log("handshake failed", 1);
}

#[test]
fn a_client_certificate_whose_key_stays_in_the_token() {
    require("openssl");
    let hsm = softhsm::get();
    let home = tempfile::tempdir().unwrap();
    let token = format!("pkcs11:token={}", softhsm::TOKEN);
    let keys =
        |args: &[&str]| String::from_utf8_lossy(&tlsbox_keys(home.path(), softhsm::PIN, args).stdout).into_owned();
    keys(&[
        "generate",
        "--token",
        &token,
        "--label",
        "proxy-client",
        "--id",
        "c11e47",
        "--algorithm",
        "p256",
    ]);
    let key = format!("{token};object=proxy-client");
    let csr = home.path().join("client.csr");
    std::fs::write(&csr, keys(&["csr", "--key", &key, "--name", "token-client.test"])).unwrap();
    let cert = home.path().join("client.pem");
    let ext = home.path().join("client.ext");
    std::fs::write(
        &ext,
        "subjectAltName=DNS:token-client.test\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    let signed = Command::new("openssl")
        .args(["x509", "-req", "-days", "1", "-in"])
        .arg(&csr)
        .args([
            "-CA",
            &pki("ca.pem"),
            "-CAkey",
            &pki("ca.key"),
            // A serial file of this test's own: by default openssl writes
            // one beside ca.pem, in the source tree.
            "-CAcreateserial",
            "-CAserial",
        ])
        .arg(home.path().join("ca.srl"))
        .arg("-extfile")
        .arg(&ext)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(signed.status.success(), "{}", text(&signed));

    let backend = Backend::start(BackendMode::EchoLine);
    let ca = pki("ca.pem");
    let server = Proxy::server(
        home.path(),
        &backend.address(),
        &["--cacert", &ca, "--allow-dns", "token-client.test"],
    );
    let target = format!("localhost:{}", server.port);
    let module = hsm.module.to_string_lossy().into_owned();
    let mut cmd = tlsbox(home.path());
    let (port, status_port) = (free_port(), free_port());
    cmd.args([
        "client",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--target",
        &target,
        "--cacert",
        &ca,
    ])
    .args(["--status", &format!("127.0.0.1:{status_port}")])
    .args([
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        &key,
        "--pkcs11-module",
        &module,
    ])
    .env("PKCS11_PIN", softhsm::PIN);
    let client = Proxy::spawn(home.path(), cmd, port);
    assert_eq!(exchange(client.port, "signed in a token\n"), "signed in a token\n");
    server.wait_for_log("allow-dns=token-client.test", 1);
    // The status endpoint asks the token whether it still answers.
    client.wait_for_announcement(status_port);
    let status = http_get(status_port, "/_status");
    assert!(status.contains("\"token_reachable\": true"), "{status}");
}

#[test]
fn chromium_loads_a_page_through_the_proxy() {
    require("chromium");
    require("openssl");
    let home = tempfile::tempdir().unwrap();
    let backend = Backend::start(BackendMode::Echo);
    let server = Proxy::server(home.path(), &backend.address(), &["--disable-authentication"]);
    // Trust exactly the test key, not "any certificate".
    let spki = openssl_stdout(&[
        "openssl x509 -in",
        &pki("ecdsa-p256.pem"),
        "-pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64",
    ]);
    let out = chromium_dump_dom(
        home.path(),
        &[format!("--ignore-certificate-errors-spki-list={spki}")],
        &format!("https://localhost:{}/", server.port),
    );
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(BACKEND_PAGE), "{}\n{}", text(&out), server.log());
}
