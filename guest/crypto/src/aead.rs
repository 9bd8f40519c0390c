//! ChaCha20-Poly1305 (RFC 8439 §2.8) over this crate's ChaCha20 and
//! Poly1305, behind RustCrypto's `aead` traits.
//!
//! Same construction as the `chacha20poly1305` crate, with one change:
//! the data is encrypted and authenticated in 256-byte steps (four
//! ChaCha20 blocks, one pass of the four-lane code, XORed straight into
//! the data), so Poly1305 reads each step while it is still in the L1
//! cache instead of in a second pass over the whole record.

use chacha20poly1305::aead::consts::{U0, U12, U16, U32};
use chacha20poly1305::aead::generic_array::GenericArray;
use chacha20poly1305::aead::{AeadCore, AeadInPlace, Error, KeyInit, KeySizeUser};
use cipher::KeyIvInit;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::chacha20::ChaCha20Core;
use crate::poly1305::Poly1305;
use crate::{check_tag, Direction};

/// Bytes per step: four ChaCha20 blocks.
const STEP: usize = 256;
/// RFC 8439 §2.8: the 32-bit block counter bounds a message; block 0 makes
/// the Poly1305 key, blocks 1 to 2^32 - 1 the data.
const MAX_BLOCKS: u64 = u32::MAX as u64;

/// ChaCha20-Poly1305 under one key.
#[derive(Clone)]
pub struct ChaCha20Poly1305 {
    key: [u8; 32],
}

impl KeySizeUser for ChaCha20Poly1305 {
    type KeySize = U32;
}

impl KeyInit for ChaCha20Poly1305 {
    fn new(key: &GenericArray<u8, U32>) -> Self {
        Self { key: (*key).into() }
    }
}

impl AeadCore for ChaCha20Poly1305 {
    type NonceSize = U12;
    type TagSize = U16;
    type CiphertextOverhead = U0;
}

impl ChaCha20Poly1305 {
    /// The cipher at block 1 and the authenticator keyed from block 0.
    fn start(&self, nonce: &GenericArray<u8, U12>, len: usize) -> Result<(ChaCha20Core, Poly1305), Error> {
        if (len as u64).div_ceil(64) > MAX_BLOCKS {
            return Err(Error);
        }
        let mut cipher = ChaCha20Core::new(&self.key.into(), nonce);
        let mut mac_key = cipher.poly1305_key();
        let mac = Poly1305::new(&mac_key);
        mac_key.zeroize();
        Ok((cipher, mac))
    }
}

/// The lengths block that ends the authenticated data (RFC 8439 §2.8).
fn lengths(aad: usize, text: usize) -> [u8; 16] {
    let mut block = [0u8; 16];
    let (a, t) = block.split_at_mut(8);
    a.copy_from_slice(&(aad as u64).to_le_bytes());
    t.copy_from_slice(&(text as u64).to_le_bytes());
    block
}

impl ChaCha20Poly1305 {
    /// Encrypt or decrypt `buffer` in place, step by step, and compute the
    /// tag over the associated data and the ciphertext: Poly1305 reads each
    /// step after encrypting it, or before decrypting it.
    fn pass(
        &self,
        direction: Direction,
        nonce: &GenericArray<u8, U12>,
        associated_data: &[u8],
        buffer: &mut [u8],
    ) -> Result<[u8; 16], Error> {
        let (mut cipher, mut mac) = self.start(nonce, buffer.len())?;
        mac.update_padded(associated_data);
        for step in buffer.chunks_mut(STEP) {
            direction.step(step, |s| cipher.xor_keystream(s), |s| mac.update_padded(s));
        }
        mac.update_padded(&lengths(associated_data.len(), buffer.len()));
        Ok(mac.finalize())
    }
}

impl AeadInPlace for ChaCha20Poly1305 {
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

impl Drop for ChaCha20Poly1305 {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl ZeroizeOnDrop for ChaCha20Poly1305 {}
