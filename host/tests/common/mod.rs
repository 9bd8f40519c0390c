//! Running the `tlsbox` binary in CLI tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;
use std::process::Command;

pub(crate) use tlsbox_test_support::*;

/// The `tlsbox` binary, with its caches and data under `home`.
pub(crate) fn tlsbox(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tlsbox"));
    cmd.env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("TLSBOX_LOG", "info");
    cmd
}

/// `tlsbox server --listen 127.0.0.1:<free port>` plus `args`, accepting.
pub(crate) fn tlsbox_server(home: &Path, args: &[&str]) -> Proxy {
    Proxy::start(home, "server", args)
}

/// A `tlsbox` listener process whose log goes to a file the test can read.
pub(crate) struct Proxy {
    pub(crate) port: u16,
    pub(crate) child: std::process::Child,
    pub(crate) log: std::path::PathBuf,
}

impl Proxy {
    /// `tlsbox <mode> --listen 127.0.0.1:<free port>` plus `args`, accepting.
    pub(crate) fn start(home: &Path, mode: &str, args: &[&str]) -> Self {
        let port = free_port();
        let mut cmd = tlsbox(home);
        cmd.args([mode, "--listen", &format!("127.0.0.1:{port}")]).args(args);
        Self::spawn(home, cmd, port)
    }

    /// `tlsbox client` in front of a server on `server_port`, trusting the
    /// test CA: plaintext in, TLS out (the strictest client we have: byte
    /// counts, half-close, close_notify).
    pub(crate) fn client_for(home: &Path, server_port: u16) -> Self {
        let target = format!("localhost:{server_port}");
        Self::start(home, "client", &["--target", &target, "--cacert", &pki("ca.pem")])
    }

    /// [`Proxy::server`] with a status endpoint, once both say they are ready;
    /// its port.
    pub(crate) fn server_with_status(home: &Path, target: &str, args: &[&str]) -> (Self, u16) {
        let status_port = free_port();
        let status = format!("127.0.0.1:{status_port}");
        let mut all = vec!["--status", status.as_str()];
        all.extend_from_slice(args);
        let server = Self::server(home, target, &all);
        server.wait_for_announcement(status_port);
        (server, status_port)
    }

    /// `tlsbox server` with the P-256 test certificate, forwarding to `target`.
    pub(crate) fn server(home: &Path, target: &str, args: &[&str]) -> Self {
        let (cert, key) = (pki("ecdsa-p256.pem"), pki("ecdsa-p256.key"));
        let mut all = vec!["--target", target, "--cert", &cert, "--key", &key];
        all.extend_from_slice(args);
        Self::start(home, "server", &all)
    }

    /// Run `cmd` (which listens on `port`) with its log in `home`.
    ///
    /// Unless the test chose a log level, the proxy logs at trace; when it
    /// is dropped, every line is searched for the test PIN and for any 32
    /// bytes of the session secrets the peers logged
    /// ([`tlsbox_test_support::leaks`]). It is also given an
    /// `SSLKEYLOGFILE`, which it must ignore.
    pub(crate) fn spawn(home: &Path, mut cmd: Command, port: u16) -> Self {
        // One compiled box for all the proxy tests.
        cmd.env("XDG_CACHE_HOME", concat!(env!("CARGO_TARGET_TMPDIR"), "/cache"));
        let default_level = cmd
            .get_envs()
            .any(|(k, v)| k == "TLSBOX_LOG" && v == Some("info".as_ref()));
        if default_level {
            cmd.env("TLSBOX_LOG", "trace");
        }
        cmd.env("SSLKEYLOGFILE", home.join(format!("sslkeylog-{port}")));
        let log = home.join(format!("tlsbox-{port}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        let announces = !cmd
            .get_envs()
            .any(|(k, v)| k == "TLSBOX_LOG" && matches!(v.and_then(|v| v.to_str()), Some("warn" | "error" | "off")));
        let mut proxy = Self { port, child, log };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        // The process's own "ready" line for this address says it listens
        // and that the port is ours (it was free when chosen, but another
        // process may have taken it since), without a probe connection that
        // would take one of the proxy's connection slots and log a failed
        // handshake the test did not make. Only a quiet log needs the probe.
        let listening = |proxy: &Self| {
            if announces {
                proxy.announced(port)
            } else {
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            }
        };
        while !listening(&proxy) {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!("tlsbox exited ({status}) before accepting: {}", proxy.log());
            }
            assert!(std::time::Instant::now() < deadline, "not listening: {}", proxy.log());
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        proxy
    }

    /// Wait up to 30 s for `done`; past that, fail with `what` and the log.
    fn wait_until(&self, what: &str, done: impl Fn(&Self) -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !done(self) {
            assert!(std::time::Instant::now() < deadline, "{what}: {}", self.log());
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Wait until the log has a "ready" line for 127.0.0.1:`port`.
    pub(crate) fn wait_for_announcement(&self, port: u16) {
        self.wait_until(&format!("nothing ready on {port}"), |p| p.announced(port));
    }

    /// Whether the log has a "ready" line for a listener or the status
    /// endpoint on 127.0.0.1:`port` (text or JSON log); a line naming it as
    /// a target does not count.
    fn announced(&self, port: u16) -> bool {
        let fields = ["listen", "status"].map(|key| {
            [
                format!("{key}=127.0.0.1:{port}"),
                format!("\"{key}\":\"127.0.0.1:{port}"),
            ]
        });
        self.log().lines().filter(|l| l.contains(" ready")).any(|l| {
            fields.iter().flatten().any(|field| {
                l.match_indices(field.as_str())
                    .any(|(at, _)| !l[at + field.len()..].starts_with(|c: char| c.is_ascii_digit()))
            })
        })
    }

    /// The log so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until the log contains `needle` `count` times.
    pub(crate) fn wait_for_log(&self, needle: &str, count: usize) {
        self.wait_until(&format!("no {needle:?} in the log"), |p| {
            p.log().matches(needle).count() >= count
        });
    }

    /// Send a signal (`HUP`, `TERM`…) to the process.
    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            return;
        }
        let log = std::fs::read(&self.log).unwrap_or_default();
        let text = String::from_utf8_lossy(&log);
        assert!(
            !text.contains(tlsbox_test_support::softhsm::PIN),
            "the token PIN is in the log of the proxy on port {}",
            self.port
        );
        let secrets = tlsbox_test_support::leaks::logged_secrets();
        eprintln!(
            "leak scan: {} log bytes of the proxy on port {} against {} session secrets",
            log.len(),
            self.port,
            secrets.len()
        );
        if let Some(line) = tlsbox_test_support::leaks::find(&log, &secrets) {
            panic!(
                "a session secret is in the log of the proxy on port {}: {line}",
                self.port
            );
        }
        let sslkeylog = self.log.with_file_name(format!("sslkeylog-{}", self.port));
        assert!(!sslkeylog.exists(), "tlsbox wrote to SSLKEYLOGFILE");
    }
}

/// A key log for the box's TLS core run natively as a test peer (its
/// test-only `insecure-key-log-for-tests`): appends NSS key log lines to this
/// process's [`tlsbox_test_support::leaks::key_log_file`].
#[derive(Debug)]
pub(crate) struct TestKeyLog;

impl tlsbox_host::core::rustls::KeyLog for TestKeyLog {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        use std::io::Write;
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let line = format!("{label} {} {}\n", hex(client_random), hex(secret));
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(tlsbox_test_support::leaks::key_log_file())
            .unwrap();
        file.write_all(line.as_bytes()).unwrap();
    }
}

/// How a test backend behaves.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BackendMode {
    /// Echo every byte; at end of stream write `<eof>` and close. A request
    /// starting with `GET ` gets a small HTTP page instead.
    Echo,
    /// As `Echo`, but close after echoing a read that ends a line (for
    /// clients that wait for the server to close, like `openssl s_client
    /// -quiet`).
    EchoLine,
    /// Write `bye` and close at once, reading nothing.
    Greet,
}

/// A plaintext backend on loopback that records what reached it.
pub(crate) struct Backend {
    pub(crate) port: u16,
    /// Connections accepted.
    pub(crate) connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// The first bytes (up to 512) of each connection.
    pub(crate) received: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

/// The page the backend serves to `GET`.
pub(crate) const BACKEND_PAGE: &str = "hello from the backend";

impl Backend {
    pub(crate) fn start(mode: BackendMode) -> Self {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (c, r) = (connections.clone(), received.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let r = r.clone();
                std::thread::spawn(move || {
                    if let BackendMode::Greet = mode {
                        let _ = stream.write_all(b"bye\n");
                        return;
                    }
                    let mut first = Vec::new();
                    let mut head = Vec::new();
                    let mut buf = vec![0u8; 64 * 1024];
                    let slot = {
                        let mut all = r.lock().unwrap();
                        all.push(Vec::new());
                        all.len() - 1
                    };
                    loop {
                        let n = match stream.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if first.len() < 512 {
                            first.extend_from_slice(&buf[..n.min(512 - first.len())]);
                            r.lock().unwrap()[slot] = first.clone();
                        }
                        if first.starts_with(b"GET ") {
                            head.extend_from_slice(&buf[..n]);
                            if head.windows(4).any(|w| w == b"\r\n\r\n") {
                                let page = format!("<html><body><p>{BACKEND_PAGE}</p></body></html>");
                                let _ = write!(
                                    stream,
                                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                                    page.len()
                                );
                                return;
                            }
                            continue;
                        }
                        if stream.write_all(&buf[..n]).is_err() {
                            return;
                        }
                        if matches!(mode, BackendMode::EchoLine) && buf[..n].ends_with(b"\n") {
                            return;
                        }
                    }
                    let _ = stream.write_all(b"<eof>");
                });
            }
        });
        Self {
            port,
            connections,
            received,
        }
    }

    /// `127.0.0.1:<port>`.
    pub(crate) fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Connections accepted so far.
    pub(crate) fn connection_count(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The test PKI's path as a string.
pub(crate) fn pki(name: &str) -> String {
    pki_path(name).to_string_lossy().into_owned()
}

/// The body of `GET path` on a plain-HTTP port (the status endpoint),
/// asserting a 200.
pub(crate) fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

/// Headless Chromium's DOM of `url`, with the flags this machine needs (no
/// network, no session bus) and a fresh profile under `home`, plus `extra`.
pub(crate) fn chromium_dump_dom(home: &Path, extra: &[String], url: &str) -> std::process::Output {
    let profile = home.join("chromium-profile");
    run(
        Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
            ])
            .args([
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .arg(format!("--ssl-key-log-file={}", leaks::key_log_file().display()))
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .args(["--dump-dom", url]),
        b"",
        std::time::Duration::from_secs(60),
    )
}

/// Through `keys` (a `tlsbox keys <args>` runner), generate a P-256 key
/// labelled `label` in the token `token` (a `pkcs11:` URI) and a
/// self-signed certificate for localhost written to `cert` (and stored on
/// the token too with `import`); returns the key's URI.
pub(crate) fn token_key(mut keys: impl FnMut(&[&str]), token: &str, label: &str, cert: &Path, import: bool) -> String {
    keys(&["generate", "--token", token, "--label", label, "--algorithm", "p256"]);
    let key = format!("{token};object={label}");
    let out = cert.to_str().unwrap();
    let mut self_sign = vec!["self-sign", "--key", &key, "--name", "localhost", "--out", out];
    if import {
        self_sign.push("--import");
    }
    keys(&self_sign);
    key
}

/// `tlsbox keys <args>` against the test SoftHSM2 module with `pin` in
/// PKCS11_PIN; asserts success and returns the output.
pub(crate) fn tlsbox_keys(home: &Path, pin: &str, args: &[&str]) -> std::process::Output {
    let hsm = tlsbox_test_support::softhsm::get();
    let out = tlsbox(home)
        .arg("keys")
        .args(args)
        .arg("--pkcs11-module")
        .arg(&hsm.module)
        .env("PKCS11_PIN", pin)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    out
}
