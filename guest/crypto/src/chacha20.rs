//! ChaCha20 (RFC 8439 §2.4: 96-bit nonce, 32-bit block counter), four
//! blocks per pass.
//!
//! The state is kept "wide": lane `j` of vector `i` is word `i` of block
//! `counter + j`, so one quarter round on vectors runs the same quarter
//! round on four blocks. A final 4×4 transpose turns the lanes back into
//! blocks. [`ChaCha20Core`] implements the `cipher` crate's core traits;
//! its wrapper [`ChaCha20`] is a RustCrypto stream cipher.

use cipher::consts::{U12, U32, U4, U64};
use cipher::{
    Block, BlockSizeUser, IvSizeUser, Key, KeyIvInit, KeySizeUser, ParBlocks, ParBlocksSizeUser, StreamBackend,
    StreamCipherCore, StreamCipherCoreWrapper, StreamCipherSeekCore, StreamClosure,
};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::lanes::U32x4;
use crate::le_words;

/// "expand 32-byte k" (RFC 8439 §2.3).
const CONSTANTS: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];
/// Word 12 of the state is the block counter.
const COUNTER: usize = 12;

/// ChaCha20 as a stream cipher (`apply_keystream`, `seek`).
pub type ChaCha20 = StreamCipherCoreWrapper<ChaCha20Core>;

/// The ChaCha20 block function's input state (RFC 8439 §2.3).
pub struct ChaCha20Core {
    state: [u32; 16],
}

impl KeySizeUser for ChaCha20Core {
    type KeySize = U32;
}

impl IvSizeUser for ChaCha20Core {
    type IvSize = U12;
}

impl BlockSizeUser for ChaCha20Core {
    type BlockSize = U64;
}

impl KeyIvInit for ChaCha20Core {
    fn new(key: &Key<Self>, iv: &cipher::Iv<Self>) -> Self {
        let mut state = [0u32; 16];
        let (constants, rest) = state.split_at_mut(4);
        constants.copy_from_slice(&CONSTANTS);
        let (key_words, rest) = rest.split_at_mut(8);
        key_words.copy_from_slice(&le_words::<8>(key));
        // rest[0] is the counter, left at 0; the nonce follows it.
        let (_counter, nonce_words) = rest.split_at_mut(1);
        nonce_words.copy_from_slice(&le_words::<3>(iv));
        Self { state }
    }
}

impl StreamCipherCore for ChaCha20Core {
    fn remaining_blocks(&self) -> Option<usize> {
        usize::try_from(u32::MAX - self.get_block_pos()).ok()
    }

    fn process_with_backend(&mut self, f: impl StreamClosure<BlockSize = Self::BlockSize>) {
        f.call(&mut Backend(self));
    }
}

impl StreamCipherSeekCore for ChaCha20Core {
    type Counter = u32;

    fn get_block_pos(&self) -> u32 {
        self.state[COUNTER]
    }

    fn set_block_pos(&mut self, pos: u32) {
        self.state[COUNTER] = pos;
    }
}

impl Drop for ChaCha20Core {
    fn drop(&mut self) {
        self.state.zeroize();
    }
}

impl ZeroizeOnDrop for ChaCha20Core {}

impl ChaCha20Core {
    /// XOR `data` with the keystream from the current block on, four
    /// blocks (256 bytes) per pass of the four-lane code, and move past the
    /// blocks used: the AEAD's one-pass loop, with no wrapper in between.
    pub(crate) fn xor_keystream(&mut self, data: &mut [u8]) {
        for step in data.chunks_mut(256) {
            let blocks = Backend(self).blocks();
            // Keystream bytes first, then XOR loops the compiler
            // vectorises (XOR word by word in place of it was slower). Not
            // wiped: it tells no more than the traffic key this box holds
            // for the whole connection, and a volatile wipe cost 25%.
            let mut keystream = [0u8; 256];
            for (lane, block) in keystream.chunks_exact_mut(64).enumerate() {
                if let Ok(block) = <&mut [u8; 64]>::try_from(block) {
                    write_block(&blocks, lane, block.into());
                }
            }
            // By 16-byte rows: over the whole step, one byte loop left its
            // last 16 bytes to a scalar epilogue (7% of the AEAD's time).
            let mut rows = step.chunks_exact_mut(16);
            let mut keys = keystream.chunks_exact(16);
            for (row, key) in (&mut rows).zip(&mut keys) {
                if let (Ok(row), Ok(key)) = (<&mut [u8; 16]>::try_from(row), <&[u8; 16]>::try_from(key)) {
                    for (byte, k) in row.iter_mut().zip(key) {
                        *byte ^= k;
                    }
                }
            }
            for (byte, k) in rows.into_remainder().iter_mut().zip(keys.flatten()) {
                *byte ^= k;
            }
            let used = step.len().div_ceil(64) as u32;
            Backend(self).advance(used);
        }
    }

    /// The Poly1305 key of RFC 8439 §2.6: the first 32 bytes of this
    /// block, which is then used up. The block is wiped: this one is secret.
    pub(crate) fn poly1305_key(&mut self) -> [u8; 32] {
        let blocks = Backend(self).blocks();
        let mut block = [0u8; 64];
        write_block(&blocks, 0, (&mut block).into());
        Backend(self).advance(1);
        let mut key = [0u8; 32];
        if let Some(first) = block.get(..32) {
            key.copy_from_slice(first);
        }
        block.zeroize();
        key
    }
}

struct Backend<'a>(&'a mut ChaCha20Core);

impl BlockSizeUser for Backend<'_> {
    type BlockSize = U64;
}

impl ParBlocksSizeUser for Backend<'_> {
    type ParBlocksSize = U4;
}

impl StreamBackend for Backend<'_> {
    fn gen_ks_block(&mut self, block: &mut Block<Self>) {
        // One block: the four-lane code with only lane 0 kept. Each tail
        // block (the last 1-3 of a message) costs a full pass.
        let blocks = self.blocks();
        self.advance(1);
        write_block(&blocks, 0, block);
    }

    fn gen_par_ks_blocks(&mut self, out: &mut ParBlocks<Self>) {
        let blocks = self.blocks();
        self.advance(4);
        for (lane, block) in out.iter_mut().enumerate() {
            write_block(&blocks, lane, block);
        }
    }
}

impl Backend<'_> {
    fn advance(&mut self, blocks: u32) {
        let counter = &mut self.0.state[COUNTER];
        *counter = counter.wrapping_add(blocks);
    }

    /// Blocks `counter .. counter + 4`, transposed: `out[g][lane]` holds
    /// words `4g .. 4g + 4` of block `counter + lane`.
    #[inline(always)]
    fn blocks(&self) -> [[U32x4; 4]; 4] {
        let c = self.0.state[COUNTER];
        let mut input = self.0.state.map(U32x4::splat);
        input[COUNTER] = U32x4::new(c, c.wrapping_add(1), c.wrapping_add(2), c.wrapping_add(3));
        let mut x = input;
        // Written out, not a loop: Cranelift stores the sixteen state
        // vectors to the stack and loads them back around every loop
        // iteration. Unrolled, the keystream ran 30% faster in wasm.
        double_round(&mut x);
        double_round(&mut x);
        double_round(&mut x);
        double_round(&mut x);
        double_round(&mut x);
        double_round(&mut x);
        double_round(&mut x);
        double_round(&mut x);
        double_round(&mut x);
        double_round(&mut x);
        for (word, start) in x.iter_mut().zip(input) {
            *word = word.add(start);
        }
        let [x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15] = x;
        [
            U32x4::transpose(x0, x1, x2, x3),
            U32x4::transpose(x4, x5, x6, x7),
            U32x4::transpose(x8, x9, x10, x11),
            U32x4::transpose(x12, x13, x14, x15),
        ]
    }
}

/// Little-endian bytes of block `lane` of a [`Backend::blocks`] result.
#[inline(always)]
fn write_block(blocks: &[[U32x4; 4]; 4], lane: usize, out: &mut Block<Backend<'_>>) {
    for (group, chunk) in blocks.iter().zip(out.chunks_exact_mut(16)) {
        let Some(row) = group.get(lane) else { return };
        for (word, bytes) in row.to_array().iter().zip(chunk.chunks_exact_mut(4)) {
            bytes.copy_from_slice(&word.to_le_bytes());
        }
    }
}

#[inline(always)]
fn quarter_round(a: &mut U32x4, b: &mut U32x4, c: &mut U32x4, d: &mut U32x4) {
    *a = a.add(*b);
    *d = d.xor(*a).rotl16();
    *c = c.add(*d);
    *b = b.xor(*c).rotl::<12>();
    *a = a.add(*b);
    *d = d.xor(*a).rotl8();
    *c = c.add(*d);
    *b = b.xor(*c).rotl::<7>();
}

/// A column round and a diagonal round (RFC 8439 §2.3).
#[inline(always)]
fn double_round(x: &mut [U32x4; 16]) {
    let [x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15] = x;
    quarter_round(x0, x4, x8, x12);
    quarter_round(x1, x5, x9, x13);
    quarter_round(x2, x6, x10, x14);
    quarter_round(x3, x7, x11, x15);
    quarter_round(x0, x5, x10, x15);
    quarter_round(x1, x6, x11, x12);
    quarter_round(x2, x7, x8, x13);
    quarter_round(x3, x4, x9, x14);
}
