//! `tlsbox server --target`: TLS terminated in boxes, plaintext forwarded
//! to a real backend, driven by real clients (openssl, gnutls-cli, curl,
//! tlsbox client).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::time::Duration;

use common::*;

/// `openssl s_client` with the test CA, a client certificate `stem` (or
/// none), sending `stdin`; its whole output.
fn openssl_client(port: u16, client: Option<&str>, extra: &[&str], stdin: &[u8]) -> String {
    let mut args: Vec<String> = vec![];
    if let Some(stem) = client {
        args.extend([
            "-cert".into(),
            pki(&format!("{stem}.pem")),
            "-key".into(),
            pki(&format!("{stem}.key")),
        ]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    s_client(port, &pki_path("ca.pem"), &args, stdin)
}

/// `tlsbox connect localhost:<port>` with an empty stdin, trusting the
/// test CA; it fails on a transport closed without close_notify.
fn tlsbox_connect(home: &std::path::Path, port: u16) -> std::process::Output {
    run(
        tlsbox(home)
            .args(["connect", &format!("localhost:{port}"), "--ca"])
            .arg(pki_path("ca.pem")),
        b"",
        Duration::from_secs(30),
    )
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn real_clients_reach_the_backend_through_the_box() {
    require("openssl");
    require("gnutls-cli");
    require("curl");
    let home = tempfile::tempdir().unwrap();
    let backend = Backend::start(BackendMode::EchoLine);
    let server = Proxy::server(home.path(), &backend.address(), &["--disable-authentication"]);

    let out = openssl_client(server.port, None, &["-quiet"], b"ping from openssl\n");
    assert!(out.contains("ping from openssl"), "{out}");

    let gnutls = run(
        leaks::peer("gnutls-cli").args([
            "--x509cafile",
            &pki("ca.pem"),
            "-p",
            &server.port.to_string(),
            "localhost",
        ]),
        b"ping from gnutls\n",
        Duration::from_secs(30),
    );
    assert!(text(&gnutls).contains("ping from gnutls"), "{}", text(&gnutls));

    let curl = run(
        leaks::peer("curl")
            .args(["-sS", "--cacert", &pki("ca.pem")])
            .arg(format!("https://localhost:{}/", server.port)),
        b"",
        Duration::from_secs(30),
    );
    assert!(curl.status.success(), "{}", text(&curl));
    assert!(text(&curl).contains(BACKEND_PAGE), "{}", text(&curl));
}

#[test]
fn a_mebibyte_each_way_byte_exact_with_half_close() {
    let home = tempfile::tempdir().unwrap();
    let backend = Backend::start(BackendMode::Echo);
    let server = Proxy::server(home.path(), &backend.address(), &["--disable-authentication"]);
    let client = Proxy::client_for(home.path(), server.port);

    let mut conn = TcpStream::connect(("127.0.0.1", client.port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let sent = pattern(1 << 20);
    let writer = {
        let mut conn = conn.try_clone().unwrap();
        let sent = sent.clone();
        std::thread::spawn(move || {
            conn.write_all(&sent).unwrap();
            // Half-close: no more from us, but the answer must still come.
            conn.shutdown(Shutdown::Write).unwrap();
        })
    };
    let mut echoed = Vec::new();
    conn.read_to_end(&mut echoed).unwrap();
    writer.join().unwrap();
    // The backend saw our end of stream (after the whole mebibyte) and
    // answered after it: both half-closes crossed both hops.
    assert_eq!(echoed.len(), sent.len() + 5);
    assert!(echoed[..sent.len()] == sent[..], "the echo differs");
    assert_eq!(&echoed[sent.len()..], b"<eof>");
}

#[test]
fn a_backend_that_closes_first_ends_the_client_cleanly() {
    let home = tempfile::tempdir().unwrap();
    let backend = Backend::start(BackendMode::Greet);
    let server = Proxy::server(home.path(), &backend.address(), &["--disable-authentication"]);
    let out = tlsbox_connect(home.path(), server.port);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "bye\n");
}

#[test]
fn a_missing_backend_gets_a_clean_close_and_the_proxy_recovers() {
    let home = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = Proxy::server(home.path(), &format!("127.0.0.1:{port}"), &["--disable-authentication"]);
    let out = tlsbox_connect(home.path(), server.port);
    // A close_notify, no data: `connect` ends cleanly with nothing.
    assert!(out.status.success(), "{}", text(&out));
    assert!(out.stdout.is_empty());
    server.wait_for_log("target unreachable", 1);
    // The backend comes back on the same port; so does service.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let _ = s.write_all(b"back\n");
        }
    });
    let out = tlsbox_connect(home.path(), server.port);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "back\n", "{}", text(&out));
}

#[test]
fn with_a_target_authentication_must_be_explicit() {
    let home = tempfile::tempdir().unwrap();
    let out = tlsbox(home.path())
        .args(["server", "--listen", "127.0.0.1:0", "--target", "127.0.0.1:9", "--cert"])
        .arg(pki_path("ecdsa-p256.pem"))
        .arg("--key")
        .arg(pki_path("ecdsa-p256.key"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("--disable-authentication"), "{}", text(&out));
    let out = tlsbox(home.path())
        .args(["server", "--listen", "0.0.0.0:0", "--disable-authentication"])
        .output()
        .unwrap();
    assert!(text(&out).contains("--unsafe-listen"), "{}", text(&out));
    let out = tlsbox(home.path())
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--target",
            "192.0.2.1:80",
            "--disable-authentication",
        ])
        .output()
        .unwrap();
    assert!(text(&out).contains("--unsafe-target"), "{}", text(&out));
}

/// The SHA-256 pin of a test certificate's public key, as openssl computes it.
fn spki_pin(stem: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -in '{}' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -hex",
            pki(&format!("{stem}.pem"))
        ))
        .output()
        .unwrap();
    let hex = text(&out).trim().rsplit(' ').next().unwrap().to_string();
    assert_eq!(hex.len(), 64, "{hex}");
    format!("sha256:{hex}")
}

#[test]
fn mutual_tls_allow_lists_admit_and_refuse_before_the_backend() {
    require("openssl");
    let home = tempfile::tempdir().unwrap();
    let backend = Backend::start(BackendMode::Greet);
    let ca = pki("ca.pem");
    let client_pin = spki_pin("client");
    let cases: Vec<(Vec<&str>, &str, bool)> = vec![
        (vec!["--allow-cn", "client.test"], "client", true),
        (vec!["--allow-cn", "someone-else"], "client", false),
        (vec!["--allow-ou", "tests"], "client", true),
        (vec!["--allow-dns", "client.test"], "client", true),
        (
            vec!["--allow-uri", "spiffe://tlsbox.test/ns/*/sa/web"],
            "spiffe-client",
            true,
        ),
        (vec!["--allow-uri", "spiffe://tlsbox.test/ns/*/sa/web"], "client", false),
        (vec!["--allow-uri", "spiffe://tlsbox.test/**"], "spiffe-client", true),
        (vec!["--allow-spki-pin", &client_pin], "client", true),
        (vec!["--allow-spki-pin", &client_pin], "spiffe-client", false),
        (vec!["--allow-all"], "spiffe-client", true),
    ];
    for (rule, client, allowed) in cases {
        let before = backend.connection_count();
        let mut args = vec!["--cacert", ca.as_str()];
        args.extend(&rule);
        let server = Proxy::server(home.path(), &backend.address(), &args);
        let out = openssl_client(server.port, Some(client), &["-quiet"], b"let me in\n");
        if allowed {
            assert!(out.contains("bye"), "{rule:?} {client}: {out}");
            assert_eq!(backend.connection_count(), before + 1);
        } else {
            assert!(out.contains("access denied"), "{rule:?} {client}: {out}");
            server.wait_for_log("client refused", 1);
            assert!(server.log().contains("no allow rule matched"), "{}", server.log());
            assert_eq!(
                backend.connection_count(),
                before,
                "{rule:?}: a refused client reached the backend"
            );
        }
    }
    // No certificate at all: refused, unless authentication is disabled.
    let server = Proxy::server(home.path(), &backend.address(), &["--cacert", &ca, "--allow-all"]);
    let before = backend.connection_count();
    let out = openssl_client(server.port, None, &["-quiet"], b"anyone?\n");
    assert!(out.contains("certificate required"), "{out}");
    assert_eq!(backend.connection_count(), before);
    // An untrusted client certificate: refused by the chain, not a rule.
    let out = openssl_client(server.port, Some("untrusted"), &["-quiet"], b"anyone?\n");
    assert!(out.contains("alert"), "{out}");
    assert_eq!(backend.connection_count(), before);
}

#[test]
fn sni_picks_the_certificate_and_alpn_is_negotiated() {
    require("openssl");
    let home = tempfile::tempdir().unwrap();
    let backend = Backend::start(BackendMode::Echo);
    let (other_cert, other_key) = (pki("other-server.pem"), pki("other-server.key"));
    let server = Proxy::server(
        home.path(),
        &backend.address(),
        &[
            "--disable-authentication",
            "--cert",
            &other_cert,
            "--key",
            &other_key,
            "--alpn",
            "h2,http/1.1",
        ],
    );
    let other = openssl_client(
        server.port,
        None,
        &["-servername", "other.test", "-alpn", "http/1.1"],
        b"",
    );
    assert!(
        other.contains("subject=CN = other.test") || other.contains("subject=CN=other.test"),
        "{other}"
    );
    assert!(other.contains("Verification: OK"), "{other}");
    assert!(other.contains("ALPN protocol: http/1.1"), "{other}");
    let default = openssl_client(server.port, None, &["-alpn", "h2,http/1.1"], b"");
    assert!(
        default.contains("subject=CN = localhost") || default.contains("subject=CN=localhost"),
        "{default}"
    );
    assert!(default.contains("ALPN protocol: h2"), "{default}");
}

#[test]
fn unix_sockets_on_both_sides() {
    use std::os::unix::net::{UnixListener, UnixStream};
    let home = tempfile::tempdir().unwrap();
    let backend_path = home.path().join("backend.sock");
    let backend = UnixListener::bind(&backend_path).unwrap();
    std::thread::spawn(move || {
        for stream in backend.incoming() {
            let mut stream = stream.unwrap();
            let mut line = [0u8; 64];
            let n = stream.read(&mut line).unwrap();
            stream.write_all(b"unix backend got: ").unwrap();
            stream.write_all(&line[..n]).unwrap();
        }
    });
    let server = Proxy::server(
        home.path(),
        &format!("unix:{}", backend_path.display()),
        &["--disable-authentication"],
    );
    // The client listens on a UNIX socket; its status port says when it is up.
    let client_path = home.path().join("client.sock");
    let status_port = free_port();
    let mut cmd = tlsbox(home.path());
    cmd.args(["client", "--listen", &format!("unix:{}", client_path.display())])
        .args([
            "--target",
            &format!("localhost:{}", server.port),
            "--cacert",
            &pki("ca.pem"),
        ])
        .args(["--status", &format!("127.0.0.1:{status_port}")]);
    let _client = Proxy::spawn(home.path(), cmd, status_port);
    let mut conn = UnixStream::connect(&client_path).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    conn.write_all(b"over unix\n").unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "unix backend got: over unix\n");
}
