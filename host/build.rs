//! Builds the box (`guest/component`) for wasm32-wasip2 so that a plain
//! `cargo build` or `cargo test` at the root yields a host with the
//! component embedded: no manual wasm step, no committed `.wasm`. Two
//! flavours: the one the host embeds, and a portable one for other hosts.
#![expect(clippy::expect_used, reason = "a build script reports failure by panicking")]

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("host/ sits in the workspace root")
        .to_path_buf();
    for dir in [
        "wit",
        "guest/core/src",
        "guest/crypto/src",
        "guest/component/src",
        "guest/bench/src",
        "guest/crypto/testdata",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    for file in [
        "guest/core/Cargo.toml",
        "guest/crypto/Cargo.toml",
        "guest/component/Cargo.toml",
        "guest/bench/Cargo.toml",
        "Cargo.toml",
        "Cargo.lock",
        "rust-toolchain.toml",
        ".cargo/config.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }

    ensure_target();

    let portable = build_guest(&root, &PORTABLE);
    let wasmtime = build_guest(&root, &WASMTIME);

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("tlsbox_guest.wasm");
    std::fs::copy(wasmtime.join("tlsbox_guest.wasm"), &out).expect("copy the guest component into OUT_DIR");
    println!(
        "cargo:rustc-env=TLSBOX_GUEST_BENCH_WASM={}",
        wasmtime.join("tlsbox-guest-bench.wasm").display()
    );
    println!(
        "cargo:rustc-env=TLSBOX_GUEST_BENCH_PORTABLE_WASM={}",
        portable.join("tlsbox-guest-bench.wasm").display()
    );
}

/// One build of the box: same source, its own wasm features.
struct Flavour {
    /// Under `target/`: a target directory of its own, because the outer
    /// cargo holds the lock on the workspace's and because rustflags
    /// differ between flavours.
    dir: &'static str,
    /// Added to `.cargo/config.toml`'s wasm32-wasip2 rustflags (`+simd128`).
    rustflags: &'static str,
}

/// For every component-model host (jco, wasmtime-py, any embedder):
/// standard wasm and SIMD128 only. The JS and Python bindings load this one.
const PORTABLE: Flavour = Flavour {
    dir: "guest",
    rustflags: "[]",
};

/// The one `tlsbox-host` embeds. wasmtime's engine turns on the
/// wide-arithmetic proposal (`i64.mul_wide_u`: a 64×64→128-bit multiply in
/// one x86 `mul`), and curve25519-dalek is told to take its 64-bit field
/// backend, which it does not pick on a 32-bit target: without that
/// multiply it would be slower. X25519 then costs about what it costs
/// natively (75 against 133 µs in wasm; 70 natively) and P-256 ECDH a
/// fifth (306 against 1479 µs). rustc calls the target feature unstable
/// and warns; the toolchain is pinned (rust-toolchain.toml), and an engine
/// test checks that the embedded box needs both wide arithmetic and
/// SIMD128.
const WASMTIME: Flavour = Flavour {
    dir: "guest-wasmtime",
    rustflags: r#"['-C', 'target-feature=+wide-arithmetic', '--cfg', 'curve25519_dalek_bits="64"']"#,
};

/// Build the component and the bench command in `flavour`; the directory
/// holding both `.wasm` files.
fn build_guest(root: &Path, flavour: &Flavour) -> PathBuf {
    let target_dir = root.join("target").join(flavour.dir);
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--release",
            "--locked",
            "--package",
            "tlsbox-guest",
            // The primitives' self-check and timings, run inside wasm by
            // host/tests/wasm_crypto.rs and host/benches. One cargo call
            // builds both, so features unify: give the bench crate no
            // feature the box does not have already.
            "--package",
            "tlsbox-guest-bench",
            "--target",
            TARGET,
            // Arrays from `--config` join the config file's: this adds to
            // `+simd128`, it does not replace it.
            "--config",
        ])
        .arg(format!("target.{TARGET}.rustflags={}", flavour.rustflags))
        .arg("--target-dir")
        .arg(&target_dir);
    // Whole-program optimisation for the box alone (the host keeps the
    // workspace profile): fat LTO drops the code and vtables no path
    // reaches, so each instance's function-reference table and VMContext
    // shrink (host memory per box) and cross-crate inlining speeds the
    // handshake. Line tables stay out of the shipped component.
    cmd.env("CARGO_PROFILE_RELEASE_LTO", "fat")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false");
    // The outer build's flags are for the host, not for wasm; the
    // wasm flags come from .cargo/config.toml and the flavour.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("run cargo to build the guest component");
    assert!(
        status.success(),
        "building the tlsbox guest component ({}) for {TARGET} failed",
        flavour.dir
    );
    let built = target_dir.join(TARGET).join("release");
    for file in ["tlsbox_guest.wasm", "tlsbox-guest-bench.wasm"] {
        assert!(built.join(file).exists(), "{file} missing in {}", built.display());
    }
    built
}

/// rustup installs the targets of rust-toolchain.toml only with a new
/// toolchain; on a machine that already had it, add the target here.
fn ensure_target() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| PathBuf::from(s.trim()));
    let installed = |root: &Path| root.join("lib/rustlib").join(TARGET).exists();
    if sysroot.as_deref().is_some_and(installed) {
        return;
    }
    let toolchain = env::var("RUSTUP_TOOLCHAIN").ok();
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", TARGET]);
    if let Some(t) = &toolchain {
        cmd.args(["--toolchain", t]);
    }
    let ok = cmd.status().map(|s| s.success()).unwrap_or(false);
    assert!(
        ok,
        "the {TARGET} target is missing and `rustup target add {TARGET}` failed; install it and rebuild"
    );
}
