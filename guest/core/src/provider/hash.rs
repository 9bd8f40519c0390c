//! SHA-256 and SHA-384 for the transcript hash (RFC 8446 §4.4.1).

use alloc::boxed::Box;

use rustls::crypto::hash::{self, HashAlgorithm};
use sha2::Digest;

/// SHA-256.
pub(crate) static SHA256: Sha2<sha2::Sha256> = Sha2(HashAlgorithm::SHA256, core::marker::PhantomData);
/// SHA-384.
pub(crate) static SHA384: Sha2<sha2::Sha384> = Sha2(HashAlgorithm::SHA384, core::marker::PhantomData);

/// A rustls hash over one RustCrypto SHA-2 digest.
pub(crate) struct Sha2<D>(HashAlgorithm, core::marker::PhantomData<fn() -> D>);

impl<D> hash::Hash for Sha2<D>
where
    D: Digest + Clone + Send + Sync + 'static,
{
    fn start(&self) -> Box<dyn hash::Context> {
        Box::new(Sha2Context(D::new()))
    }

    fn hash(&self, data: &[u8]) -> hash::Output {
        hash::Output::new(&D::digest(data)[..])
    }

    fn algorithm(&self) -> HashAlgorithm {
        self.0
    }

    fn output_len(&self) -> usize {
        <D as Digest>::output_size()
    }
}

struct Sha2Context<D>(D);

impl<D> hash::Context for Sha2Context<D>
where
    D: Digest + Clone + Send + Sync + 'static,
{
    fn fork_finish(&self) -> hash::Output {
        hash::Output::new(&self.0.clone().finalize()[..])
    }

    fn fork(&self) -> Box<dyn hash::Context> {
        Box::new(Sha2Context(self.0.clone()))
    }

    fn finish(self: Box<Self>) -> hash::Output {
        hash::Output::new(&self.0.finalize()[..])
    }

    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
}
