//! Running the `tlsbox` binary in CLI tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

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

/// `tlsbox server --listen 127.0.0.1:<free port>` plus `args`, running.
pub(crate) fn tlsbox_server(home: &Path, args: &[&str]) -> ServerProcess {
    let port = free_port();
    ServerProcess::spawn(
        tlsbox(home)
            .args(["server", "--listen", &format!("127.0.0.1:{port}")])
            .args(args),
        port,
    )
}
