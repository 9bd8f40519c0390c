//! The whole `tlsbox server` process, as users run it: handshakes per
//! second of server CPU, full against resumed, with a P-256 key in SoftHSM2.
//!
//! `openssl s_time` drives the server from the same machine for a fixed
//! wall time per sample; what counts is the server process's own CPU time
//! (user + system, from /proc) and the handshakes its metrics counted, so
//! the client's CPU is left out. Modes, interleaved, five samples each,
//! medians, for a P-256 and an RSA-2048 key in SoftHSM2:
//! - **full, no tickets**: `--no-tickets`, every connection a full
//!   handshake with a token signature;
//! - **full, tickets issued**: the default; each box also obtains the
//!   ticket keys — from a relay box, or with `--no-ticket-relay` from the
//!   token (an ECDH derive, a KDF derive and a wrap per connection) — to
//!   seal two tickets;
//! - **resumed**: `s_time -reuse`, every connection after the first
//!   resumes from a ticket: no signature, but the box still obtains the
//!   ticket keys to open it.
//!
//! For comparison, `openssl s_server` serves the same P-256 token key
//! through libp11's pkcs11 engine (Debian 12 has no pkcs11-provider
//! package; `apt-get install libengine-pkcs11-openssl`), full handshakes
//! with `-no_ticket` and resumed ones with its own tickets; its count is
//! `s_time`'s. Left out, with a note, when the engine is not installed.
//!
//! It also prints the mean time of a box's ticket-key transfer (the
//! server's metrics). Needs `softhsm2-util` and `openssl`.
//!
//! Run: `cargo bench -p tlsbox-host --bench server_process`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cryptoki::types::AuthPin;
use tlsbox_host::keystore::pkcs11::tooling::{KeyAlgorithm, TokenAdmin};
use tlsbox_test_support::{free_port, installed, softhsm};

const SAMPLES: usize = 5;
const SECONDS_PER_SAMPLE: u32 = 2;

/// CPU seconds (user + system) the process `pid` has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / clock_ticks()
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    })
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Sum of the metric lines starting with `name`.
fn metric(status_port: u16, name: &str) -> f64 {
    http_get(status_port, "/_metrics")
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A server under test: `tlsbox server` (counted through its metrics) or
/// `openssl s_server` (counted through `s_time`'s own report).
struct Server {
    child: Child,
    port: u16,
    /// The metrics port; `None` for `openssl s_server`.
    status: Option<u16>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(home: &Path, key: &str, cert: &Path, module: &Path, extra: &[&str]) -> Server {
    let (port, status) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_tlsbox"))
        .args([
            "server",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--disable-authentication",
        ])
        .args(["--key", key, "--cert", cert.to_str().unwrap()])
        .arg("--pkcs11-module")
        .arg(module)
        .args(["--status", &format!("127.0.0.1:{status}")])
        .args(extra)
        .env("PKCS11_PIN", softhsm::PIN)
        .env("TLSBOX_LOG", "warn")
        .env("XDG_CACHE_HOME", home.join("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while std::net::TcpStream::connect(("127.0.0.1", status)).is_err() {
        assert!(Instant::now() < deadline, "tlsbox server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Server {
        child,
        port,
        status: Some(status),
    }
}

/// libp11's OpenSSL engine, in OpenSSL's engines directory: the way to a
/// PKCS#11 key for OpenSSL 3.0 on Debian 12, which does not package
/// pkcs11-provider (`apt-get install libengine-pkcs11-openssl`).
fn pkcs11_engine() -> Option<std::path::PathBuf> {
    let out = Command::new("openssl").args(["version", "-e"]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // ENGINESDIR: "/usr/lib/x86_64-linux-gnu/engines-3"
    let dir = text.split('"').nth(1)?;
    let engine = Path::new(dir).join("pkcs11.so");
    engine.exists().then_some(engine)
}

/// `openssl s_server` with the same key in the same SoftHSM2 token, through
/// the pkcs11 engine; `-www` like `tlsbox server`'s built-in page. `None`
/// when the engine is not installed.
fn start_openssl(home: &Path, key: &str, cert: &Path, module: &Path, extra: &[&str]) -> Option<Server> {
    let engine = pkcs11_engine()?;
    let conf = home.join("openssl-pkcs11.cnf");
    std::fs::write(
        &conf,
        format!(
            "openssl_conf = init\n[init]\nengines = engines\n[engines]\npkcs11 = pkcs11\n\
             [pkcs11]\nengine_id = pkcs11\ndynamic_path = {}\nMODULE_PATH = {}\ninit = 0\n",
            engine.display(),
            module.display()
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new("openssl")
        .args(["s_server", "-accept", &format!("127.0.0.1:{port}"), "-www", "-quiet"])
        .args(["-engine", "pkcs11", "-keyform", "engine", "-key"])
        .arg(format!("{key};pin-value={}", softhsm::PIN))
        .arg("-cert")
        .arg(cert)
        .args(extra)
        .env("OPENSSL_CONF", &conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "openssl s_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(Server {
        child,
        port,
        status: None,
    })
}

struct Sample {
    handshakes: f64,
    resumed: f64,
    cpu: f64,
}

/// `s_time`'s count of timed connections ("N connections in T real
/// seconds"), and of those it resumed: it prints an `r` per resumed one
/// (and another character per full one) before the count.
fn s_time_connections(stdout: &str) -> (f64, f64) {
    let (marks, _) = stdout.split_once(" connections in ").unwrap();
    let (marks, count) = marks.rsplit_once('\n').unwrap_or(("", marks));
    let count = count.trim().rsplit(' ').next().unwrap().parse().unwrap();
    // The marks of the timed loop: lines of `r` (resumed), `*`, `t` or `3`
    // (full), after "Now timing".
    let timed = marks.rsplit_once("Now timing").map_or(marks, |(_, t)| t);
    let resumed = timed
        .lines()
        .filter(|l| !l.is_empty() && l.chars().all(|c| "rt3*".contains(c)))
        .flat_map(str::chars)
        .filter(|c| *c == 'r')
        .count();
    (count, resumed as f64)
}

fn sample(server: &Server, cert: &Path, reuse: bool) -> Sample {
    let counted = |name| server.status.map_or(0.0, |status| metric(status, name));
    let before = (
        counted("tlsbox_handshakes_ok_total"),
        counted("tlsbox_handshakes_resumed_total"),
        cpu_seconds(server.child.id()),
    );
    let out = Command::new("openssl")
        .args(["s_time", "-connect", &format!("127.0.0.1:{}", server.port)])
        .arg(if reuse { "-reuse" } else { "-new" })
        .args(["-time", &SECONDS_PER_SAMPLE.to_string(), "-www", "/", "-CAfile"])
        .arg(cert)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cpu = cpu_seconds(server.child.id()) - before.2;
    if server.status.is_none() {
        // With -reuse, s_time's first (full) handshake is not in its count,
        // but its server CPU is in `cpu`: one in well over a thousand.
        let (handshakes, resumed) = s_time_connections(&String::from_utf8_lossy(&out.stdout));
        return Sample {
            handshakes,
            resumed,
            cpu,
        };
    }
    Sample {
        handshakes: counted("tlsbox_handshakes_ok_total") - before.0,
        resumed: counted("tlsbox_handshakes_resumed_total") - before.1,
        cpu,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One server configuration and how it is driven.
struct Mode<'a> {
    name: &'static str,
    server: &'a Server,
    cert: &'a Path,
    reuse: bool,
}

fn main() {
    if !installed("softhsm2-util") || !installed("openssl") {
        eprintln!("server_process: needs softhsm2-util and openssl (tests/run.sh installs them); nothing measured");
        return;
    }
    let hsm = softhsm::get();
    let home = tempfile::tempdir().unwrap();
    let pin = AuthPin::from(softhsm::PIN.to_string());
    let uri = |label: &str| -> tlsbox_host::keystore::pkcs11::Pkcs11Uri {
        format!("pkcs11:token={};object={label};type=private", softhsm::TOKEN)
            .parse()
            .unwrap()
    };
    let admin = TokenAdmin::open(&hsm.module, &uri(""), &pin).unwrap();
    let mut certs = Vec::new();
    for (label, algorithm) in [("p256", KeyAlgorithm::EcP256), ("rsa", KeyAlgorithm::Rsa2048)] {
        admin.generate(label, label.as_bytes(), algorithm).unwrap();
        let cert = home.path().join(format!("{label}.pem"));
        std::fs::write(
            &cert,
            admin.self_signed(&uri(label), &["localhost".into()], 30).unwrap(),
        )
        .unwrap();
        certs.push(cert);
    }
    drop(admin);
    let key = |label: &str| format!("pkcs11:token={};object={label}", softhsm::TOKEN);
    let (p256, rsa) = (certs[0].as_path(), certs[1].as_path());
    let start =
        |label: &str, cert: &Path, extra: &[&str]| start_server(home.path(), &key(label), cert, &hsm.module, extra);

    let plain = start("p256", p256, &["--no-tickets"]);
    let relayed = start("p256", p256, &[]);
    let direct = start("p256", p256, &["--no-ticket-relay"]);
    let rsa_plain = start("rsa", rsa, &["--no-tickets"]);
    let rsa_relayed = start("rsa", rsa, &[]);
    let openssl = start_openssl(home.path(), &key("p256"), p256, &hsm.module, &["-no_ticket"]);
    let openssl_tickets = start_openssl(home.path(), &key("p256"), p256, &hsm.module, &[]);
    let mode = |name, server, cert, reuse| Mode {
        name,
        server,
        cert,
        reuse,
    };
    let mut modes = vec![
        mode("P-256: full handshake, no tickets (--no-tickets)", &plain, p256, false),
        mode(
            "P-256: full handshake, two tickets issued, relay",
            &relayed,
            p256,
            false,
        ),
        mode("P-256: resumed from a ticket, relay", &relayed, p256, true),
        mode(
            "P-256: full handshake, two tickets issued, --no-ticket-relay",
            &direct,
            p256,
            false,
        ),
        mode("P-256: resumed from a ticket, --no-ticket-relay", &direct, p256, true),
        mode(
            "RSA-2048: full handshake, no tickets (--no-tickets)",
            &rsa_plain,
            rsa,
            false,
        ),
        mode("RSA-2048: resumed from a ticket, relay", &rsa_relayed, rsa, true),
    ];
    match (&openssl, &openssl_tickets) {
        (Some(plain), Some(tickets)) => {
            modes.push(mode(
                "openssl s_server, P-256 via the pkcs11 engine: full handshake, no tickets",
                plain,
                p256,
                false,
            ));
            modes.push(mode(
                "openssl s_server, P-256 via the pkcs11 engine: resumed from a ticket",
                tickets,
                p256,
                true,
            ));
        }
        _ => eprintln!(
            "no openssl s_server rows: no pkcs11.so in openssl's engines directory \
             (apt-get install libengine-pkcs11-openssl)"
        ),
    }
    // Warm every server (pools, relays, the token's session objects).
    for m in &modes {
        sample(m.server, m.cert, m.reuse);
    }
    let mut results: Vec<Vec<Sample>> = (0..modes.len()).map(|_| Vec::new()).collect();
    for round in 0..SAMPLES {
        for i in 0..modes.len() {
            // Alternate the order, so that drift hits every mode alike.
            let i = if round % 2 == 0 { i } else { modes.len() - 1 - i };
            let m = &modes[i];
            let s = sample(m.server, m.cert, m.reuse);
            eprintln!(
                "{}: {} handshakes ({} resumed) in {:.2} server CPU-s",
                m.name, s.handshakes, s.resumed, s.cpu
            );
            results[i].push(s);
        }
    }
    let transfer_mean = |server: &Server| {
        let Some(status) = server.status else { return 0.0 };
        let n = metric(status, "tlsbox_keystore_ticket_key_transfer_duration_seconds_count");
        let t = metric(status, "tlsbox_keystore_ticket_key_transfer_duration_seconds_sum");
        t / n.max(1.0) * 1e6
    };

    println!("| server process, key in SoftHSM2, X25519 | handshakes per server CPU-second | server CPU per handshake | resumed |");
    println!("|---|---:|---:|---:|");
    let mut per_cpu = Vec::new();
    for (m, samples) in modes.iter().zip(&results) {
        let rate = median(samples.iter().map(|s| s.handshakes / s.cpu).collect());
        let resumed = median(samples.iter().map(|s| s.resumed / s.handshakes.max(1.0)).collect());
        per_cpu.push(rate);
        println!(
            "| {} | {rate:.0} | {:.0} µs | {:.0}% |",
            m.name,
            1e6 / rate,
            resumed * 100.0
        );
    }
    println!();
    println!(
        "P-256: resumed / full without tickets {:.2}x (relay). Issuing tickets costs {:.0} µs of server CPU \
         per full handshake with the relay, {:.0} µs with every box asking the token. \
         RSA-2048: resumed / full without tickets {:.2}x.",
        per_cpu[2] / per_cpu[0],
        1e6 / per_cpu[1] - 1e6 / per_cpu[0],
        1e6 / per_cpu[3] - 1e6 / per_cpu[0],
        per_cpu[6] / per_cpu[5],
    );
    if per_cpu.len() > 8 {
        println!(
            "Against openssl s_server with the same token key: full handshakes {:.2}x, resumed {:.2}x \
             (tlsbox / openssl, per server CPU-second).",
            per_cpu[0] / per_cpu[7],
            per_cpu[2] / per_cpu[8],
        );
    }
    println!(
        "A box's ticket-key transfer took {:.0} µs from a relay, {:.0} µs from the token (mean wall time).",
        transfer_mean(&relayed),
        transfer_mean(&direct),
    );
}
