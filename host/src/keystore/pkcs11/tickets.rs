//! Session-ticket keys that live in the token and reach each box only
//! wrapped (the transfer is described in `tlsbox_core::tickets`).
//!
//! What the token holds, all as session objects of one session kept open
//! for them (a module re-initialisation loses them; new ones are made):
//! - the ticket key `K`: CKM_AES_KEY_GEN, 256 bits, private and sensitive;
//!   extractable only because C_WrapKey needs it, and no other use is set.
//!   A new one every rotation period; the one before still opens tickets
//!   for one more period, then is destroyed;
//! - the transfer key: an X25519 pair where the token makes one (in wasm,
//!   X25519 costs the box a fraction of P-256), else P-256; the private half
//!   sensitive, never extractable, good for key derivation only.
//!
//! Per box: C_DeriveKey(CKM_ECDH1_DERIVE) → `Z`, C_DeriveKey
//! (CKM_AES_CBC_ENCRYPT_DATA over the label) → `W`, C_WrapKey
//! (CKM_AES_KEY_WRAP) of each `K` under `W`, then `Z` and `W` destroyed.
//! The host sees the box's public key, the token's public key and the
//! wrapped keys, nothing else. A token without these mechanisms gets no
//! tickets (the caller logs why), never a key in the host.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::ekdf::AesCbcDeriveParams;
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use tlsbox_core::rustls::NamedGroup;
use tlsbox_core::tickets::{KEY_NAME_LEN, TICKET_KEY_LEN, WRAP_KDF_LABEL};

use super::mechanism::{unwrap_point, OID_P256};
use super::{Pkcs11Error, Token};
use crate::keystore::{KeystoreError, WrappedTicketKey, WrappedTicketKeys};

/// What the token must offer for ticket keys, besides a key-pair
/// generation of one [`TransferKind`].
pub(crate) const REQUIRED_MECHANISMS: [MechanismType; 4] = [
    MechanismType::AES_KEY_GEN,
    MechanismType::ECDH1_DERIVE,
    MechanismType::AES_CBC_ENCRYPT_DATA,
    MechanismType::AES_KEY_WRAP,
];

/// DER OID of X25519 (RFC 8410), as CKA_EC_PARAMS.
const OID_X25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x6e];

/// The transfer key's curve, and how the token makes the pair; in order
/// of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransferKind {
    /// X25519 as PKCS#11 3.0 has it (CKM_EC_MONTGOMERY_KEY_PAIR_GEN).
    X25519,
    /// X25519 as SoftHSM2 2.6 makes it: CKM_EC_EDWARDS_KEY_PAIR_GEN on the
    /// X25519 curve.
    X25519ByEdwardsGen,
    /// P-256 (CKM_EC_KEY_PAIR_GEN): every EC token has it.
    P256,
}

impl TransferKind {
    pub(crate) const ALL: [Self; 3] = [Self::X25519, Self::X25519ByEdwardsGen, Self::P256];

    pub(crate) fn mechanism(self) -> MechanismType {
        match self {
            Self::X25519 => MechanismType::ECC_MONTGOMERY_KEY_PAIR_GEN,
            Self::X25519ByEdwardsGen => MechanismType::ECC_EDWARDS_KEY_PAIR_GEN,
            Self::P256 => MechanismType::ECC_KEY_PAIR_GEN,
        }
    }

    /// The TLS group the box runs its side of the transfer on.
    pub(crate) fn group(self) -> NamedGroup {
        match self {
            Self::X25519 | Self::X25519ByEdwardsGen => NamedGroup::X25519,
            Self::P256 => NamedGroup::secp256r1,
        }
    }

    /// A public key of this group, for a trial transfer whose result
    /// nobody can unwrap.
    pub(crate) fn throwaway_public_key(self) -> Vec<u8> {
        match self.group() {
            NamedGroup::X25519 => {
                // Any u-coordinate is an X25519 public key; random ones are
                // not of small order.
                let mut u = [0u8; 32];
                rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut u);
                u.to_vec()
            }
            _ => {
                let key = p256::SecretKey::random(&mut rand_core::OsRng);
                p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&key.public_key(), false)
                    .as_bytes()
                    .to_vec()
            }
        }
    }
}

/// Where time comes from (a test moves it on).
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// One ticket key in the token.
#[derive(Clone, Copy)]
struct TicketKey {
    name: [u8; KEY_NAME_LEN],
    handle: ObjectHandle,
    made: Instant,
}

/// The token objects of one module generation.
struct Keys {
    generation: u64,
    /// Counts every change of the key set (made, rotated, previous gone).
    epoch: u64,
    /// The session that owns the session objects: while it is open, they live.
    owner: Session,
    transfer_private: ObjectHandle,
    transfer_public: Vec<u8>,
    current: TicketKey,
    previous: Option<TicketKey>,
}

/// The ticket keys of one token.
pub(crate) struct TicketKeys {
    token: Arc<Token>,
    kind: TransferKind,
    rotation: Duration,
    clock: Clock,
    keys: Mutex<Option<Keys>>,
    /// Key sets made so far (each starts a new epoch range).
    made: std::sync::atomic::AtomicU64,
    /// TEST ONLY: make ticket keys that can be read back, so that a test
    /// can look for them where they must not be.
    #[cfg(feature = "insecure-readable-ticket-keys-for-tests")]
    pub(crate) readable: bool,
}

impl TicketKeys {
    pub(crate) fn new(token: Arc<Token>, kind: TransferKind, rotation: Duration, clock: Clock) -> Self {
        Self {
            token,
            kind,
            rotation,
            clock,
            keys: Mutex::new(None),
            made: std::sync::atomic::AtomicU64::new(0),
            #[cfg(feature = "insecure-readable-ticket-keys-for-tests")]
            readable: false,
        }
    }

    /// TEST ONLY: the values of the ticket keys now in the token.
    #[cfg(feature = "insecure-readable-ticket-keys-for-tests")]
    pub(crate) fn values_for_tests(&self) -> Result<Vec<Vec<u8>>, Pkcs11Error> {
        let guard = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(keys) = guard.as_ref() else {
            return Ok(Vec::new());
        };
        std::iter::once(keys.current)
            .chain(keys.previous)
            .map(|k| {
                keys.owner
                    .get_attributes(k.handle, &[AttributeType::Value])?
                    .into_iter()
                    .find_map(|a| if let Attribute::Value(v) = a { Some(v) } else { None })
                    .ok_or_else(|| Pkcs11Error::UnsupportedKey("no CKA_VALUE".into()))
            })
            .collect()
    }

    fn sensitive(&self) -> bool {
        #[cfg(feature = "insecure-readable-ticket-keys-for-tests")]
        if self.readable {
            return false;
        }
        true
    }

    /// The group the boxes must use for the transfer.
    pub(crate) fn group(&self) -> NamedGroup {
        self.kind.group()
    }

    /// Wrap the ticket keys for the box whose public key is `box_public_key`.
    pub(crate) fn wrap_for(&self, box_public_key: &[u8]) -> Result<WrappedTicketKeys, KeystoreError> {
        let failed = |e: Pkcs11Error| KeystoreError::Failed(format!("ticket keys, token {:?}: {e}", self.token.label));
        let result = self.token.with_session(|session, generation| {
            // One transfer at a time: a rotation destroys handles that a
            // concurrent wrap would still use. (With relays, transfers
            // are rare; without, this bounds the token's ticket work.)
            let mut guard = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
            let keys = self.current(&mut guard, generation)?;
            wrap(session, keys, box_public_key)
        });
        if let Err(Pkcs11Error::Call(CkError::Pkcs11(RvError::KeyHandleInvalid | RvError::ObjectHandleInvalid, _))) =
            &result
        {
            // The objects are gone (their session closed or logged out
            // behind our back): make new ones on the next call. Tickets
            // sealed with the old keys no longer open.
            tracing::warn!(token = %self.token.label, "ticket keys lost in the token; new ones will be made");
            self.discard();
        }
        result.map_err(failed)
    }

    /// The epoch of the key set [`Self::wrap_for`] would wrap now: the
    /// current set's plus the changes that are due (a rotation, the
    /// previous key's end; a re-initialisation makes a new set, whose
    /// epoch differs from all). No token call.
    pub(crate) fn epoch(&self) -> Option<u64> {
        let guard = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let keys = guard.as_ref()?;
        let now = (self.clock)();
        let age = |k: &TicketKey| now.saturating_duration_since(k.made);
        let rotation_due = age(&keys.current) >= self.rotation;
        let previous_ends = keys
            .previous
            .is_some_and(|p| age(&p) >= self.rotation.saturating_mul(2));
        let reinitialised = self.token.module.try_enter().is_some_and(|g| *g != keys.generation);
        Some(keys.epoch + u64::from(rotation_due) + u64::from(previous_ends) + u64::from(reinitialised))
    }

    /// Drop the key set; new keys are made on next use. Its owner session
    /// is closed (destroying the objects) if it still answers in the
    /// current generation, else forgotten: a number the token voided may
    /// already name another session.
    fn discard(&self) {
        let keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let (Some(keys), Some(generation)) = (keys, self.token.module.try_enter()) {
            if keys.generation == *generation && keys.owner.get_session_info().is_ok() {
                let _ = keys.owner.close();
            }
        }
    }

    /// The keys to wrap now: made on first use and after a
    /// re-initialisation, rotated when the period is over. If a rotation
    /// fails, the set in hand stays.
    fn current<'k>(&self, guard: &'k mut Option<Keys>, generation: u64) -> Result<&'k Keys, Pkcs11Error> {
        let now = (self.clock)();
        match guard {
            Some(keys) if keys.generation == generation => self.rotate(keys, now)?,
            _ => {
                if guard.is_some() {
                    // The module was re-initialised: those handles and that
                    // session are void, to be forgotten, not closed.
                    tracing::warn!(token = %self.token.label, "PKCS#11 module re-initialised: new ticket keys");
                }
                *guard = Some(self.make(generation, now)?);
            }
        }
        guard
            .as_ref()
            .ok_or_else(|| Pkcs11Error::UnsupportedKey("no ticket keys".into()))
    }

    /// A fresh set: an owner session, a transfer key pair, a ticket key.
    fn make(&self, generation: u64, now: Instant) -> Result<Keys, Pkcs11Error> {
        let owner = self
            .token
            .module
            .ctx()
            .open_ro_session_no_drop(self.token.slot(generation)?)?;
        let made = transfer_key_pair(&owner, self.kind)
            .and_then(|transfer| Ok((transfer, ticket_key(&owner, now, self.sensitive())?)));
        match made {
            Ok(((transfer_private, transfer_public), current)) => Ok(Keys {
                generation,
                // Never the epoch of an earlier set.
                epoch: self.made.fetch_add(1, std::sync::atomic::Ordering::Relaxed) << 32,
                owner,
                transfer_private,
                transfer_public,
                current,
                previous: None,
            }),
            Err(e) => {
                // Closing the session destroys whatever it made.
                let _ = owner.close();
                Err(e)
            }
        }
    }

    /// Rotate when the current key's period is over; destroy what no
    /// ticket still in its lifetime can need. A failure changes nothing.
    fn rotate(&self, keys: &mut Keys, now: Instant) -> Result<(), Pkcs11Error> {
        let age = |k: &TicketKey| now.saturating_duration_since(k.made);
        let two_periods = self.rotation.saturating_mul(2);
        let fresh = match age(&keys.current) >= self.rotation {
            true => Some(ticket_key(&keys.owner, now, self.sensitive())?),
            false => None,
        };
        if keys.previous.is_some_and(|p| age(&p) >= two_periods) {
            if let Some(p) = keys.previous.take() {
                let _ = keys.owner.destroy_object(p.handle);
            }
            keys.epoch += 1;
        }
        if let Some(fresh) = fresh {
            let old = std::mem::replace(&mut keys.current, fresh);
            // A ticket sealed just before now lives `rotation` more: the
            // old key opens tickets until it is two periods old. Past
            // that (a long idle spell), it goes at once.
            if let Some(p) = keys.previous.take() {
                let _ = keys.owner.destroy_object(p.handle);
            }
            if age(&old) < two_periods {
                keys.previous = Some(old);
            } else {
                let _ = keys.owner.destroy_object(old.handle);
            }
            keys.epoch += 1;
            tracing::info!(token = %self.token.label, "ticket key rotated");
        }
        Ok(())
    }
}

impl Drop for TicketKeys {
    fn drop(&mut self) {
        let keys = self.keys.get_mut().unwrap_or_else(PoisonError::into_inner).take();
        if let (Some(keys), Some(generation)) = (keys, self.token.module.try_enter()) {
            if keys.generation == *generation {
                // Destroys every object it made.
                let _ = keys.owner.close();
            }
        }
    }
}

/// The transfer key pair; returns the private handle and the public key in
/// the box's form (X25519: 32 bytes; P-256: SEC1 uncompressed).
fn transfer_key_pair(owner: &Session, kind: TransferKind) -> Result<(ObjectHandle, Vec<u8>), Pkcs11Error> {
    let (mechanism, params, len) = match kind {
        TransferKind::X25519 => (Mechanism::EccMontgomeryKeyPairGen, OID_X25519, 32),
        TransferKind::X25519ByEdwardsGen => (Mechanism::EccEdwardsKeyPairGen, OID_X25519, 32),
        TransferKind::P256 => (Mechanism::EccKeyPairGen, OID_P256, 65),
    };
    let public_template = [
        Attribute::Token(false),
        Attribute::EcParams(params.to_vec()),
        Attribute::Verify(false),
        Attribute::Label(b"tlsbox ticket-key transfer".to_vec()),
    ];
    let private_template = [
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Derive(true),
        Attribute::Sign(false),
        Attribute::Label(b"tlsbox ticket-key transfer".to_vec()),
    ];
    let (public, private) = owner.generate_key_pair(&mechanism, &public_template, &private_template)?;
    let point = owner
        .get_attributes(public, &[AttributeType::EcPoint])?
        .into_iter()
        .find_map(|a| match a {
            Attribute::EcPoint(p) => unwrap_point(&p, len).map(<[u8]>::to_vec),
            _ => None,
        })
        .ok_or_else(|| Pkcs11Error::UnsupportedKey(format!("the token's {kind:?} public key is malformed")))?;
    let _ = owner.destroy_object(public);
    Ok((private, point))
}

/// A new ticket key, named with 16 random bytes from the token.
fn ticket_key(owner: &Session, now: Instant, sensitive: bool) -> Result<TicketKey, Pkcs11Error> {
    let name: [u8; KEY_NAME_LEN] = owner
        .generate_random_vec(KEY_NAME_LEN as u32)?
        .try_into()
        .map_err(|_| Pkcs11Error::UnsupportedKey("the token's random generator gave the wrong length".into()))?;
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen((TICKET_KEY_LEN as u64).into()),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(sensitive),
        // Extractable only so that C_WrapKey can wrap it; sensitive keeps
        // it from ever being read in the clear.
        Attribute::Extractable(true),
        Attribute::Encrypt(false),
        Attribute::Decrypt(false),
        Attribute::Sign(false),
        Attribute::Verify(false),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
        Attribute::Derive(false),
        Attribute::Id(name.to_vec()),
        Attribute::Label(b"tlsbox ticket key".to_vec()),
    ];
    let handle = owner.generate_key(&Mechanism::AesKeyGen, &template)?;
    Ok(TicketKey {
        name,
        handle,
        made: now,
    })
}

/// The per-box work: derive `Z` and `W`, wrap each key, destroy `Z` and `W`.
fn wrap(session: &Session, keys: &Keys, box_public_key: &[u8]) -> Result<WrappedTicketKeys, Pkcs11Error> {
    // Z may only derive, W may only wrap: every other use is off.
    let secret = |derive: bool| {
        vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32u64.into()),
            Attribute::Token(false),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Derive(derive),
            Attribute::Wrap(!derive),
            Attribute::Unwrap(false),
            Attribute::Encrypt(false),
            Attribute::Decrypt(false),
            Attribute::Sign(false),
            Attribute::Verify(false),
        ]
    };
    let ecdh = Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), box_public_key));
    let z = session.derive_key(&ecdh, keys.transfer_private, &secret(true))?;
    let result = (|| {
        let kdf = Mechanism::AesCbcEncryptData(AesCbcDeriveParams::new([0; 16], &WRAP_KDF_LABEL));
        let w = session.derive_key(&kdf, z, &secret(false))?;
        let wrapped: Result<Vec<_>, Pkcs11Error> = std::iter::once((keys.current, true))
            .chain(keys.previous.map(|k| (k, false)))
            .map(|(key, issue)| {
                Ok(WrappedTicketKey {
                    name: key.name.to_vec(),
                    wrapped_key: session.wrap_key(&Mechanism::AesKeyWrap, w, key.handle)?,
                    issue,
                })
            })
            .collect();
        let _ = session.destroy_object(w);
        wrapped
    })();
    let _ = session.destroy_object(z);
    Ok(WrappedTicketKeys {
        token_public_key: keys.transfer_public.clone(),
        keys: result?,
    })
}
