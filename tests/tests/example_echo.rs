//! The embedding example, driven by a real client: what an embedder writes
//! keeps working.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;
use std::time::Duration;

use tlsbox_tests::*;

#[test]
fn echo_example_echoes_for_openssl() {
    require("openssl");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = tlsbox_host::ServerConfig::new(engine(), &server_options("ecdsa-p256"), keystore()).unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    runtime.spawn(tlsbox_example_echo::serve(listener, engine().clone(), config));

    let out = run(
        Command::new("openssl")
            .args([
                "s_client",
                "-quiet",
                "-no_ign_eof",
                "-connect",
                &format!("127.0.0.1:{port}"),
                "-servername",
                "localhost",
            ])
            .args(["-verify_return_error", "-CAfile"])
            .arg(pki_path("ca.pem")),
        b"echo me, box\n",
        Duration::from_secs(20),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("echo me, box"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
