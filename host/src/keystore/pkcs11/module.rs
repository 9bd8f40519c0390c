//! A loaded PKCS#11 module, shared by every token and keystore of the
//! process that names the same library.
//!
//! `C_Initialize` may run only once per library, yet a token that goes
//! away and comes back (a network HSM restarting, a card pulled and put
//! back, SoftHSM2's token directory moved away and back) can leave the
//! module answering CKR_GENERAL_ERROR to every login until it is finalised
//! and initialised again. Doing that voids every session and object handle
//! of *every* token of the module, so the module carries a generation:
//! - every call into the module runs holding the generation for reading
//!   ([`Module::enter`]);
//! - re-initialisation takes it for writing, so no call is in flight, and
//!   bumps it;
//! - sessions, slots and object handles remember the generation they came
//!   from, and one from an older generation is forgotten, never used (its
//!   number may now name another session or object) and never closed (a
//!   stale `C_CloseSession` could close a live session that reused it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard, TryLockError};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};

use super::Pkcs11Error;

/// The shortest time between two re-initialisations of one module: while a
/// token stays away, handshakes fail fast instead of each finalising the
/// module again.
const REINIT_INTERVAL: Duration = Duration::from_secs(1);

/// One PKCS#11 library, initialised for this process.
pub(crate) struct Module {
    path: PathBuf,
    ctx: Pkcs11,
    generation: RwLock<u64>,
    last_reinit: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The CKR_ codes that say the token or the module itself is gone, not
/// just one session: after them only a re-initialised module can tell
/// whether the token is back.
pub(crate) fn token_gone(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::GeneralError
                | RvError::DeviceError
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::TokenNotRecognized
                | RvError::SlotIdInvalid
                | RvError::CryptokiNotInitialized,
            _
        )
    )
}

impl Module {
    /// The module at `path`, loaded and initialised on first use (with OS
    /// locking: without it SoftHSM2 crashes under two threads). Paths are
    /// compared canonicalised: one library reached by two paths must be one
    /// `Module`, or a re-initialisation through one would void the other's
    /// sessions unseen.
    pub(crate) fn load(path: &Path) -> Result<Arc<Self>, Pkcs11Error> {
        let path = &std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        static MODULES: OnceLock<Mutex<HashMap<PathBuf, Arc<Module>>>> = OnceLock::new();
        let mut modules = MODULES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = modules.get(path) {
            return Ok(m.clone());
        }
        let ctx = Pkcs11::new(path)?;
        initialize(&ctx)?;
        let module = Arc::new(Self {
            path: path.to_path_buf(),
            ctx,
            generation: RwLock::new(0),
            last_reinit: Mutex::new(None),
        });
        modules.insert(path.to_path_buf(), module.clone());
        Ok(module)
    }

    /// The library's entry points.
    pub(crate) fn ctx(&self) -> &Pkcs11 {
        &self.ctx
    }

    /// The current generation, held for reading while the caller uses
    /// sessions or handles of it.
    pub(crate) fn enter(&self) -> RwLockReadGuard<'_, u64> {
        self.generation.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// [`Module::enter`], unless that would wait (a re-initialisation is
    /// under way or queued). For `Drop`, which may run while its thread
    /// already holds the generation: waiting there could deadlock.
    pub(crate) fn try_enter(&self) -> Option<RwLockReadGuard<'_, u64>> {
        match self.generation.try_read() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Whether a re-initialisation happened less than [`REINIT_INTERVAL`] ago.
    fn too_soon(&self) -> bool {
        let last = self.last_reinit.lock().unwrap_or_else(PoisonError::into_inner);
        last.is_some_and(|t| t.elapsed() < REINIT_INTERVAL)
    }

    /// Finalise and initialise the module again, after a call made in
    /// generation `seen` found the token gone. Returns whether a newer
    /// generation is ready to retry in: false when another re-initialisation
    /// happened less than [`REINIT_INTERVAL`] ago, or `C_Initialize` failed
    /// (the next attempt tries again).
    pub(crate) fn reinitialize(&self, seen: u64) -> bool {
        // Checked before taking the write lock: while a token stays away,
        // failing handshakes must not each stall every other call.
        if *self.enter() != seen {
            return true;
        }
        if self.too_soon() {
            return false;
        }
        let mut generation = self.generation.write().unwrap_or_else(PoisonError::into_inner);
        if *generation != seen {
            // Another thread re-initialised while this one waited.
            return true;
        }
        let mut last = self.last_reinit.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|t| t.elapsed() < REINIT_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        tracing::warn!(module = %self.path.display(), "PKCS#11 token unavailable; re-initialising the module");
        match self.ctx.clone().finalize() {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiNotInitialized, _)) => {}
            Err(e) => tracing::warn!(module = %self.path.display(), error = %e, "C_Finalize failed"),
        }
        // Every session and handle of the old generation died with
        // C_Finalize, whether or not C_Initialize now succeeds.
        *generation += 1;
        match initialize(&self.ctx) {
            Ok(()) => {
                tracing::info!(module = %self.path.display(), "PKCS#11 module re-initialised");
                true
            }
            Err(e) => {
                tracing::warn!(module = %self.path.display(), error = %e, "C_Initialize failed; will retry");
                false
            }
        }
    }
}

fn initialize(ctx: &Pkcs11) -> Result<(), CkError> {
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(()),
        Err(e) => Err(e),
    }
}
