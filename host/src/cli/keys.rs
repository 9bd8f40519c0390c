//! `tlsbox keys`: key tooling for PKCS#11 tokens, so that neither
//! pkcs11-tool nor an OpenSSL provider configuration is needed.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use tlsbox_host::keystore::pkcs11::tooling::{self, KeyAlgorithm, TokenAdmin};
use tlsbox_host::keystore::pkcs11::Pkcs11Uri;

use super::keysource::{read_chain, Pkcs11Args};

/// Key algorithms for `generate`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Algorithm {
    /// RSA, 2048 bits.
    Rsa2048,
    /// RSA, 3072 bits.
    Rsa3072,
    /// ECDSA on P-256.
    P256,
    /// ECDSA on P-384.
    P384,
    /// Ed25519.
    Ed25519,
}

/// `tlsbox keys …`.
#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// List tokens and their keys and certificates. Private keys need the
    /// PIN, which is tried on one token only: --pkcs11-token-label, or the
    /// only token there is.
    List {
        #[command(flatten)]
        pkcs11: Pkcs11Args,
    },
    /// Generate a key pair inside a token: sensitive, never extractable.
    Generate {
        /// The token, as a URI (`pkcs11:token=…`), or use --pkcs11-token-label.
        #[arg(long, default_value = "pkcs11:")]
        token: String,
        /// Label of the new key (CKA_LABEL).
        #[arg(long)]
        label: String,
        /// Id of the new key (CKA_ID), hex; default: random 8 bytes.
        #[arg(long)]
        id: Option<String>,
        /// Algorithm.
        #[arg(long, value_enum, default_value = "p256")]
        algorithm: Algorithm,
        #[command(flatten)]
        pkcs11: Pkcs11Args,
    },
    /// Make a self-signed certificate signed by a token key (PEM on stdout
    /// or --out); --import also stores it on the token beside the key.
    SelfSign {
        /// The key, as a `pkcs11:` URI.
        #[arg(long)]
        key: String,
        /// DNS names and IP addresses (the first is also the subject CN).
        #[arg(long = "name", required = true)]
        names: Vec<String>,
        /// Validity in days.
        #[arg(long, default_value_t = 397)]
        days: i64,
        /// Write the certificate here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Store the certificate on the token too.
        #[arg(long)]
        import: bool,
        #[command(flatten)]
        pkcs11: Pkcs11Args,
    },
    /// Make a certificate signing request signed by a token key (PEM).
    Csr {
        /// The key, as a `pkcs11:` URI.
        #[arg(long)]
        key: String,
        /// DNS names and IP addresses (the first is also the subject CN).
        #[arg(long = "name", required = true)]
        names: Vec<String>,
        /// Write the request here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        pkcs11: Pkcs11Args,
    },
    /// Store a certificate (PEM, leaf first) on the token beside a key.
    ImportCert {
        /// The key, as a `pkcs11:` URI (its label and id name the certificate).
        #[arg(long)]
        key: String,
        /// The certificate file.
        #[arg(long)]
        cert: PathBuf,
        #[command(flatten)]
        pkcs11: Pkcs11Args,
    },
}

fn admin(uri: &Pkcs11Uri, pkcs11: &Pkcs11Args) -> Result<TokenAdmin> {
    let mut uri = uri.clone();
    if uri.token.is_none() {
        uri.token = pkcs11.pkcs11_token_label.clone();
    }
    let pin = pkcs11
        .pin()?
        .context("no PIN: set PKCS11_PIN or pass --pkcs11-pin-file")?;
    Ok(TokenAdmin::open(&pkcs11.module(&uri)?, &uri, &pin)?)
}

fn parse_uri(text: &str) -> Result<Pkcs11Uri> {
    // Not the URI itself in the error: it may carry a pin-value.
    text.parse().context("parsing the pkcs11: URI")
}

fn output(text: &str, out: Option<&PathBuf>) -> Result<()> {
    match out {
        Some(path) => std::fs::write(path, text).with_context(|| format!("writing {}", path.display())),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Result<Vec<u8>> {
    let digits = text.trim_start_matches("0x");
    if !digits.len().is_multiple_of(2) {
        anyhow::bail!("--id {text:?}: an even number of hex digits is needed");
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            let pair = digits.get(i..i + 2).context("hex")?;
            u8::from_str_radix(pair, 16).with_context(|| format!("--id {text:?} is not hex"))
        })
        .collect()
}

pub(crate) fn run(command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::List { pkcs11 } => {
            let module = pkcs11.module(&Pkcs11Uri::default())?;
            let label = pkcs11.pkcs11_token_label.as_deref();
            let mut out = std::io::stdout().lock();
            for token in tooling::list(&module, pkcs11.pin()?.as_ref(), label)? {
                writeln!(
                    out,
                    "slot {}: token {:?} (serial {}, {})",
                    token.slot, token.label, token.serial, token.manufacturer
                )?;
                for o in token.objects {
                    writeln!(out, "  {:<7} {:<24} id={}  {}", o.class, o.label, hex(&o.id), o.uri)?;
                }
            }
            Ok(())
        }
        KeysCommand::Generate {
            token,
            label,
            id,
            algorithm,
            pkcs11,
        } => {
            let uri = parse_uri(&token)?;
            let id = match id {
                Some(h) => unhex(&h)?,
                None => {
                    let mut id = [0u8; 8];
                    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
                    id.to_vec()
                }
            };
            let algorithm = match algorithm {
                Algorithm::Rsa2048 => KeyAlgorithm::Rsa2048,
                Algorithm::Rsa3072 => KeyAlgorithm::Rsa3072,
                Algorithm::P256 => KeyAlgorithm::EcP256,
                Algorithm::P384 => KeyAlgorithm::EcP384,
                Algorithm::Ed25519 => KeyAlgorithm::Ed25519,
            };
            let admin = admin(&uri, &pkcs11)?;
            admin.generate(&label, &id, algorithm)?;
            writeln!(
                std::io::stdout(),
                "generated {algorithm:?} key {label:?} id={} in the token",
                hex(&id)
            )?;
            Ok(())
        }
        KeysCommand::SelfSign {
            key,
            names,
            days,
            out,
            import,
            pkcs11,
        } => {
            let uri = parse_uri(&key)?;
            let admin = admin(&uri, &pkcs11)?;
            let pem = admin.self_signed(&uri, &names, days)?;
            if import {
                let der = rustls_pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
                    .map(|c: rustls_pki_types::CertificateDer<'_>| c.to_vec())
                    .context("re-reading the certificate")?;
                admin.import_certificate(
                    &der,
                    uri.object.as_deref().unwrap_or_default(),
                    uri.id.as_deref().unwrap_or_default(),
                )?;
            }
            output(&pem, out.as_ref())
        }
        KeysCommand::Csr {
            key,
            names,
            out,
            pkcs11,
        } => {
            let uri = parse_uri(&key)?;
            let pem = admin(&uri, &pkcs11)?.csr(&uri, &names)?;
            output(&pem, out.as_ref())
        }
        KeysCommand::ImportCert { key, cert, pkcs11 } => {
            let uri = parse_uri(&key)?;
            let chain = read_chain(&cert)?;
            let leaf = chain.first().context("empty certificate file")?;
            admin(&uri, &pkcs11)?.import_certificate(
                leaf,
                uri.object.as_deref().unwrap_or_default(),
                uri.id.as_deref().unwrap_or_default(),
            )?;
            writeln!(
                std::io::stdout(),
                "imported the certificate beside {:?}",
                uri.object.as_deref().unwrap_or_default()
            )?;
            Ok(())
        }
    }
}
