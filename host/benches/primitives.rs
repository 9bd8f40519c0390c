//! The box's primitives inside wasm against the very same code run
//! natively, side by side in one run.
//!
//! `tlsbox-guest-bench` times each primitive for a fixed budget: RustCrypto's
//! ChaCha20, Poly1305, ChaCha20-Poly1305 and AES-128-GCM, ours
//! (`tlsbox-crypto`), SHA-256, the provider's TLS 1.3 record seal and open
//! of 16 KiB records, and a server's key exchange per group (key pair plus
//! shared secret). The wasm column runs it as a wasm32-wasip2 command in
//! wasmtime with the box's code generation settings; the native column
//! calls the same library in this process. Rounds alternate between the
//! two and each figure is the median of the rounds.
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

use guest_command::{figures, GuestCommand};

const ROUNDS: usize = 5;
const BUDGET: Duration = Duration::from_millis(200);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let command = GuestCommand::load().expect("load tlsbox-guest-bench.wasm");
    let mut order: Vec<(String, String)> = Vec::new();
    let mut wasm: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut native: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for round in 0..ROUNDS {
        eprintln!("round {}/{ROUNDS}", round + 1);
        let mut run_wasm = || {
            let out = command.run(&[&BUDGET.as_millis().to_string()]).expect("run in wasm");
            for (name, value, unit) in figures(&out) {
                if !order.iter().any(|(n, _)| *n == name) {
                    order.push((name.clone(), unit));
                }
                wasm.entry(name).or_default().push(value);
            }
        };
        let mut run_native = || {
            for m in tlsbox_guest_bench::measure(BUDGET) {
                native.entry(m.name).or_default().push(m.value);
            }
        };
        if round % 2 == 0 {
            run_wasm();
            run_native();
        } else {
            run_native();
            run_wasm();
        }
    }

    println!("| primitive | wasm (box) | native | wasm/native |");
    println!("|---|---:|---:|---:|");
    for (name, unit) in &order {
        let w = median(wasm.remove(name).unwrap_or_default());
        let n = median(native.remove(name).unwrap_or_default());
        // For times, a ratio above 1 means wasm is slower; for MB/s, below 1.
        println!("| {name} ({unit}) | {w:.1} | {n:.1} | {:.2}x |", w / n);
    }
}
