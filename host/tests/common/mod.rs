//! Running the `tlsbox` binary in CLI tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};

pub(crate) use tlsbox_test_support::*;

/// The `tlsbox` binary, with its caches and data under `home`.
pub(crate) fn tlsbox(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tlsbox"));
    cmd.env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("TLSBOX_LOG", "info");
    cmd
}

/// A running `tlsbox server`, killed on drop.
pub(crate) struct Server {
    pub(crate) port: u16,
    child: Child,
}

impl Server {
    /// Start `tlsbox server --listen 127.0.0.1:<free port>` plus `args`.
    pub(crate) fn start(home: &Path, args: &[&str]) -> Self {
        let port = free_port();
        let child = tlsbox(home)
            .args(["server", "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(port);
        Self { port, child }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
