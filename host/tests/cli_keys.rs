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
fn generate_certify_serve_verify_every_key_type() {
    let hsm = softhsm::get();
    // The PIN comes from the environment, never from the command line.
    std::env::set_var("PKCS11_PIN", softhsm::PIN);
    let home = tempfile::tempdir().unwrap();
    let token = format!("pkcs11:token={}", softhsm::TOKEN);

    for (i, algorithm) in ["p256", "p384", "ed25519", "rsa2048", "rsa3072"]
        .into_iter()
        .enumerate()
    {
        let label = format!("web-{algorithm}");
        let id = format!("c0ffee{i:02x}");
        let out = keys(
            home.path(),
            &[
                "generate",
                "--token",
                &token,
                "--label",
                &label,
                "--id",
                &id,
                "--algorithm",
                algorithm,
            ],
        );
        assert!(out.status.success(), "{}", text(&out));

        let key = format!("pkcs11:token={};object={label};id=%c0%ff%ee%{i:02x}", softhsm::TOKEN);
        let cert = home.path().join(format!("{label}.pem"));
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

        // No --cert: the certificate stored beside the key on the token.
        let uri = format!("{key};type=private?module-path={}", hsm.module.display());
        let server = tlsbox_server(home.path(), &["--key", &uri]);
        let request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
        let out = s_client(server.port, &cert, &["-tls1_3"], request);
        assert!(
            out.contains("Verification: OK") && out.contains("version: TLSv1.3"),
            "{algorithm}: {out}"
        );
        if matches!(algorithm, "p256" | "rsa2048") {
            let out = s_client(server.port, &cert, &["-tls1_2"], request);
            assert!(
                out.contains("Verification: OK") && out.contains("version: TLSv1.2"),
                "{algorithm}: {out}"
            );
        }
    }

    let out = keys(
        home.path(),
        &[
            "csr",
            "--key",
            &format!("pkcs11:token={};object=web-p256", softhsm::TOKEN),
            "--name",
            "localhost",
        ],
    );
    assert!(text(&out).contains("BEGIN CERTIFICATE REQUEST"), "{}", text(&out));
    let listing = text(&keys(home.path(), &["list", "--pkcs11-token-label", softhsm::TOKEN]));
    assert!(
        listing.contains("web-rsa3072") && listing.contains("cert") && listing.contains("id=c0ffee04"),
        "{listing}"
    );
    assert!(listing.contains("type=private"), "{listing}");

    // The client side: a client certificate from the token, for openssl s_server -Verify.
    let cert = home.path().join("web-p256.pem");
    let server = ServerProcess::openssl(
        "ecdsa-p256",
        &[
            "-tls1_3",
            "-Verify",
            "1",
            "-verify_return_error",
            "-CAfile",
            cert.to_str().unwrap(),
        ],
    );
    let out = run(
        tlsbox(home.path())
            .args([
                "connect",
                &format!("127.0.0.1:{}", server.port),
                "--servername",
                "localhost",
                "--ca",
            ])
            .arg(pki_path("ca.pem"))
            .arg("--key")
            .arg(format!(
                "pkcs11:token={};object=web-p256?module-path={}",
                softhsm::TOKEN,
                hsm.module.display()
            )),
        b"GET / HTTP/1.0\r\n\r\n",
        std::time::Duration::from_secs(30),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("HTTP/1.0 200 ok"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_wrong_pin_stops_the_server_at_start_up() {
    let hsm = softhsm::get();
    let home = tempfile::tempdir().unwrap();
    let pin_file = home.path().join("pin");
    std::fs::write(&pin_file, "0000\n").unwrap();
    let out = tlsbox(home.path())
        .args(["server", "--listen", "127.0.0.1:0", "--key"])
        // The second token: a failed login writes the token's files, and the
        // other test's processes read the first token meanwhile.
        .arg(format!("pkcs11:token={};object=web-p256", softhsm::SECOND_TOKEN))
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
