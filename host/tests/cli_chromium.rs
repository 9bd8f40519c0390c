//! Headless Chromium, which offers X25519MLKEM768 by default, against
//! `tlsbox server`: the responder's page names the post-quantum hybrid.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::*;

#[test]
fn chromium_negotiates_x25519mlkem768() {
    require("chromium");
    let home = tempfile::tempdir().unwrap();
    let server = tlsbox_server(home.path(), &[]);
    // The generated CA is not in Chromium's store, hence
    // --ignore-certificate-errors: what is checked here is the key
    // exchange, not the certificate.
    let out = chromium_dump_dom(
        home.path(),
        &["--ignore-certificate-errors".into()],
        &format!("https://localhost:{}/", server.port),
    );
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains("key exchange group: X25519MLKEM768"), "{}", text(&out));
    assert!(page.contains("version: TLSv1.3"), "{page}");
}
