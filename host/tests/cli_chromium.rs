//! Headless Chromium, which offers X25519MLKEM768 by default, against
//! `tlsbox server`: the responder's page names the post-quantum hybrid.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn chromium_negotiates_x25519mlkem768() {
    require("chromium");
    let home = tempfile::tempdir().unwrap();
    let server = tlsbox_server(home.path(), &[]);
    let profile = home.path().join("chromium-profile");
    let out = run(
        Command::new("chromium")
            // The flags this machine needs for a headless run without a
            // network or a session bus; the generated CA is not in
            // Chromium's store, hence --ignore-certificate-errors (what is
            // checked here is the key exchange, not the certificate).
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
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(["--ignore-certificate-errors", "--dump-dom"])
            .arg(format!("https://localhost:{}/", server.port)),
        b"",
        Duration::from_secs(60),
    );
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains("key exchange group: X25519MLKEM768"), "{}", text(&out));
    assert!(page.contains("version: TLSv1.3"), "{page}");
}
