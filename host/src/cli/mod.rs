//! Command line: every flag is declared in this module. The config file
//! ([`config_file`]) holds the same flags, so both stay one surface.

mod address;
mod client;
mod config_file;
mod config_table;
mod connect;
mod identity;
mod keys;
mod keysource;
mod names;
mod responder;
mod server;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub(crate) use address::Address;
pub(crate) use names::{summary, version as version_name};
pub(crate) use responder::respond;

/// tlsbox: TLS whose session secrets live in a WebAssembly box and whose
/// identity key never enters it.
#[derive(Debug, Parser)]
#[command(name = "tlsbox", version, about, args_override_self = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Accept TLS and forward plaintext to --target (a TLS-terminating
    /// proxy), or, without --target, answer with a built-in page. With no
    /// --cert/--key, a local CA and a certificate for localhost are
    /// generated once and reused.
    Server(ServerArgs),
    /// Accept plaintext on --listen and forward it over TLS to --target (a
    /// TLS-originating proxy).
    Client(ClientArgs),
    /// Connect to a TLS server: stdin to the peer, the peer to stdout, a
    /// handshake summary on stderr.
    Connect(ConnectArgs),
    /// Manage keys in a PKCS#11 token: list, generate, certify, import.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
}

/// Settings of the whole process (top-level keys in the config file).
#[derive(Debug, Clone, Args)]
pub(crate) struct GlobalArgs {
    /// TOML file with [[server]] and [[client]] tables holding the same
    /// settings as the flags (one table per listener); flags given on the
    /// command line override the file.
    #[arg(long, global = true)]
    pub(crate) config: Option<PathBuf>,
    /// Serve /_status (JSON) and /_metrics (Prometheus) on this address.
    #[arg(long, global = true)]
    pub(crate) status: Option<Address>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum)]
    pub(crate) log_format: Option<LogFormat>,
    /// Seconds live connections get to finish after SIGTERM/SIGINT [default: 30].
    #[arg(long, global = true, value_parser = seconds())]
    pub(crate) shutdown_timeout: Option<u64>,
    /// Reload certificates, CA bundles and allow-lists every this many
    /// seconds (as on SIGHUP).
    #[arg(long, global = true, value_parser = seconds())]
    pub(crate) timed_reload: Option<u64>,
}

/// The most connections one listener may serve at once (each is a box).
const MAX_CONNS: i64 = 65_536;

/// Durations in seconds, up to a year: long enough for any timeout, short
/// enough that no deadline overflows.
fn seconds() -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(0..=365 * 24 * 3600)
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// For people.
    Human,
    /// One JSON object per line, for machines.
    Json,
}

/// `tlsbox server`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ServerArgs {
    /// Address to accept TLS on: HOST:PORT or unix:PATH [default: 127.0.0.1:8443].
    #[arg(long)]
    pub(crate) listen: Option<Address>,
    /// Allow a --listen address that is not loopback.
    #[arg(long)]
    pub(crate) unsafe_listen: bool,
    /// Where to forward plaintext: HOST:PORT or unix:PATH. Without it, a
    /// built-in page answers.
    #[arg(long)]
    pub(crate) target: Option<Address>,
    /// Allow a --target that is not loopback or a UNIX socket.
    #[arg(long)]
    pub(crate) unsafe_target: bool,
    /// Certificate chain (PEM), leaf first; repeat with --key for more
    /// identities chosen by SNI (the first is the default). With pkcs11:
    /// keys and no --cert, the certificates stored beside the keys are used.
    #[arg(long)]
    pub(crate) cert: Vec<PathBuf>,
    /// Private key: a PEM file (PKCS#8, SEC1 or PKCS#1, held by the software
    /// keystore) or a `pkcs11:` URI (the key stays in the token). Repeat
    /// with --cert.
    #[arg(long)]
    pub(crate) key: Vec<String>,
    #[command(flatten)]
    pub(crate) pkcs11: keysource::Pkcs11Args,
    #[command(flatten)]
    pub(crate) protocol: ProtocolArgs,
    /// Where the generated identity is kept (default: $XDG_DATA_HOME/tlsbox).
    #[arg(long, env = "TLSBOX_STATE_DIR")]
    pub(crate) state_dir: Option<PathBuf>,
    /// CA bundle (PEM) that client certificates must chain to.
    #[arg(long)]
    pub(crate) cacert: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) allow: AllowArgs,
    /// Ask for no client certificate (server authentication only).
    #[arg(long, conflicts_with_all = ["allow_all", "allow_cn", "allow_ou", "allow_dns", "allow_uri", "allow_spki_pin"])]
    pub(crate) disable_authentication: bool,
    /// Send a PROXY protocol v2 header to the target: the client's address
    /// and, in TLVs, the TLS version, SNI and verified client identity.
    #[arg(long)]
    pub(crate) proxy_protocol: bool,
    /// Expect a PROXY protocol v2 header on each accepted connection (tlsbox
    /// behind a TCP load balancer) and take the client address from it.
    #[arg(long)]
    pub(crate) proxy_protocol_in: bool,
    #[command(flatten)]
    pub(crate) tickets: TicketArgs,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
}

/// Session resumption (RFC 8446 §4.6.1): tickets sealed in the box with
/// keys kept in the token of the first --key, never in this process.
#[derive(Debug, Clone, Args)]
pub(crate) struct TicketArgs {
    /// Issue and accept no session tickets: every reconnect is a full
    /// handshake with a token signature.
    #[arg(long, conflicts_with_all = ["ticket_rotation", "tickets_per_handshake", "no_ticket_relay"])]
    pub(crate) no_tickets: bool,
    /// How long one ticket key seals new tickets (e.g. 12h, 30m, 90s); the
    /// key before it still opens tickets for one more period. Also the
    /// ticket lifetime told to clients, so at most 7 days [default: 12h].
    #[arg(long, value_parser = parse_rotation)]
    pub(crate) ticket_rotation: Option<std::time::Duration>,
    /// Tickets sent after each TLS 1.3 handshake, 1 to 16 [default: 2].
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=16))]
    pub(crate) tickets_per_handshake: Option<u8>,
    /// Have every connection's box ask the token for the ticket keys,
    /// instead of a long-lived relay box that asks once per rotation (the
    /// keys then live only in connection boxes; each handshake costs the
    /// token a derive and a wrap).
    #[arg(long)]
    pub(crate) no_ticket_relay: bool,
}

/// A rotation period: a humantime duration from 1 s to 7 days.
fn parse_rotation(text: &str) -> Result<std::time::Duration, String> {
    let period = humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e} (e.g. 12h, 30m, 90s)"))?;
    let max = std::time::Duration::from_secs(u64::from(tlsbox_host::core::options::MAX_TICKET_LIFETIME));
    if period < std::time::Duration::from_secs(1) || period > max {
        return Err(format!(
            "{text:?}: must be 1s to 7d (the ticket lifetime RFC 8446 allows)"
        ));
    }
    Ok(period)
}

/// Who may connect to a server (any matching rule admits a client).
#[derive(Debug, Clone, Args)]
pub(crate) struct AllowArgs {
    /// Admit every client whose certificate chains to --cacert.
    #[arg(long, conflicts_with_all = ["allow_cn", "allow_ou", "allow_dns", "allow_uri", "allow_spki_pin"])]
    pub(crate) allow_all: bool,
    /// Admit clients with this subject common name (repeatable).
    #[arg(long)]
    pub(crate) allow_cn: Vec<String>,
    /// Admit clients with this subject organizational unit (repeatable).
    #[arg(long)]
    pub(crate) allow_ou: Vec<String>,
    /// Admit clients with this DNS subject alternative name (repeatable).
    #[arg(long)]
    pub(crate) allow_dns: Vec<String>,
    /// Admit clients with this URI subject alternative name, e.g. a SPIFFE
    /// ID; `*` matches one path segment, `**` any number (repeatable).
    #[arg(long)]
    pub(crate) allow_uri: Vec<String>,
    /// Admit clients whose public key has this pin: sha256:HEX or
    /// sha256:BASE64 of the DER SubjectPublicKeyInfo (repeatable).
    #[arg(long)]
    pub(crate) allow_spki_pin: Vec<String>,
}

/// What a client checks on the server beyond its name and chain.
#[derive(Debug, Clone, Args)]
pub(crate) struct VerifyArgs {
    /// Require this subject common name (repeatable; any one matches).
    #[arg(long)]
    pub(crate) verify_cn: Vec<String>,
    /// Require this subject organizational unit (repeatable).
    #[arg(long)]
    pub(crate) verify_ou: Vec<String>,
    /// Require this DNS subject alternative name (repeatable).
    #[arg(long)]
    pub(crate) verify_dns: Vec<String>,
    /// Require this URI subject alternative name; `*`/`**` wildcards (repeatable).
    #[arg(long)]
    pub(crate) verify_uri: Vec<String>,
    /// Require this public key pin: sha256:HEX or sha256:BASE64 (repeatable).
    #[arg(long)]
    pub(crate) verify_spki_pin: Vec<String>,
}

/// Bounds on connections (per listener).
#[derive(Debug, Clone, Args)]
pub(crate) struct LimitArgs {
    /// Connections served at once; more are closed at accept [default: 512].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_CONNS))]
    pub(crate) max_concurrent_conns: Option<u32>,
    /// Handshakes under way at once; more wait (within their timeout) [default: 64].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_CONNS))]
    pub(crate) max_concurrent_handshakes: Option<u32>,
    /// Signatures waiting on or running in the keystore at once; past it a
    /// handshake fails at once instead of queueing on the token [default: 32].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_CONNS))]
    pub(crate) max_queued_signatures: Option<u32>,
    /// Seconds a peer has to complete the TLS handshake [default: 10].
    #[arg(long, value_parser = seconds())]
    pub(crate) handshake_timeout: Option<u64>,
    /// Close a connection after this many seconds with no data either way.
    #[arg(long, value_parser = seconds())]
    pub(crate) idle_timeout: Option<u64>,
    /// Close a connection this many seconds after it opened.
    #[arg(long, value_parser = seconds())]
    pub(crate) max_conn_lifetime: Option<u64>,
}

/// What both sides negotiate.
#[derive(Debug, Clone, Args)]
pub(crate) struct ProtocolArgs {
    /// ALPN protocols in preference order, comma-separated (e.g. h2,http/1.1).
    #[arg(long, value_delimiter = ',')]
    pub(crate) alpn: Vec<String>,
    /// Key exchange groups in preference order, comma-separated (default:
    /// X25519MLKEM768,X25519,secp256r1,secp384r1).
    #[arg(long, value_delimiter = ',', value_parser = names::parse_group)]
    pub(crate) groups: Vec<tlsbox_host::core::rustls::NamedGroup>,
    /// Cipher suites in preference order, comma-separated, IANA names
    /// (default: ChaCha20-Poly1305 first, the fastest in the box, then
    /// AES-128-GCM and AES-256-GCM; a server keeps its own order).
    #[arg(long, value_delimiter = ',', value_parser = names::parse_suite)]
    pub(crate) cipher_suites: Vec<tlsbox_host::core::rustls::CipherSuite>,
    /// Lowest TLS version accepted [default: 1.2].
    #[arg(long, value_parser = ["1.2", "1.3"])]
    pub(crate) min_tls_version: Option<String>,
    /// Send a TLS 1.3 KeyUpdate (and ask the peer for one) after this many
    /// bytes were sent under one traffic key [default: only when the
    /// cipher's safety limit calls for it].
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) key_update_after: Option<u64>,
}

impl ProtocolArgs {
    /// ALPN protocol names as bytes.
    pub(crate) fn alpn_protocols(&self) -> Vec<Vec<u8>> {
        self.alpn.iter().map(|p| p.as_bytes().to_vec()).collect()
    }

    /// When to refresh traffic keys. The exporter stays off: nothing the
    /// CLI forwards to needs key-derived material.
    pub(crate) fn key_policy(&self) -> tlsbox_host::core::KeyPolicy {
        tlsbox_host::core::KeyPolicy {
            key_update_after_bytes: self.key_update_after.unwrap_or(0),
            allow_exporter: false,
        }
    }

    /// The versions to offer: TLS 1.3 preferred, 1.2 unless refused.
    pub(crate) fn versions(&self) -> Vec<tlsbox_host::core::rustls::ProtocolVersion> {
        use tlsbox_host::core::rustls::ProtocolVersion;
        match self.min_tls_version.as_deref() {
            Some("1.3") => vec![ProtocolVersion::TLSv1_3],
            _ => vec![],
        }
    }
}

/// `tlsbox client`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ClientArgs {
    /// Address to accept plaintext on: HOST:PORT or unix:PATH.
    #[arg(long)]
    pub(crate) listen: Option<Address>,
    /// Allow a --listen address that is not loopback.
    #[arg(long)]
    pub(crate) unsafe_listen: bool,
    /// The TLS server to forward to, HOST:PORT.
    #[arg(long)]
    pub(crate) target: Option<String>,
    /// CA bundle (PEM) the server must chain to (default: the system's).
    #[arg(long)]
    pub(crate) cacert: Option<PathBuf>,
    /// Name to send in SNI and verify instead of the --target host.
    #[arg(long)]
    pub(crate) override_server_name: Option<String>,
    #[command(flatten)]
    pub(crate) verify: VerifyArgs,
    /// Client certificate chain (PEM) for mutual TLS.
    #[arg(long)]
    pub(crate) cert: Option<PathBuf>,
    /// Client key for mutual TLS: a PEM file or a `pkcs11:` URI.
    #[arg(long)]
    pub(crate) key: Option<String>,
    #[command(flatten)]
    pub(crate) pkcs11: keysource::Pkcs11Args,
    #[command(flatten)]
    pub(crate) protocol: ProtocolArgs,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
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

/// One listener to run, resolved from flags and the config file.
#[derive(Debug, Clone)]
pub(crate) enum ListenerArgs {
    /// Accept TLS.
    Server(Box<ServerArgs>),
    /// Originate TLS.
    Client(Box<ClientArgs>),
}

/// Everything the proxy runs: process settings and listeners.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) global: GlobalArgs,
    pub(crate) listeners: Vec<ListenerArgs>,
}

/// Re-read the command line and config file (at start and on reload).
pub(crate) fn plan() -> anyhow::Result<Plan> {
    config_file::plan()
}

pub(crate) use client::{build as build_client, spec as client_spec};
pub(crate) use server::{build as build_server, spec as server_spec};

/// Parse the command line, run, and map the outcome to an exit code.
pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    let plan = match &cli.command {
        Command::Server(_) | Command::Client(_) => match plan() {
            Ok(plan) => Some(plan),
            Err(e) => {
                say(format_args!("tlsbox: {e:#}"));
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    let format = plan
        .as_ref()
        .and_then(|p| p.global.log_format)
        .or(cli.global.log_format)
        .unwrap_or(LogFormat::Human);
    init_logging(format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            say(format_args!("tlsbox: cannot start the runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match (cli.command, plan) {
            (Command::Connect(args), _) => connect::run(args).await,
            (Command::Keys(command), _) => keys::run(command),
            (_, Some(plan)) => crate::proxy::run(plan).await,
            (_, None) => Ok(()),
        }
    });
    // Do not wait for a blocked stdin read (tokio reads stdin on a thread).
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            say(format_args!("tlsbox: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

/// A line for the operator on standard error. If stderr cannot be written
/// (a full disk, a closed pipe) the line is lost; `eprintln!` would panic
/// and take the proxy down with it.
pub(crate) fn say(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn init_logging(format: LogFormat) {
    let wanted = std::env::var("TLSBOX_LOG").unwrap_or_default();
    let mut filter = tracing_subscriber::EnvFilter::try_new(&wanted)
        .ok()
        .filter(|_| !wanted.is_empty())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    // cryptoki logs, at ERROR, every mechanism a token offers that it has
    // no name for, each time the mechanism list is read (SoftHSM2: some
    // twenty lines at start-up). They are not errors; keep them out unless
    // asked for by name.
    if !wanted.contains("cryptoki") {
        if let Ok(quiet) = "cryptoki::mechanism=off".parse() {
            filter = filter.add_directive(quiet);
        }
    }
    // A log line that cannot be written is dropped. By default the
    // subscriber reports the failure with `eprintln!`, to the same failing
    // stderr, and that panic stopped the proxy (a full log disk).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}
