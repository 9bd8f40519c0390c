//! GHASH (NIST SP 800-38D §6.4) without a carry-less multiply instruction,
//! in constant time.
//!
//! A carry-less product is built from integer multiplies "with holes": of
//! each 32-bit operand only every fourth bit is kept, so that the carries of
//! an integer product stay in the three zero bits above each kept bit; four
//! such masks per operand give the 32×32→64 carry-less product in 16 integer
//! multiplies. Karatsuba builds 64×64 from three of those and 128×128 from
//! three 64×64: nine in all, 144 multiplies a block.
//!
//! RustCrypto's `polyval` picks its 32-bit code on wasm32 because pointers
//! are 32 bits wide, and that code reverses bits to get the high halves
//! (18 such products a block). wasm's 64-bit integers are native, so the
//! 32×32→64 product needs no reversal.
//!
//! Bit order: a block is read big-endian, so GHASH's x^0 is the most
//! significant bit. The product of two such values is the reflected product
//! shifted right by one bit, which is undone before reducing modulo
//! x^128 + x^7 + x^2 + x + 1 in the same reflected order.

use zeroize::{Zeroize, ZeroizeOnDrop};

/// The 32-bit words a 128-bit operand contributes to the nine products:
/// for each of its 64-bit Karatsuba operands (low, high, low ^ high), that
/// operand's 32-bit low, high and low ^ high.
#[inline(always)]
fn karatsuba_words(x: u128) -> [u32; 9] {
    let split = |x: u64| [x as u32, (x >> 32) as u32, (x ^ (x >> 32)) as u32];
    let (lo, hi) = (x as u64, (x >> 64) as u64);
    let [a, b, c] = split(lo);
    let [d, e, f] = split(hi);
    let [g, h, i] = split(lo ^ hi);
    [a, b, c, d, e, f, g, h, i]
}

/// Every fourth bit of `x`, in the four phases.
#[inline(always)]
fn with_holes(x: u32) -> [u64; 4] {
    let x = u64::from(x);
    [x & 0x1111_1111, x & 0x2222_2222, x & 0x4444_4444, x & 0x8888_8888]
}

/// The carry-less product of two 32-bit values given with holes.
#[inline(always)]
fn clmul32([x0, x1, x2, x3]: [u64; 4], [y0, y1, y2, y3]: [u64; 4]) -> u64 {
    // Each product adds at most 8 ones into a bit (8 kept bits per phase),
    // which never carries as far as the next bit of the same phase.
    let z0 = (x0 * y0) ^ (x1 * y3) ^ (x2 * y2) ^ (x3 * y1);
    let z1 = (x0 * y1) ^ (x1 * y0) ^ (x2 * y3) ^ (x3 * y2);
    let z2 = (x0 * y2) ^ (x1 * y1) ^ (x2 * y0) ^ (x3 * y3);
    let z3 = (x0 * y3) ^ (x1 * y2) ^ (x2 * y1) ^ (x3 * y0);
    (z0 & 0x1111_1111_1111_1111)
        | (z1 & 0x2222_2222_2222_2222)
        | (z2 & 0x4444_4444_4444_4444)
        | (z3 & 0x8888_8888_8888_8888)
}

/// Karatsuba's recombination of the products of the low halves, the high
/// halves and the XOR of the halves: `(x0 ^ x1)(y0 ^ y1) ^ x0y0 ^ x1y1` is
/// the middle term.
#[inline(always)]
fn karatsuba64(lo: u128, hi: u128, mid: u128) -> u128 {
    (hi << 64) ^ ((mid ^ lo ^ hi) << 32) ^ lo
}

/// [`karatsuba64`] one level up: the 256-bit product as (high, low).
#[inline(always)]
fn karatsuba128(lo: u128, hi: u128, mid: u128) -> (u128, u128) {
    let mid = mid ^ lo ^ hi;
    (hi ^ (mid >> 64), lo ^ (mid << 64))
}

/// The hash key H with its nine operand words already split into holes.
#[derive(Clone)]
struct Key([[u64; 4]; 9]);

impl Key {
    fn new(h: u128) -> Self {
        Self(karatsuba_words(h).map(with_holes))
    }

    /// `x · H` in GF(2^128), both in GHASH's reflected bit order.
    #[inline(always)]
    fn mul(&self, x: u128) -> u128 {
        let words = karatsuba_words(x);
        let mut p = [0u64; 9];
        for ((p, x), h) in p.iter_mut().zip(words).zip(&self.0) {
            *p = clmul32(with_holes(x), *h);
        }
        let [a, b, c, d, e, f, g, h, i] = p.map(u128::from);
        let (lo, hi, mid) = (karatsuba64(a, b, c), karatsuba64(d, e, f), karatsuba64(g, h, i));
        let (high, low) = karatsuba128(lo, hi, mid);
        reduce(high, low)
    }
}

/// Reduce a 255-bit reflected product `(high, low)` modulo
/// x^128 + x^7 + x^2 + x + 1.
#[inline(always)]
fn reduce(high: u128, low: u128) -> u128 {
    // The reflected product has x^k at bit 254 - k: one bit up, and the
    // high half holds x^0..x^127, the low half x^128..x^255.
    let (high, low) = ((high << 1) | (low >> 127), low << 1);
    // x^(128 + j) = x^j · (1 + x + x^2 + x^7); multiplying by x^m moves a
    // reflected value m bits right, and what falls off the end (degree 128
    // and up, at most 134) comes back at the top to be folded once more.
    let folded = low ^ (low >> 1) ^ (low >> 2) ^ (low >> 7);
    let overflow = (low << 127) ^ (low << 126) ^ (low << 121);
    high ^ folded ^ overflow ^ (overflow >> 1) ^ (overflow >> 2) ^ (overflow >> 7)
}

/// GHASH under one hash key: `Y ← (Y ^ X) · H` for each block `X`.
#[derive(Clone)]
pub struct GHash {
    key: Key,
    y: u128,
}

impl GHash {
    /// GHASH with hash key `h` (for GCM, the block cipher applied to zero).
    pub fn new(h: &[u8; 16]) -> Self {
        Self {
            key: Key::new(u128::from_be_bytes(*h)),
            y: 0,
        }
    }

    /// Absorb `data` as blocks, the last one padded with zeros.
    #[inline]
    pub fn update_padded(&mut self, data: &[u8]) {
        for chunk in data.chunks(16) {
            let mut block = [0u8; 16];
            for (b, d) in block.iter_mut().zip(chunk) {
                *b = *d;
            }
            self.y = self.key.mul(self.y ^ u128::from_be_bytes(block));
        }
    }

    /// The hash so far.
    pub fn finalize(self) -> [u8; 16] {
        self.y.to_be_bytes()
    }
}

impl Drop for GHash {
    fn drop(&mut self) {
        self.key.0.zeroize();
        self.y.zeroize();
    }
}

impl ZeroizeOnDrop for GHash {}
