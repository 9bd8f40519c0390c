//! `tlsbox`: a TLS endpoint whose secrets live in a box.
//!
//! `tlsbox server` terminates TLS (with a built-in responder for now);
//! `tlsbox connect` is a one-shot client like `openssl s_client`.
#![forbid(unsafe_code)]

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
