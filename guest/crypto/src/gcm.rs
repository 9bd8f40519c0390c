//! AES-GCM (NIST SP 800-38D) with a 96-bit nonce and a 128-bit tag, over
//! this crate's bitsliced AES and GHASH, behind RustCrypto's `aead` traits.
//!
//! One pass, as for ChaCha20-Poly1305: the data goes in steps of eight
//! counter blocks (one AES pass), each hashed right after it is encrypted,
//! or right before it is decrypted, while it is still in the L1 cache. The
//! first pass also yields E(K, J0), which masks the tag, with seven blocks
//! of keystream.

use chacha20poly1305::aead::consts::{U0, U12, U16};
use chacha20poly1305::aead::generic_array::GenericArray;
use chacha20poly1305::aead::{AeadCore, AeadInPlace, Error, Key, KeyInit, KeySizeUser};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::aes::{EightBlocks, BATCH};
use crate::ghash::GHash;
use crate::{check_tag, Direction};

/// SP 800-38D §5.2.1.1: at most 2^39 - 256 bits of plaintext, which is
/// also where the 32-bit block counter would wrap.
const MAX_TEXT: u64 = (1 << 36) - 32;

/// AES-GCM under one key.
#[derive(Clone)]
pub struct AesGcm<A> {
    cipher: A,
    /// GHASH keyed with H = E(K, 0), not yet fed: cloned for each message.
    ghash: GHash,
}

impl<A: KeySizeUser> KeySizeUser for AesGcm<A> {
    type KeySize = A::KeySize;
}

impl<A: KeyInit + EightBlocks> KeyInit for AesGcm<A> {
    fn new(key: &Key<Self>) -> Self {
        let cipher = A::new(key);
        let mut blocks = [[0u8; 16]; BATCH];
        cipher.encrypt8(&mut blocks);
        let [h, ..] = &blocks;
        let ghash = GHash::new(h);
        blocks.zeroize();
        Self { cipher, ghash }
    }
}

impl<A> AeadCore for AesGcm<A> {
    type NonceSize = U12;
    type TagSize = U16;
    type CiphertextOverhead = U0;
}

/// The lengths block that ends GHASH's input, in bits (SP 800-38D §7.1).
fn lengths(aad: usize, text: usize) -> Result<[u8; 16], Error> {
    let bits = |bytes: usize| (bytes as u64).checked_mul(8).ok_or(Error);
    let mut block = [0u8; 16];
    let (a, t) = block.split_at_mut(8);
    a.copy_from_slice(&bits(aad)?.to_be_bytes());
    t.copy_from_slice(&bits(text)?.to_be_bytes());
    Ok(block)
}

impl<A: EightBlocks> AesGcm<A> {
    /// Counter blocks `nonce ‖ counter`, `nonce ‖ counter + 1`, … encrypted.
    fn keystream(&self, nonce: &GenericArray<u8, U12>, counter: u32) -> [[u8; 16]; BATCH] {
        let mut blocks = [[0u8; 16]; BATCH];
        for (offset, block) in (0u32..).zip(blocks.iter_mut()) {
            let (iv, count) = block.split_at_mut(12);
            iv.copy_from_slice(nonce);
            count.copy_from_slice(&counter.wrapping_add(offset).to_be_bytes());
        }
        self.cipher.encrypt8(&mut blocks);
        blocks
    }

    /// Encrypt or decrypt `buffer` in place and compute the tag over the
    /// associated data and the ciphertext.
    fn pass(
        &self,
        direction: Direction,
        nonce: &GenericArray<u8, U12>,
        associated_data: &[u8],
        buffer: &mut [u8],
    ) -> Result<[u8; 16], Error> {
        if buffer.len() as u64 > MAX_TEXT {
            return Err(Error);
        }
        let lengths = lengths(associated_data.len(), buffer.len())?;
        let mut ghash = self.ghash.clone();
        ghash.update_padded(associated_data);
        // Counter 1 is J0 (the tag mask); the data starts at 2.
        let mut keystream = self.keystream(nonce, 1);
        let [mut tag_mask, ..] = keystream;
        let (mut skip, mut counter) = (16, 1u32);
        let mut rest = buffer;
        loop {
            let bytes = keystream.as_flattened().get(skip..).unwrap_or_default();
            let (step, tail) = rest.split_at_mut(rest.len().min(bytes.len()));
            direction.step(
                step,
                |s| {
                    for (data, key) in s.iter_mut().zip(bytes) {
                        *data ^= key;
                    }
                },
                |s| ghash.update_padded(s),
            );
            rest = tail;
            if rest.is_empty() {
                break;
            }
            counter = counter.wrapping_add(BATCH as u32);
            keystream = self.keystream(nonce, counter);
            skip = 0;
        }
        keystream.zeroize();
        ghash.update_padded(&lengths);
        let mut tag = ghash.finalize();
        for (t, m) in tag.iter_mut().zip(tag_mask) {
            *t ^= m;
        }
        tag_mask.zeroize();
        Ok(tag)
    }
}

impl<A: EightBlocks> AeadInPlace for AesGcm<A> {
    fn encrypt_in_place_detached(
        &self,
        nonce: &GenericArray<u8, U12>,
        associated_data: &[u8],
        buffer: &mut [u8],
    ) -> Result<GenericArray<u8, U16>, Error> {
        Ok(self.pass(Direction::Seal, nonce, associated_data, buffer)?.into())
    }

    fn decrypt_in_place_detached(
        &self,
        nonce: &GenericArray<u8, U12>,
        associated_data: &[u8],
        buffer: &mut [u8],
        tag: &GenericArray<u8, U16>,
    ) -> Result<(), Error> {
        let expected = self.pass(Direction::Open, nonce, associated_data, buffer)?;
        check_tag(&expected, tag, buffer)
    }
}

impl<A: ZeroizeOnDrop> ZeroizeOnDrop for AesGcm<A> {}
