//! The box's primitives inside wasm against the very same code run
//! natively, side by side in one run.
//!
//! `tlsbox-guest-bench` times each primitive for a fixed budget: RustCrypto's
//! ChaCha20, Poly1305, ChaCha20-Poly1305 and AES-128-GCM, ours
//! (`tlsbox-crypto`), SHA-256, the provider's TLS 1.3 record seal and open
//! of 16 KiB records, and a server's key exchange per group (key pair plus
//! shared secret). The wasm column runs it as a wasm32-wasip2 command in
//! wasmtime with the box's code generation settings; the native column
//! calls the same library in this process; a third column times the
//! record and key-exchange rows through rustls' aws-lc-rs provider, the
//! fastest native stack at hand. Rounds alternate between wasm and native
//! and each figure is the median of the rounds. A second wasm column
//! compiles the same command as for a host without AVX-512: Cranelift
//! emits `vpmullq` for wasm's `i64x2.mul` only where AVX-512 is present,
//! and GHASH leans on it, so a host without it runs AES-GCM slower. A
//! third wasm column runs the portable build of the box (no wide arithmetic, the one
//! the JS and Python bindings load), where X25519 and P-256 do their field
//! multiplications without a 64×64→128-bit multiply.
//!
//! The record rows are the ceiling for the box's bulk throughput: what the
//! AEAD costs inside the guest with no boundary crossing
//! (`box_vs_native`'s bulk rows go through the WIT boundary).
//!
//! Run: `cargo bench -p tlsbox-host --bench primitives`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

#[path = "../tests/guest_command/mod.rs"]
mod guest_command;

use std::collections::BTreeMap;
use std::time::Duration;

use guest_command::{alternate, figures, GuestCommand};

const ROUNDS: usize = 5;
const BUDGET: Duration = Duration::from_millis(200);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The record and key-exchange rows again, natively through rustls'
/// aws-lc-rs provider: what a native TLS stack reaches on this machine.
fn aws_lc_rs_rows() -> Vec<tlsbox_guest_bench::Measure> {
    use rustls::crypto::aws_lc_rs::{cipher_suite, kx_group};
    let mut rows = tlsbox_guest_bench::measure_records_of(
        &[
            cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
            cipher_suite::TLS13_AES_128_GCM_SHA256,
            cipher_suite::TLS13_AES_256_GCM_SHA384,
        ],
        BUDGET,
    );
    for (name, group) in [
        ("x25519", kx_group::X25519),
        ("secp256r1", kx_group::SECP256R1),
        ("x25519mlkem768", kx_group::X25519MLKEM768),
    ] {
        rows.push(tlsbox_guest_bench::key_exchange(name, group, BUDGET));
    }
    rows
}

fn main() {
    let command = GuestCommand::load().expect("load tlsbox-guest-bench.wasm");
    let narrow = GuestCommand::load_without_avx512().expect("load tlsbox-guest-bench.wasm without AVX-512");
    let portable = GuestCommand::load_portable().expect("load the portable tlsbox-guest-bench.wasm");
    let mut order: Vec<(String, String)> = Vec::new();
    let mut wasm: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut wasm_narrow: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut wasm_portable: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut native: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut fast: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    eprintln!("{ROUNDS} rounds each side");
    alternate(
        ROUNDS,
        || {
            let out = command.run(&[&BUDGET.as_millis().to_string()]).expect("run in wasm");
            for (name, value, unit) in figures(&out) {
                if !order.iter().any(|(n, _)| *n == name) {
                    order.push((name.clone(), unit));
                }
                wasm.entry(name).or_default().push(value);
            }
            for (other, samples) in [(&narrow, &mut wasm_narrow), (&portable, &mut wasm_portable)] {
                let out = other.run(&[&BUDGET.as_millis().to_string()]).expect("run in wasm");
                for (name, value, _) in figures(&out) {
                    samples.entry(name).or_default().push(value);
                }
            }
        },
        || {
            for m in tlsbox_guest_bench::measure(BUDGET) {
                native.entry(m.name).or_default().push(m.value);
            }
            for m in aws_lc_rs_rows() {
                fast.entry(m.name).or_default().push(m.value);
            }
        },
    );

    println!(
        "| primitive | wasm (box) | wasm, AVX-512 off | wasm, portable | native, same code | wasm / native | native aws-lc-rs | wasm / aws-lc-rs |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, unit) in &order {
        let w = median(wasm.remove(name).unwrap_or_default());
        let w_narrow = median(wasm_narrow.remove(name).unwrap_or_default());
        let w_portable = median(wasm_portable.remove(name).unwrap_or_default());
        let n = median(native.remove(name).unwrap_or_default());
        // For times, a ratio above 1 means wasm is slower; for MB/s, below 1.
        let (f, vs_fast) = match fast.remove(name) {
            Some(f) => {
                let f = median(f);
                (format!("{f:.1}"), format!("{:.2}x", w / f))
            }
            None => ("".into(), "".into()),
        };
        println!(
            "| {name} ({unit}) | {w:.1} | {w_narrow:.1} | {w_portable:.1} | {n:.1} | {:.2}x | {f} | {vs_fast} |",
            w / n
        );
    }
    println!();
    println!(
        "Medians of {ROUNDS} rounds, {} ms per figure per round. \"AVX-512 off\": the same wasm compiled by \
         Cranelift as for a host without AVX-512 (the same as the box column on such a host). \
         \"portable\": the box built without wide arithmetic, as the JS and Python bindings load it. \
         \"native, same code\" is this crate's code \
         compiled natively; there tlsbox-crypto is its portable fallback, and the record rows use \
         RustCrypto's ChaCha20-Poly1305 (the native provider's choice). MB = 10^6 bytes.",
        BUDGET.as_millis()
    );
}
