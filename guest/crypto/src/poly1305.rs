//! Poly1305 (RFC 8439 §2.5) in radix 2^26, two blocks at a time, for wasm.
//!
//! A wasm engine has 64-bit registers and `i64.mul` but no 64×64→128
//! product, so the accumulator is kept in five 26-bit limbs whose products
//! sum in 64 bits (RustCrypto's portable shape). One block at a time, each
//! block waits for the previous block's carry chain: the code is bound by
//! that latency, not by its multiplies. So whole blocks go in pairs,
//! h ← (h + m₁)·r² + m₂·r: the two products are independent, and one carry
//! chain serves two blocks. Vectorising with SIMD128 does not pay on x86
//! hosts: wasm's widening multiply (`i64x2.extmul_low_i32x4_u`) compiles to
//! two shuffles and a `pmuludq` for two products, no better than two `imul`s.
//!
//! Every step is constant time: no branch or index depends on the key or
//! the message, and the final reduction selects with a mask.

use zeroize::Zeroize;

use crate::le_words;

/// The low 26 bits.
const MASK: u64 = (1 << 26) - 1;

/// A multiplier (r or r²) in 26-bit limbs, with `5 r_j` for j = 1..4: a
/// product's term at 2^130 or above comes back at 2^0 times 5 (2^130 ≡ 5
/// mod 2^130 - 5).
struct Multiplier {
    r: [u64; 5],
    s: [u64; 4],
}

impl Multiplier {
    fn new(r: [u64; 5]) -> Self {
        let [_, r1, r2, r3, r4] = r;
        Self {
            r,
            s: [r1 * 5, r2 * 5, r3 * 5, r4 * 5],
        }
    }
}

impl Drop for Multiplier {
    fn drop(&mut self) {
        self.r.zeroize();
        self.s.zeroize();
    }
}

/// One-time authenticator state.
pub struct Poly1305 {
    /// The clamped key half r.
    r: Multiplier,
    /// r² mod 2^130 - 5, for the pairs of blocks.
    r2: Multiplier,
    /// The accumulator, partly reduced: each limb below 2^26 + 2^10.
    h: [u64; 5],
    /// The other key half, added at the end.
    pad: [u32; 4],
}

/// A 16-byte block in 26-bit limbs, with `hibit` (0 or 1) at 2^128.
#[inline(always)]
fn limbs(block: &[u8], hibit: u64) -> [u64; 5] {
    limbs_of_words(le_words(block), hibit)
}

/// 128 bits given as four little-endian 32-bit words, in 26-bit limbs, with
/// `hibit` at 2^128.
#[inline(always)]
fn limbs_of_words(words: [u32; 4], hibit: u64) -> [u64; 5] {
    let [w0, w1, w2, w3] = words.map(u64::from);
    [
        w0 & MASK,
        ((w0 >> 26) | (w1 << 6)) & MASK,
        ((w1 >> 20) | (w2 << 12)) & MASK,
        ((w2 >> 14) | (w3 << 18)) & MASK,
        (w3 >> 8) | (hibit << 24),
    ]
}

#[inline(always)]
fn add(a: [u64; 5], b: [u64; 5]) -> [u64; 5] {
    let [a0, a1, a2, a3, a4] = a;
    let [b0, b1, b2, b3, b4] = b;
    [a0 + b0, a1 + b1, a2 + b2, a3 + b3, a4 + b4]
}

/// The product a·k as five 64-bit column sums at 2^0, 2^26 … 2^104, terms
/// at 2^130 and above already folded down. With limbs of a below 2^27.1
/// and of k below 2^26.1, each sum stays below 2^58: two of them add up
/// without overflow.
#[inline(always)]
fn product(a: [u64; 5], k: &Multiplier) -> [u64; 5] {
    let [a0, a1, a2, a3, a4] = a;
    let [r0, r1, r2, r3, r4] = k.r;
    let [s1, s2, s3, s4] = k.s;
    [
        a0 * r0 + a1 * s4 + a2 * s3 + a3 * s2 + a4 * s1,
        a0 * r1 + a1 * r0 + a2 * s4 + a3 * s3 + a4 * s2,
        a0 * r2 + a1 * r1 + a2 * r0 + a3 * s4 + a4 * s3,
        a0 * r3 + a1 * r2 + a2 * r1 + a3 * r0 + a4 * s4,
        a0 * r4 + a1 * r3 + a2 * r2 + a3 * r1 + a4 * r0,
    ]
}

/// Column sums back to 26-bit limbs (the top one's overflow folded in
/// times 5): each limb ends below 2^26 + 2^10.
#[inline(always)]
fn carry(d: [u64; 5]) -> [u64; 5] {
    let [d0, d1, d2, d3, d4] = d;
    let d1 = d1 + (d0 >> 26);
    let d2 = d2 + (d1 >> 26);
    let d3 = d3 + (d2 >> 26);
    let d4 = d4 + (d3 >> 26);
    let h0 = (d0 & MASK) + (d4 >> 26) * 5;
    let h1 = (d1 & MASK) + (h0 >> 26);
    [h0 & MASK, h1, d2 & MASK, d3 & MASK, d4 & MASK]
}

impl Poly1305 {
    /// A fresh authenticator under a one-time key (r ‖ s, 32 bytes).
    pub fn new(key: &[u8; 32]) -> Self {
        let (r_bytes, pad_bytes) = key.split_at(16);
        let mut r: [u32; 4] = le_words(r_bytes);
        // RFC 8439 §2.5: clamp r.
        r[0] &= 0x0fff_ffff;
        r[1] &= 0x0fff_fffc;
        r[2] &= 0x0fff_fffc;
        r[3] &= 0x0fff_fffc;
        let r1 = Multiplier::new(limbs_of_words(r, 0));
        r.zeroize();
        let r2 = Multiplier::new(carry(product(r1.r, &r1)));
        Self {
            r: r1,
            r2,
            h: [0; 5],
            pad: le_words(pad_bytes),
        }
    }

    /// h ← (h + m)·r, partly reduced mod 2^130 - 5.
    #[inline(always)]
    fn block(&mut self, m: [u64; 5]) {
        self.h = carry(product(add(self.h, m), &self.r));
    }

    /// h ← (h + m₁)·r² + m₂·r: the same as two [`Self::block`]s.
    #[inline(always)]
    fn two_blocks(&mut self, m1: [u64; 5], m2: [u64; 5]) {
        let first = product(add(self.h, m1), &self.r2);
        let second = product(m2, &self.r);
        self.h = carry(add(first, second));
    }

    /// Absorb `data` zero-padded to a whole number of 16-byte blocks (the
    /// AEAD construction's padding, RFC 8439 §2.8).
    pub fn update_padded(&mut self, data: &[u8]) {
        let rest = self.whole_blocks(data);
        if !rest.is_empty() {
            let mut m = [0u8; 16];
            if let Some(head) = m.get_mut(..rest.len()) {
                head.copy_from_slice(rest);
            }
            self.block(limbs(&m, 1));
        }
    }

    /// The tag over everything absorbed, where the last `tail` bytes (if
    /// any) are a final partial block, padded as RFC 8439 §2.5 pads one.
    fn finish(mut self, tail: &[u8]) -> [u8; 16] {
        if !tail.is_empty() {
            let mut m = [0u8; 16];
            if let Some(head) = m.get_mut(..tail.len()) {
                head.copy_from_slice(tail);
            }
            if let Some(one) = m.get_mut(tail.len()) {
                *one = 1;
            }
            self.block(limbs(&m, 0));
        }
        // h in 32-bit words, by additions (a limb may hold a carry), and
        // the bits from 2^128 up in h4.
        let [l0, l1, l2, l3, l4] = self.h;
        let t = l0 + (l1 << 26);
        let h0 = t as u32;
        let t = (t >> 32) + (l2 << 20);
        let h1 = t as u32;
        let t = (t >> 32) + (l3 << 14);
        let h2 = t as u32;
        let t = (t >> 32) + (l4 << 8);
        let h3 = t as u32;
        let h4 = (t >> 32) as u32;
        // From the limbs' bounds h < 2^130 + 2^79 < 2p, so at most one
        // subtraction of p = 2^130 - 5: compute g = h + 5 - 2^130 and keep
        // it if it did not borrow.
        let t = u64::from(h0) + 5;
        let g0 = t as u32;
        let t = u64::from(h1) + (t >> 32);
        let g1 = t as u32;
        let t = u64::from(h2) + (t >> 32);
        let g2 = t as u32;
        let t = u64::from(h3) + (t >> 32);
        let g3 = t as u32;
        let g4 = h4.wrapping_add((t >> 32) as u32).wrapping_sub(4);
        // All ones when g4 did not borrow (h ≥ p): take g.
        let take_g = (g4 >> 31).wrapping_sub(1);
        let pick = |g: u32, h: u32| (g & take_g) | (h & !take_g);
        let h = [pick(g0, h0), pick(g1, h1), pick(g2, h2), pick(g3, h3)];

        // tag = (h + pad) mod 2^128
        let mut tag = [0u8; 16];
        let mut carry = 0u64;
        for ((out, h), pad) in tag.chunks_exact_mut(4).zip(h).zip(self.pad) {
            let t = u64::from(h) + u64::from(pad) + carry;
            out.copy_from_slice(&(t as u32).to_le_bytes());
            carry = t >> 32;
        }
        tag
    }

    /// The tag over everything absorbed so far.
    pub fn finalize(self) -> [u8; 16] {
        self.finish(&[])
    }

    /// The tag of a whole message with RFC 8439 §2.5's padding of the
    /// last block (not the AEAD's zero padding).
    pub fn compute_unpadded(mut self, data: &[u8]) -> [u8; 16] {
        let tail = self.whole_blocks(data);
        self.finish(tail)
    }

    /// Absorb the whole 16-byte blocks of `data`, in pairs; what is left
    /// over.
    #[inline(always)]
    fn whole_blocks<'a>(&mut self, data: &'a [u8]) -> &'a [u8] {
        let mut pairs = data.chunks_exact(32);
        for pair in &mut pairs {
            let (m1, m2) = pair.split_at(16);
            self.two_blocks(limbs(m1, 1), limbs(m2, 1));
        }
        let rest = pairs.remainder();
        match rest.split_at_checked(16) {
            Some((m, tail)) => {
                self.block(limbs(m, 1));
                tail
            }
            None => rest,
        }
    }
}

impl Drop for Poly1305 {
    fn drop(&mut self) {
        self.h.zeroize();
        self.pad.zeroize();
    }
}
