//! The ticket relay: long-lived boxes that keep the session-ticket keys and
//! wrap them for each connection's box in the token's stead
//! (`tlsbox_core::tickets::Relay`). With it the token works once per relay
//! and rotation instead of once per connection — on a network HSM, one
//! round trip instead of five per handshake. The keys live in the relays'
//! memory as they do in every connection's box; this process holds none.
//!
//! A relay is rebuilt when the token's key set changes (a rotation, the
//! previous key's end, a re-initialised module), and after a trap.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use tlsbox_core::rustls::{NamedGroup, SignatureScheme};
use wasmtime::component::ResourceAny;
use wasmtime::Store;

use crate::bindings::{keystore as wit, Tlsbox};
use crate::convert;
use crate::engine::{Engine, HostState};
use crate::keystore::{KeyInfo, Keystore, KeystoreError, WrappedTicketKey, WrappedTicketKeys};

/// One relay box.
struct RelayBox {
    store: Store<HostState>,
    instance: Tlsbox,
    relay: ResourceAny,
    /// The token's key-set epoch it holds.
    epoch: Option<u64>,
}

/// How many relay boxes a server keeps: one per core, each serving one
/// connection's box at a time.
pub fn default_slots() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// A few relay boxes, each serving one connection's box at a time.
pub struct TicketRelay {
    engine: Engine,
    /// The keystore whose token holds the ticket keys.
    token: Arc<dyn Keystore>,
    /// The key agreement of the token's transfer.
    group: NamedGroup,
    slots: Vec<Mutex<Option<RelayBox>>>,
    next: AtomicUsize,
}

impl std::fmt::Debug for TicketRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketRelay")
            .field("group", &self.group)
            .field("slots", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl TicketRelay {
    /// Relays over `token` (whose transfer runs on `group`), at most
    /// `slots` of them (one per thread that makes handshakes is plenty).
    /// Each is built on first use.
    pub fn new(engine: &Engine, token: Arc<dyn Keystore>, group: NamedGroup, slots: usize) -> Self {
        Self {
            engine: engine.clone(),
            token,
            group,
            slots: (0..slots.max(1)).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// A free slot if there is one, else the next in turn (`None` only if
    /// there are no slots, which `new` rules out).
    fn slot(&self) -> Option<MutexGuard<'_, Option<RelayBox>>> {
        let n = self.slots.len().max(1);
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let free = (0..n).find_map(|i| self.slots.get((start + i) % n)?.try_lock().ok());
        free.or_else(|| {
            self.slots
                .get(start)
                .map(|m| m.lock().unwrap_or_else(PoisonError::into_inner))
        })
    }

    /// A relay box holding the token's keys of `epoch` (read before the
    /// keys are fetched: if a rotation slips in between, the relay looks
    /// stale at once and is rebuilt, never the other way round).
    fn build(&self, epoch: Option<u64>) -> Result<RelayBox, KeystoreError> {
        let failed = |e: String| KeystoreError::Failed(format!("ticket relay: {e}"));
        let (mut store, instance) = self
            .engine
            .instantiate_unlisted(self.token.clone())
            .map_err(|e| failed(e.to_string()))?;
        let group = convert::group_to_wit(self.group).ok_or_else(|| failed(format!("{:?}", self.group)))?;
        let ticks = store.data().call_ticks;
        store.set_epoch_deadline(ticks);
        let relay = instance
            .tlsbox_tls_ticket_relay()
            .relay()
            .call_obtain(&mut store, group)
            .map_err(|e| failed(format!("{e:#}")))?
            .map_err(convert::keystore_error_from_wit)?;
        tracing::debug!("ticket relay obtained the keys");
        Ok(RelayBox {
            store,
            instance,
            relay,
            epoch,
        })
    }

    /// Wrap the ticket keys for the box whose X25519 public key is
    /// `box_public_key`.
    pub fn wrap_for(&self, box_public_key: &[u8]) -> Result<WrappedTicketKeys, KeystoreError> {
        let epoch = self.token.ticket_keys_epoch();
        let Some(mut slot) = self.slot() else {
            return Err(KeystoreError::Failed("ticket relay: no relay slots".into()));
        };
        let stale = match &*slot {
            Some(relay) => epoch.is_none() || relay.epoch != epoch,
            None => true,
        };
        if stale {
            match self.build(epoch) {
                Ok(fresh) => *slot = Some(fresh),
                // A token that is away: the keys in hand still serve
                // (resumption needs no token), until it answers again.
                Err(e) if slot.is_some() => {
                    tracing::warn!(error = %e, "ticket relay not refreshed; serving the keys it holds");
                }
                Err(e) => return Err(e),
            }
        }
        let Some(relay) = slot.as_mut() else {
            return Err(KeystoreError::Failed("ticket relay: no relay".into()));
        };
        let ticks = relay.store.data().call_ticks;
        relay.store.set_epoch_deadline(ticks);
        let answer = relay.instance.tlsbox_tls_ticket_relay().relay().call_wrap_for(
            &mut relay.store,
            relay.relay,
            box_public_key,
        );
        match answer {
            Ok(result) => result
                .map(|keys| WrappedTicketKeys {
                    token_public_key: keys.token_public_key,
                    keys: keys
                        .keys
                        .into_iter()
                        .map(|k: wit::WrappedTicketKey| WrappedTicketKey {
                            name: k.name,
                            wrapped_key: k.wrapped_key,
                            issue: k.issue,
                        })
                        .collect(),
                })
                .map_err(convert::keystore_error_from_wit),
            Err(e) => {
                tracing::warn!(
                    reason = format!("{e:#}"),
                    "ticket relay trapped; a new one will be built"
                );
                *slot = None;
                Err(KeystoreError::Failed("ticket relay trapped".into()))
            }
        }
    }
}

/// A keystore that signs through `inner` and hands out ticket keys from a
/// [`TicketRelay`]: what a server's connection boxes should be given when
/// tickets are on. It holds the relay weakly: whoever owns the server's
/// configuration keeps it (a reload drops the old relays even while old
/// connections live on; their boxes then get no more ticket keys).
pub struct RelayedKeystore {
    inner: Arc<dyn Keystore>,
    relay: Weak<TicketRelay>,
}

impl std::fmt::Debug for RelayedKeystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayedKeystore")
            .field("relay", &self.relay)
            .finish_non_exhaustive()
    }
}

impl RelayedKeystore {
    /// Sign with `inner`; ticket keys from `relay` while it lives.
    pub fn new(inner: Arc<dyn Keystore>, relay: &Arc<TicketRelay>) -> Self {
        Self {
            inner,
            relay: Arc::downgrade(relay),
        }
    }
}

impl Keystore for RelayedKeystore {
    fn describe_key(&self, key: &str) -> Result<KeyInfo, KeystoreError> {
        self.inner.describe_key(key)
    }

    fn sign(&self, key: &str, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        self.inner.sign(key, scheme, message)
    }

    fn ticket_keys(&self, box_public_key: &[u8]) -> Result<WrappedTicketKeys, KeystoreError> {
        match self.relay.upgrade() {
            Some(relay) => relay.wrap_for(box_public_key),
            None => Err(KeystoreError::Failed("the ticket relay is gone (reloaded)".into())),
        }
    }

    fn ticket_keys_epoch(&self) -> Option<u64> {
        self.inner.ticket_keys_epoch()
    }
}
