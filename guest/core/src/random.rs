//! The system's randomness: one source for everything the core draws.
//!
//! In the box this is WASI 0.2's `wasi:random` (`get-random-u64`), reached
//! through getrandom 0.4. getrandom 0.2, and rand_core 0.6's `OsRng` built
//! on it, call WASI preview 1's `random_get` instead: that one import pulls
//! the preview 1 adapter into the component, an extra core instance per box
//! whose first call also allocates two 64 KiB blocks in the box's memory
//! (about 24 KiB of it touched, in every connection).

use core::num::NonZeroU32;

use rand_core::{CryptoRng, RngCore};

/// Fill `buf` with random bytes.
pub fn fill(buf: &mut [u8]) -> Result<(), getrandom::Error> {
    getrandom::fill(buf)
}

/// [`fill`] as a rand_core 0.6 generator, for the RustCrypto key types.
///
/// Like rand_core's `OsRng`, [`RngCore::fill_bytes`] panics if the system
/// has no randomness to give: no key may be made without it. In the box the
/// WASI call cannot fail.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemRng;

impl RngCore for SystemRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }

    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        #[allow(clippy::panic, reason = "as OsRng: a key must never be made without randomness")]
        if let Err(e) = fill(dest) {
            panic!("no system randomness: {e}");
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        fill(dest).map_err(|_| rand_core::Error::from(FAILED))
    }
}

impl CryptoRng for SystemRng {}

/// rand_core 0.6 carries errors as codes (without its `std` feature);
/// getrandom 0.4's do not convert, so a failure is this one code.
const FAILED: NonZeroU32 = match NonZeroU32::new(rand_core::Error::CUSTOM_START) {
    Some(code) => code,
    None => NonZeroU32::MIN,
};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn draws_differ_and_fill_every_byte() {
        let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
        SystemRng.fill_bytes(&mut a);
        SystemRng.try_fill_bytes(&mut b).unwrap();
        assert_ne!(a, b);
        // 64 zero bytes in a row from a real source: probability 2^-512.
        assert!(a.iter().any(|x| *x != 0) && b.iter().any(|x| *x != 0));
        assert_ne!(SystemRng.next_u64(), SystemRng.next_u64());
    }
}
