//! Record-protection primitives for the box, written for wasm SIMD128.
//!
//! A wasm sandbox has no AES-NI, no carry-less multiply and none of the
//! x86/ARM vector backends that RustCrypto picks natively, so the box ran
//! RustCrypto's portable (one block at a time) code. This crate keeps
//! RustCrypto's structure — the `cipher` crate's core/backend traits and
//! the `chacha20poly1305` AEAD construction — and supplies backends that
//! work on four blocks at once in 128-bit lanes.
//!
//! Every primitive is written once against [`lanes::U32x4`]: on
//! `wasm32` with `simd128` that is a `v128`, elsewhere a `[u32; 4]` (the
//! portable fallback the native tests run). The code is constant time:
//! no branch and no memory index depends on a key or on data.
#![forbid(unsafe_code)]

extern crate alloc;

pub mod chacha20;
mod lanes;
#[cfg(any(test, feature = "selfcheck"))]
pub mod selfcheck;

pub use chacha20::{ChaCha20, ChaCha20Poly1305};

#[cfg(test)]
mod tests {
    use rand_core::{OsRng, RngCore};

    #[test]
    fn matches_the_published_vectors_and_rustcrypto() {
        let checked = crate::selfcheck::run(&mut |buf| OsRng.fill_bytes(buf), 300);
        let checked = checked.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(checked.vectors, 3);
        assert_eq!(checked.random_cases, 600);
    }
}
