//! A keystore whose keys live in a PKCS#11 token (an HSM, a smart card,
//! SoftHSM2): the private key never leaves the token, and no process of
//! ours can read it. Keys are named by RFC 7512 `pkcs11:` URIs ([`uri`]).
//!
//! How it talks to the token:
//! - each module is loaded and `C_Initialize`d once per process, with OS
//!   locking (without it SoftHSM2 crashes under two threads);
//! - each token keeps a pool of logged-in sessions, one per signing thread
//!   at a time; the pool keeps at least one open so the login survives;
//! - a session the token invalidated (closed behind our back, logged out)
//!   is replaced, with a fresh login, and the call made once more;
//! - a token that went away fails signatures with a typed error and the
//!   process carries on; when it answers again (at most once a second the
//!   module is re-initialised to find out, see [`module`]) signing resumes
//!   without a restart;
//! - it signs only TLS-shaped messages for the keys it was configured with
//!   (DESIGN.md invariant 3), and logs refusals without their content.
//!
//! Initialise it after any `fork()`: PKCS#11 state does not survive one.

mod mechanism;
mod module;
mod tickets;
pub mod tooling;
pub mod uri;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::MechanismType;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use tlsbox_core::rustls::SignatureScheme;

use self::mechanism::KeyKind;
use self::module::{token_gone, Module};
pub use self::tickets::Clock;
use self::tickets::{TicketKeys, TransferKind};
pub use self::uri::{Pkcs11Uri, UriError};
use super::{policy, KeyInfo, Keystore, KeystoreError, WrappedTicketKeys};

/// Why the PKCS#11 keystore could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Pkcs11Error {
    /// The key reference is not a valid `pkcs11:` URI.
    #[error("{0}")]
    Uri(#[from] UriError),
    /// No PKCS#11 module was named (`module-path=` or `--pkcs11-module`).
    #[error("no PKCS#11 module given: add module-path= to the URI or pass --pkcs11-module")]
    NoModule,
    /// No PIN was given for a token that needs one.
    #[error("no PIN for token {0:?}: set PKCS11_PIN, --pkcs11-pin-file, or pin-source= in the URI")]
    NoPin(String),
    /// The PIN file could not be read.
    #[error("reading the PIN file {path}: {source}")]
    PinFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No token matches the URI.
    #[error("no token matches {0}")]
    NoToken(String),
    /// Several tokens match the URI.
    #[error("several tokens match {0}; add token= or serial=")]
    AmbiguousToken(String),
    /// No private key matches the URI on the token.
    #[error("no private key matches {0}")]
    NoKey(String),
    /// Several private keys match.
    #[error("several private keys match {0}; add id= or object=")]
    AmbiguousKey(String),
    /// The key is of a type or curve the box cannot use.
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    /// A PKCS#11 call failed; names the function and the CKR_ code.
    #[error("{0}")]
    Call(#[from] CkError),
}

/// Find the one slot whose token matches the URI's token attributes.
fn find_slot(ctx: &cryptoki::context::Pkcs11, uri: &Pkcs11Uri, shown: &str) -> Result<Slot, Pkcs11Error> {
    let mut found = Vec::new();
    for slot in ctx.get_slots_with_initialized_token()? {
        let info = ctx.get_token_info(slot)?;
        let matches = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have.trim_end());
        if matches(&uri.token, info.label())
            && matches(&uri.serial, info.serial_number())
            && matches(&uri.manufacturer, info.manufacturer_id())
            && matches(&uri.model, info.model())
            && uri.slot_id.is_none_or(|id| id == slot.id())
        {
            found.push(slot);
        }
    }
    match found.as_slice() {
        [slot] => Ok(*slot),
        [] => Err(Pkcs11Error::NoToken(shown.to_string())),
        _ => Err(Pkcs11Error::AmbiguousToken(shown.to_string())),
    }
}

/// The CKR_ codes after which a session is no good and must be replaced.
fn session_lost(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::UserNotLoggedIn
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::DeviceError,
            _
        )
    )
}

/// Log the user in on `session`. The login is per token and application,
/// so "already logged in" (another session did it) is success.
pub(crate) fn login(session: &Session, pin: &AuthPin) -> Result<(), CkError> {
    match session.login(UserType::User, Some(pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// What finds the private key a URI names: its class, id and label.
pub(crate) fn private_key_template(uri: &Pkcs11Uri) -> Vec<Attribute> {
    let mut template = vec![Attribute::Class(ObjectClass::PRIVATE_KEY)];
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    if let Some(label) = &uri.object {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    template
}

/// A session of one module generation. Opened without close-on-drop: a
/// session of an older generation must be forgotten, not closed.
struct Pooled {
    session: Session,
    generation: u64,
}

impl Pooled {
    /// Close it, unless C_Finalize already did.
    fn close(self, current: u64) {
        if self.generation == current {
            let _ = self.session.close();
        }
    }
}

/// One token: where it is, its PIN, and a pool of logged-in sessions.
struct Token {
    module: Arc<Module>,
    /// Label and serial number: what finds the token again after the
    /// module is re-initialised (slot numbers may change).
    label: String,
    serial: String,
    /// The slot, and the generation it was found in.
    slot: Mutex<(u64, Slot)>,
    pin: Option<AuthPin>,
    pool: Mutex<Vec<Pooled>>,
}

impl Token {
    /// The token in `slot`, found in `generation`, which the caller holds.
    fn open(module: Arc<Module>, slot: Slot, pin: Option<AuthPin>, generation: u64) -> Result<Self, Pkcs11Error> {
        let info = module.ctx().get_token_info(slot)?;
        let token = Self {
            label: info.label().trim_end().to_string(),
            serial: info.serial_number().trim_end().to_string(),
            slot: Mutex::new((generation, slot)),
            pin,
            pool: Mutex::new(Vec::new()),
            module,
        };
        // Log in now: a wrong PIN must fail at start-up, not at the first
        // handshake. The session stays in the pool and keeps the login.
        let session = token.new_session(generation)?;
        token.pool().push(session);
        Ok(token)
    }

    /// The token's slot in `generation`, found again by label and serial
    /// after a re-initialisation.
    fn slot(&self, generation: u64) -> Result<Slot, Pkcs11Error> {
        let mut cached = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if cached.0 != generation {
            let uri = Pkcs11Uri {
                token: Some(self.label.clone()),
                serial: Some(self.serial.clone()),
                ..Pkcs11Uri::default()
            };
            let slot = find_slot(self.module.ctx(), &uri, &format!("{uri:?}"))?;
            *cached = (generation, slot);
        }
        Ok(cached.1)
    }

    fn new_session(&self, generation: u64) -> Result<Pooled, Pkcs11Error> {
        let session = self.module.ctx().open_ro_session_no_drop(self.slot(generation)?)?;
        let pooled = Pooled { session, generation };
        if let Some(pin) = &self.pin {
            if let Err(e) = login(&pooled.session, pin) {
                pooled.close(generation);
                return Err(e.into());
            }
        }
        Ok(pooled)
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, Vec<Pooled>> {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A pooled session of `generation`; older ones are forgotten.
    fn take_session(&self, generation: u64) -> Option<Pooled> {
        let mut pool = self.pool();
        while let Some(pooled) = pool.pop() {
            if pooled.generation == generation {
                return Some(pooled);
            }
        }
        None
    }

    /// Close every pooled session: they share the fate of one the token
    /// invalidated.
    fn empty_pool(&self, generation: u64) {
        let pooled: Vec<Pooled> = std::mem::take(&mut *self.pool());
        for p in pooled {
            p.close(generation);
        }
    }

    /// Forget every pooled session without closing it: the token says its
    /// handles are void, and a number it voided may already name another
    /// thread's new session.
    fn forget_pool(&self) {
        self.pool().clear();
    }

    /// Run `f` on a logged-in session, with the module generation it
    /// belongs to. If the token invalidated the session (closed behind our
    /// back, logged out), `f` runs once more on a fresh one. If the token
    /// itself is gone, the module is re-initialised (at most once a second)
    /// and `f` runs once more in the new generation; only if that fails too
    /// is the error returned.
    fn with_session<T>(&self, f: impl Fn(&Session, u64) -> Result<T, Pkcs11Error>) -> Result<T, Pkcs11Error> {
        let generation = self.module.enter();
        match self.attempt(*generation, &f) {
            // A module re-initialised while the token was away may list no
            // such token yet: that too is "gone", to be looked for again.
            Err(e) if matches!(&e, Pkcs11Error::Call(c) if token_gone(c)) || matches!(e, Pkcs11Error::NoToken(_)) => {
                let seen = *generation;
                drop(generation);
                if !self.module.reinitialize(seen) {
                    return Err(e);
                }
                let generation = self.module.enter();
                self.attempt(*generation, &f)
            }
            other => other,
        }
    }

    fn attempt<T>(
        &self,
        generation: u64,
        f: &impl Fn(&Session, u64) -> Result<T, Pkcs11Error>,
    ) -> Result<T, Pkcs11Error> {
        let pooled = match self.take_session(generation) {
            Some(s) => s,
            None => self.new_session(generation)?,
        };
        match f(&pooled.session, generation) {
            Err(Pkcs11Error::Call(e)) if session_lost(&e) => {
                tracing::warn!(token = %self.label, error = %e, "PKCS#11 session lost; logging in again");
                if matches!(e, CkError::Pkcs11(RvError::UserNotLoggedIn, _)) {
                    // The sessions are valid, only logged out.
                    self.empty_pool(generation);
                    pooled.close(generation);
                } else {
                    self.forget_pool();
                }
                let fresh = self.new_session(generation)?;
                let result = f(&fresh.session, generation);
                self.pool().push(fresh);
                result
            }
            result => {
                self.pool().push(pooled);
                result
            }
        }
    }

    /// Whether the token answers now (for health checks).
    fn reachable(&self) -> Result<(), Pkcs11Error> {
        self.with_session(|s, _| Ok(s.get_session_info()?)).map(drop)
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        // Close the pooled sessions while holding their generation, so that
        // no re-initialisation runs between the check and the close. If it
        // cannot be had at once, forget them: a re-initialisation is about
        // to void them anyway, and waiting here could deadlock a thread
        // that already holds the generation.
        match self.module.try_enter() {
            Some(generation) => self.empty_pool(*generation),
            None => self.forget_pool(),
        }
    }
}

/// One configured key.
struct KeyEntry {
    token: Arc<Token>,
    /// What finds the private key: class, and the URI's id and label.
    template: Vec<Attribute>,
    /// The key's handle, and the module generation it is valid in.
    handle: Mutex<Option<(u64, ObjectHandle)>>,
    kind: KeyKind,
    schemes: Vec<SignatureScheme>,
    spki: Vec<u8>,
    /// The certificate stored on the token with the same id or label.
    certificate: Option<Vec<u8>>,
}

impl KeyEntry {
    /// The key's handle in `generation`, found with `session` if not known.
    fn handle(&self, session: &Session, generation: u64) -> Result<ObjectHandle, Pkcs11Error> {
        let mut cached = self.handle.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((g, h)) = *cached {
            if g == generation {
                return Ok(h);
            }
        }
        let found = session.find_objects(&self.template)?;
        match found.as_slice() {
            [h] => {
                *cached = Some((generation, *h));
                Ok(*h)
            }
            [] => Err(Pkcs11Error::NoKey(format!("{:?}", self.template))),
            _ => Err(Pkcs11Error::AmbiguousKey(format!("{:?}", self.template))),
        }
    }

    fn forget_handle(&self) {
        *self.handle.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// Keys in PKCS#11 tokens, by name.
#[derive(Default)]
pub struct Pkcs11Keystore {
    keys: HashMap<String, KeyEntry>,
    tokens: Vec<Arc<Token>>,
    /// Session-ticket keys, in the token of one of the keys.
    tickets: Option<TicketKeys>,
}

/// Why a token cannot keep session-ticket keys; the server then runs
/// without tickets.
#[derive(Debug, thiserror::Error)]
#[error("no session tickets from token {token:?}: {reason}")]
pub struct TicketsUnavailable {
    /// The token.
    pub token: String,
    /// Why (missing mechanisms, a failed trial transfer).
    pub reason: String,
}

impl std::fmt::Debug for Pkcs11Keystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Keystore")
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Where a key is and how to log in to its token.
#[derive(Debug, Clone, Default)]
pub struct KeySource {
    /// The key's URI.
    pub uri: Pkcs11Uri,
    /// The module, if the URI names none (`--pkcs11-module`).
    pub module: Option<PathBuf>,
    /// The token label, if the URI names none (`--pkcs11-token-label`).
    pub token_label: Option<String>,
    /// The user PIN, if the URI carries none.
    pub pin: Option<AuthPin>,
}

/// Read a PIN file: its first line, without the line ending.
pub fn read_pin_file(path: &Path) -> Result<AuthPin, Pkcs11Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Pkcs11Error::PinFile {
        path: path.into(),
        source,
    })?;
    Ok(AuthPin::from(text.lines().next().unwrap_or_default().to_string()))
}

impl Pkcs11Keystore {
    /// An empty keystore.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add the key `source` names under `name`: finds its token (logging in
    /// now, so a wrong PIN fails here), the private key, its public half and
    /// the schemes the token can make with it.
    pub fn add_key(&mut self, name: impl Into<String>, source: &KeySource) -> Result<(), Pkcs11Error> {
        let uri = &source.uri;
        let shown = format!("{uri:?}");
        let module_path = uri
            .module_path
            .as_deref()
            .map(PathBuf::from)
            .or_else(|| source.module.clone())
            .ok_or(Pkcs11Error::NoModule)?;
        let module = Module::load(&module_path)?;
        let ctx = module.ctx();
        // Every direct call below runs in one generation of the module.
        let generation = module.enter();
        let mut token_uri = uri.clone();
        if token_uri.token.is_none() {
            token_uri.token = source.token_label.clone();
        }
        let slot = find_slot(ctx, &token_uri, &shown)?;
        let pin = match (&uri.pin_value, &uri.pin_source) {
            (Some(v), _) => Some(AuthPin::from(v.clone())),
            (None, Some(src)) => Some(read_pin_file(Path::new(src.strip_prefix("file:").unwrap_or(src)))?),
            (None, None) => source.pin.clone(),
        };
        let info = ctx.get_token_info(slot)?;
        let same_token = |t: &&Arc<Token>| {
            Arc::ptr_eq(&t.module, &module)
                && t.label == info.label().trim_end()
                && t.serial == info.serial_number().trim_end()
        };
        let token = match self.tokens.iter().find(same_token) {
            Some(t) => t.clone(),
            None => {
                if info.login_required() && pin.is_none() {
                    return Err(Pkcs11Error::NoPin(token_uri.token.clone().unwrap_or_default()));
                }
                let t = Arc::new(Token::open(module.clone(), slot, pin, *generation)?);
                self.tokens.push(t.clone());
                t
            }
        };
        // `with_session` enters the module itself.
        drop(generation);

        let entry = KeyEntry {
            token: token.clone(),
            template: private_key_template(uri),
            handle: Mutex::new(None),
            kind: KeyKind::Rsa,
            schemes: Vec::new(),
            spki: Vec::new(),
            certificate: None,
        };
        let Described {
            kind,
            spki,
            certificate,
        } = token
            .with_session(|s, generation| describe(s, entry.handle(s, generation)?, &entry.template))
            .map_err(|e| match e {
                Pkcs11Error::NoKey(_) => Pkcs11Error::NoKey(shown.clone()),
                Pkcs11Error::AmbiguousKey(_) => Pkcs11Error::AmbiguousKey(shown.clone()),
                other => other,
            })?;
        let mechanisms = {
            let generation = module.enter();
            ctx.get_mechanism_list(token.slot(*generation)?)?
        };
        let schemes = mechanism::schemes(kind, &mechanisms);
        if schemes.is_empty() {
            return Err(Pkcs11Error::UnsupportedKey(format!(
                "the token offers no mechanism to sign with {shown}"
            )));
        }
        if kind == KeyKind::Rsa && !mechanisms.contains(&MechanismType::RSA_PKCS_PSS) {
            tracing::warn!(key = %shown, "the token lacks CKM_RSA_PKCS_PSS: this RSA key can only serve TLS 1.2");
        }
        let spki = spki.ok_or_else(|| {
            Pkcs11Error::UnsupportedKey(format!("no public key or certificate on the token for {shown}"))
        })?;
        self.keys.insert(
            name.into(),
            KeyEntry {
                kind,
                schemes,
                spki,
                certificate,
                ..entry
            },
        );
        Ok(())
    }

    /// Whether every token this keystore uses answers now (for health
    /// checks): asks each, through a logged-in session, so that a token
    /// that came back is found again here as on a handshake.
    pub fn tokens_reachable(&self) -> Result<(), Pkcs11Error> {
        self.tokens.iter().try_for_each(|token| token.reachable())
    }

    /// Keep session-ticket keys in the token of the key `key`, a new one
    /// every `rotation` (the previous one still opens tickets for one more
    /// period). Checks the token's mechanisms and makes one trial transfer;
    /// if the token cannot do it, says why and nothing changes.
    pub fn enable_tickets(&mut self, key: &str, rotation: Duration) -> Result<(), TicketsUnavailable> {
        self.enable_tickets_with_clock(key, rotation, Arc::new(Instant::now))
    }

    /// [`Self::enable_tickets`], with time from `clock` (tests move it on
    /// to pass rotations without waiting).
    #[doc(hidden)]
    pub fn enable_tickets_with_clock(
        &mut self,
        key: &str,
        rotation: Duration,
        clock: Clock,
    ) -> Result<(), TicketsUnavailable> {
        self.start_tickets(key, rotation, clock, false, &TransferKind::ALL)
    }

    fn start_tickets(
        &mut self,
        key: &str,
        rotation: Duration,
        clock: Clock,
        readable: bool,
        kinds: &[TransferKind],
    ) -> Result<(), TicketsUnavailable> {
        let token = self
            .keys
            .get(key)
            .map(|k| k.token.clone())
            .ok_or_else(|| TicketsUnavailable {
                token: String::new(),
                reason: format!("no key {key:?}"),
            })?;
        let unavailable = |reason: String| TicketsUnavailable {
            token: token.label.clone(),
            reason,
        };
        let max = Duration::from_secs(u64::from(tlsbox_core::options::MAX_TICKET_LIFETIME));
        if rotation < Duration::from_secs(1) || rotation > max {
            return Err(unavailable(format!(
                "a rotation of {rotation:?}: it must be 1 s to 7 days (it is also the ticket lifetime)"
            )));
        }
        let mechanisms = {
            let generation = token.module.enter();
            token
                .slot(*generation)
                .and_then(|slot| Ok(token.module.ctx().get_mechanism_list(slot)?))
                .map_err(|e| unavailable(e.to_string()))?
        };
        let missing: Vec<String> = tickets::REQUIRED_MECHANISMS
            .iter()
            .filter(|m| !mechanisms.contains(m))
            .map(ToString::to_string)
            .collect();
        if !missing.is_empty() {
            return Err(unavailable(format!("the token lacks {}", missing.join(", "))));
        }
        let mut tried = Vec::new();
        for &kind in kinds {
            if !mechanisms.contains(&kind.mechanism()) {
                continue;
            }
            #[allow(unused_mut, reason = "set only with the test feature")]
            let mut keys = TicketKeys::new(token.clone(), kind, rotation, clock.clone());
            #[cfg(feature = "insecure-readable-ticket-keys-for-tests")]
            {
                keys.readable = readable;
            }
            // A trial transfer to a throwaway public key: the token makes
            // its keys and shows it can derive and wrap. Nothing is
            // unwrapped here.
            match keys.wrap_for(&kind.throwaway_public_key()) {
                Ok(_) => {
                    tracing::debug!(token = %token.label, transfer = ?kind, "ticket-key transfer chosen");
                    self.tickets = Some(keys);
                    return Ok(());
                }
                Err(e) => tried.push(format!("{kind:?}: {e}")),
            }
        }
        #[cfg(not(feature = "insecure-readable-ticket-keys-for-tests"))]
        let _ = readable;
        if tried.is_empty() {
            return Err(unavailable("the token makes no X25519 or P-256 key pair".into()));
        }
        Err(unavailable(format!("trial transfers failed: {}", tried.join("; "))))
    }

    /// TEST ONLY: [`Self::enable_tickets_with_clock`] with ticket keys a
    /// test can read back ([`Self::ticket_key_values_for_tests`]), to check
    /// that they appear nowhere they must not. Use a token of its own.
    #[cfg(feature = "insecure-readable-ticket-keys-for-tests")]
    pub fn enable_readable_tickets_for_tests(
        &mut self,
        key: &str,
        rotation: Duration,
        clock: Clock,
    ) -> Result<(), TicketsUnavailable> {
        self.start_tickets(key, rotation, clock, true, &TransferKind::ALL)
    }

    /// TEST ONLY: [`Self::enable_tickets_with_clock`] with a P-256
    /// transfer even where the token has X25519 (the path of tokens without
    /// it), and readable ticket keys.
    #[cfg(feature = "insecure-readable-ticket-keys-for-tests")]
    pub fn enable_p256_tickets_for_tests(
        &mut self,
        key: &str,
        rotation: Duration,
        clock: Clock,
    ) -> Result<(), TicketsUnavailable> {
        self.start_tickets(key, rotation, clock, true, &[TransferKind::P256])
    }

    /// The group boxes must run the ticket-key transfer on (X25519 or
    /// secp256r1), when tickets are on.
    pub fn ticket_transfer_group(&self) -> Option<tlsbox_core::rustls::NamedGroup> {
        self.tickets.as_ref().map(TicketKeys::group)
    }

    /// TEST ONLY: the ticket keys' values (current first).
    #[cfg(feature = "insecure-readable-ticket-keys-for-tests")]
    pub fn ticket_key_values_for_tests(&self) -> Result<Vec<Vec<u8>>, Pkcs11Error> {
        self.tickets.as_ref().map_or(Ok(Vec::new()), |t| t.values_for_tests())
    }

    /// The DER certificate stored on the token beside the key `name`, if any.
    pub fn certificate(&self, name: &str) -> Option<Vec<u8>> {
        self.keys.get(name).and_then(|k| k.certificate.clone())
    }

    fn entry(&self, key: &str) -> Result<&KeyEntry, KeystoreError> {
        self.keys
            .get(key)
            .ok_or_else(|| KeystoreError::UnknownKey(key.to_string()))
    }
}

/// What the token tells of a key.
struct Described {
    kind: KeyKind,
    /// From the public key object, or else the certificate.
    spki: Option<Vec<u8>>,
    /// The certificate on the token with the same id or label.
    certificate: Option<Vec<u8>>,
}

/// Describe the private key `handle` (found with `template`).
fn describe(s: &Session, handle: ObjectHandle, template: &[Attribute]) -> Result<Described, Pkcs11Error> {
    let attrs = s.get_attributes(handle, &[AttributeType::KeyType, AttributeType::EcParams])?;
    let key_type = attrs.iter().find_map(|a| match a {
        Attribute::KeyType(t) => Some(*t),
        _ => None,
    });
    let ec_params = attrs.iter().find_map(|a| match a {
        Attribute::EcParams(p) => Some(p.clone()),
        _ => None,
    });
    let kind = match key_type {
        Some(KeyType::RSA) => KeyKind::Rsa,
        Some(KeyType::EC) | Some(KeyType::EC_EDWARDS) => {
            ec_params.as_deref().and_then(mechanism::ec_kind).ok_or_else(|| {
                Pkcs11Error::UnsupportedKey("an EC key on a curve other than P-256, P-384, Ed25519".into())
            })?
        }
        other => return Err(Pkcs11Error::UnsupportedKey(format!("key type {other:?}"))),
    };

    let with_class = |class| {
        let mut t: Vec<Attribute> = template
            .iter()
            .filter(|a| !matches!(a, Attribute::Class(_)))
            .cloned()
            .collect();
        t.push(Attribute::Class(class));
        t
    };
    let mut spki = None;
    if let Some(public) = s.find_objects(&with_class(ObjectClass::PUBLIC_KEY))?.first() {
        spki = match kind {
            KeyKind::Rsa => {
                let a = s.get_attributes(*public, &[AttributeType::Modulus, AttributeType::PublicExponent])?;
                let n = a.iter().find_map(|x| {
                    if let Attribute::Modulus(n) = x {
                        Some(n.clone())
                    } else {
                        None
                    }
                });
                let e = a.iter().find_map(|x| {
                    if let Attribute::PublicExponent(e) = x {
                        Some(e.clone())
                    } else {
                        None
                    }
                });
                n.zip(e).and_then(|(n, e)| mechanism::rsa_spki(&n, &e))
            }
            _ => {
                let a = s.get_attributes(*public, &[AttributeType::EcPoint])?;
                a.iter().find_map(|x| {
                    if let Attribute::EcPoint(p) = x {
                        mechanism::ec_spki(kind, p)
                    } else {
                        None
                    }
                })
            }
        };
    }
    let certificate = match s.find_objects(&with_class(ObjectClass::CERTIFICATE))?.first() {
        Some(cert) => s
            .get_attributes(*cert, &[AttributeType::Value])?
            .into_iter()
            .find_map(|a| if let Attribute::Value(v) = a { Some(v) } else { None }),
        None => None,
    };
    if spki.is_none() {
        spki = certificate.as_deref().and_then(tooling::certificate_spki);
    }
    Ok(Described {
        kind,
        spki,
        certificate,
    })
}

impl Keystore for Pkcs11Keystore {
    fn describe_key(&self, key: &str) -> Result<KeyInfo, KeystoreError> {
        let entry = self.entry(key)?;
        Ok(KeyInfo {
            subject_public_key_info: entry.spki.clone(),
            schemes: entry.schemes.clone(),
        })
    }

    fn sign(&self, key: &str, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        let entry = self.entry(key)?;
        if let Err(why) = policy::check_message(message) {
            tracing::warn!(key, ?scheme, reason = why, "refused to sign");
            return Err(KeystoreError::Refused(why.into()));
        }
        if !entry.schemes.contains(&scheme) {
            return Err(KeystoreError::UnsupportedScheme(scheme));
        }
        let plan = mechanism::plan(entry.kind, scheme, message).ok_or(KeystoreError::UnsupportedScheme(scheme))?;
        let failed = |e: Pkcs11Error| KeystoreError::Failed(format!("token {:?}: {e}", entry.token.label));
        let attempt = || {
            entry.token.with_session(|s, generation| {
                let handle = entry.handle(s, generation)?;
                Ok(s.sign(&plan.mechanism, handle, &plan.input)?)
            })
        };
        let signature = match attempt() {
            // A key we can no longer see: the handle went stale, or the
            // login was lost behind our back (private objects vanish).
            // Find it again from a freshly logged-in session, once.
            Err(Pkcs11Error::NoKey(_))
            | Err(Pkcs11Error::Call(CkError::Pkcs11(RvError::KeyHandleInvalid | RvError::ObjectHandleInvalid, _))) => {
                tracing::warn!(key, token = %entry.token.label, "PKCS#11 key handle lost; logging in again");
                entry.forget_handle();
                entry.token.empty_pool(*entry.token.module.enter());
                match attempt() {
                    // Still no key, from a fresh login: the token itself
                    // may be gone while its sessions live on (SoftHSM2
                    // answers so when this process holds session objects
                    // there, such as the ticket keys). Re-initialise the
                    // module (at most once a second) and look once more.
                    Err(Pkcs11Error::NoKey(_)) => {
                        let seen = *entry.token.module.enter();
                        if entry.token.module.reinitialize(seen) {
                            entry.forget_handle();
                            attempt()
                        } else {
                            Err(Pkcs11Error::NoKey(format!("{:?}", entry.template)))
                        }
                    }
                    other => other,
                }
            }
            other => other,
        }
        .map_err(failed)?;
        match plan.der_ecdsa {
            Some(kind) => mechanism::ecdsa_der(kind, &signature)
                .ok_or_else(|| KeystoreError::Failed("the token returned a malformed ECDSA signature".into())),
            None => Ok(signature),
        }
    }

    fn ticket_keys(&self, box_public_key: &[u8]) -> Result<WrappedTicketKeys, KeystoreError> {
        match &self.tickets {
            Some(tickets) => tickets.wrap_for(box_public_key),
            None => Err(KeystoreError::Failed("no ticket keys: tickets are off".into())),
        }
    }

    fn ticket_keys_epoch(&self) -> Option<u64> {
        self.tickets.as_ref()?.epoch()
    }
}
