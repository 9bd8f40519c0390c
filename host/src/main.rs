//! `tlsbox`: a TLS endpoint whose secrets live in a box.
//!
//! `tlsbox server` terminates TLS and forwards plaintext (or answers with a
//! built-in page); `tlsbox client` originates TLS for plaintext clients;
//! `tlsbox connect` is a one-shot client like `openssl s_client`; `tlsbox
//! keys` manages keys in a PKCS#11 token.
#![forbid(unsafe_code)]

mod cli;
mod proxy;

fn main() -> std::process::ExitCode {
    cli::main()
}
