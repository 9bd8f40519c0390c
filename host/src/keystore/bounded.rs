//! A bound on signatures in flight. A flood of ClientHellos must not pile
//! up unbounded work on a token: past `max` signatures waiting or running,
//! the next one fails at once (that handshake fails with a keystore error)
//! instead of queueing.

use std::sync::atomic::{AtomicUsize, Ordering};

use tlsbox_core::rustls::SignatureScheme;

use super::{KeyInfo, Keystore, KeystoreError, WrappedTicketKeys};

/// Wraps a keystore; at most `max` signatures in it at once.
#[derive(Debug)]
pub struct BoundedKeystore<K> {
    inner: K,
    in_flight: AtomicUsize,
    max: usize,
}

impl<K> BoundedKeystore<K> {
    /// `inner`, signing at most `max` messages at once.
    pub fn new(inner: K, max: usize) -> Self {
        Self {
            inner,
            in_flight: AtomicUsize::new(0),
            max,
        }
    }
}

/// Gives the slot back however signing ends.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<K: Keystore> Keystore for BoundedKeystore<K> {
    fn describe_key(&self, key: &str) -> Result<KeyInfo, KeystoreError> {
        self.inner.describe_key(key)
    }

    fn sign(&self, key: &str, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        self.bounded(|| self.inner.sign(key, scheme, message))
    }

    // A ticket-key transfer is token work too (a derive and a wrap): it
    // takes a slot like a signature.
    fn ticket_keys(&self, box_public_key: &[u8]) -> Result<WrappedTicketKeys, KeystoreError> {
        self.bounded(|| self.inner.ticket_keys(box_public_key))
    }

    fn ticket_keys_epoch(&self) -> Option<u64> {
        self.inner.ticket_keys_epoch()
    }
}

impl<K> BoundedKeystore<K> {
    fn bounded<T>(&self, f: impl FnOnce() -> Result<T, KeystoreError>) -> Result<T, KeystoreError> {
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        let _slot = Slot(&self.in_flight);
        if before >= self.max {
            return Err(KeystoreError::Failed(format!(
                "keystore busy: {} token operations already in flight",
                self.max
            )));
        }
        f()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::{Arc, Barrier};

    use super::*;

    /// Signs only when the test says so.
    struct Gate(Arc<Barrier>);

    impl Keystore for Gate {
        fn describe_key(&self, key: &str) -> Result<KeyInfo, KeystoreError> {
            Err(KeystoreError::UnknownKey(key.into()))
        }

        fn sign(&self, _: &str, _: SignatureScheme, _: &[u8]) -> Result<Vec<u8>, KeystoreError> {
            self.0.wait();
            Ok(vec![1])
        }
    }

    #[test]
    fn past_the_bound_signing_fails_at_once_and_slots_come_back() {
        // Two signers block inside the gate; the third is turned away.
        let gate = Arc::new(Barrier::new(3));
        let keys = Arc::new(BoundedKeystore::new(Gate(gate.clone()), 2));
        let blocked: Vec<_> = (0..2)
            .map(|_| {
                let keys = keys.clone();
                std::thread::spawn(move || keys.sign("k", SignatureScheme::ED25519, b"m"))
            })
            .collect();
        while keys.in_flight.load(Ordering::Acquire) < 2 {
            std::thread::yield_now();
        }
        let refused = keys.sign("k", SignatureScheme::ED25519, b"m");
        assert!(matches!(refused, Err(KeystoreError::Failed(ref why)) if why.contains("busy")));
        gate.wait();
        for t in blocked {
            assert_eq!(t.join().unwrap().unwrap(), vec![1]);
        }
        assert_eq!(keys.in_flight.load(Ordering::Acquire), 0);
    }
}
