//! X25519MLKEM768 (code point 0x11EC, draft-ietf-tls-ecdhe-mlkem): ML-KEM-768
//! (FIPS 203, RustCrypto `ml-kem`) combined with X25519.
//!
//! - client share: ML-KEM-768 encapsulation key (1184 bytes) ‖ X25519 share (32);
//! - server share: ML-KEM-768 ciphertext (1088 bytes) ‖ X25519 share (32);
//! - shared secret: ML-KEM shared secret (32) ‖ X25519 shared secret (32).
//!
//! The client also offers its X25519 half as a plain X25519 key share
//! (`hybrid_component`), as browsers do, so a classical-only server needs
//! no HelloRetryRequest. Decapsulation keys and secrets zeroize on drop.

use alloc::boxed::Box;
use alloc::vec::Vec;

use ml_kem::{Decapsulate, DecapsulationKey, EncapsulationKey, KeyExport, MlKem768};
use rustls::crypto::{ActiveKeyExchange, CompletedKeyExchange, SharedSecret, SupportedKxGroup};
use rustls::{Error, NamedGroup};

use super::kx::{bad_share, x25519_agree};
use crate::random::SystemRng;
use zeroize::Zeroizing;

/// ML-KEM-768 encapsulation key length.
pub const ENCAPSULATION_KEY_LEN: usize = 1184;
/// ML-KEM-768 ciphertext length.
pub const CIPHERTEXT_LEN: usize = 1088;
const X25519_LEN: usize = 32;

/// The group.
#[derive(Debug)]
pub(crate) struct X25519MlKem768;

fn name() -> NamedGroup {
    NamedGroup::X25519MLKEM768
}

fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>, Error> {
    let mut bytes = Zeroizing::new([0u8; N]);
    crate::random::fill(bytes.as_mut()).map_err(|_| Error::FailedToGetRandomBytes)?;
    Ok(bytes)
}

/// The hybrid shared secret: ML-KEM's, then X25519's.
fn combine(mlkem: &[u8], x25519: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut both = Zeroizing::new(Vec::with_capacity(mlkem.len() + x25519.len()));
    both.extend_from_slice(mlkem);
    both.extend_from_slice(x25519);
    both
}

/// Server side, in one step: encapsulate to the client's key, answer with
/// the ciphertext and an X25519 share. Exposed for known-answer tests with
/// fixed randomness (`m` for ML-KEM, `x25519_secret` for X25519); in a
/// handshake both are fresh and random.
pub fn server_respond(
    client_share: &[u8],
    m: &[u8; 32],
    x25519_secret: &x25519_dalek::StaticSecret,
) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), Error> {
    if client_share.len() != ENCAPSULATION_KEY_LEN + X25519_LEN {
        return Err(bad_share());
    }
    let (ek_bytes, x_peer) = client_share.split_at(ENCAPSULATION_KEY_LEN);
    let ek_array = ek_bytes.try_into().map_err(|_| bad_share())?;
    // FIPS 203 §7.2: the modulus check; a non-canonical key is refused.
    let ek = EncapsulationKey::<MlKem768>::new(ek_array).map_err(|_| bad_share())?;
    let (ct, ss) = ek.encapsulate_deterministic(&(*m).into());
    let ss = Zeroizing::new(ss);

    let x_shared = x25519_agree(x_peer, |peer| x25519_secret.diffie_hellman(peer))?;
    let x_public = x25519_dalek::PublicKey::from(x25519_secret).to_bytes();
    let mut share = Vec::with_capacity(CIPHERTEXT_LEN + X25519_LEN);
    share.extend_from_slice(ct.as_slice());
    share.extend_from_slice(&x_public);
    Ok((share, combine(ss.as_slice(), x_shared.as_bytes())))
}

impl SupportedKxGroup for X25519MlKem768 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        let seed = random::<64>()?;
        let dk = DecapsulationKey::<MlKem768>::from_seed((*seed).into());
        let x_secret = x25519_dalek::EphemeralSecret::random_from_rng(SystemRng);
        let x_public = x25519_dalek::PublicKey::from(&x_secret).to_bytes();
        let mut share = Vec::with_capacity(ENCAPSULATION_KEY_LEN + X25519_LEN);
        share.extend_from_slice(dk.encapsulation_key().to_bytes().as_slice());
        share.extend_from_slice(&x_public);
        Ok(Box::new(ClientExchange { dk, x_secret, share }))
    }

    /// The server side: a KEM answers the client's share directly.
    fn start_and_complete(&self, client_share: &[u8]) -> Result<CompletedKeyExchange, Error> {
        let m = random::<32>()?;
        // StaticSecret zeroizes on drop; no copy of it is left behind.
        let x = x25519_dalek::StaticSecret::random_from_rng(SystemRng);
        let (pub_key, secret) = server_respond(client_share, &m, &x)?;
        Ok(CompletedKeyExchange {
            group: name(),
            pub_key,
            secret: SharedSecret::from(secret.as_slice()),
        })
    }

    fn name(&self) -> NamedGroup {
        name()
    }

    /// A KEM does not fit TLS 1.2's ServerKeyExchange: TLS 1.3 only.
    fn usable_for_version(&self, version: rustls::ProtocolVersion) -> bool {
        version == rustls::ProtocolVersion::TLSv1_3
    }
}

/// The client's half-done exchange.
struct ClientExchange {
    dk: DecapsulationKey<MlKem768>,
    x_secret: x25519_dalek::EphemeralSecret,
    share: Vec<u8>,
}

impl ActiveKeyExchange for ClientExchange {
    fn complete(self: Box<Self>, server_share: &[u8]) -> Result<SharedSecret, Error> {
        if server_share.len() != CIPHERTEXT_LEN + X25519_LEN {
            return Err(bad_share());
        }
        let (ct, x_peer) = server_share.split_at(CIPHERTEXT_LEN);
        let ss = Zeroizing::new(self.dk.decapsulate_slice(ct).map_err(|_| bad_share())?);
        let x_secret = self.x_secret;
        let x_shared = x25519_agree(x_peer, |peer| x_secret.diffie_hellman(peer))?;
        Ok(SharedSecret::from(
            combine(ss.as_slice(), x_shared.as_bytes()).as_slice(),
        ))
    }

    fn hybrid_component(&self) -> Option<(NamedGroup, &[u8])> {
        self.share.get(ENCAPSULATION_KEY_LEN..).map(|x| (NamedGroup::X25519, x))
    }

    fn complete_hybrid_component(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, Error> {
        // The server chose plain X25519: our X25519 half alone.
        let x_secret = self.x_secret;
        let shared = x25519_agree(peer, |peer| x_secret.diffie_hellman(peer))?;
        Ok(SharedSecret::from(&shared.as_bytes()[..]))
    }

    fn pub_key(&self) -> &[u8] {
        &self.share
    }

    fn group(&self) -> NamedGroup {
        name()
    }
}
