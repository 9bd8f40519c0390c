//! Command line: every flag is declared in this module.

mod connect;
mod identity;
mod keys;
mod keysource;
mod names;
mod responder;
mod server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// tlsbox: TLS whose session secrets live in a WebAssembly box and whose
/// identity key never enters it.
#[derive(Debug, Parser)]
#[command(name = "tlsbox", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Accept TLS connections. With no --cert/--key, a local CA and a
    /// certificate for localhost are generated once and reused.
    Server(ServerArgs),
    /// Connect to a TLS server: stdin to the peer, the peer to stdout, a
    /// handshake summary on stderr.
    Connect(ConnectArgs),
    /// Manage keys in a PKCS#11 token: list, generate, certify, import.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
}

/// `tlsbox server`.
#[derive(Debug, Args)]
struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Allow listening on a non-loopback address.
    #[arg(long)]
    unsafe_listen: bool,
    /// Certificate chain (PEM), leaf first. With a pkcs11: key and no
    /// --cert, the certificate stored on the token beside the key is used.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// The private key: a PEM file (PKCS#8, SEC1 or PKCS#1, held by the
    /// software keystore) or a `pkcs11:` URI (the key stays in the token).
    #[arg(long)]
    key: Option<String>,
    #[command(flatten)]
    pkcs11: keysource::Pkcs11Args,
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// Where the generated identity is kept (default: $XDG_DATA_HOME/tlsbox).
    #[arg(long, env = "TLSBOX_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Seconds a client has to complete the handshake.
    #[arg(long, default_value_t = 10)]
    handshake_timeout: u64,
}

/// What both sides negotiate.
#[derive(Debug, Args)]
struct ProtocolArgs {
    /// ALPN protocols in preference order, comma-separated (e.g. h2,http/1.1).
    #[arg(long, value_delimiter = ',')]
    alpn: Vec<String>,
    /// Key exchange groups in preference order, comma-separated (default:
    /// X25519MLKEM768,X25519,secp256r1,secp384r1).
    #[arg(long, value_delimiter = ',', value_parser = names::parse_group)]
    groups: Vec<tlsbox_host::core::rustls::NamedGroup>,
}

impl ProtocolArgs {
    /// ALPN protocol names as bytes.
    fn alpn_protocols(&self) -> Vec<Vec<u8>> {
        self.alpn.iter().map(|p| p.as_bytes().to_vec()).collect()
    }
}

/// `tlsbox connect`.
#[derive(Debug, Args)]
struct ConnectArgs {
    /// HOST:PORT to connect to.
    address: String,
    /// Trust anchors (PEM) instead of the system's.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Name to send in SNI and verify (default: HOST).
    #[arg(long)]
    servername: Option<String>,
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// Client certificate chain (PEM) for mutual TLS.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// Client private key for mutual TLS: a PEM file or a `pkcs11:` URI.
    #[arg(long)]
    key: Option<String>,
    #[command(flatten)]
    pkcs11: keysource::Pkcs11Args,
}

/// Parse the command line, run, and map the outcome to an exit code.
pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TLSBOX_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tlsbox: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Server(args) => server::run(args).await,
            Command::Connect(args) => connect::run(args).await,
            Command::Keys(command) => keys::run(command),
        }
    });
    // Do not wait for a blocked stdin read (tokio reads stdin on a thread).
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tlsbox: {e:#}");
            ExitCode::FAILURE
        }
    }
}
