//! Running the proxy: reload on SIGHUP, limits, graceful shutdown, the
//! status endpoint, the config file, PROXY protocol v2.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// A line through a plaintext connection and its echo back.
fn echo(conn: &mut TcpStream, line: &str) {
    conn.write_all(line.as_bytes()).unwrap();
    let mut back = vec![0u8; line.len()];
    conn.read_exact(&mut back).unwrap();
    assert_eq!(String::from_utf8_lossy(&back), line);
}

fn connect(port: u16) -> TcpStream {
    let conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    conn
}

fn subject(out: &str) -> &str {
    out.lines()
        .find(|l| l.starts_with("subject="))
        .unwrap_or_else(|| panic!("no subject in {out}"))
}

#[test]
fn sighup_reloads_certificates_without_dropping_live_connections() {
    require("openssl");
    let home = tempfile::tempdir().unwrap();
    let (cert, key) = (home.path().join("cert.pem"), home.path().join("key.pem"));
    std::fs::copy(pki_path("ecdsa-p256.pem"), &cert).unwrap();
    std::fs::copy(pki_path("ecdsa-p256.key"), &key).unwrap();
    let backend = Backend::start(BackendMode::Echo);
    let server = Proxy::start(
        home.path(),
        "server",
        &[
            "--target",
            &backend.address(),
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--disable-authentication",
        ],
    );
    let client = Proxy::client_for(home.path(), server.port);
    let mut live = connect(client.port);
    echo(&mut live, "before the reload\n");

    std::fs::copy(pki_path("other-server.pem"), &cert).unwrap();
    std::fs::copy(pki_path("other-server.key"), &key).unwrap();
    server.signal("HUP");
    server.wait_for_log("configuration reloaded", 1);
    let fresh = s_client(server.port, &pki_path("ca.pem"), &["-servername", "other.test"], b"");
    assert!(subject(&fresh).contains("other.test"), "{fresh}");
    echo(&mut live, "after the reload\n");

    // A reload that fails keeps the running configuration.
    std::fs::write(&cert, "not a certificate").unwrap();
    server.signal("HUP");
    server.wait_for_log("reload failed; keeping the running configuration", 1);
    let fresh = s_client(server.port, &pki_path("ca.pem"), &["-servername", "other.test"], b"");
    assert!(subject(&fresh).contains("other.test"), "{fresh}");
    echo(&mut live, "after a failed reload\n");
}

fn metric(scrape: &prometheus_parse::Scrape, name: &str, label: Option<(&str, &str)>) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

fn scrape(port: u16) -> prometheus_parse::Scrape {
    let text = http_get(port, "/_metrics");
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
}

#[test]
fn status_and_metrics_follow_the_traffic() {
    require("openssl");
    let home = tempfile::tempdir().unwrap();
    let backend = Backend::start(BackendMode::EchoLine);
    let (server, status_port) =
        Proxy::server_with_status(home.path(), &backend.address(), &["--disable-authentication"]);
    let before = scrape(status_port);
    assert_eq!(metric(&before, "tlsbox_handshakes_ok_total", None), 0.0);

    let out = s_client(server.port, &pki_path("ca.pem"), &["-quiet"], b"count me\n");
    assert!(out.contains("count me"), "{out}");
    let _ = s_client(server.port, &pki_path("untrusted-ca.pem"), &[], b"");
    server.wait_for_log("handshake failed", 1);

    let after = scrape(status_port);
    assert_eq!(metric(&after, "tlsbox_handshakes_ok_total", None), 1.0);
    assert_eq!(
        metric(&after, "tlsbox_bytes_total", Some(("direction", "from_tls"))),
        9.0
    );
    assert_eq!(metric(&after, "tlsbox_bytes_total", Some(("direction", "to_tls"))), 9.0);
    assert!(metric(&after, "tlsbox_handshakes_failed_total", None) >= 1.0);
    assert_eq!(metric(&after, "tlsbox_handshake_duration_seconds_count", None), 1.0);
    assert_eq!(metric(&after, "tlsbox_keystore_sign_duration_seconds_count", None), 2.0);
    assert_eq!(metric(&after, "tlsbox_config_generation", None), 1.0);
    assert_eq!(metric(&after, "tlsbox_guest_traps_total", None), 0.0);

    let status: serde_json::Value = serde_json::from_str(&http_get(status_port, "/_status")).unwrap();
    assert_eq!(status["ok"], true, "{status}");
    assert_eq!(status["generation"], 1);
    let listener = &status["listeners"][0];
    assert_eq!(listener["role"], "server");
    assert_eq!(listener["certificates"][0]["subject"], "CN=localhost");
    assert!(listener["certificates"][0]["expires_in_seconds"].as_i64().unwrap() > 0);
    assert!(listener["token_reachable"].is_null());
}

#[test]
fn connection_limits_and_stalled_handshakes() {
    let home = tempfile::tempdir().unwrap();
    let backend = Backend::start(BackendMode::Echo);
    let (server, status_port) = Proxy::server_with_status(
        home.path(),
        &backend.address(),
        &[
            "--disable-authentication",
            "--max-concurrent-conns",
            "2",
            "--handshake-timeout",
            "2",
        ],
    );
    // Two clients that never send a ClientHello hold both slots…
    let mut stalled = [connect(server.port), connect(server.port)];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !http_get(status_port, "/_metrics")
        .lines()
        .any(|l| l.starts_with("tlsbox_active_connections{") && l.ends_with(" 2"))
    {
        assert!(
            Instant::now() < deadline,
            "the two stalled connections were never both active"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // …so the third is closed at once.
    let mut third = connect(server.port);
    let start = Instant::now();
    let mut buf = [0u8; 16];
    assert!(matches!(third.read(&mut buf), Ok(0) | Err(_)));
    assert!(start.elapsed() < Duration::from_secs(2), "the refusal waited");
    server.wait_for_log("refused: too many connections", 1);
    // The stalled ones are dropped after the handshake timeout.
    for conn in &mut stalled {
        assert!(matches!(conn.read(&mut buf), Ok(0) | Err(_)));
    }
    server.wait_for_log("handshake timed out", 2);
    // And the slots are free again.
    let client = Proxy::client_for(home.path(), server.port);
    echo(&mut connect(client.port), "room again\n");
}

#[test]
fn sigterm_lets_a_live_connection_finish_then_exits_zero() {
    let home = tempfile::tempdir().unwrap();
    let backend = Backend::start(BackendMode::Echo);
    let mut server = Proxy::server(home.path(), &backend.address(), &["--disable-authentication"]);
    let client = Proxy::client_for(home.path(), server.port);
    let mut live = connect(client.port);
    echo(&mut live, "first\n");
    server.signal("TERM");
    server.wait_for_log("shutting down", 1);
    // No new connections…
    assert!(TcpStream::connect(("127.0.0.1", server.port)).is_err());
    // …but the live one goes on until its client is done.
    echo(&mut live, "still here\n");
    assert!(server.child.try_wait().unwrap().is_none());
    live.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    live.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"<eof>");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running: {}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{}", server.log());
    assert!(server.log().contains("all connections finished"), "{}", server.log());
}

#[test]
fn a_config_file_runs_several_listeners_and_flags_override_it() {
    require("openssl");
    let home = tempfile::tempdir().unwrap();
    let backend = Backend::start(BackendMode::Echo);
    let (p1, p2, p3) = (free_port(), free_port(), free_port());
    let (cert, key, ca) = (pki("ecdsa-p256.pem"), pki("ecdsa-p256.key"), pki("ca.pem"));
    let config = home.path().join("tlsbox.toml");
    std::fs::write(
        &config,
        format!(
            r#"log-format = "json"

[[server]]
listen = "127.0.0.1:{p1}"
target = "{backend}"
cert = "{cert}"
key = "{key}"
disable-authentication = true
alpn = ["http/1.1"]

[[server]]
listen = "127.0.0.1:{p2}"
cert = "{cert}"
key = "{key}"

[[client]]
listen = "127.0.0.1:{p3}"
target = "localhost:{p1}"
cacert = "{ca}"
"#,
            backend = backend.address()
        ),
    )
    .unwrap();
    let mut cmd = tlsbox(home.path());
    cmd.args(["server", "--config", config.to_str().unwrap(), "--alpn", "h2"]);
    let proxy = Proxy::spawn(home.path(), cmd, p3);
    proxy.wait_for_announcement(p1);
    proxy.wait_for_announcement(p2);

    echo(&mut connect(p3), "through two listeners\n");
    let out = s_client(p1, &pki_path("ca.pem"), &["-alpn", "h2,http/1.1"], b"");
    assert!(
        out.contains("ALPN protocol: h2"),
        "the flag did not override the file: {out}"
    );
    let page = s_client(
        p2,
        &pki_path("ca.pem"),
        &[],
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert!(page.contains("version: TLSv1.3"), "{page}");
    let log = proxy.log();
    let first = log.lines().next().unwrap();
    let parsed: serde_json::Value = serde_json::from_str(first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert!(parsed["fields"]["message"].is_string(), "{first}");

    std::fs::write(&config, "[[server]]\nbogus = 1\n").unwrap();
    let out = tlsbox(home.path())
        .args(["server", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("[[server]] #1") && text(&out).contains("--bogus"),
        "{}",
        text(&out)
    );
}

/// A hand-made PROXY v2 header: TCP over IPv4 from `src` to 127.0.0.1:443.
fn proxy_v2_header(src: [u8; 4], port: u16) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&[127, 0, 0, 1]);
    h.extend_from_slice(&port.to_be_bytes());
    h.extend_from_slice(&443u16.to_be_bytes());
    h
}

/// A one-connection TCP relay that puts `header` first: a load balancer.
fn balancer(header: Vec<u8>, upstream: u16) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut down, _) = listener.accept().unwrap();
        let mut up = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
        up.write_all(&header).unwrap();
        let (mut down2, mut up2) = (down.try_clone().unwrap(), up.try_clone().unwrap());
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut up2, &mut down2);
            let _ = down2.shutdown(Shutdown::Write);
        });
        let _ = std::io::copy(&mut down, &mut up);
        let _ = up.shutdown(Shutdown::Write);
    });
    port
}

#[test]
fn proxy_protocol_v2_carries_the_client_both_ways() {
    require("openssl");
    let home = tempfile::tempdir().unwrap();
    let backend = Backend::start(BackendMode::EchoLine);
    let ca = pki("ca.pem");
    let server = Proxy::server(
        home.path(),
        &backend.address(),
        &[
            "--cacert",
            &ca,
            "--allow-cn",
            "client.test",
            "--proxy-protocol",
            "--proxy-protocol-in",
        ],
    );
    let front = balancer(proxy_v2_header([203, 0, 113, 9], 4321), server.port);
    let out = Command::new("openssl")
        .arg("s_client")
        .arg("-keylogfile")
        .arg(leaks::key_log_file())
        .args(["-connect", &format!("127.0.0.1:{front}"), "-servername", "localhost"])
        .args([
            "-CAfile",
            &ca,
            "-cert",
            &pki("client.pem"),
            "-key",
            &pki("client.key"),
            "-quiet",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = {
        let mut out = out;
        out.stdin.take().unwrap().write_all(b"hello\n").unwrap();
        out.wait_with_output().unwrap()
    };
    assert!(text(&out).contains("hello"), "{}", text(&out));
    server.wait_for_log("203.0.113.9:4321", 1);
    let received = backend.received.lock().unwrap()[0].clone();
    assert!(received.starts_with(b"\r\n\r\n\0\r\nQUIT\n\x21\x11"), "{received:?}");
    // Source 203.0.113.9:4321 as the balancer said, then the TLVs.
    assert_eq!(&received[16..20], &[203, 0, 113, 9]);
    assert_eq!(&received[24..26], &4321u16.to_be_bytes());
    assert!(received.windows(11).any(|w| w == b"client.test"), "no client CN TLV");
    assert!(received.windows(7).any(|w| w == b"TLSv1.3"), "no version TLV");
    assert!(received.windows(9).any(|w| w == b"localhost"), "no authority TLV");
    assert!(received.ends_with(b"hello\n"));
}
