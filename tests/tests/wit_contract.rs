//! DESIGN.md invariant 1: no secret crosses the component boundary. The WIT
//! is the audit surface; this test pins it, so that any new function or
//! field is a deliberate, reviewed change (update the lists below with the
//! review), and refuses vocabulary that would mean key material.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::path::PathBuf;

fn wit_text() -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wit"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The WIT without comments.
fn wit_code() -> String {
    wit_text()
        .lines()
        .map(|l| l.split("//").next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

const AUDITED_FUNCTIONS: &[&str] = &[
    "describe-key: func(key: string) -> result<key-info, keystore-error>;",
    "sign: func(key: string, scheme: signature-scheme, message: list<u8>) -> result<list<u8>, keystore-error>;",
    // Reviewed: only public keys in, only wrapped keys out (tickets.rs).
    "ticket-keys: func(box-public-key: list<u8>) -> result<wrapped-ticket-keys, keystore-error>;",
    // Reviewed: the ticket relay takes a group or a public key and gives
    // back wrapped keys only, as `ticket-keys` does.
    "obtain: static func(group: named-group) -> result<relay, keystore-error>;",
    "wrap-for: func(box-public-key: list<u8>) -> result<wrapped-ticket-keys, keystore-error>;",
    "create: static func(options: server-options) -> result<server-config, tls-error>;",
    "create: static func(options: client-options) -> result<client-config, tls-error>;",
    "new-server: static func(config: borrow<server-config>) -> result<connection, tls-error>;",
    "new-client: static func(config: borrow<client-config>) -> result<connection, tls-error>;",
    "feed-ciphertext: func(data: list<u8>) -> result<u32, tls-error>;",
    "take-ciphertext: func(max: u32) -> list<u8>;",
    "write-plaintext: func(data: list<u8>) -> result<u32, tls-error>;",
    "read-plaintext: func(max: u32) -> result<list<u8>, tls-error>;",
    "close: func();",
    "status: func() -> status;",
    "session-info: func() -> session-info;",
    // Reviewed: key-derived output, refused unless the key policy says
    // `allow-exporter` (issue 8: behind an explicit policy flag).
    "export-keying-material: func(label: list<u8>, context: option<list<u8>>, length: u32) -> result<list<u8>, tls-error>;",
];

#[test]
fn the_wit_functions_are_the_audited_ones() {
    let code = wit_code();
    let found: Vec<&str> = code.lines().filter(|l| l.contains("func(")).collect();
    assert_eq!(
        found, AUDITED_FUNCTIONS,
        "the WIT functions changed: review them for secrets, then update this list"
    );
}

#[test]
fn the_wit_has_no_secret_vocabulary() {
    // Reviewed names that only look like key material: the alert that
    // names a PSK (RFC 8446 §6.2); ticket keys that cross only wrapped for
    // one box; the policy flag that gates the exporter.
    let mut code = wit_code().to_lowercase();
    for reviewed in [
        "unknown-psk-identity",
        "wrapped-ticket-key",
        "ticket-keys",
        "allow-exporter",
    ] {
        code = code.replace(reviewed, "");
    }
    for word in [
        "secret",
        "private",
        "psk",
        "master",
        "traffic",
        "key-log",
        "keylog",
        "exporter",
        "ticket-key",
        "premaster",
    ] {
        assert!(
            !code.contains(word),
            "the WIT mentions {word:?}: secrets must not cross the boundary"
        );
    }
}

#[test]
fn the_only_import_is_the_keystore() {
    let code = wit_code();
    let imports: Vec<&str> = code.lines().filter(|l| l.starts_with("import ")).collect();
    assert_eq!(imports, ["import keystore;"]);
}

/// The readable test ticket keys (`tlsbox-host`'s
/// `insecure-readable-ticket-keys-for-tests`) are turned on only by this
/// crate's dev-dependencies, never by default, and no CLI code calls them.
#[test]
fn readable_ticket_keys_are_enabled_only_for_tests() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    const FEATURE: &str = "insecure-readable-ticket-keys-for-tests";
    for manifest in [
        "Cargo.toml",
        "guest/component/Cargo.toml",
        "guest/core/Cargo.toml",
        "tests/support/Cargo.toml",
        "examples/echo/Cargo.toml",
        "fuzz/Cargo.toml",
    ] {
        assert!(!read(manifest).contains(FEATURE), "{manifest} enables {FEATURE}");
    }
    let host = read("host/Cargo.toml");
    assert!(
        host.lines()
            .filter(|l| l.trim_start().starts_with("default"))
            .all(|l| !l.contains(FEATURE)),
        "on by default in the host"
    );
    let tests = read("tests/Cargo.toml");
    let (normal, dev) = tests.split_once("[dev-dependencies]").unwrap();
    assert!(!normal.contains(FEATURE) && dev.contains(FEATURE));
    for dir in ["host/src/cli", "host/src/proxy"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let code = std::fs::read_to_string(&path).unwrap();
            assert!(!code.contains("for_tests"), "{} calls a test-only API", path.display());
        }
    }
}

/// The native-only test key log (`tlsbox-core`'s `insecure-key-log-for-tests`)
/// must never reach the component or the shipped host: only the host's
/// dev-dependencies may name it.
#[test]
fn the_test_key_log_is_enabled_only_for_tests() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    const FEATURE: &str = "insecure-key-log-for-tests";
    for manifest in [
        "Cargo.toml",
        "guest/component/Cargo.toml",
        "tests/Cargo.toml",
        "tests/support/Cargo.toml",
        "examples/echo/Cargo.toml",
        "fuzz/Cargo.toml",
    ] {
        assert!(!read(manifest).contains(FEATURE), "{manifest} enables {FEATURE}");
    }
    // The feature is defined in the core, and never on by default.
    let core = read("guest/core/Cargo.toml");
    assert!(
        core.lines()
            .filter(|l| l.trim_start().starts_with("default"))
            .all(|l| !l.contains(FEATURE)),
        "guest/core enables {FEATURE} by default"
    );
    let host = read("host/Cargo.toml");
    let (shipped, dev) = host.split_once("[dev-dependencies]").unwrap();
    assert!(
        !shipped.contains(FEATURE),
        "host/Cargo.toml enables {FEATURE} outside dev-dependencies"
    );
    assert!(
        dev.split("\n[").next().unwrap().contains(FEATURE),
        "the host's tests lost the key log they scan logs with"
    );
}
