//! Looking for session secrets where they must not be.
//!
//! The real peers the tests run (openssl, curl, gnutls-cli, Chromium, and
//! the box's own TLS core natively with its test-only key log) write the
//! secrets of every session to one NSS key log per test process
//! ([`key_log_file`]). Each session's traffic secrets are the box's too, so
//! [`find`] can check a log of tlsbox for any 32 bytes of any of them:
//! raw, as hex, or as a Rust `Debug` list of numbers.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The length of the windows looked for: every secret the TLS 1.2 and 1.3
/// key schedules make is at least this long.
pub const WINDOW: usize = 32;

/// This process's key log, to which peers append (`SSLKEYLOGFILE`).
pub fn key_log_file() -> &'static Path {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("tlsbox-keylog")
            .tempdir()
            .unwrap()
            .keep();
        dir.join("keys.log")
    })
}

/// `program` with `SSLKEYLOGFILE` set to [`key_log_file`] (curl and
/// gnutls-cli honour it).
pub fn peer(program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("SSLKEYLOGFILE", key_log_file());
    cmd
}

/// The secrets in an NSS key log (`LABEL <client random> <secret>` lines).
pub fn secrets(key_log: &str) -> Vec<Vec<u8>> {
    key_log
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter_map(decode_hex)
        .filter(|s| s.len() >= WINDOW)
        .collect()
}

/// The secrets logged so far by this process's peers.
pub fn logged_secrets() -> Vec<Vec<u8>> {
    secrets(&std::fs::read_to_string(key_log_file()).unwrap_or_default())
}

/// Where in `log` some 32-byte window of one of `secrets` appears, raw, as
/// hex (either case, either alignment) or as a list of decimal numbers; the
/// line is returned.
pub fn find(log: &[u8], secrets: &[Vec<u8>]) -> Option<String> {
    let windows: HashSet<&[u8]> = secrets.iter().flat_map(|s| s.windows(WINDOW)).collect();
    if windows.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(log);
    let hit = |bytes: &[u8]| bytes.windows(WINDOW).any(|w| windows.contains(w));
    if hit(log) {
        return Some("raw bytes of a secret".into());
    }
    text.lines()
        .find(|line| {
            // Both alignments: the secret may start at an odd digit.
            hex_runs(line).iter().any(|run| {
                (0..2).any(|skip| decode_hex(even(run.get(skip..).unwrap_or_default())).is_some_and(|b| hit(&b)))
            }) || number_runs(line).iter().any(|b| hit(b))
        })
        .map(str::to_string)
}

/// Maximal runs of hex digits long enough to hold a window.
fn hex_runs(line: &str) -> Vec<&str> {
    line.split(|c: char| !c.is_ascii_hexdigit())
        .filter(|r| r.len() >= 2 * WINDOW)
        .collect()
}

/// `s` without its last digit if it has an odd number of them.
fn even(s: &str) -> &str {
    s.get(..s.len() / 2 * 2).unwrap_or_default()
}

/// Runs of numbers below 256 separated by commas or spaces (`[1, 2, …]`),
/// long enough to hold a window.
fn number_runs(line: &str) -> Vec<Vec<u8>> {
    let mut runs = Vec::new();
    let mut run = Vec::new();
    for token in line.split(|c: char| c == ',' || c.is_whitespace() || c == '[' || c == ']') {
        if token.is_empty() {
            continue;
        }
        match token.parse::<u8>() {
            Ok(b) => run.push(b),
            Err(_) => runs.push(std::mem::take(&mut run)),
        }
    }
    runs.push(run);
    runs.retain(|r| r.len() >= WINDOW);
    runs
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|d| u8::from_str_radix(d, 16).ok()))
        .collect()
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn secret() -> Vec<u8> {
        (0u8..48).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect()
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn reads_an_nss_key_log() {
        let log = format!(
            "# comment\nCLIENT_HANDSHAKE_TRAFFIC_SECRET {} {}\nCLIENT_RANDOM aa 00\n",
            hex(&[7; 32]),
            hex(&secret())
        );
        assert_eq!(secrets(&log), vec![secret()]);
    }

    #[test]
    fn finds_any_window_in_every_encoding() {
        let s = secret();
        let middle = &s[5..5 + WINDOW];
        let cases = [
            format!("x key={} y", hex(middle)),
            format!("x key=0{} y", hex(middle)),
            format!("x key={} y", hex(middle).to_uppercase()),
            format!("x key={:?} y", middle),
            format!("x key={:?} y", &s[..]),
        ];
        for case in cases {
            assert!(
                find(case.as_bytes(), std::slice::from_ref(&s)).is_some(),
                "missed: {case}"
            );
        }
        let mut raw = b"binary ".to_vec();
        raw.extend_from_slice(middle);
        assert!(find(&raw, std::slice::from_ref(&s)).is_some());
    }

    #[test]
    fn a_shorter_piece_or_other_bytes_are_not_a_leak() {
        let s = secret();
        let log = format!("{} {:?} {}", hex(&s[..WINDOW - 1]), &s[1..WINDOW], hex(&[0x55; 64]));
        assert_eq!(find(log.as_bytes(), &[s]), None);
    }
}
