//! Poly1305 (RFC 8439 §2.5) in radix 2^32, for wasm.
//!
//! RustCrypto's portable Poly1305 keeps five 26-bit limbs (25 products a
//! block), the right shape for a 32-bit CPU. A wasm engine has 64-bit
//! registers and `i64.mul`, but no 64×64→128 product, so four 32-bit limbs
//! multiplied into 64-bit sums fit it better: 20 products a block and a
//! shorter carry chain. Vectorising with SIMD128 does not pay on x86 hosts:
//! wasm's widening multiply (`i64x2.extmul_low_i32x4_u`) compiles to two
//! shuffles and a `pmuludq` for two products, no better than two `imul`s.
//!
//! Every step is constant time: no branch or index depends on the key or
//! the message, and the final reduction selects with a mask.

use zeroize::Zeroize;

use crate::le_words;

/// One-time authenticator state.
pub struct Poly1305 {
    /// The clamped key half r, four 32-bit limbs.
    r: [u32; 4],
    /// `5 r_j / 4` for j = 1..3 (exact: clamping clears r_j's low 2 bits).
    s: [u32; 3],
    /// The accumulator: four 32-bit limbs and a small top limb (≤ 4
    /// between blocks, ≤ 6 once a block is added).
    h: [u32; 5],
    /// The other key half, added at the end.
    pad: [u32; 4],
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
        let s = [r[1] + (r[1] >> 2), r[2] + (r[2] >> 2), r[3] + (r[3] >> 2)];
        Self {
            r,
            s,
            h: [0; 5],
            pad: le_words(pad_bytes),
        }
    }

    /// h = (h + m + hibit·2^128) · r, partly reduced mod 2^130 - 5.
    #[inline(always)]
    fn block(&mut self, m: [u32; 4], hibit: u32) {
        let [r0, r1, r2, r3] = self.r.map(u64::from);
        let [s1, s2, s3] = self.s.map(u64::from);
        let [h0, h1, h2, h3, h4] = self.h;

        // h += m
        let t = u64::from(h0) + u64::from(m[0]);
        let h0 = t as u32;
        let t = u64::from(h1) + u64::from(m[1]) + (t >> 32);
        let h1 = t as u32;
        let t = u64::from(h2) + u64::from(m[2]) + (t >> 32);
        let h2 = t as u32;
        let t = u64::from(h3) + u64::from(m[3]) + (t >> 32);
        let h3 = t as u32;
        let h4 = h4 + (t >> 32) as u32 + hibit;

        let (h0, h1, h2, h3, h4) = (
            u64::from(h0),
            u64::from(h1),
            u64::from(h2),
            u64::from(h3),
            u64::from(h4),
        );
        // Limb products; a term at 2^128 or above is folded down with
        // 2^130 ≡ 5, i.e. 2^128 ≡ 5/4, through s_j = 5 r_j / 4. Each
        // product is below 2^61 and each sum below 2^63.
        let d0 = h0 * r0 + h1 * s3 + h2 * s2 + h3 * s1;
        let d1 = h0 * r1 + h1 * r0 + h2 * s3 + h3 * s2 + h4 * s1;
        let d2 = h0 * r2 + h1 * r1 + h2 * r0 + h3 * s3 + h4 * s2;
        let d3 = h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s3;
        let d4 = h4 * r0;

        let d1 = d1 + (d0 >> 32);
        let d2 = d2 + (d1 >> 32);
        let d3 = d3 + (d2 >> 32);
        let d4 = d4 + (d3 >> 32);
        // Keep two bits at 2^128; what is at 2^130 and above comes back
        // at 2^0, times 5.
        let c = (d4 >> 2) * 5;
        let t = (d0 & 0xffff_ffff) + c;
        let h0 = t as u32;
        let t = (d1 & 0xffff_ffff) + (t >> 32);
        let h1 = t as u32;
        let t = (d2 & 0xffff_ffff) + (t >> 32);
        let h2 = t as u32;
        let t = (d3 & 0xffff_ffff) + (t >> 32);
        let h3 = t as u32;
        let h4 = (d4 & 3) as u32 + (t >> 32) as u32;
        self.h = [h0, h1, h2, h3, h4];
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
            self.block(le_words(&m), 1);
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
            self.block(le_words(&m), 0);
        }
        let [h0, h1, h2, h3, h4] = self.h;
        // h < 2^131, so at most one subtraction of p = 2^130 - 5: compute
        // g = h + 5 - 2^130 and keep it if it did not borrow.
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

    /// Absorb the whole 16-byte blocks of `data`; what is left over.
    #[inline(always)]
    fn whole_blocks<'a>(&mut self, data: &'a [u8]) -> &'a [u8] {
        let mut blocks = data.chunks_exact(16);
        for block in &mut blocks {
            if let Ok(block) = <&[u8; 16]>::try_from(block) {
                self.block(le_words(block), 1);
            }
        }
        blocks.remainder()
    }
}

impl Drop for Poly1305 {
    fn drop(&mut self) {
        self.r.zeroize();
        self.s.zeroize();
        self.h.zeroize();
        self.pad.zeroize();
    }
}
