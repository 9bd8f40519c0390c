//! `tlsbox-guest-bench check [CASES]`: the crypto self-check.
//! `tlsbox-guest-bench records [MILLIS]`: only the TLS 1.3 record rows.
//! `tlsbox-guest-bench [MILLIS]`: every figure of [`tlsbox_guest_bench::measure`],
//! one per line as `name<TAB>value<TAB>unit`.

use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("check") => {
            let cases = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(200);
            match tlsbox_guest_bench::check(cases) {
                Ok(checked) => {
                    println!("ok\t{}\t{}", checked.vectors, checked.random_cases);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("self-check failed: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some("records") => {
            let millis = args.get(1).and_then(|m| m.parse().ok()).unwrap_or(300);
            for m in tlsbox_guest_bench::measure_records(Duration::from_millis(millis)) {
                println!("{}\t{:.3}\t{}", m.name, m.value, m.unit);
            }
            ExitCode::SUCCESS
        }
        millis => {
            let millis = millis.and_then(|m| m.parse().ok()).unwrap_or(300);
            for m in tlsbox_guest_bench::measure(Duration::from_millis(millis)) {
                println!("{}\t{:.3}\t{}", m.name, m.value, m.unit);
            }
            ExitCode::SUCCESS
        }
    }
}
