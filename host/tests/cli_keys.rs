//! `tlsbox keys` round trip with SoftHSM2: generate a key inside the token,
//! certify it with the token key, serve it with `tlsbox server --key
//! pkcs11:…` (certificate from the token), and have OpenSSL verify it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::*;
use tlsbox_test_support::softhsm;

fn keys(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    let hsm = softhsm::get();
    tlsbox(home)
        .arg("keys")
        .args(args)
        .arg("--pkcs11-module")
        .arg(&hsm.module)
        .output()
        .unwrap()
}

#[test]
fn generate_certify_serve_verify() {
    let hsm = softhsm::get();
    // The PIN comes from the environment, never from the command line.
    std::env::set_var("PKCS11_PIN", softhsm::PIN);
    let home = tempfile::tempdir().unwrap();
    let token = format!("pkcs11:token={}", softhsm::TOKEN);

    let out = keys(
        home.path(),
        &[
            "generate",
            "--token",
            &token,
            "--label",
            "web",
            "--id",
            "c0ffee",
            "--algorithm",
            "p256",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));

    let key = format!("pkcs11:token={};object=web;id=%c0%ff%ee", softhsm::TOKEN);
    let cert = home.path().join("web.pem");
    let out = keys(
        home.path(),
        &[
            "self-sign",
            "--key",
            &key,
            "--name",
            "localhost",
            "--name",
            "127.0.0.1",
            "--import",
            "--out",
            cert.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));

    let out = keys(home.path(), &["csr", "--key", &key, "--name", "localhost"]);
    assert!(text(&out).contains("BEGIN CERTIFICATE REQUEST"), "{}", text(&out));

    let out = keys(home.path(), &["list"]);
    let listing = text(&out);
    assert!(
        listing.contains("private") && listing.contains("cert") && listing.contains("id=c0ffee"),
        "{listing}"
    );

    // No --cert: the certificate stored beside the key on the token.
    let uri = format!("{key};type=private?module-path={}", hsm.module.display());
    let server = Server::start(home.path(), &["--key", &uri]);
    let out = s_client(
        server.port,
        &cert,
        &["-tls1_3"],
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert!(out.contains("Verification: OK"), "{out}");
    assert!(out.contains("version: TLSv1.3"), "{out}");
}

#[test]
fn a_wrong_pin_stops_the_server_at_start_up() {
    let hsm = softhsm::get();
    let home = tempfile::tempdir().unwrap();
    let pin_file = home.path().join("pin");
    std::fs::write(&pin_file, "0000\n").unwrap();
    let out = tlsbox(home.path())
        .args(["server", "--listen", "127.0.0.1:0", "--key"])
        .arg(format!("pkcs11:token={};object=web", softhsm::TOKEN))
        .arg("--pkcs11-module")
        .arg(&hsm.module)
        .arg("--pkcs11-pin-file")
        .arg(&pin_file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("PIN is incorrect"), "{}", text(&out));
    assert!(!text(&out).contains("0000"), "the PIN must not be printed");
}
