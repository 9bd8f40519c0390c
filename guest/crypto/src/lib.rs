//! Record-protection primitives for the box, written for wasm SIMD128.
//!
//! A wasm sandbox has no AES-NI, no carry-less multiply and none of the
//! x86/ARM vector backends that RustCrypto picks natively, so the box ran
//! RustCrypto's portable (one block at a time) code. This crate keeps
//! RustCrypto's structure — the `cipher` crate's core/backend traits and
//! the `aead` traits — and supplies a ChaCha20 backend that works on four
//! blocks at once in 128-bit lanes, a Poly1305 shaped for wasm's 64-bit
//! integers, and the RFC 8439 AEAD over the two in one pass; a bitsliced
//! AES on eight blocks at once, a GHASH built from 64-bit integer
//! multiplies, and AES-GCM over the two in one pass.
//!
//! The vector code (ChaCha20, AES) is written once against
//! [`lanes::U32x4`]: on `wasm32` with `simd128` that is a `v128`, elsewhere
//! a `[u32; 4]` (the portable fallback the native tests run); Poly1305 and
//! GHASH use 64-bit integers. The code is constant time: no branch and no
//! memory index depends on a key or on data.
#![forbid(unsafe_code)]

extern crate alloc;

mod aead;
pub mod aes;
pub mod chacha20;
mod gcm;
pub mod ghash;
mod lanes;
pub mod poly1305;
// Always built, no feature: a feature the bench command turned on would also
// reach the box, which host/build.rs builds in the same cargo call. Nothing
// in the box calls it, so the linker leaves it out of the component.
pub mod selfcheck;

pub use aead::ChaCha20Poly1305;
pub use aes::{Aes128, Aes256};
pub use chacha20::ChaCha20;
pub use gcm::AesGcm;
pub use ghash::GHash;
pub use poly1305::Poly1305;

/// AES-128-GCM over this crate's AES and GHASH.
pub type Aes128Gcm = AesGcm<Aes128>;
/// AES-256-GCM over this crate's AES and GHASH.
pub type Aes256Gcm = AesGcm<Aes256>;

/// Which way a message goes through an AEAD's single pass: encrypted, then
/// authenticated; or authenticated, then decrypted.
#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Seal,
    Open,
}

impl Direction {
    /// One step of the pass: the authenticator always reads ciphertext,
    /// after `xor` when sealing and before it when opening.
    #[inline(always)]
    fn step(self, data: &mut [u8], xor: impl FnOnce(&mut [u8]), authenticate: impl FnOnce(&[u8])) {
        match self {
            Direction::Seal => {
                xor(data);
                authenticate(data);
            }
            Direction::Open => {
                authenticate(data);
                xor(data);
            }
        }
    }
}

/// How both AEADs end an opening: the tag compared in constant time, and,
/// since the buffer was decrypted in the same pass, wiped when it is wrong.
fn check_tag(expected: &[u8; 16], tag: &[u8], buffer: &mut [u8]) -> Result<(), chacha20poly1305::aead::Error> {
    if bool::from(subtle::ConstantTimeEq::ct_eq(&expected[..], tag)) {
        Ok(())
    } else {
        zeroize::Zeroize::zeroize(buffer);
        Err(chacha20poly1305::aead::Error)
    }
}

/// The little-endian 32-bit words of `bytes`, as RFC 8439 reads keys,
/// nonces and message blocks; words past the end of `bytes` stay 0.
#[inline(always)]
fn le_words<const N: usize>(bytes: &[u8]) -> [u32; N] {
    let mut words = [0u32; N];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(4)) {
        let mut le = [0u8; 4];
        le.copy_from_slice(chunk);
        *word = u32::from_le_bytes(le);
    }
    words
}

#[cfg(test)]
mod tests {
    use rand_core::{OsRng, RngCore};

    #[test]
    fn matches_the_published_vectors_and_rustcrypto() {
        let checked = crate::selfcheck::run(&mut |buf| OsRng.fill_bytes(buf), 300);
        let checked = checked.unwrap_or_else(|e| panic!("{e}"));
        // 10 RFC 8439 vectors, the counter's end, 144 Poly1305 and 45
        // GHASH edge cases, 2 FIPS 197 and 7 GCM vectors; 6 checks per
        // random case.
        assert_eq!(checked.vectors, 209);
        assert_eq!(checked.random_cases, 1800);
    }
}
