//! Record protection (RFC 8446 §5.2, RFC 5288, RFC 7905). In wasm the
//! ciphers are tlsbox-crypto's: its ChaCha20-Poly1305, and its AES-GCM
//! (bitsliced AES, GHASH from integer multiplies). Natively they are
//! RustCrypto's, whose SSE2, AVX2, NEON, AES-NI and CLMUL backends beat our
//! portable fallbacks.
//!
//! Keys live in the cipher objects only; `extract_keys` is refused so that no
//! traffic key can be pulled out of the box (DESIGN.md invariant 1).

use alloc::boxed::Box;

use aes_gcm::aead::consts::{U12, U16};
use aes_gcm::aead::{AeadInPlace, KeyInit};
#[cfg(not(target_arch = "wasm32"))]
use aes_gcm::{Aes128Gcm, Aes256Gcm};
#[cfg(not(target_arch = "wasm32"))]
use chacha20poly1305::ChaCha20Poly1305;
use rustls::crypto::cipher::{
    make_tls12_aad, make_tls13_aad, AeadKey, InboundOpaqueMessage, InboundPlainMessage, Iv, KeyBlockShape,
    MessageDecrypter, MessageEncrypter, Nonce, OutboundOpaqueMessage, OutboundPlainMessage, PrefixedPayload,
    Tls12AeadAlgorithm, Tls13AeadAlgorithm, UnsupportedOperationError, NONCE_LEN,
};
use rustls::{ConnectionTrafficSecrets, ContentType, Error, ProtocolVersion};
#[cfg(target_arch = "wasm32")]
use tlsbox_crypto::{Aes128Gcm, Aes256Gcm, ChaCha20Poly1305};

const TAG_LEN: usize = 16;
/// TLS 1.2 AES-GCM sends the low 8 bytes of the nonce with each record.
const GCM_EXPLICIT_NONCE_LEN: usize = 8;
/// TLS 1.2 AES-GCM: 4 implicit bytes of IV from the key block.
const GCM_FIXED_IV_LEN: usize = 4;

/// An AEAD cipher from RustCrypto, seen the way the record layer uses it.
pub(crate) trait Cipher: AeadInPlace<NonceSize = U12, TagSize = U16> + KeyInit + Send + Sync + 'static {}
impl<T: AeadInPlace<NonceSize = U12, TagSize = U16> + KeyInit + Send + Sync + 'static> Cipher for T {}

/// The tag at the end of a record, as the cipher wants it.
fn tag_of(tag: &[u8]) -> Result<aes_gcm::Tag, Error> {
    let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| Error::DecryptError)?;
    Ok(tag.into())
}

/// One AEAD algorithm: the marker type picks the RustCrypto cipher.
pub(crate) struct Aead<C>(core::marker::PhantomData<fn() -> C>);

/// AES-128-GCM.
pub(crate) static AES_128_GCM: Aead<Aes128Gcm> = Aead(core::marker::PhantomData);
/// AES-256-GCM.
pub(crate) static AES_256_GCM: Aead<Aes256Gcm> = Aead(core::marker::PhantomData);
/// ChaCha20-Poly1305.
pub(crate) static CHACHA20_POLY1305: Aead<ChaCha20Poly1305> = Aead(core::marker::PhantomData);

impl<C: Cipher> Aead<C> {
    fn key_len(&self) -> usize {
        C::key_size()
    }

    /// A cipher for `key`. rustls derives keys of exactly `key_len()` bytes,
    /// so a length mismatch is a rustls bug; it yields a cipher that fails
    /// every record rather than a panic.
    fn cipher(key: &AeadKey) -> Option<C> {
        C::new_from_slice(key.as_ref()).ok()
    }
}

impl<C: Cipher> Tls13AeadAlgorithm for Aead<C> {
    fn encrypter(&self, key: AeadKey, iv: Iv) -> Box<dyn MessageEncrypter> {
        Box::new(Tls13Encrypter {
            cipher: Self::cipher(&key),
            iv,
        })
    }

    fn decrypter(&self, key: AeadKey, iv: Iv) -> Box<dyn MessageDecrypter> {
        Box::new(Tls13Decrypter {
            cipher: Self::cipher(&key),
            iv,
        })
    }

    fn key_len(&self) -> usize {
        Aead::key_len(self)
    }

    fn extract_keys(&self, _key: AeadKey, _iv: Iv) -> Result<ConnectionTrafficSecrets, UnsupportedOperationError> {
        Err(UnsupportedOperationError)
    }
}

struct Tls13Encrypter<C> {
    cipher: Option<C>,
    iv: Iv,
}

impl<C: Cipher> MessageEncrypter for Tls13Encrypter<C> {
    fn encrypt(&mut self, msg: OutboundPlainMessage<'_>, seq: u64) -> Result<OutboundOpaqueMessage, Error> {
        let cipher = self.cipher.as_ref().ok_or(Error::EncryptError)?;
        let total_len = self.encrypted_payload_len(msg.payload.len());
        let mut payload = PrefixedPayload::with_capacity(total_len);
        payload.extend_from_chunks(&msg.payload);
        payload.extend_from_slice(&msg.typ.to_array());

        let nonce = Nonce::new(&self.iv, seq).0;
        let aad = make_tls13_aad(total_len);
        let tag = cipher
            .encrypt_in_place_detached(&nonce.into(), &aad, payload.as_mut())
            .map_err(|_| Error::EncryptError)?;
        payload.extend_from_slice(&tag);
        // RFC 8446 §5.1: protected records carry legacy version TLS 1.2.
        Ok(OutboundOpaqueMessage::new(
            ContentType::ApplicationData,
            ProtocolVersion::TLSv1_2,
            payload,
        ))
    }

    fn encrypted_payload_len(&self, payload_len: usize) -> usize {
        payload_len + 1 + TAG_LEN
    }
}

struct Tls13Decrypter<C> {
    cipher: Option<C>,
    iv: Iv,
}

impl<C: Cipher> MessageDecrypter for Tls13Decrypter<C> {
    fn decrypt<'a>(&mut self, mut msg: InboundOpaqueMessage<'a>, seq: u64) -> Result<InboundPlainMessage<'a>, Error> {
        let cipher = self.cipher.as_ref().ok_or(Error::DecryptError)?;
        let payload = &mut msg.payload;
        let plain_len = payload.len().checked_sub(TAG_LEN).ok_or(Error::DecryptError)?;
        let aad = make_tls13_aad(payload.len());
        let nonce = Nonce::new(&self.iv, seq).0;
        let (text, tag) = payload.split_at_mut(plain_len);
        cipher
            .decrypt_in_place_detached(&nonce.into(), &aad, text, &tag_of(tag)?)
            .map_err(|_| Error::DecryptError)?;
        payload.truncate(plain_len);
        msg.into_tls13_unpadded_message()
    }
}

/// TLS 1.2 AES-GCM (RFC 5288): 4-byte implicit salt, 8-byte explicit nonce.
pub(crate) struct Tls12Gcm<C: 'static>(pub(crate) &'static Aead<C>);

/// TLS 1.2 AES-128-GCM.
pub(crate) static TLS12_AES_128_GCM: Tls12Gcm<Aes128Gcm> = Tls12Gcm(&AES_128_GCM);
/// TLS 1.2 AES-256-GCM.
pub(crate) static TLS12_AES_256_GCM: Tls12Gcm<Aes256Gcm> = Tls12Gcm(&AES_256_GCM);

impl<C: Cipher> Tls12AeadAlgorithm for Tls12Gcm<C> {
    fn encrypter(&self, key: AeadKey, iv: &[u8], extra: &[u8]) -> Box<dyn MessageEncrypter> {
        Box::new(Tls12GcmEncrypter {
            cipher: Aead::<C>::cipher(&key),
            iv: gcm_iv(iv, extra),
        })
    }

    fn decrypter(&self, key: AeadKey, iv: &[u8]) -> Box<dyn MessageDecrypter> {
        let mut salt = [0u8; GCM_FIXED_IV_LEN];
        let ok = iv.len() == GCM_FIXED_IV_LEN;
        if ok {
            salt.copy_from_slice(iv);
        }
        Box::new(Tls12GcmDecrypter {
            cipher: Aead::<C>::cipher(&key).filter(|_| ok),
            salt,
        })
    }

    fn key_block_shape(&self) -> KeyBlockShape {
        KeyBlockShape {
            enc_key_len: self.0.key_len(),
            fixed_iv_len: GCM_FIXED_IV_LEN,
            explicit_nonce_len: GCM_EXPLICIT_NONCE_LEN,
        }
    }

    fn extract_keys(
        &self,
        _key: AeadKey,
        _iv: &[u8],
        _explicit: &[u8],
    ) -> Result<ConnectionTrafficSecrets, UnsupportedOperationError> {
        Err(UnsupportedOperationError)
    }
}

/// The 12-byte GCM nonce base: implicit salt ‖ random explicit part.
/// Nonces are then `base XOR seq`, unique per record as RFC 5288 requires.
fn gcm_iv(salt: &[u8], explicit: &[u8]) -> Iv {
    let mut iv = [0u8; NONCE_LEN];
    for (dst, src) in iv.iter_mut().zip(salt.iter().chain(explicit.iter())) {
        *dst = *src;
    }
    Iv::new(iv)
}

struct Tls12GcmEncrypter<C> {
    cipher: Option<C>,
    iv: Iv,
}

impl<C: Cipher> MessageEncrypter for Tls12GcmEncrypter<C> {
    fn encrypt(&mut self, msg: OutboundPlainMessage<'_>, seq: u64) -> Result<OutboundOpaqueMessage, Error> {
        let cipher = self.cipher.as_ref().ok_or(Error::EncryptError)?;
        let total_len = self.encrypted_payload_len(msg.payload.len());
        let mut payload = PrefixedPayload::with_capacity(total_len);
        let nonce = Nonce::new(&self.iv, seq).0;
        let aad = make_tls12_aad(seq, msg.typ, msg.version, msg.payload.len());
        payload.extend_from_slice(nonce.get(GCM_FIXED_IV_LEN..).unwrap_or_default());
        payload.extend_from_chunks(&msg.payload);
        let text = payload
            .as_mut()
            .get_mut(GCM_EXPLICIT_NONCE_LEN..)
            .ok_or(Error::EncryptError)?;
        let tag = cipher
            .encrypt_in_place_detached(&nonce.into(), &aad, text)
            .map_err(|_| Error::EncryptError)?;
        payload.extend_from_slice(&tag);
        Ok(OutboundOpaqueMessage::new(msg.typ, msg.version, payload))
    }

    fn encrypted_payload_len(&self, payload_len: usize) -> usize {
        payload_len + GCM_EXPLICIT_NONCE_LEN + TAG_LEN
    }
}

struct Tls12GcmDecrypter<C> {
    cipher: Option<C>,
    salt: [u8; GCM_FIXED_IV_LEN],
}

impl<C: Cipher> MessageDecrypter for Tls12GcmDecrypter<C> {
    fn decrypt<'a>(&mut self, mut msg: InboundOpaqueMessage<'a>, seq: u64) -> Result<InboundPlainMessage<'a>, Error> {
        let cipher = self.cipher.as_ref().ok_or(Error::DecryptError)?;
        let payload = &mut msg.payload;
        let plain_len = payload
            .len()
            .checked_sub(GCM_EXPLICIT_NONCE_LEN + TAG_LEN)
            .ok_or(Error::DecryptError)?;
        let (explicit, rest) = payload.split_at_mut(GCM_EXPLICIT_NONCE_LEN);
        let mut nonce = [0u8; NONCE_LEN];
        for (dst, src) in nonce.iter_mut().zip(self.salt.iter().chain(explicit.iter())) {
            *dst = *src;
        }
        let aad = make_tls12_aad(seq, msg.typ, msg.version, plain_len);
        let (text, tag) = rest.split_at_mut(plain_len);
        cipher
            .decrypt_in_place_detached(&nonce.into(), &aad, text, &tag_of(tag)?)
            .map_err(|_| Error::DecryptError)?;
        // Move the plaintext to the front: rustls wants it at the start.
        payload.copy_within(GCM_EXPLICIT_NONCE_LEN..GCM_EXPLICIT_NONCE_LEN + plain_len, 0);
        payload.truncate(plain_len);
        Ok(msg.into_plain_message())
    }
}

/// TLS 1.2 ChaCha20-Poly1305 (RFC 7905): 12-byte IV XOR sequence number.
pub(crate) struct Tls12ChaCha;

/// TLS 1.2 ChaCha20-Poly1305.
pub(crate) static TLS12_CHACHA20_POLY1305: Tls12ChaCha = Tls12ChaCha;

impl Tls12AeadAlgorithm for Tls12ChaCha {
    fn encrypter(&self, key: AeadKey, iv: &[u8], _extra: &[u8]) -> Box<dyn MessageEncrypter> {
        Box::new(Tls12ChaChaCrypter {
            cipher: Aead::<ChaCha20Poly1305>::cipher(&key).filter(|_| iv.len() == NONCE_LEN),
            iv: Iv::copy(iv.get(..NONCE_LEN).unwrap_or(&[0u8; NONCE_LEN])),
        })
    }

    fn decrypter(&self, key: AeadKey, iv: &[u8]) -> Box<dyn MessageDecrypter> {
        Box::new(Tls12ChaChaCrypter {
            cipher: Aead::<ChaCha20Poly1305>::cipher(&key).filter(|_| iv.len() == NONCE_LEN),
            iv: Iv::copy(iv.get(..NONCE_LEN).unwrap_or(&[0u8; NONCE_LEN])),
        })
    }

    fn key_block_shape(&self) -> KeyBlockShape {
        KeyBlockShape {
            enc_key_len: 32,
            fixed_iv_len: NONCE_LEN,
            explicit_nonce_len: 0,
        }
    }

    fn extract_keys(
        &self,
        _key: AeadKey,
        _iv: &[u8],
        _explicit: &[u8],
    ) -> Result<ConnectionTrafficSecrets, UnsupportedOperationError> {
        Err(UnsupportedOperationError)
    }
}

struct Tls12ChaChaCrypter {
    cipher: Option<ChaCha20Poly1305>,
    iv: Iv,
}

impl MessageEncrypter for Tls12ChaChaCrypter {
    fn encrypt(&mut self, msg: OutboundPlainMessage<'_>, seq: u64) -> Result<OutboundOpaqueMessage, Error> {
        let cipher = self.cipher.as_ref().ok_or(Error::EncryptError)?;
        let total_len = self.encrypted_payload_len(msg.payload.len());
        let mut payload = PrefixedPayload::with_capacity(total_len);
        let nonce = Nonce::new(&self.iv, seq).0;
        let aad = make_tls12_aad(seq, msg.typ, msg.version, msg.payload.len());
        payload.extend_from_chunks(&msg.payload);
        let tag = cipher
            .encrypt_in_place_detached(&nonce.into(), &aad, payload.as_mut())
            .map_err(|_| Error::EncryptError)?;
        payload.extend_from_slice(&tag);
        Ok(OutboundOpaqueMessage::new(msg.typ, msg.version, payload))
    }

    fn encrypted_payload_len(&self, payload_len: usize) -> usize {
        payload_len + TAG_LEN
    }
}

impl MessageDecrypter for Tls12ChaChaCrypter {
    fn decrypt<'a>(&mut self, mut msg: InboundOpaqueMessage<'a>, seq: u64) -> Result<InboundPlainMessage<'a>, Error> {
        let cipher = self.cipher.as_ref().ok_or(Error::DecryptError)?;
        let payload = &mut msg.payload;
        let plain_len = payload.len().checked_sub(TAG_LEN).ok_or(Error::DecryptError)?;
        let nonce = Nonce::new(&self.iv, seq).0;
        let aad = make_tls12_aad(seq, msg.typ, msg.version, plain_len);
        let (text, tag) = payload.split_at_mut(plain_len);
        cipher
            .decrypt_in_place_detached(&nonce.into(), &aad, text, &tag_of(tag)?)
            .map_err(|_| Error::DecryptError)?;
        payload.truncate(plain_len);
        Ok(msg.into_plain_message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DESIGN.md invariant 1: no traffic key can be extracted from the box.
    #[test]
    fn traffic_keys_cannot_be_extracted() {
        let key = || AeadKey::from([7u8; 32]);
        let iv = || Iv::new([1u8; NONCE_LEN]);
        assert!(Tls13AeadAlgorithm::extract_keys(&AES_128_GCM, key(), iv()).is_err());
        assert!(Tls13AeadAlgorithm::extract_keys(&AES_256_GCM, key(), iv()).is_err());
        assert!(Tls13AeadAlgorithm::extract_keys(&CHACHA20_POLY1305, key(), iv()).is_err());
        assert!(TLS12_AES_128_GCM.extract_keys(key(), &[0; 4], &[0; 8]).is_err());
        assert!(TLS12_AES_256_GCM.extract_keys(key(), &[0; 4], &[0; 8]).is_err());
        assert!(TLS12_CHACHA20_POLY1305.extract_keys(key(), &[0; 12], &[]).is_err());
    }
}
