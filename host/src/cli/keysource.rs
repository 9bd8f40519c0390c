//! Where the CLI's identity key lives: a PEM file (software keystore) or a
//! PKCS#11 token (`pkcs11:` URI), and the certificate chain that goes with it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tlsbox_host::core::rustls::SignatureScheme;
use tlsbox_host::keystore::pkcs11::{self, KeySource, Pkcs11Keystore, Pkcs11Uri};
use tlsbox_host::keystore::software::SoftwareKeystore;
use tlsbox_host::keystore::{KeyInfo, Keystore, KeystoreError, WrappedTicketKeys};
use tlsbox_host::Identity;

/// PKCS#11 settings for keys named without them in their URI (the flags
/// ghostunnel users know). The PIN never goes on the command line.
#[derive(Debug, Clone, Args)]
pub(crate) struct Pkcs11Args {
    /// PKCS#11 module (shared library), if the key URI has no module-path=.
    #[arg(long, env = "PKCS11_MODULE")]
    pub(crate) pkcs11_module: Option<PathBuf>,
    /// Token label, if the key URI has no token=.
    #[arg(long)]
    pub(crate) pkcs11_token_label: Option<String>,
    /// File holding the user PIN (else the PKCS11_PIN environment variable).
    #[arg(long)]
    pub(crate) pkcs11_pin_file: Option<PathBuf>,
}

impl Pkcs11Args {
    /// The PIN: from --pkcs11-pin-file, else PKCS11_PIN.
    pub(crate) fn pin(&self) -> Result<Option<cryptoki::types::AuthPin>> {
        if let Some(path) = &self.pkcs11_pin_file {
            return Ok(Some(pkcs11::read_pin_file(path)?));
        }
        Ok(std::env::var("PKCS11_PIN").ok().map(cryptoki::types::AuthPin::from))
    }

    /// The module: the URI's module-path=, else --pkcs11-module.
    pub(crate) fn module(&self, uri: &Pkcs11Uri) -> Result<PathBuf> {
        uri.module_path
            .as_deref()
            .map(PathBuf::from)
            .or_else(|| self.pkcs11_module.clone())
            .context("no PKCS#11 module: pass --pkcs11-module or add module-path= to the URI")
    }
}

/// DER certificates, leaf first.
pub(crate) type Chain = Vec<Vec<u8>>;

/// The keystore's name for the CLI's one key (the first of several).
pub(crate) const KEY_NAME: &str = "identity";

/// Keys from several places, each found under its own name.
#[derive(Default)]
struct Keyring(HashMap<String, Arc<dyn Keystore>>);

impl Keystore for Keyring {
    fn describe_key(&self, key: &str) -> Result<KeyInfo, KeystoreError> {
        self.0
            .get(key)
            .ok_or_else(|| KeystoreError::UnknownKey(key.into()))?
            .describe_key(key)
    }

    fn sign(&self, key: &str, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        self.0
            .get(key)
            .ok_or_else(|| KeystoreError::UnknownKey(key.into()))?
            .sign(key, scheme, message)
    }

    /// Ticket keys belong to the deployment, not to one key: they come from
    /// the token of the default identity's key.
    fn ticket_keys(&self, box_public_key: &[u8]) -> Result<WrappedTicketKeys, KeystoreError> {
        self.0
            .get(KEY_NAME)
            .ok_or_else(|| KeystoreError::Failed("no default identity".into()))?
            .ticket_keys(box_public_key)
    }

    fn ticket_keys_epoch(&self) -> Option<u64> {
        self.0.get(KEY_NAME)?.ticket_keys_epoch()
    }
}

/// Identities and the keystore that signs for them.
pub(crate) struct Loaded {
    /// Certificate chains with their keystore key names; the first is the default.
    pub(crate) identities: Vec<Identity>,
    /// Signs for every identity.
    pub(crate) keystore: Arc<dyn Keystore>,
    /// The PKCS#11 keystores among them, for health checks.
    pub(crate) tokens: Vec<Arc<Pkcs11Keystore>>,
    /// When the first key's token keeps session-ticket keys: the group of
    /// the transfer into each box.
    pub(crate) tickets: Option<tlsbox_host::core::rustls::NamedGroup>,
}

/// A client's optional identity (for mutual TLS): one `--cert`/`--key`
/// pair, or none and an empty keystore.
pub(crate) fn load_client(cert: Option<&PathBuf>, key: Option<&String>, p11: &Pkcs11Args) -> Result<Loaded> {
    match key {
        Some(key) => load_all(&Vec::from_iter(cert.cloned()), std::slice::from_ref(key), p11, None),
        None if cert.is_some() => bail!("--cert needs --key"),
        None => Ok(Loaded {
            identities: vec![],
            keystore: Arc::new(SoftwareKeystore::new()),
            tokens: vec![],
            tickets: None,
        }),
    }
}

/// Load identities from paired `certs` and `keys` (the n-th certificate
/// goes with the n-th key). With no certificates at all, every key must be
/// a `pkcs11:` URI whose token stores the certificate beside it. With a
/// `ticket_rotation`, the first key's token is asked to keep session-ticket
/// keys; a key outside a token, or a token that cannot, means no tickets
/// (logged), never a ticket key in this process.
pub(crate) fn load_all(
    certs: &[PathBuf],
    keys: &[String],
    p11: &Pkcs11Args,
    ticket_rotation: Option<Duration>,
) -> Result<Loaded> {
    if keys.is_empty() {
        bail!("no --key given");
    }
    if !certs.is_empty() && certs.len() != keys.len() {
        bail!(
            "{} --cert but {} --key: give one certificate per key, in the same order",
            certs.len(),
            keys.len()
        );
    }
    let mut ring = Keyring::default();
    let mut identities = vec![];
    let mut tokens = vec![];
    let mut tickets = None;
    for (i, key) in keys.iter().enumerate() {
        let name = match i {
            0 => KEY_NAME.to_string(),
            n => format!("{KEY_NAME}-{}", n + 1),
        };
        let cert = certs.get(i);
        let (chain, keystore): (Chain, Arc<dyn Keystore>) = if pkcs11::uri::is_pkcs11_uri(key) {
            // Not the URI itself in the error: it may carry a pin-value.
            let uri: Pkcs11Uri = key.parse().context("parsing the --key pkcs11: URI")?;
            let source = KeySource {
                uri,
                module: p11.pkcs11_module.clone(),
                token_label: p11.pkcs11_token_label.clone(),
                pin: p11.pin()?,
            };
            let mut store = Pkcs11Keystore::new();
            store
                .add_key(name.clone(), &source)
                .context("opening the key in the PKCS#11 token")?;
            let chain = match cert {
                Some(path) => read_chain(path)?,
                None => vec![store
                    .certificate(&name)
                    .context("no --cert given and no certificate on the token beside the key")?],
            };
            if let (0, Some(rotation)) = (i, ticket_rotation) {
                match store.enable_tickets(&name, rotation) {
                    Ok(()) => {
                        tickets = store.ticket_transfer_group();
                        tracing::info!(rotation = %humantime::format_duration(rotation), "session tickets on: ticket keys kept in the token");
                    }
                    Err(e) => tracing::warn!("session tickets off: {e}"),
                }
            }
            let store = Arc::new(store);
            tokens.push(store.clone());
            (chain, store)
        } else {
            let Some(cert) = cert else {
                bail!("--key {key} is a file: --cert is needed too")
            };
            let mut store = SoftwareKeystore::new();
            store
                .load_pem_file(name.clone(), Path::new(key))
                .with_context(|| format!("loading the key {key}"))?;
            if i == 0 && ticket_rotation.is_some() {
                tracing::info!(
                    "session tickets off: the key is a file, not in a PKCS#11 token, and ticket keys are never held by this process"
                );
            }
            (read_chain(cert)?, Arc::new(store))
        };
        ring.0.insert(name.clone(), keystore);
        identities.push(Identity {
            certificate_chain: chain,
            key: name,
            schemes: vec![],
        });
    }
    Ok(Loaded {
        identities,
        keystore: Arc::new(ring),
        tokens,
        tickets,
    })
}

/// The certificates of a PEM file, leaf first.
pub(crate) fn read_chain(path: &Path) -> Result<Vec<Vec<u8>>> {
    let chain = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading {}", path.display()))?
        .map(|c| c.map(|c| c.as_ref().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", path.display()))?;
    if chain.is_empty() {
        bail!("no certificate in {}", path.display());
    }
    Ok(chain)
}
