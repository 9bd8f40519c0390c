//! Ephemeral key exchange (RFC 8446 §4.2.8, §7.4): X25519, secp256r1, secp384r1.
//!
//! Ephemeral secrets zeroize on drop (x25519-dalek and elliptic-curve do so);
//! peer shares are validated before use: length, uncompressed point
//! encoding, on-curve, and for X25519 a non-zero (contributory) result.

use alloc::boxed::Box;
use alloc::vec::Vec;

use rustls::crypto::{ActiveKeyExchange, SharedSecret, SupportedKxGroup};
use rustls::{Error, NamedGroup, PeerMisbehaved};

use crate::random::SystemRng;

/// X25519 (RFC 7748).
#[derive(Debug)]
pub(crate) struct X25519;

/// secp256r1 (NIST P-256).
#[derive(Debug)]
pub(crate) struct Secp256r1;

/// secp384r1 (NIST P-384).
#[derive(Debug)]
pub(crate) struct Secp384r1;

pub(crate) fn bad_share() -> Error {
    Error::from(PeerMisbehaved::InvalidKeyShare)
}

/// X25519 with a peer's share: exactly 32 bytes, and a non-zero result
/// (RFC 8446 §7.4.2: an all-zero result means a low-order peer point).
/// Shared by plain X25519 and the X25519 half of the hybrid group.
pub(crate) fn x25519_agree(
    peer: &[u8],
    agree: impl FnOnce(&x25519_dalek::PublicKey) -> x25519_dalek::SharedSecret,
) -> Result<x25519_dalek::SharedSecret, Error> {
    let peer: [u8; 32] = peer.try_into().map_err(|_| bad_share())?;
    let shared = agree(&x25519_dalek::PublicKey::from(peer));
    if !shared.was_contributory() {
        return Err(bad_share());
    }
    Ok(shared)
}

impl SupportedKxGroup for X25519 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        let secret = x25519_dalek::EphemeralSecret::random_from_rng(SystemRng);
        let public = x25519_dalek::PublicKey::from(&secret);
        Ok(Box::new(X25519Exchange {
            secret,
            public: public.to_bytes(),
        }))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

struct X25519Exchange {
    secret: x25519_dalek::EphemeralSecret,
    public: [u8; 32],
}

impl ActiveKeyExchange for X25519Exchange {
    fn complete(self: Box<Self>, peer_pub_key: &[u8]) -> Result<SharedSecret, Error> {
        let secret = self.secret;
        let shared = x25519_agree(peer_pub_key, |peer| secret.diffie_hellman(peer))?;
        Ok(SharedSecret::from(&shared.as_bytes()[..]))
    }

    fn pub_key(&self) -> &[u8] {
        &self.public
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

/// NIST curve exchange, generic over the RustCrypto curve crate.
macro_rules! nist_group {
    ($group:ty, $exchange:ident, $curve:ident, $name:expr, $coord_len:expr) => {
        impl SupportedKxGroup for $group {
            fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
                let secret = $curve::ecdh::EphemeralSecret::random(&mut SystemRng);
                let public = $curve::EncodedPoint::from(secret.public_key());
                Ok(Box::new($exchange {
                    secret,
                    public: public.as_bytes().to_vec(),
                }))
            }

            fn name(&self) -> NamedGroup {
                $name
            }
        }

        struct $exchange {
            secret: $curve::ecdh::EphemeralSecret,
            public: Vec<u8>,
        }

        impl ActiveKeyExchange for $exchange {
            fn complete(self: Box<Self>, peer_pub_key: &[u8]) -> Result<SharedSecret, Error> {
                // RFC 8446 §4.2.8.2: only the uncompressed form is allowed.
                if peer_pub_key.len() != 1 + 2 * $coord_len || peer_pub_key.first() != Some(&0x04) {
                    return Err(bad_share());
                }
                // from_sec1_bytes rejects points not on the curve and the identity.
                let peer = $curve::PublicKey::from_sec1_bytes(peer_pub_key).map_err(|_| bad_share())?;
                let shared = self.secret.diffie_hellman(&peer);
                Ok(SharedSecret::from(&shared.raw_secret_bytes()[..]))
            }

            fn pub_key(&self) -> &[u8] {
                &self.public
            }

            fn group(&self) -> NamedGroup {
                $name
            }
        }
    };
}

nist_group!(Secp256r1, Secp256r1Exchange, p256, NamedGroup::secp256r1, 32);
nist_group!(Secp384r1, Secp384r1Exchange, p384, NamedGroup::secp384r1, 48);
