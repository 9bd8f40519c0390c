//! HMAC-SHA-256/384, the PRF under HKDF (TLS 1.3) and the TLS 1.2 PRF.

use alloc::boxed::Box;

use ::hmac::{Mac, SimpleHmac};
use rustls::crypto::hmac::{self, Tag};
use sha2::digest::core_api::BlockSizeUser;
use sha2::Digest;

/// HMAC-SHA-256.
pub(crate) static HMAC_SHA256: Hmac<sha2::Sha256> = Hmac(core::marker::PhantomData);
/// HMAC-SHA-384.
pub(crate) static HMAC_SHA384: Hmac<sha2::Sha384> = Hmac(core::marker::PhantomData);

/// A rustls HMAC over one RustCrypto digest.
pub(crate) struct Hmac<D>(core::marker::PhantomData<fn() -> D>);

impl<D> hmac::Hmac for Hmac<D>
where
    D: Digest + BlockSizeUser + Clone + Send + Sync + 'static,
{
    fn with_key(&self, key: &[u8]) -> Box<dyn hmac::Key> {
        // `SimpleHmac` accepts keys of any length (longer ones are hashed, as
        // RFC 2104 says), so this cannot fail.
        match SimpleHmac::<D>::new_from_slice(key) {
            Ok(mac) => Box::new(HmacKey(mac)),
            Err(_) => unreachable_key_length(),
        }
    }

    fn hash_output_len(&self) -> usize {
        <D as Digest>::output_size()
    }
}

#[cold]
fn unreachable_key_length() -> ! {
    // SimpleHmac::new_from_slice is infallible for every key length.
    panic!("HMAC rejected a key length")
}

struct HmacKey<D: Digest + BlockSizeUser>(SimpleHmac<D>);

impl<D> hmac::Key for HmacKey<D>
where
    D: Digest + BlockSizeUser + Clone + Send + Sync + 'static,
{
    fn sign_concat(&self, first: &[u8], middle: &[&[u8]], last: &[u8]) -> Tag {
        let mut mac = self.0.clone();
        mac.update(first);
        for m in middle {
            mac.update(m);
        }
        mac.update(last);
        Tag::new(&mac.finalize().into_bytes()[..])
    }

    fn tag_len(&self) -> usize {
        <D as Digest>::output_size()
    }
}
