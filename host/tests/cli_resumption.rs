//! `tlsbox server` and session resumption: tickets keyed in the token
//! (resumed handshakes cost no signature, as its metrics show), no tickets
//! when the key is a file, with --no-tickets or with client certificates,
//! and KeyUpdate after a byte count.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

mod common;

use common::*;
use tlsbox_test_support::softhsm;

/// The value of the metric line starting with `name` (labels included).
fn metric(status_port: u16, name: &str) -> f64 {
    let text = http_get(status_port, "/_metrics");
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .parse()
        .unwrap()
}

/// `openssl s_client` asking for the built-in page; it waits for the
/// server to close (after the page), so every ticket has arrived by then.
fn s_client_to(port: u16, ca: &std::path::Path, extra: &[&str]) -> String {
    let mut args = vec!["-ign_eof"];
    args.extend_from_slice(extra);
    s_client(port, ca, &args, b"GET / HTTP/1.0\r\n\r\n")
}

/// A P-256 key `label` made in the test token, with its self-signed
/// certificate: the key's URI and the certificate file.
fn token_identity(home: &std::path::Path, label: &str) -> (String, std::path::PathBuf) {
    let token = format!("pkcs11:token={}", softhsm::TOKEN);
    let keys = |args: &[&str]| {
        tlsbox_keys(home, softhsm::PIN, args);
    };
    let cert = home.join(format!("{label}.pem"));
    (token_key(keys, &token, label, &cert, false), cert)
}

/// `tlsbox server` (built-in page) with the token key `key` and `extra`
/// flags, accepting.
fn token_server(home: &std::path::Path, key: &str, cert: &std::path::Path, extra: &[&str]) -> Proxy {
    let port = free_port();
    let mut cmd = tlsbox(home);
    cmd.args(["server", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--key", key, "--cert", cert.to_str().unwrap()])
        .arg("--pkcs11-module")
        .arg(&softhsm::get().module)
        .args(extra)
        .env("PKCS11_PIN", softhsm::PIN);
    Proxy::spawn(home, cmd, port)
}

#[test]
fn openssl_resumes_from_a_token_keyed_ticket_and_the_token_signs_once() {
    require("openssl");
    let home = tempfile::tempdir().unwrap();
    let (key, cert) = token_identity(home.path(), "tickets");
    let status_port = free_port();
    let status = format!("127.0.0.1:{status_port}");
    let server = token_server(
        home.path(),
        &key,
        &cert,
        &[
            "--disable-authentication",
            "--status",
            &status,
            "--ticket-rotation",
            "6h",
            "--tickets-per-handshake",
            "3",
        ],
    );
    let port = server.port;
    server.wait_for_announcement(status_port);
    assert!(server.log().contains("session tickets on"), "{}", server.log());

    let session = home.path().join("s.sess");
    let session = session.to_str().unwrap();
    let first = s_client_to(port, &cert, &["-sess_out", session]);
    assert!(first.contains("New, TLSv1.3"), "{first}");
    assert_eq!(
        first.matches("Post-Handshake New Session Ticket arrived").count(),
        3,
        "{first}"
    );
    assert!(first.contains("lifetime hint: 21600 (seconds)"), "{first}");
    let second = s_client_to(port, &cert, &["-sess_in", session]);
    assert!(second.contains("Reused, TLSv1.3"), "{second}");
    assert!(second.contains("resumed: true"), "the page says so: {second}");

    assert_eq!(metric(status_port, "tlsbox_keystore_sign_duration_seconds_count"), 1.0);
    assert_eq!(metric(status_port, "tlsbox_handshakes_resumed_total"), 1.0);
    assert_eq!(
        metric(status_port, "tlsbox_keystore_ticket_key_transfer_errors_total"),
        0.0
    );
    // One transfer per box: the first sealed tickets, the second opened one.
    assert_eq!(
        metric(
            status_port,
            "tlsbox_keystore_ticket_key_transfer_duration_seconds_count"
        ),
        2.0
    );
}

#[test]
fn a_key_in_a_file_or_no_tickets_means_no_ticket_and_the_log_says_why() {
    require("openssl");
    let home = tempfile::tempdir().unwrap();
    let backend = Backend::start(BackendMode::EchoLine);
    let server = Proxy::server(home.path(), &backend.address(), &["--disable-authentication"]);
    server.wait_for_log("session tickets off: the key is a file", 1);
    // The backend answers the line and closes: every ticket would be in.
    let out = s_client(server.port, &pki_path("ca.pem"), &["-ign_eof"], b"ping\n");
    assert!(out.contains("New, TLSv1.3"), "{out}");
    assert!(!out.contains("New Session Ticket"), "{out}");

    let (key, cert) = token_identity(home.path(), "off");
    let server = token_server(home.path(), &key, &cert, &["--disable-authentication", "--no-tickets"]);
    let port = server.port;
    let out = s_client_to(port, &cert, &[]);
    assert!(out.contains("New, TLSv1.3"), "{out}");
    assert!(!out.contains("New Session Ticket"), "{out}");
    assert!(!server.log().contains("session tickets on"), "{}", server.log());

    // With client certificates: a resumed session would not verify them
    // again, so no tickets.
    let server = token_server(home.path(), &key, &cert, &["--cacert", &pki("ca.pem")]);
    server.wait_for_log(
        "session tickets off: client certificates are verified on every handshake",
        1,
    );
    assert!(!server.log().contains("session tickets on"), "{}", server.log());
}

#[test]
fn key_update_after_a_byte_count_refreshes_the_keys_and_loses_nothing() {
    require("openssl");
    let home = tempfile::tempdir().unwrap();
    let backend = Backend::start(BackendMode::EchoLine);
    let server = Proxy::server(
        home.path(),
        &backend.address(),
        &["--disable-authentication", "--key-update-after", "8192"],
    );
    let mut line: Vec<u8> = (0..64 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    line.push(b'\n');
    let out = s_client(server.port, &pki_path("ca.pem"), &["-msg", "-ign_eof"], &line);
    // 64 KiB and a newline back from the server: a KeyUpdate after every
    // 8 KiB, exactly.
    let updates = out.matches("<<< TLS 1.3, Handshake [length 0005], KeyUpdate").count();
    assert_eq!(updates, 8, "KeyUpdates from the server");
    // The message trace splits the data: check it on a quiet run.
    let out = s_client(server.port, &pki_path("ca.pem"), &["-quiet"], &line);
    assert!(
        out.contains(std::str::from_utf8(&line[..64 * 1024]).unwrap()),
        "the echo came back whole: {} bytes",
        out.len()
    );
}
