//! The whole `tlsbox server` process, as users run it: handshakes per
//! second of server CPU, full against resumed, with a P-256 key in SoftHSM2.
//!
//! `openssl s_time` drives the server from the same machine for a fixed
//! wall time per sample; what counts is the server process's own CPU time
//! (user + system, from /proc) and the handshakes its metrics counted, so
//! the client's CPU is left out. Three modes, interleaved, five samples
//! each, medians:
//! - **full, no tickets**: `--no-tickets`, every connection a full
//!   handshake with a token signature;
//! - **full, tickets issued**: the default; each box also obtains the
//!   ticket keys from the token (ECDH derive + wrap) to seal two tickets;
//! - **resumed**: `s_time -reuse`, every connection after the first
//!   resumes from a ticket: no signature, but the box still obtains the
//!   ticket keys to open it.
//!
//! It also prints the token's time per ticket-key transfer (mean, from the
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
use tlsbox_test_support::{free_port, softhsm};

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

struct Server {
    child: Child,
    port: u16,
    status: u16,
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
    Server { child, port, status }
}

struct Sample {
    handshakes: f64,
    resumed: f64,
    cpu: f64,
}

fn sample(server: &Server, cert: &Path, reuse: bool) -> Sample {
    let before = (
        metric(server.status, "tlsbox_handshakes_ok_total"),
        metric(server.status, "tlsbox_handshakes_resumed_total"),
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
    Sample {
        handshakes: metric(server.status, "tlsbox_handshakes_ok_total") - before.0,
        resumed: metric(server.status, "tlsbox_handshakes_resumed_total") - before.1,
        cpu: cpu_seconds(server.child.id()) - before.2,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn installed(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
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
    admin.generate("bench", b"bench", KeyAlgorithm::EcP256).unwrap();
    let cert = home.path().join("bench.pem");
    std::fs::write(
        &cert,
        admin.self_signed(&uri("bench"), &["localhost".into()], 30).unwrap(),
    )
    .unwrap();
    drop(admin);
    let key = format!("pkcs11:token={};object=bench", softhsm::TOKEN);

    let plain = start_server(home.path(), &key, &cert, &hsm.module, &["--no-tickets"]);
    let tickets = start_server(home.path(), &key, &cert, &hsm.module, &[]);
    // Warm both (the first connection compiles nothing, but fills pools).
    sample(&plain, &cert, false);
    sample(&tickets, &cert, false);

    let modes: [(&str, &Server, bool); 3] = [
        ("full handshake, no tickets (--no-tickets)", &plain, false),
        ("full handshake, two tickets issued", &tickets, false),
        ("resumed from a ticket (s_time -reuse)", &tickets, true),
    ];
    let mut results: Vec<Vec<Sample>> = (0..modes.len()).map(|_| Vec::new()).collect();
    for round in 0..SAMPLES {
        for i in 0..modes.len() {
            // Alternate the order, so that drift hits every mode alike.
            let i = if round % 2 == 0 { i } else { modes.len() - 1 - i };
            let (name, server, reuse) = modes[i];
            let s = sample(server, &cert, reuse);
            eprintln!(
                "{name}: {} handshakes ({} resumed) in {:.2} server CPU-s",
                s.handshakes, s.resumed, s.cpu
            );
            results[i].push(s);
        }
    }
    let transfers = metric(
        tickets.status,
        "tlsbox_keystore_ticket_key_transfer_duration_seconds_count",
    );
    let transfer_time = metric(
        tickets.status,
        "tlsbox_keystore_ticket_key_transfer_duration_seconds_sum",
    );

    println!("| `tlsbox server`, P-256 in SoftHSM2, X25519 | handshakes per server CPU-second | server CPU per handshake | resumed |");
    println!("|---|---:|---:|---:|");
    let mut per_cpu = Vec::new();
    for ((name, _, _), samples) in modes.iter().zip(&results) {
        let rate = median(samples.iter().map(|s| s.handshakes / s.cpu).collect());
        let resumed = median(samples.iter().map(|s| s.resumed / s.handshakes.max(1.0)).collect());
        per_cpu.push(rate);
        println!(
            "| {name} | {rate:.0} | {:.0} µs | {:.0}% |",
            1e6 / rate,
            resumed * 100.0
        );
    }
    println!();
    println!(
        "resumed / full (tickets issued): {:.2}x handshakes per CPU-second; \
         issuing tickets costs {:.0} µs of server CPU per full handshake; \
         the token took {:.0} µs per ticket-key transfer (mean of {transfers}).",
        per_cpu[2] / per_cpu[1],
        1e6 / per_cpu[1] - 1e6 / per_cpu[0],
        transfer_time / transfers.max(1.0) * 1e6,
    );
}
