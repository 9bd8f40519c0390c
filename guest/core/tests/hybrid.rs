//! Tests of the post-quantum hybrid group X25519MLKEM768 (code point 0x11EC,
//! draft-ietf-tls-ecdhe-mlkem) in the tlsbox-core provider.
//!
//! * A known-answer test of a whole exchange with fixed randomness: ML-KEM-768
//!   key generation from (d, z), encapsulation with m, fixed X25519 private
//!   keys on both sides. The client share is built here with the `ml-kem` and
//!   `x25519-dalek` crates, the server side is `hybrid::server_respond`, and
//!   the client side is completed again by hand (decapsulation plus X25519).
//! * Round trips through rustls' `SupportedKxGroup` / `ActiveKeyExchange`,
//!   including the X25519 half offered on its own (`hybrid_component`).
//! * Malformed peer shares on both sides: always an error, never a panic.
//!
//! Source of the vectors: every expected value in [`kat`] was computed with an
//! independent implementation, Python `kyber-py` 1.2.0 (pure-Python FIPS 203:
//! `ML_KEM_768.key_derive(d ‖ z)`, `ML_KEM_768._encaps_internal(ek, m)`,
//! `ML_KEM_768.decaps(dk, c)`) and `cryptography` 50.0.2 (X25519), from the
//! inputs below; none was taken from this crate's output. The same script
//! checked that kyber-py refuses (FIPS 203 §7.2 modulus check) the
//! non-canonical encapsulation keys used in the malformed-share tests and
//! accepts the q − 1 controls.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::panic::{catch_unwind, AssertUnwindSafe};

use ml_kem::{Decapsulate, DecapsulationKey, KeyExport, MlKem768};
use rustls::{NamedGroup, ProtocolVersion};
use sha2::{Digest, Sha256};
use tlsbox_core::provider::hybrid::{self, CIPHERTEXT_LEN, ENCAPSULATION_KEY_LEN};
use tlsbox_core::provider::{X25519, X25519MLKEM768};
use x25519_dalek::{PublicKey, StaticSecret};

const X25519_LEN: usize = 32;
const CLIENT_SHARE_LEN: usize = ENCAPSULATION_KEY_LEN + X25519_LEN;
const SERVER_SHARE_LEN: usize = CIPHERTEXT_LEN + X25519_LEN;

/// Inputs and expected outputs of the known-answer test.
mod kat {
    /// `start, start + 1, …, start + 31`: the inputs are
    /// d = 00..1f, z = 20..3f, m = 40..5f, client X25519 private key = 60..7f,
    /// server X25519 private key = 80..9f.
    pub(crate) fn counting(start: u8) -> [u8; 32] {
        core::array::from_fn(|i| start.wrapping_add(i as u8))
    }

    pub(crate) fn d() -> [u8; 32] {
        counting(0x00)
    }
    pub(crate) fn z() -> [u8; 32] {
        counting(0x20)
    }
    pub(crate) fn m() -> [u8; 32] {
        counting(0x40)
    }
    pub(crate) fn client_x25519_secret() -> [u8; 32] {
        counting(0x60)
    }
    pub(crate) fn server_x25519_secret() -> [u8; 32] {
        counting(0x80)
    }

    /// SHA-256 of the ML-KEM-768 encapsulation key from (d, z).
    pub(crate) const EK_SHA256: &str = "0b7934c83125c788995e2ba6bd761e33046b3e40571be53e023309a29f398cc9";
    /// X25519 public key of the client's private key.
    pub(crate) const CLIENT_X25519_PUBLIC: &str = "675dd574ed7789310b3d2e7681f3790b466c773b1521fecf36577958371ea52f";
    /// SHA-256 of the client share, ek ‖ client X25519 public (1216 bytes).
    pub(crate) const CLIENT_SHARE_SHA256: &str = "f55a0aa8e108236936fbfca9be53865d8452a324791684535b37e9f9695a83a5";
    /// The first 16 bytes of the ML-KEM-768 ciphertext from (ek, m).
    pub(crate) const CIPHERTEXT_PREFIX: &str = "695a60d9c79f08343ed9ff5802582063";
    /// SHA-256 of that ciphertext (1088 bytes).
    pub(crate) const CIPHERTEXT_SHA256: &str = "dbf4e9aa48b078ad46ec1c9c47bda8c2d2fec9d0e7a21bd48d2238a2abedb856";
    /// X25519 public key of the server's private key.
    pub(crate) const SERVER_X25519_PUBLIC: &str = "493e82fc74464a59268817623d2053c5eb8e2cc4a988b4fee179ec6b010d531d";
    /// SHA-256 of the server share, ciphertext ‖ server X25519 public (1120 bytes).
    pub(crate) const SERVER_SHARE_SHA256: &str = "786246747b41ba9736158f91ea866079d897963dd99737f30ba1dcd2f040edd0";
    /// The ML-KEM-768 shared key K.
    pub(crate) const MLKEM_SHARED: &str = "9cddd089ffe70e3996e76f7c8d06746df34d07e8657bc0fcf2bb0e1c3084aea1";
    /// The X25519 shared secret.
    pub(crate) const X25519_SHARED: &str = "fbfb11adeb1d6f71c0571bc1b5dd87519f9a6620b10a5ebc314cbd420c43ba43";
    /// The hybrid shared secret, K ‖ X25519 shared secret (64 bytes).
    pub(crate) const SHARED_SECRET: &str = "9cddd089ffe70e3996e76f7c8d06746df34d07e8657bc0fcf2bb0e1c3084aea1\
                                            fbfb11adeb1d6f71c0571bc1b5dd87519f9a6620b10a5ebc314cbd420c43ba43";
    /// Decapsulation of the ciphertext with its first byte XOR 1: the implicit
    /// rejection key J(z ‖ c') = SHAKE256(z ‖ c', 32).
    pub(crate) const IMPLICIT_REJECTION: &str = "dcfc80c6db46ff7028e3a4398651c063ae7a42c107a6dc8cb07141861698ab92";
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Run `f`, turning a panic into a test failure that says the provider panicked.
fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| panic!("{what}: the provider panicked instead of returning an error"))
}

/// The KAT's decapsulation key, from seed d ‖ z.
fn kat_decapsulation_key() -> DecapsulationKey<MlKem768> {
    let mut seed = [0u8; 64];
    seed[..32].copy_from_slice(&kat::d());
    seed[32..].copy_from_slice(&kat::z());
    DecapsulationKey::<MlKem768>::from_seed(seed.into())
}

/// The KAT's client share: ek ‖ X25519 public key, built without tlsbox-core.
fn kat_client_share(dk: &DecapsulationKey<MlKem768>) -> Vec<u8> {
    let ek = dk.encapsulation_key().to_bytes();
    let x_public = PublicKey::from(&StaticSecret::from(kat::client_x25519_secret()));
    [ek.as_slice(), x_public.as_bytes()].concat()
}

// ---------------------------------------------------------------------------
// Known answers
// ---------------------------------------------------------------------------

#[test]
fn kat_client_share_matches_kyber_py() {
    let share = kat_client_share(&kat_decapsulation_key());
    assert_eq!(share.len(), CLIENT_SHARE_LEN);
    assert_eq!(
        sha256_hex(&share[..ENCAPSULATION_KEY_LEN]),
        kat::EK_SHA256,
        "encapsulation key"
    );
    assert_eq!(hex::encode(&share[ENCAPSULATION_KEY_LEN..]), kat::CLIENT_X25519_PUBLIC);
    assert_eq!(sha256_hex(&share), kat::CLIENT_SHARE_SHA256, "client share");
}

#[test]
fn kat_full_exchange_against_kyber_py_and_cryptography() {
    let dk = kat_decapsulation_key();
    let client_share = kat_client_share(&dk);

    // Server side: tlsbox-core.
    let (server_share, secret) = hybrid::server_respond(
        &client_share,
        &kat::m(),
        &x25519_dalek::StaticSecret::from(kat::server_x25519_secret()),
    )
    .unwrap();
    assert_eq!(server_share.len(), SERVER_SHARE_LEN);
    let (ct, x_server) = server_share.split_at(CIPHERTEXT_LEN);
    assert_eq!(hex::encode(&ct[..16]), kat::CIPHERTEXT_PREFIX, "ciphertext prefix");
    assert_eq!(sha256_hex(ct), kat::CIPHERTEXT_SHA256, "ciphertext");
    assert_eq!(
        hex::encode(x_server),
        kat::SERVER_X25519_PUBLIC,
        "server X25519 public key"
    );
    assert_eq!(sha256_hex(&server_share), kat::SERVER_SHARE_SHA256, "server share");
    assert_eq!(secret.len(), 64);
    assert_eq!(
        hex::encode(&secret[..32]),
        kat::MLKEM_SHARED,
        "ML-KEM half of the secret"
    );
    assert_eq!(
        hex::encode(&secret[32..]),
        kat::X25519_SHARED,
        "X25519 half of the secret"
    );
    assert_eq!(
        secret.as_slice(),
        unhex(kat::SHARED_SECRET).as_slice(),
        "hybrid shared secret"
    );

    // Client side, by hand: decapsulate, then X25519 with the client's key.
    let k = dk.decapsulate_slice(ct).unwrap();
    let x_peer: [u8; 32] = x_server.try_into().unwrap();
    let x_shared = StaticSecret::from(kat::client_x25519_secret()).diffie_hellman(&PublicKey::from(x_peer));
    assert!(x_shared.was_contributory());
    let client_secret = [k.as_slice(), x_shared.as_bytes()].concat();
    assert_eq!(client_secret, unhex(kat::SHARED_SECRET), "client side of the exchange");
}

#[test]
fn kat_server_respond_is_deterministic() {
    let client_share = kat_client_share(&kat_decapsulation_key());
    let a = hybrid::server_respond(
        &client_share,
        &kat::m(),
        &x25519_dalek::StaticSecret::from(kat::server_x25519_secret()),
    )
    .unwrap();
    let b = hybrid::server_respond(
        &client_share,
        &kat::m(),
        &x25519_dalek::StaticSecret::from(kat::server_x25519_secret()),
    )
    .unwrap();
    assert_eq!(a.0, b.0);
    assert_eq!(a.1.as_slice(), b.1.as_slice());
    // Other randomness, other answer.
    let c = hybrid::server_respond(
        &client_share,
        &kat::counting(0xa0),
        &x25519_dalek::StaticSecret::from(kat::server_x25519_secret()),
    )
    .unwrap();
    assert_ne!(a.0[..CIPHERTEXT_LEN], c.0[..CIPHERTEXT_LEN]);
    assert_ne!(a.1[..32], c.1[..32]);
    assert_eq!(a.1[32..], c.1[32..]);
}

/// FIPS 203 implicit rejection: a modified ciphertext decapsulates, without
/// error, to J(z ‖ c') instead of the encapsulated key.
#[test]
fn kat_implicit_rejection_of_a_modified_ciphertext() {
    let dk = kat_decapsulation_key();
    let client_share = kat_client_share(&dk);
    let (server_share, _) = hybrid::server_respond(
        &client_share,
        &kat::m(),
        &x25519_dalek::StaticSecret::from(kat::server_x25519_secret()),
    )
    .unwrap();
    let mut ct = server_share[..CIPHERTEXT_LEN].to_vec();
    ct[0] ^= 1;
    let k = dk.decapsulate_slice(&ct).unwrap();
    assert_eq!(hex::encode(k.as_slice()), kat::IMPLICIT_REJECTION);
}

// ---------------------------------------------------------------------------
// Round trips through the rustls traits
// ---------------------------------------------------------------------------

#[test]
fn group_identity_and_versions() {
    assert_eq!(X25519MLKEM768.name(), NamedGroup::X25519MLKEM768);
    assert_eq!(u16::from(X25519MLKEM768.name()), 0x11EC);
    assert!(X25519MLKEM768.usable_for_version(ProtocolVersion::TLSv1_3));
    assert!(!X25519MLKEM768.usable_for_version(ProtocolVersion::TLSv1_2));
    let found = tlsbox_core::provider::group_by_name(NamedGroup::X25519MLKEM768).unwrap();
    assert_eq!(found.name(), NamedGroup::X25519MLKEM768);
}

#[test]
fn round_trip_through_rustls_traits() {
    let mut client_shares = Vec::new();
    for _ in 0..4 {
        let client = X25519MLKEM768.start().unwrap();
        assert_eq!(client.group(), NamedGroup::X25519MLKEM768);
        let client_share = client.pub_key().to_vec();
        assert_eq!(client_share.len(), CLIENT_SHARE_LEN);

        let server = X25519MLKEM768.start_and_complete(&client_share).unwrap();
        assert_eq!(server.group, NamedGroup::X25519MLKEM768);
        assert_eq!(server.pub_key.len(), SERVER_SHARE_LEN);

        let secret = client.complete(&server.pub_key).unwrap();
        assert_eq!(secret.secret_bytes().len(), 64);
        assert_eq!(secret.secret_bytes(), server.secret.secret_bytes(), "both sides agree");
        assert!(
            secret.secret_bytes()[..32].iter().any(|&b| b != 0),
            "ML-KEM half is zero"
        );
        assert!(
            secret.secret_bytes()[32..].iter().any(|&b| b != 0),
            "X25519 half is zero"
        );
        client_shares.push(client_share);
    }
    for (i, a) in client_shares.iter().enumerate() {
        for b in &client_shares[i + 1..] {
            assert_ne!(
                a[..ENCAPSULATION_KEY_LEN],
                b[..ENCAPSULATION_KEY_LEN],
                "ML-KEM key reused"
            );
            assert_ne!(
                a[ENCAPSULATION_KEY_LEN..],
                b[ENCAPSULATION_KEY_LEN..],
                "X25519 key reused"
            );
        }
    }
}

/// The client's key share also works against the deterministic server side
/// and a hand-made client completion (checks `start`'s share layout).
#[test]
fn start_share_layout_matches_server_respond() {
    let client = X25519MLKEM768.start().unwrap();
    let client_share = client.pub_key().to_vec();
    let (server_share, server_secret) = hybrid::server_respond(
        &client_share,
        &kat::m(),
        &x25519_dalek::StaticSecret::from(kat::server_x25519_secret()),
    )
    .unwrap();
    assert_eq!(hex::encode(&server_share[CIPHERTEXT_LEN..]), kat::SERVER_X25519_PUBLIC);
    // The X25519 half is the server's fixed key with the client's public key.
    let x_peer: [u8; 32] = client_share[ENCAPSULATION_KEY_LEN..].try_into().unwrap();
    let x_shared = StaticSecret::from(kat::server_x25519_secret()).diffie_hellman(&PublicKey::from(x_peer));
    assert_eq!(&server_secret[32..], x_shared.as_bytes());
    let secret = client.complete(&server_share).unwrap();
    assert_eq!(secret.secret_bytes(), server_secret.as_slice());
}

/// A modified ciphertext is not an error (ML-KEM rejects implicitly): the
/// ML-KEM halves then differ and the handshake fails later, at Finished.
#[test]
fn modified_ciphertext_gives_a_different_secret() {
    let client = X25519MLKEM768.start().unwrap();
    let server = X25519MLKEM768.start_and_complete(client.pub_key()).unwrap();
    let mut share = server.pub_key.clone();
    share[CIPHERTEXT_LEN - 1] ^= 0x80;
    let secret = no_panic("modified ciphertext", || client.complete(&share)).unwrap();
    assert_eq!(secret.secret_bytes().len(), 64);
    assert_ne!(secret.secret_bytes()[..32], server.secret.secret_bytes()[..32]);
    assert_eq!(secret.secret_bytes()[32..], server.secret.secret_bytes()[32..]);
}

#[test]
fn hybrid_component_is_the_x25519_half() {
    for _ in 0..4 {
        let client = X25519MLKEM768.start().unwrap();
        let (group, x_part) = client.hybrid_component().unwrap();
        assert_eq!(group, NamedGroup::X25519);
        assert_eq!(x_part.len(), X25519_LEN);
        assert_eq!(x_part, &client.pub_key()[ENCAPSULATION_KEY_LEN..]);
        let x_part = x_part.to_vec();

        // A classical-only server answers the X25519 half with plain X25519.
        let server = X25519.start_and_complete(&x_part).unwrap();
        assert_eq!(server.group, NamedGroup::X25519);
        let secret = client.complete_hybrid_component(&server.pub_key).unwrap();
        assert_eq!(secret.secret_bytes().len(), 32);
        assert_eq!(secret.secret_bytes(), server.secret.secret_bytes());
    }
}

/// The X25519 half of a hybrid exchange equals the plain X25519 secret of the
/// same two keys (the hybrid secret is K ‖ X25519 secret, in that order).
#[test]
fn hybrid_secret_tail_is_the_x25519_secret() {
    let client = X25519MLKEM768.start().unwrap();
    let x_client: [u8; 32] = client.pub_key()[ENCAPSULATION_KEY_LEN..].try_into().unwrap();
    let (server_share, secret) = hybrid::server_respond(
        client.pub_key(),
        &kat::m(),
        &x25519_dalek::StaticSecret::from(kat::server_x25519_secret()),
    )
    .unwrap();
    let expected = StaticSecret::from(kat::server_x25519_secret()).diffie_hellman(&PublicKey::from(x_client));
    assert_eq!(&secret[32..], expected.as_bytes());
    let client_secret = client.complete(&server_share).unwrap();
    assert_eq!(&client_secret.secret_bytes()[32..], expected.as_bytes());
}

// ---------------------------------------------------------------------------
// Malformed peer shares
// ---------------------------------------------------------------------------

/// A fresh, valid client share.
fn valid_client_share() -> Vec<u8> {
    X25519MLKEM768.start().unwrap().pub_key().to_vec()
}

/// `share` with the first 12-bit coefficient of the first polynomial of the
/// encapsulation key set to `value`.
fn with_first_coefficient(mut share: Vec<u8>, value: u16) -> Vec<u8> {
    share[0] = (value & 0xff) as u8;
    share[1] = (share[1] & 0xf0) | ((value >> 8) as u8 & 0x0f);
    share
}

/// `share` with the last 12-bit coefficient of the last polynomial of the
/// encapsulation key (bytes 1150..1152, before the 32-byte ρ) set to `value`.
fn with_last_coefficient(mut share: Vec<u8>, value: u16) -> Vec<u8> {
    let at = ENCAPSULATION_KEY_LEN - 32 - 2;
    share[at] = (share[at] & 0x0f) | (((value & 0x0f) as u8) << 4);
    share[at + 1] = (value >> 4) as u8;
    share
}

fn with_x25519_part(mut share: Vec<u8>, at: usize, u: [u8; 32]) -> Vec<u8> {
    share[at..at + 32].copy_from_slice(&u);
    share
}

const U_ZERO: [u8; 32] = [0; 32];
const U_ONE: [u8; 32] = {
    let mut u = [0; 32];
    u[0] = 1;
    u
};

fn assert_server_rejects(what: &str, share: &[u8]) {
    let result = no_panic(what, || {
        hybrid::server_respond(
            share,
            &kat::m(),
            &x25519_dalek::StaticSecret::from(kat::server_x25519_secret()),
        )
    });
    assert!(
        result.is_err(),
        "{what}: server_respond accepted a malformed client share"
    );
    let result = no_panic(what, || X25519MLKEM768.start_and_complete(share));
    assert!(
        result.is_err(),
        "{what}: start_and_complete accepted a malformed client share"
    );
}

#[test]
fn server_rejects_malformed_client_shares() {
    let good = valid_client_share();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("one byte", vec![0]),
        ("X25519 part only", good[ENCAPSULATION_KEY_LEN..].to_vec()),
        ("encapsulation key only", good[..ENCAPSULATION_KEY_LEN].to_vec()),
        ("one byte short", good[..CLIENT_SHARE_LEN - 1].to_vec()),
        ("one byte long", [good.as_slice(), &[0]].concat()),
        ("twice", [good.as_slice(), good.as_slice()].concat()),
        ("all zero", vec![0; CLIENT_SHARE_LEN]),
        (
            "X25519 u = 0 (low order)",
            with_x25519_part(good.clone(), ENCAPSULATION_KEY_LEN, U_ZERO),
        ),
        (
            "X25519 u = 1 (low order)",
            with_x25519_part(good.clone(), ENCAPSULATION_KEY_LEN, U_ONE),
        ),
        ("first coefficient 0xFFF", with_first_coefficient(good.clone(), 0xfff)),
        ("first coefficient q = 3329", with_first_coefficient(good.clone(), 3329)),
        ("last coefficient 0xFFF", with_last_coefficient(good.clone(), 0xfff)),
        ("all coefficients 0xFFF", {
            let mut share = good.clone();
            share[..ENCAPSULATION_KEY_LEN - 32].fill(0xff);
            share
        }),
    ];
    for (what, share) in cases {
        assert_server_rejects(what, &share);
    }

    // Controls: the same edits with the largest canonical value q − 1 are
    // accepted, so the refusals above come from the modulus check.
    for (what, share) in [
        ("first coefficient q - 1", with_first_coefficient(good.clone(), 3328)),
        ("last coefficient q - 1", with_last_coefficient(good.clone(), 3328)),
    ] {
        let result = no_panic(what, || {
            hybrid::server_respond(
                &share,
                &kat::m(),
                &x25519_dalek::StaticSecret::from(kat::server_x25519_secret()),
            )
        });
        assert!(result.is_ok(), "{what}: a canonical key was refused");
    }
}

/// The KAT's non-canonical key (first coefficient 0xFFF), which kyber-py
/// refuses as well.
#[test]
fn server_rejects_the_kat_key_made_non_canonical() {
    let share = kat_client_share(&kat_decapsulation_key());
    assert!(hybrid::server_respond(
        &share,
        &kat::m(),
        &x25519_dalek::StaticSecret::from(kat::server_x25519_secret())
    )
    .is_ok());
    assert_server_rejects(
        "KAT key, first coefficient 0xFFF",
        &with_first_coefficient(share, 0xfff),
    );
}

#[test]
fn client_rejects_malformed_server_shares() {
    let good = X25519MLKEM768
        .start_and_complete(&valid_client_share())
        .unwrap()
        .pub_key;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("one byte", vec![0]),
        ("X25519 part only", good[CIPHERTEXT_LEN..].to_vec()),
        ("ciphertext only", good[..CIPHERTEXT_LEN].to_vec()),
        ("one byte short", good[..SERVER_SHARE_LEN - 1].to_vec()),
        ("one byte long", [good.as_slice(), &[0]].concat()),
        ("a client share's length", vec![1; CLIENT_SHARE_LEN]),
        ("all zero", vec![0; SERVER_SHARE_LEN]),
        (
            "X25519 u = 0 (low order)",
            with_x25519_part(good.clone(), CIPHERTEXT_LEN, U_ZERO),
        ),
        (
            "X25519 u = 1 (low order)",
            with_x25519_part(good.clone(), CIPHERTEXT_LEN, U_ONE),
        ),
    ];
    for (what, share) in cases {
        let client = X25519MLKEM768.start().unwrap();
        let result = no_panic(what, || client.complete(&share));
        assert!(result.is_err(), "{what}: complete accepted a malformed server share");
    }
}

#[test]
fn hybrid_component_rejects_malformed_peer_shares() {
    let good = X25519.start().unwrap().pub_key().to_vec();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("31 bytes", good[..31].to_vec()),
        ("33 bytes", [good.as_slice(), &[0]].concat()),
        ("a hybrid server share", vec![9; SERVER_SHARE_LEN]),
        ("u = 0 (low order)", U_ZERO.to_vec()),
        ("u = 1 (low order)", U_ONE.to_vec()),
    ];
    for (what, share) in cases {
        let client = X25519MLKEM768.start().unwrap();
        let result = no_panic(what, || client.complete_hybrid_component(&share));
        assert!(
            result.is_err(),
            "{what}: complete_hybrid_component accepted a malformed share"
        );
    }
}
