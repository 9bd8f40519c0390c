//! AES-128 and AES-256 (FIPS 197), bitsliced: eight blocks per pass.
//!
//! The Käsper–Schwabe layout: eight blocks are transposed into eight
//! 128-bit planes, plane `m` holding bit `7 - m` of every byte. Byte `j` of
//! a plane gathers that bit of byte `j` of all eight blocks, so the state
//! keeps its byte positions: ShiftRows and the column rotations of
//! MixColumns are byte shuffles of each plane, and SubBytes is one boolean
//! circuit run on the planes. No table lookup, no branch: the time does not
//! depend on the key or the data.
//!
//! SubBytes is the 113-gate straight-line program of Boyar, Peralta and
//! Calik (Peralta's circuit collection, `SLP_AES_113`: J. Boyar and R.
//! Peralta, "A new combinational logic minimization technique with
//! applications to cryptology", SEA 2010). Its inputs `U0..U7` and outputs
//! `S0..S7` run from the most significant bit down, which is the plane order.
//!
//! [`Aes128`] and [`Aes256`] implement the `cipher` crate's block cipher
//! traits with eight parallel blocks, so RustCrypto's `aes-gcm` runs its
//! counter mode eight blocks at a time over them.

use cipher::consts::{U16, U32, U8};
use cipher::inout::{InOut, InOutBuf};
use cipher::{
    AlgorithmName, Block, BlockBackend, BlockCipher, BlockClosure, BlockEncrypt, BlockSizeUser, Key, KeyInit,
    KeySizeUser, ParBlocks, ParBlocksSizeUser,
};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::lanes::U32x4;

/// Blocks per pass: one bit of each plane byte per block.
pub const BATCH: usize = 8;

/// Eight bit planes: the state of eight blocks.
type Planes = [U32x4; 8];

/// A round key, bitsliced (each byte of a plane is 0x00 or 0xff), stored as
/// words so that it can be wiped.
type RoundKey = [[u32; 4]; 8];

/// The round keys of one cipher: 11 for AES-128, 15 for AES-256.
#[derive(Clone)]
struct Schedule<const ROUND_KEYS: usize>([RoundKey; ROUND_KEYS]);

impl<const ROUND_KEYS: usize> Schedule<ROUND_KEYS> {
    /// FIPS 197 §5.2 for a key of `key.len() / 4` words, bitsliced.
    fn new(key: &[u8]) -> Self {
        let words = expand_key::<ROUND_KEYS>(key);
        let mut keys = [[[0u32; 4]; 8]; ROUND_KEYS];
        for (round_key, four) in keys.iter_mut().zip(words.chunks_exact(4)) {
            let mut bytes = [0u8; 16];
            for (chunk, word) in bytes.chunks_exact_mut(4).zip(four) {
                chunk.copy_from_slice(word);
            }
            let planes = transpose([U32x4::from_le_bytes(bytes); BATCH]);
            for (stored, plane) in round_key.iter_mut().zip(planes) {
                *stored = plane.to_array();
            }
            bytes.zeroize();
        }
        Self(keys)
    }

    /// Encrypt eight blocks in place.
    fn encrypt(&self, blocks: &mut [[u8; 16]; BATCH]) {
        let mut state = transpose(blocks.map(U32x4::from_le_bytes));
        let mut round_keys = self.0.iter();
        if let Some(first) = round_keys.next() {
            add_round_key(&mut state, first);
        }
        let last = round_keys.next_back();
        for round_key in round_keys {
            sub_bytes(&mut state);
            state = state.map(U32x4::shift_rows);
            mix_columns(&mut state);
            add_round_key(&mut state, round_key);
        }
        // The last round has no MixColumns.
        sub_bytes(&mut state);
        state = state.map(U32x4::shift_rows);
        if let Some(last) = last {
            add_round_key(&mut state, last);
        }
        *blocks = transpose(state).map(U32x4::to_le_bytes);
    }
}

impl<const ROUND_KEYS: usize> Drop for Schedule<ROUND_KEYS> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// The key expansion of FIPS 197 §5.2: `4 * ROUND_KEYS` words from a key of
/// `Nk = key.len() / 4` words (4 or 8 here).
#[allow(
    clippy::indexing_slicing,
    reason = "FIPS 197's own indexing: i runs over Nk..4·ROUND_KEYS inside the array, no input picks an index"
)]
fn expand_key<const ROUND_KEYS: usize>(key: &[u8]) -> zeroize::Zeroizing<[[u8; 4]; 60]> {
    let nk = key.len() / 4;
    // AES-128: 4 words, 11 round keys; AES-256: 8 words, 15 round keys.
    debug_assert_eq!(nk + 7, ROUND_KEYS);
    let mut w = zeroize::Zeroizing::new([[0u8; 4]; 60]);
    for (word, chunk) in w.iter_mut().zip(key.chunks_exact(4)) {
        word.copy_from_slice(chunk);
    }
    let mut rcon = 1u8;
    for i in nk..(4 * ROUND_KEYS).min(60) {
        let mut temp = w[i - 1];
        if i % nk == 0 {
            temp.rotate_left(1);
            temp = sub_word(temp);
            temp[0] ^= rcon;
            // xtime, in constant time: the reduction is a mask, not a branch.
            rcon = (rcon << 1) ^ (0x1b & 0u8.wrapping_sub(rcon >> 7));
        } else if nk > 6 && i % nk == 4 {
            temp = sub_word(temp);
        }
        for (t, b) in temp.iter_mut().zip(w[i - nk]) {
            *t ^= b;
        }
        w[i] = temp;
    }
    w
}

/// SubWord: the S-box on four bytes, through the same circuit.
fn sub_word(word: [u8; 4]) -> [u8; 4] {
    let [a, b, c, d] = word;
    let block = [a, b, c, d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut state = transpose([U32x4::from_le_bytes(block); BATCH]);
    sub_bytes(&mut state);
    let [[a, b, c, d, ..], ..] = transpose(state).map(U32x4::to_le_bytes);
    [a, b, c, d]
}

/// One 2×2 step of the transpose: the bits of `high` at `mask << N` trade
/// places with the bits of `low` at `mask`.
#[inline(always)]
fn swap_move<const N: u32>(high: U32x4, low: U32x4, mask: U32x4) -> (U32x4, U32x4) {
    let t = high.shr64::<N>().xor(low).and(mask);
    (high.xor(t.shl64::<N>()), low.xor(t))
}

/// Eight blocks to eight planes and back (the map is its own inverse):
/// bit `b` of byte `j` of register `k` goes to bit `7 - k` of byte `j` of
/// register `7 - b`.
#[inline(always)]
fn transpose([r0, r1, r2, r3, r4, r5, r6, r7]: Planes) -> Planes {
    let m1 = U32x4::splat64(0x5555_5555_5555_5555);
    let m2 = U32x4::splat64(0x3333_3333_3333_3333);
    let m4 = U32x4::splat64(0x0f0f_0f0f_0f0f_0f0f);
    let (r1, r0) = swap_move::<1>(r1, r0, m1);
    let (r3, r2) = swap_move::<1>(r3, r2, m1);
    let (r5, r4) = swap_move::<1>(r5, r4, m1);
    let (r7, r6) = swap_move::<1>(r7, r6, m1);
    let (r2, r0) = swap_move::<2>(r2, r0, m2);
    let (r3, r1) = swap_move::<2>(r3, r1, m2);
    let (r6, r4) = swap_move::<2>(r6, r4, m2);
    let (r7, r5) = swap_move::<2>(r7, r5, m2);
    let (r4, r0) = swap_move::<4>(r4, r0, m4);
    let (r5, r1) = swap_move::<4>(r5, r1, m4);
    let (r6, r2) = swap_move::<4>(r6, r2, m4);
    let (r7, r3) = swap_move::<4>(r7, r3, m4);
    [r0, r1, r2, r3, r4, r5, r6, r7]
}

#[inline(always)]
fn add_round_key(state: &mut Planes, key: &RoundKey) {
    for (plane, &[a, b, c, d]) in state.iter_mut().zip(key) {
        *plane = plane.xor(U32x4::new(a, b, c, d));
    }
}

/// MixColumns: `b = 2·(a ^ rot1 a) ^ rot1 a ^ rot2 (a ^ rot1 a)` per
/// column, where `rotN` takes the byte N rows down and `2·` (xtime) moves
/// each plane one bit up and folds bit 7 into bits 0, 1, 3 and 4
/// (x^8 = x^4 + x^3 + x + 1).
#[inline(always)]
fn mix_columns(state: &mut Planes) {
    let rot1 = state.map(U32x4::rotate_columns_1);
    let mut t = *state;
    for (t, r) in t.iter_mut().zip(rot1) {
        *t = t.xor(r);
    }
    // Plane m is bit 7 - m: plane 0 is the bit that overflows.
    let [t0, t1, t2, t3, t4, t5, t6, t7] = t;
    let doubled = [t1, t2, t3, t4.xor(t0), t5.xor(t0), t6, t7.xor(t0), t0];
    for (((plane, d), r), t) in state.iter_mut().zip(doubled).zip(rot1).zip(t) {
        *plane = d.xor(r).xor(t.rotate_columns_2());
    }
}

/// SubBytes on all 128 bytes: the circuit `SLP_AES_113`.
#[inline(always)]
fn sub_bytes(state: &mut Planes) {
    let [u0, u1, u2, u3, u4, u5, u6, u7] = *state;
    // Top linear layer.
    let y14 = u3.xor(u5);
    let y13 = u0.xor(u6);
    let y9 = u0.xor(u3);
    let y8 = u0.xor(u5);
    let t0 = u1.xor(u2);
    let y1 = t0.xor(u7);
    let y4 = y1.xor(u3);
    let y12 = y13.xor(y14);
    let y2 = y1.xor(u0);
    let y5 = y1.xor(u6);
    let y3 = y5.xor(y8);
    let t1 = u4.xor(y12);
    let y15 = t1.xor(u5);
    let y20 = t1.xor(u1);
    let y6 = y15.xor(u7);
    let y10 = y15.xor(t0);
    let y11 = y20.xor(y9);
    let y7 = u7.xor(y11);
    let y17 = y10.xor(y11);
    let y19 = y10.xor(y8);
    let y16 = t0.xor(y11);
    let y21 = y13.xor(y16);
    let y18 = u0.xor(y16);
    // Middle, non-linear layer: the inversion in GF(2^8).
    let t2 = y12.and(y15);
    let t3 = y3.and(y6);
    let t4 = t3.xor(t2);
    let t5 = y4.and(u7);
    let t6 = t5.xor(t2);
    let t7 = y13.and(y16);
    let t8 = y5.and(y1);
    let t9 = t8.xor(t7);
    let t10 = y2.and(y7);
    let t11 = t10.xor(t7);
    let t12 = y9.and(y11);
    let t13 = y14.and(y17);
    let t14 = t13.xor(t12);
    let t15 = y8.and(y10);
    let t16 = t15.xor(t12);
    let t17 = t4.xor(y20);
    let t18 = t6.xor(t16);
    let t19 = t9.xor(t14);
    let t20 = t11.xor(t16);
    let t21 = t17.xor(t14);
    let t22 = t18.xor(y19);
    let t23 = t19.xor(y21);
    let t24 = t20.xor(y18);
    let t25 = t21.xor(t22);
    let t26 = t21.and(t23);
    let t27 = t24.xor(t26);
    let t28 = t25.and(t27);
    let t29 = t28.xor(t22);
    let t30 = t23.xor(t24);
    let t31 = t22.xor(t26);
    let t32 = t31.and(t30);
    let t33 = t32.xor(t24);
    let t34 = t23.xor(t33);
    let t35 = t27.xor(t33);
    let t36 = t24.and(t35);
    let t37 = t36.xor(t34);
    let t38 = t27.xor(t36);
    let t39 = t29.and(t38);
    let t40 = t25.xor(t39);
    let t41 = t40.xor(t37);
    let t42 = t29.xor(t33);
    let t43 = t29.xor(t40);
    let t44 = t33.xor(t37);
    let t45 = t42.xor(t41);
    let z0 = t44.and(y15);
    let z1 = t37.and(y6);
    let z2 = t33.and(u7);
    let z3 = t43.and(y16);
    let z4 = t40.and(y1);
    let z5 = t29.and(y7);
    let z6 = t42.and(y11);
    let z7 = t45.and(y17);
    let z8 = t41.and(y10);
    let z9 = t44.and(y12);
    let z10 = t37.and(y3);
    let z11 = t33.and(y4);
    let z12 = t43.and(y13);
    let z13 = t40.and(y5);
    let z14 = t29.and(y2);
    let z15 = t42.and(y9);
    let z16 = t45.and(y14);
    let z17 = t41.and(y8);
    // Bottom linear layer, with the affine constant 0x63 as the NOTs.
    let tc1 = z15.xor(z16);
    let tc2 = z10.xor(tc1);
    let tc3 = z9.xor(tc2);
    let tc4 = z0.xor(z2);
    let tc5 = z1.xor(z0);
    let tc6 = z3.xor(z4);
    let tc7 = z12.xor(tc4);
    let tc8 = z7.xor(tc6);
    let tc9 = z8.xor(tc7);
    let tc10 = tc8.xor(tc9);
    let tc11 = tc6.xor(tc5);
    let tc12 = z3.xor(z5);
    let tc13 = z13.xor(tc1);
    let tc14 = tc4.xor(tc12);
    let s3 = tc3.xor(tc11);
    let tc16 = z6.xor(tc8);
    let tc17 = z14.xor(tc10);
    let tc18 = tc13.not().xor(tc14);
    let s7 = z12.xor(tc18);
    let tc20 = z15.xor(tc16);
    let tc21 = tc2.xor(z11);
    let s0 = tc3.xor(tc16);
    let s6 = tc10.xor(tc18);
    let s4 = tc14.xor(s3);
    let s1 = s3.xor(tc16).not();
    let tc26 = tc17.xor(tc20);
    let s2 = tc26.xor(z17).not();
    let s5 = tc21.xor(tc17);
    *state = [s0, s1, s2, s3, s4, s5, s6, s7];
}

/// The `cipher` backend: eight blocks per call, fewer through the same
/// eight-wide pass.
struct Backend<'a, const ROUND_KEYS: usize>(&'a Schedule<ROUND_KEYS>);

impl<const ROUND_KEYS: usize> BlockSizeUser for Backend<'_, ROUND_KEYS> {
    type BlockSize = U16;
}

impl<const ROUND_KEYS: usize> ParBlocksSizeUser for Backend<'_, ROUND_KEYS> {
    type ParBlocksSize = U8;
}

impl<const ROUND_KEYS: usize> BlockBackend for Backend<'_, ROUND_KEYS> {
    fn proc_block(&mut self, mut block: InOut<'_, '_, Block<Self>>) {
        let mut batch = [[0u8; 16]; BATCH];
        let [first, ..] = &mut batch;
        first.copy_from_slice(block.get_in());
        self.0.encrypt(&mut batch);
        let [first, ..] = &batch;
        block.get_out().copy_from_slice(first);
    }

    fn proc_par_blocks(&mut self, mut blocks: InOut<'_, '_, ParBlocks<Self>>) {
        let mut batch = [[0u8; 16]; BATCH];
        for (slot, block) in batch.iter_mut().zip(blocks.get_in().iter()) {
            slot.copy_from_slice(block);
        }
        self.0.encrypt(&mut batch);
        for (block, slot) in blocks.get_out().iter_mut().zip(&batch) {
            block.copy_from_slice(slot);
        }
    }

    fn proc_tail_blocks(&mut self, blocks: InOutBuf<'_, '_, Block<Self>>) {
        let (mut chunks, mut tail) = blocks.into_chunks::<U8>();
        for chunk in chunks.reborrow() {
            self.proc_par_blocks(chunk);
        }
        // cipher calls this after every run of whole batches, often with
        // nothing left: that must not cost a pass.
        if tail.is_empty() {
            return;
        }
        let mut batch = [[0u8; 16]; BATCH];
        for (slot, block) in batch.iter_mut().zip(tail.get_in()) {
            slot.copy_from_slice(block);
        }
        self.0.encrypt(&mut batch);
        for (block, slot) in tail.get_out().iter_mut().zip(&batch) {
            block.copy_from_slice(slot);
        }
    }
}

/// A block cipher that encrypts eight blocks per call: what [`crate::AesGcm`]
/// runs its counter mode on.
pub trait EightBlocks {
    /// Encrypt `blocks` in place.
    fn encrypt8(&self, blocks: &mut [[u8; 16]; BATCH]);
}

macro_rules! aes {
    ($name:ident, $key_size:ty, $round_keys:literal, $label:literal) => {
        #[doc = concat!($label, ", bitsliced, eight blocks per pass (encryption only: GCM needs no more).")]
        #[derive(Clone)]
        pub struct $name(Schedule<$round_keys>);

        impl KeySizeUser for $name {
            type KeySize = $key_size;
        }

        impl BlockSizeUser for $name {
            type BlockSize = U16;
        }

        impl BlockCipher for $name {}

        impl KeyInit for $name {
            fn new(key: &Key<Self>) -> Self {
                Self(Schedule::new(key))
            }
        }

        impl BlockEncrypt for $name {
            fn encrypt_with_backend(&self, f: impl BlockClosure<BlockSize = U16>) {
                f.call(&mut Backend(&self.0));
            }
        }

        impl AlgorithmName for $name {
            fn write_alg_name(f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str($label)
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                // The round keys are secret.
                f.write_str(concat!($label, " { .. }"))
            }
        }

        impl ZeroizeOnDrop for $name {}

        impl EightBlocks for $name {
            fn encrypt8(&self, blocks: &mut [[u8; 16]; BATCH]) {
                self.0.encrypt(blocks);
            }
        }
    };
}

aes!(Aes128, U16, 11, "AES-128");
aes!(Aes256, U32, 15, "AES-256");

#[cfg(test)]
mod tests {
    use super::*;

    /// Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1.
    fn gf_mul(mut a: u8, mut b: u8) -> u8 {
        let mut product = 0;
        while b != 0 {
            if b & 1 == 1 {
                product ^= a;
            }
            a = (a << 1) ^ if a & 0x80 != 0 { 0x1b } else { 0 };
            b >>= 1;
        }
        product
    }

    /// FIPS 197 §5.1.1 from its definition: the inverse, then the affine map.
    fn s_box(x: u8) -> u8 {
        let inverse = (1..=255u8).find(|&y| gf_mul(x, y) == 1).unwrap_or(0);
        let rotations = (1..=4).fold(inverse, |acc, n| acc ^ inverse.rotate_left(n));
        rotations ^ 0x63
    }

    #[test]
    fn the_circuit_is_the_s_box_on_all_256_bytes() {
        for first in (0..=255u8).step_by(4) {
            let word = [first, first + 1, first + 2, first + 3];
            assert_eq!(sub_word(word), word.map(s_box), "bytes {first}..{}", first + 3);
        }
    }
}
