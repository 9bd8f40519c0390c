//! GHASH (NIST SP 800-38D §6.4) without a carry-less multiply instruction,
//! in constant time.
//!
//! A carry-less product is built from integer multiplies "with holes": of
//! each 64-bit operand only every fourth bit is kept, and the four phases'
//! integer products give the low 64 bits of the 64×64 carry-less product in
//! 16 multiplies (as BearSSL's `ghash_ctmul64`). Within one such product a
//! bit below 2^60 gathers at most 15 ones, so its carries stay in the three
//! zero bits above it; 16 ones only gather from bit 60 up, and their carry
//! falls off the top. The high 64 bits are the low 64 of the product of
//! the bit-reversed operands, reversed (`reverse_bits` is shifts and masks
//! in wasm). Karatsuba builds 128×128 from three 64×64 products: 96
//! multiplies a block (32-bit pieces took 144).
//!
//! Blocks go in pairs, Y ← (Y ^ X₁)·H² ^ X₂·H, and what follows the
//! multiplies (reversal, Karatsuba, reduction) is linear, so it is done
//! once per pair. LLVM turns the pair's twin multiplies into `i64x2.mul`:
//! where the host has AVX-512 (`vpmullq`) GHASH runs at about twice the
//! speed of scalar code; elsewhere Cranelift emulates that multiply, about
//! 15% slower than scalar (measured with the features turned off).
//!
//! RustCrypto's `polyval` picks its 32-bit code on wasm32 because pointers
//! are 32 bits wide; wasm's 64-bit integers are native, and a wasm engine
//! multiplies them in one instruction.
//!
//! Bit order: a block is read big-endian, so GHASH's x^0 is the most
//! significant bit. The product of two such values is the reflected product
//! shifted right by one bit, which is undone before reducing modulo
//! x^128 + x^7 + x^2 + x + 1 in the same reflected order.

use zeroize::{Zeroize, ZeroizeOnDrop};

/// The four phases: bits 0, 1, 2 and 3 modulo 4.
const PHASES: [u64; 4] = [
    0x1111_1111_1111_1111,
    0x2222_2222_2222_2222,
    0x4444_4444_4444_4444,
    0x8888_8888_8888_8888,
];

/// Every fourth bit of `x`, in the four phases.
#[inline(always)]
fn with_holes(x: u64) -> [u64; 4] {
    PHASES.map(|phase| x & phase)
}

/// The low 64 bits of the carry-less product of `x` and `y` (given with
/// holes).
#[inline(always)]
fn clmul64_low(x: u64, [y0, y1, y2, y3]: [u64; 4]) -> u64 {
    let [x0, x1, x2, x3] = with_holes(x);
    let m = u64::wrapping_mul;
    let z0 = m(x0, y0) ^ m(x1, y3) ^ m(x2, y2) ^ m(x3, y1);
    let z1 = m(x0, y1) ^ m(x1, y0) ^ m(x2, y3) ^ m(x3, y2);
    let z2 = m(x0, y2) ^ m(x1, y1) ^ m(x2, y0) ^ m(x3, y3);
    let z3 = m(x0, y3) ^ m(x1, y2) ^ m(x2, y1) ^ m(x3, y0);
    let [p0, p1, p2, p3] = PHASES;
    (z0 & p0) | (z1 & p1) | (z2 & p2) | (z3 & p3)
}

/// One 64-bit operand of the hash key, ready for [`Operand::clmul`]: with
/// holes, and bit-reversed with holes.
#[derive(Clone)]
struct Operand {
    straight: [u64; 4],
    reversed: [u64; 4],
}

impl Operand {
    fn new(y: u64) -> Self {
        Self {
            straight: with_holes(y),
            reversed: with_holes(y.reverse_bits()),
        }
    }

    /// The carry-less product of `x` (and `x_reversed`, its bits reversed)
    /// with this operand, as [`Partial`] keeps it.
    #[inline(always)]
    fn clmul(&self, x: u64, x_reversed: u64) -> [u64; 2] {
        [clmul64_low(x, self.straight), clmul64_low(x_reversed, self.reversed)]
    }
}

impl Drop for Operand {
    fn drop(&mut self) {
        self.straight.zeroize();
        self.reversed.zeroize();
    }
}

/// The hash key H, as Karatsuba's three operands: its low half, its high
/// half, and their XOR.
#[derive(Clone)]
struct Key([Operand; 3]);

impl Key {
    fn new(h: u128) -> Self {
        let (lo, hi) = (h as u64, (h >> 64) as u64);
        Self([Operand::new(lo), Operand::new(hi), Operand::new(lo ^ hi)])
    }

    /// `x · H` in GF(2^128), both in GHASH's reflected bit order.
    #[inline(always)]
    fn mul(&self, x: u128) -> u128 {
        self.partial(x).reduce()
    }

    /// `x · H` as three partial 64×64 products.
    #[inline(always)]
    fn partial(&self, x: u128) -> Partial {
        let (lo, hi) = (x as u64, (x >> 64) as u64);
        // Bit reversal is linear: the middle operand's reversal is the XOR
        // of the halves' reversals.
        let (lo_r, hi_r) = (lo.reverse_bits(), hi.reverse_bits());
        let [k_lo, k_hi, k_mid] = &self.0;
        Partial([
            k_lo.clmul(lo, lo_r),
            k_hi.clmul(hi, hi_r),
            k_mid.clmul(lo ^ hi, lo_r ^ hi_r),
        ])
    }
}

/// A 128×128 carry-less product as Karatsuba's three 64×64 products (low
/// halves, high halves, XORed halves), each as its low 64 bits and the low
/// 64 bits of the reversed operands' product (its high half, reversed).
/// Everything from here to the reduced hash is linear, so the partials of
/// several products XOR together and are finished once.
struct Partial([[u64; 2]; 3]);

impl Partial {
    #[inline(always)]
    fn xor(self, other: Self) -> Self {
        let (Self([a, b, c]), Self([d, e, f])) = (self, other);
        let x = |[p, q]: [u64; 2], [r, s]: [u64; 2]| [p ^ r, q ^ s];
        Self([x(a, d), x(b, e), x(c, f)])
    }

    /// The product reduced: `x · H` in GF(2^128).
    #[inline(always)]
    fn reduce(self) -> u128 {
        let full =
            |[low, high_reversed]: [u64; 2]| (u128::from(high_reversed.reverse_bits() >> 1) << 64) | u128::from(low);
        let Self([lo, hi, mid]) = self;
        let (low, high) = (full(lo), full(hi));
        let mid = full(mid) ^ low ^ high;
        reduce(high ^ (mid >> 64), low ^ (mid << 64))
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
    /// H², for two blocks at a time.
    key2: Key,
    y: u128,
}

impl GHash {
    /// GHASH with hash key `h` (for GCM, the block cipher applied to zero).
    pub fn new(h: &[u8; 16]) -> Self {
        let h = u128::from_be_bytes(*h);
        let key = Key::new(h);
        let key2 = Key::new(key.mul(h));
        Self { key, key2, y: 0 }
    }

    /// Absorb `data` as blocks, the last one padded with zeros.
    #[inline]
    pub fn update_padded(&mut self, data: &[u8]) {
        // Y ← (Y ^ X1)·H² ^ X2·H: two independent products and one
        // reduction for two blocks.
        let mut pairs = data.chunks_exact(32);
        for pair in &mut pairs {
            let (x1, x2) = pair.split_at(16);
            let (Ok(x1), Ok(x2)) = (<[u8; 16]>::try_from(x1), <[u8; 16]>::try_from(x2)) else {
                continue;
            };
            let first = self.key2.partial(self.y ^ u128::from_be_bytes(x1));
            let second = self.key.partial(u128::from_be_bytes(x2));
            self.y = first.xor(second).reduce();
        }
        for chunk in pairs.remainder().chunks(16) {
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
        // The keys' operands wipe themselves.
        self.y.zeroize();
    }
}

impl ZeroizeOnDrop for GHash {}
