//! Our rustls `CryptoProvider`, built from RustCrypto crates.
//!
//! Small on purpose: three TLS 1.3 suites, six TLS 1.2 ECDHE suites, four
//! groups (the post-quantum hybrid X25519MLKEM768 first), and the
//! verification algorithms webpki needs. No private key is ever loaded here:
//! signing goes to the keystore (see [`crate::signer`]).

mod aead;
mod hash;
mod hmac;
pub mod hybrid;
mod kx;
mod verify;

use alloc::sync::Arc;

use rustls::crypto::tls12::PrfUsingHmac;
use rustls::crypto::tls13::HkdfUsingHmac;
use rustls::crypto::{CipherSuiteCommon, CryptoProvider, GetRandomFailed, KeyProvider, SecureRandom, SupportedKxGroup};
use rustls::pki_types::PrivateKeyDer;
use rustls::sign::SigningKey;
use rustls::{CipherSuite, SignatureScheme, SupportedCipherSuite, Tls12CipherSuite, Tls13CipherSuite};

/// RFC 8446 §5.5: AES-GCM keys must be updated before 2^24.5 full-size
/// records; rustls sends KeyUpdate (TLS 1.3) or closes (TLS 1.2) at this limit.
const AES_GCM_CONFIDENTIALITY_LIMIT: u64 = 1 << 24;
/// ChaCha20-Poly1305's limit exceeds 2^64 records (RFC 8446 §5.5).
const CHACHA_CONFIDENTIALITY_LIMIT: u64 = u64::MAX;

/// TLS_AES_128_GCM_SHA256.
pub static TLS13_AES_128_GCM_SHA256: SupportedCipherSuite = SupportedCipherSuite::Tls13(&Tls13CipherSuite {
    common: CipherSuiteCommon {
        suite: CipherSuite::TLS13_AES_128_GCM_SHA256,
        hash_provider: &hash::SHA256,
        confidentiality_limit: AES_GCM_CONFIDENTIALITY_LIMIT,
    },
    hkdf_provider: &HkdfUsingHmac(&hmac::HMAC_SHA256),
    aead_alg: &aead::AES_128_GCM,
    quic: None,
});

/// TLS_AES_256_GCM_SHA384.
pub static TLS13_AES_256_GCM_SHA384: SupportedCipherSuite = SupportedCipherSuite::Tls13(&Tls13CipherSuite {
    common: CipherSuiteCommon {
        suite: CipherSuite::TLS13_AES_256_GCM_SHA384,
        hash_provider: &hash::SHA384,
        confidentiality_limit: AES_GCM_CONFIDENTIALITY_LIMIT,
    },
    hkdf_provider: &HkdfUsingHmac(&hmac::HMAC_SHA384),
    aead_alg: &aead::AES_256_GCM,
    quic: None,
});

/// TLS_CHACHA20_POLY1305_SHA256.
pub static TLS13_CHACHA20_POLY1305_SHA256: SupportedCipherSuite = SupportedCipherSuite::Tls13(&Tls13CipherSuite {
    common: CipherSuiteCommon {
        suite: CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
        hash_provider: &hash::SHA256,
        confidentiality_limit: CHACHA_CONFIDENTIALITY_LIMIT,
    },
    hkdf_provider: &HkdfUsingHmac(&hmac::HMAC_SHA256),
    aead_alg: &aead::CHACHA20_POLY1305,
    quic: None,
});

static TLS12_ECDSA_SCHEMES: &[SignatureScheme] = &[
    SignatureScheme::ED25519,
    SignatureScheme::ECDSA_NISTP384_SHA384,
    SignatureScheme::ECDSA_NISTP256_SHA256,
];

static TLS12_RSA_SCHEMES: &[SignatureScheme] = &[
    SignatureScheme::RSA_PSS_SHA512,
    SignatureScheme::RSA_PSS_SHA384,
    SignatureScheme::RSA_PSS_SHA256,
    SignatureScheme::RSA_PKCS1_SHA512,
    SignatureScheme::RSA_PKCS1_SHA384,
    SignatureScheme::RSA_PKCS1_SHA256,
];

macro_rules! tls12_suite {
    ($name:ident, $suite:ident, $hash:expr, $hmac:expr, $sign:expr, $aead:expr, $limit:expr) => {
        #[doc = concat!("TLS 1.2 ", stringify!($suite), ".")]
        pub static $name: SupportedCipherSuite = SupportedCipherSuite::Tls12(&Tls12CipherSuite {
            common: CipherSuiteCommon {
                suite: CipherSuite::$suite,
                hash_provider: $hash,
                confidentiality_limit: $limit,
            },
            kx: rustls::crypto::KeyExchangeAlgorithm::ECDHE,
            sign: $sign,
            prf_provider: &PrfUsingHmac($hmac),
            aead_alg: $aead,
        });
    };
}

tls12_suite!(
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    &hash::SHA256,
    &hmac::HMAC_SHA256,
    TLS12_ECDSA_SCHEMES,
    &aead::TLS12_AES_128_GCM,
    AES_GCM_CONFIDENTIALITY_LIMIT
);
tls12_suite!(
    TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    &hash::SHA384,
    &hmac::HMAC_SHA384,
    TLS12_ECDSA_SCHEMES,
    &aead::TLS12_AES_256_GCM,
    AES_GCM_CONFIDENTIALITY_LIMIT
);
tls12_suite!(
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    &hash::SHA256,
    &hmac::HMAC_SHA256,
    TLS12_ECDSA_SCHEMES,
    &aead::TLS12_CHACHA20_POLY1305,
    CHACHA_CONFIDENTIALITY_LIMIT
);
tls12_suite!(
    TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    &hash::SHA256,
    &hmac::HMAC_SHA256,
    TLS12_RSA_SCHEMES,
    &aead::TLS12_AES_128_GCM,
    AES_GCM_CONFIDENTIALITY_LIMIT
);
tls12_suite!(
    TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    &hash::SHA384,
    &hmac::HMAC_SHA384,
    TLS12_RSA_SCHEMES,
    &aead::TLS12_AES_256_GCM,
    AES_GCM_CONFIDENTIALITY_LIMIT
);
tls12_suite!(
    TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    &hash::SHA256,
    &hmac::HMAC_SHA256,
    TLS12_RSA_SCHEMES,
    &aead::TLS12_CHACHA20_POLY1305,
    CHACHA_CONFIDENTIALITY_LIMIT
);

/// Every suite, in the default preference order: TLS 1.3 first, and
/// ChaCha20-Poly1305 first within each version (in wasm, without AES-NI, it
/// is ~5x faster than AES-GCM; DESIGN.md).
pub static ALL_CIPHER_SUITES: &[SupportedCipherSuite] = &[
    TLS13_CHACHA20_POLY1305_SHA256,
    TLS13_AES_128_GCM_SHA256,
    TLS13_AES_256_GCM_SHA384,
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
];

/// X25519MLKEM768: post-quantum hybrid (draft-ietf-tls-ecdhe-mlkem).
pub static X25519MLKEM768: &dyn SupportedKxGroup = &hybrid::X25519MlKem768;
/// X25519.
pub static X25519: &dyn SupportedKxGroup = &kx::X25519;
/// secp256r1.
pub static SECP256R1: &dyn SupportedKxGroup = &kx::Secp256r1;
/// secp384r1.
pub static SECP384R1: &dyn SupportedKxGroup = &kx::Secp384r1;

/// Every group, in the default preference order: the post-quantum hybrid
/// first (what browsers, Go and OpenSSL 3.5 offer), then the classical ones.
pub static ALL_KX_GROUPS: &[&dyn SupportedKxGroup] = &[X25519MLKEM768, X25519, SECP256R1, SECP384R1];

/// The provider with every suite and group in default order.
pub fn default_provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: ALL_CIPHER_SUITES.to_vec(),
        kx_groups: ALL_KX_GROUPS.to_vec(),
        signature_verification_algorithms: verify::ALGORITHMS,
        secure_random: &Rng,
        key_provider: &NoKeys,
    }
}

/// A provider restricted to (and ordered by) the given suites and groups;
/// empty lists mean the defaults.
pub fn provider_with(suites: &[SupportedCipherSuite], groups: &[&'static dyn SupportedKxGroup]) -> CryptoProvider {
    let mut provider = default_provider();
    if !suites.is_empty() {
        provider.cipher_suites = suites.to_vec();
    }
    if !groups.is_empty() {
        provider.kx_groups = groups.to_vec();
    }
    provider
}

/// Entropy: WASI `random` in the box, the OS natively.
#[derive(Debug)]
struct Rng;

impl SecureRandom for Rng {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        crate::random::fill(buf).map_err(|_| GetRandomFailed)
    }
}

/// The box never loads a private key: keys stay in the keystore.
#[derive(Debug)]
struct NoKeys;

impl KeyProvider for NoKeys {
    fn load_private_key(&self, _key_der: PrivateKeyDer<'static>) -> Result<Arc<dyn SigningKey>, rustls::Error> {
        Err(rustls::Error::General(
            "private keys are not loaded into the box; use the keystore".into(),
        ))
    }
}

/// Suites of the provider, for callers that filter by name.
pub fn suite_by_id(id: CipherSuite) -> Option<SupportedCipherSuite> {
    ALL_CIPHER_SUITES.iter().copied().find(|s| s.suite() == id)
}

/// Groups of the provider, by name.
pub fn group_by_name(name: rustls::NamedGroup) -> Option<&'static dyn SupportedKxGroup> {
    ALL_KX_GROUPS.iter().copied().find(|g| g.name() == name)
}
