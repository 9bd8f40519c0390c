//! Helpers for tests that talk to real TLS peers (openssl, gnutls-cli,
//! curl) over real sockets, and the paths of the checked-in test PKI.
//! No tlsbox dependency, so the host's CLI tests can use it too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod leaks;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// `tests/test-ca/<name>`.
pub fn pki_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("test-ca")
        .join(name)
}

/// Whether `tool` is on the PATH.
pub fn installed(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Panic with a clear message if a peer tool is missing (the README's test
/// command installs them).
pub fn require(tool: &str) {
    assert!(
        installed(tool),
        "{tool} is not installed: run the README's test command (tests/run.sh), which installs it"
    );
}

/// Run `cmd` with `stdin` fed in, killing it after `timeout`.
pub fn run(cmd: &mut Command, stdin: &[u8], timeout: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    let pid = child.id();
    let guard = std::thread::spawn(move || {
        std::thread::sleep(timeout);
        let _ = Command::new("kill").arg(pid.to_string()).status();
    });
    // Keep stdin open briefly so the tool sends its data before seeing EOF.
    std::thread::sleep(Duration::from_millis(300));
    drop(input);
    let out = child.wait_with_output().unwrap();
    drop(guard);
    out
}

/// A free TCP port on 127.0.0.1 for a server a test starts, never one this
/// process handed out before.
///
/// Between this probe and the server's own bind the port is unheld, so it
/// is taken from below the system's ephemeral range where there is room:
/// the kernel picks the local port of every outgoing `connect()` (the
/// tests' clients make thousands) and of every `bind(…:0)` from that range,
/// and once handed such a port, the server's bind failed with "Address
/// already in use". Below it, only another explicit bind can take it. The
/// starting point depends on the process ID, so two test processes at once
/// usually start far apart.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let bindable = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    if let Some(below) = ports_below_ephemeral_range() {
        let span = u32::from(below.end - below.start);
        let offset = std::process::id().wrapping_mul(7919).wrapping_add(given.len() as u32);
        for step in 0..span {
            let port = below.start + (offset.wrapping_add(step) % span) as u16;
            if !given.contains(&port) && bindable(port) {
                given.push(port);
                return port;
            }
        }
    }
    // No room below the range: whatever the kernel gives.
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// At least a thousand ports from 10000 up to the first of
/// `net.ipv4.ip_local_port_range` (Linux), if there are that many.
fn ports_below_ephemeral_range() -> Option<std::ops::Range<u16>> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let first: u16 = range.split_whitespace().next()?.parse().ok()?;
    (first >= 11_000).then_some(10_000..first)
}

/// Wait until something accepts on `port`.
pub fn wait_for_port(port: u16) {
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("nothing listens on port {port} after 30 s");
}

/// stdout and stderr of a finished command, as one text.
pub fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `openssl s_client` to `127.0.0.1:port` for `localhost`, verifying the
/// chain against `ca` (failing on any verification error), with `extra`
/// flags, sending `stdin`. Returns everything it printed.
///
/// With something to send, it reads until the server closes (`-ign_eof`);
/// against a server that waits for the client's end of stream (an echo),
/// pass `-no_ign_eof`, or it runs until `run`'s 30 s limit.
pub fn s_client(port: u16, ca: &std::path::Path, extra: &[&str], stdin: &[u8]) -> String {
    require("openssl");
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_client",
        "-connect",
        &format!("127.0.0.1:{port}"),
        "-servername",
        "localhost",
    ])
    .args(["-verify_return_error", "-CAfile"])
    .arg(ca)
    .arg("-keylogfile")
    .arg(leaks::key_log_file())
    .args(extra);
    // Without it s_client quits at the end of its input even while the
    // answer is on its way, and `run` ends that input after 300 ms: a
    // handshake slower than that (a loaded machine, a token) lost the
    // answer.
    let chose = ["-quiet", "-ign_eof", "-no_ign_eof"];
    if !stdin.is_empty() && !extra.iter().any(|a| chose.contains(a)) {
        cmd.arg("-ign_eof");
    }
    text(&run(&mut cmd, stdin, Duration::from_secs(30)))
}

/// A server process listening on `port`, killed on drop.
pub struct ServerProcess {
    /// Where it listens, on 127.0.0.1.
    pub port: u16,
    child: std::process::Child,
}

impl ServerProcess {
    /// Start `cmd` (which must listen on 127.0.0.1:`port`) and wait until it accepts.
    pub fn spawn(cmd: &mut Command, port: u16) -> Self {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(port);
        Self { port, child }
    }

    /// `openssl s_server -www` on a free port with the test PKI's `stem`
    /// certificate and key, plus `flags`.
    pub fn openssl(stem: &str, flags: &[&str]) -> Self {
        require("openssl");
        let port = free_port();
        let mut cmd = Command::new("openssl");
        cmd.args(["s_server", "-accept", &format!("127.0.0.1:{port}"), "-www"])
            .args(flags)
            .arg("-cert")
            .arg(pki_path(&format!("{stem}.pem")))
            .arg("-key")
            .arg(pki_path(&format!("{stem}.key")))
            .arg("-keylogfile")
            .arg(leaks::key_log_file());
        Self::spawn(&mut cmd, port)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A SoftHSM2 token store of this test process's own, in a temporary
/// directory (SOFTHSM2_CONF points there, for this process and its
/// children). Two initialised tokens: [`softhsm::TOKEN`] and
/// [`softhsm::SECOND_TOKEN`], both with user PIN [`softhsm::PIN`].
pub mod softhsm {
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::OnceLock;

    /// The main test token.
    pub const TOKEN: &str = "tlsbox-test";
    /// A second token, never logged in by the keystore tests.
    pub const SECOND_TOKEN: &str = "tlsbox-second";
    /// User PIN of both tokens: one that cannot appear in a log by chance,
    /// so the proxy tests can look for it in every log line.
    pub const PIN: &str = "pin-Wq4v-tlsbox";
    const SO_PIN: &str = "5678";

    /// The store.
    #[derive(Debug)]
    pub struct SoftHsm {
        /// The PKCS#11 module to load.
        pub module: PathBuf,
        /// Where the configuration and tokens live.
        pub dir: PathBuf,
    }

    /// Set it up once per process. Call before any PKCS#11 module is
    /// initialised in this process: SoftHSM2 reads SOFTHSM2_CONF then.
    pub fn get() -> &'static SoftHsm {
        static HSM: OnceLock<SoftHsm> = OnceLock::new();
        HSM.get_or_init(|| {
            super::require("softhsm2-util");
            let module = [
                "/usr/lib/softhsm/libsofthsm2.so",
                "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                "/usr/lib64/pkcs11/libsofthsm2.so",
            ]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .expect("libsofthsm2.so not found: install softhsm2 (tests/run.sh does)");
            let dir = tempfile::Builder::new()
                .prefix("tlsbox-softhsm")
                .tempdir()
                .unwrap()
                .keep();
            let conf = new_store(&dir, &[TOKEN, SECOND_TOKEN]);
            // SAFETY of the process environment: this runs once, before any
            // PKCS#11 module is loaded, while other test threads wait on the
            // OnceLock.
            std::env::set_var("SOFTHSM2_CONF", &conf);
            SoftHsm { module, dir }
        })
    }

    /// A token store in `dir` (tokens in `dir/tokens`) with one token per
    /// label, each with user PIN [`PIN`]; returns its configuration file,
    /// for `SOFTHSM2_CONF`.
    pub fn new_store(dir: &Path, labels: &[&str]) -> PathBuf {
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        for label in labels {
            let out = Command::new("softhsm2-util")
                .args(["--init-token", "--free", "--label", label])
                .args(["--pin", PIN, "--so-pin", SO_PIN])
                .env("SOFTHSM2_CONF", &conf)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "softhsm2-util: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        conf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_bindable_and_outside_the_ephemeral_range() {
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        for &port in &ports {
            assert!(
                std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
                "{port} is taken"
            );
        }
        // Where the system leaves room below its ephemeral range (Linux's
        // default does), no outgoing connection can take these ports.
        if let Some(below) = ports_below_ephemeral_range() {
            assert!(ports.iter().all(|p| below.contains(p)), "{ports:?} not in {below:?}");
        }
    }
}
