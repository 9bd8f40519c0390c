//! Signature verification for certificates and handshake signatures:
//! ECDSA P-256/P-384, RSA-PSS and RSA PKCS#1 v1.5 (SHA-256/384/512), Ed25519.
//!
//! `public_key` is the subjectPublicKey BIT STRING content of the SPKI, as
//! webpki hands it over (SEC1 point, PKCS#1 RSAPublicKey, or 32 raw bytes).

use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::SignatureScheme;
use rustls_pki_types::{alg_id, AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm};
use signature::hazmat::PrehashVerifier;
use signature::Verifier;

/// Every algorithm the box verifies, and the TLS scheme each one serves.
pub(crate) static ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        ECDSA_P256_SHA256,
        ECDSA_P256_SHA384,
        ECDSA_P384_SHA256,
        ECDSA_P384_SHA384,
        ED25519,
        RSA_PSS_SHA256,
        RSA_PSS_SHA384,
        RSA_PSS_SHA512,
        RSA_PKCS1_SHA256,
        RSA_PKCS1_SHA384,
        RSA_PKCS1_SHA512,
    ],
    mapping: &[
        (
            SignatureScheme::ECDSA_NISTP384_SHA384,
            &[ECDSA_P384_SHA384, ECDSA_P256_SHA384],
        ),
        (
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &[ECDSA_P256_SHA256, ECDSA_P384_SHA256],
        ),
        (SignatureScheme::ED25519, &[ED25519]),
        (SignatureScheme::RSA_PSS_SHA512, &[RSA_PSS_SHA512]),
        (SignatureScheme::RSA_PSS_SHA384, &[RSA_PSS_SHA384]),
        (SignatureScheme::RSA_PSS_SHA256, &[RSA_PSS_SHA256]),
        (SignatureScheme::RSA_PKCS1_SHA512, &[RSA_PKCS1_SHA512]),
        (SignatureScheme::RSA_PKCS1_SHA384, &[RSA_PKCS1_SHA384]),
        (SignatureScheme::RSA_PKCS1_SHA256, &[RSA_PKCS1_SHA256]),
    ],
};

/// Which hash an algorithm signs over.
#[derive(Debug, Clone, Copy)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn digest(self, message: &[u8]) -> alloc::vec::Vec<u8> {
        use sha2::Digest;
        match self {
            Hash::Sha256 => sha2::Sha256::digest(message).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(message).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(message).to_vec(),
        }
    }
}

#[derive(Debug)]
struct Ecdsa {
    curve: Curve,
    hash: Hash,
    public_key_alg_id: AlgorithmIdentifier,
    signature_alg_id: AlgorithmIdentifier,
}

#[derive(Debug, Clone, Copy)]
enum Curve {
    P256,
    P384,
}

static ECDSA_P256_SHA256: &dyn SignatureVerificationAlgorithm = &Ecdsa {
    curve: Curve::P256,
    hash: Hash::Sha256,
    public_key_alg_id: alg_id::ECDSA_P256,
    signature_alg_id: alg_id::ECDSA_SHA256,
};
static ECDSA_P256_SHA384: &dyn SignatureVerificationAlgorithm = &Ecdsa {
    curve: Curve::P256,
    hash: Hash::Sha384,
    public_key_alg_id: alg_id::ECDSA_P256,
    signature_alg_id: alg_id::ECDSA_SHA384,
};
static ECDSA_P384_SHA256: &dyn SignatureVerificationAlgorithm = &Ecdsa {
    curve: Curve::P384,
    hash: Hash::Sha256,
    public_key_alg_id: alg_id::ECDSA_P384,
    signature_alg_id: alg_id::ECDSA_SHA256,
};
static ECDSA_P384_SHA384: &dyn SignatureVerificationAlgorithm = &Ecdsa {
    curve: Curve::P384,
    hash: Hash::Sha384,
    public_key_alg_id: alg_id::ECDSA_P384,
    signature_alg_id: alg_id::ECDSA_SHA384,
};

impl SignatureVerificationAlgorithm for Ecdsa {
    fn verify_signature(&self, public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), InvalidSignature> {
        let digest = self.hash.digest(message);
        match self.curve {
            Curve::P256 => {
                let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(public_key).map_err(|_| InvalidSignature)?;
                let sig = p256::ecdsa::DerSignature::from_bytes(signature).map_err(|_| InvalidSignature)?;
                key.verify_prehash(&digest, &sig).map_err(|_| InvalidSignature)
            }
            Curve::P384 => {
                let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(public_key).map_err(|_| InvalidSignature)?;
                let sig = p384::ecdsa::DerSignature::from_bytes(signature).map_err(|_| InvalidSignature)?;
                key.verify_prehash(&digest, &sig).map_err(|_| InvalidSignature)
            }
        }
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        self.public_key_alg_id
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.signature_alg_id
    }
}

#[derive(Debug)]
struct Ed25519;

static ED25519: &dyn SignatureVerificationAlgorithm = &Ed25519;

impl SignatureVerificationAlgorithm for Ed25519 {
    fn verify_signature(&self, public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), InvalidSignature> {
        let key: [u8; 32] = public_key.try_into().map_err(|_| InvalidSignature)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(|_| InvalidSignature)?;
        let sig = ed25519_dalek::Signature::from_slice(signature).map_err(|_| InvalidSignature)?;
        key.verify_strict(message, &sig).map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ED25519
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ED25519
    }
}

#[derive(Debug, Clone, Copy)]
enum RsaPadding {
    Pkcs1,
    Pss,
}

#[derive(Debug)]
struct Rsa {
    padding: RsaPadding,
    hash: Hash,
    signature_alg_id: AlgorithmIdentifier,
}

/// Smallest RSA modulus accepted, as webpki does.
const RSA_MIN_BITS: usize = 2048;

static RSA_PKCS1_SHA256: &dyn SignatureVerificationAlgorithm = &Rsa {
    padding: RsaPadding::Pkcs1,
    hash: Hash::Sha256,
    signature_alg_id: alg_id::RSA_PKCS1_SHA256,
};
static RSA_PKCS1_SHA384: &dyn SignatureVerificationAlgorithm = &Rsa {
    padding: RsaPadding::Pkcs1,
    hash: Hash::Sha384,
    signature_alg_id: alg_id::RSA_PKCS1_SHA384,
};
static RSA_PKCS1_SHA512: &dyn SignatureVerificationAlgorithm = &Rsa {
    padding: RsaPadding::Pkcs1,
    hash: Hash::Sha512,
    signature_alg_id: alg_id::RSA_PKCS1_SHA512,
};
static RSA_PSS_SHA256: &dyn SignatureVerificationAlgorithm = &Rsa {
    padding: RsaPadding::Pss,
    hash: Hash::Sha256,
    signature_alg_id: alg_id::RSA_PSS_SHA256,
};
static RSA_PSS_SHA384: &dyn SignatureVerificationAlgorithm = &Rsa {
    padding: RsaPadding::Pss,
    hash: Hash::Sha384,
    signature_alg_id: alg_id::RSA_PSS_SHA384,
};
static RSA_PSS_SHA512: &dyn SignatureVerificationAlgorithm = &Rsa {
    padding: RsaPadding::Pss,
    hash: Hash::Sha512,
    signature_alg_id: alg_id::RSA_PSS_SHA512,
};

impl SignatureVerificationAlgorithm for Rsa {
    fn verify_signature(&self, public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), InvalidSignature> {
        use rsa::pkcs1::DecodeRsaPublicKey;
        use rsa::traits::PublicKeyParts;
        let key = rsa::RsaPublicKey::from_pkcs1_der(public_key).map_err(|_| InvalidSignature)?;
        if key.size() * 8 < RSA_MIN_BITS {
            return Err(InvalidSignature);
        }
        match (self.padding, self.hash) {
            (RsaPadding::Pkcs1, Hash::Sha256) => pkcs1::<sha2::Sha256>(key, message, signature),
            (RsaPadding::Pkcs1, Hash::Sha384) => pkcs1::<sha2::Sha384>(key, message, signature),
            (RsaPadding::Pkcs1, Hash::Sha512) => pkcs1::<sha2::Sha512>(key, message, signature),
            (RsaPadding::Pss, Hash::Sha256) => pss::<sha2::Sha256>(key, message, signature),
            (RsaPadding::Pss, Hash::Sha384) => pss::<sha2::Sha384>(key, message, signature),
            (RsaPadding::Pss, Hash::Sha512) => pss::<sha2::Sha512>(key, message, signature),
        }
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.signature_alg_id
    }
}

fn pkcs1<D>(key: rsa::RsaPublicKey, message: &[u8], signature: &[u8]) -> Result<(), InvalidSignature>
where
    D: sha2::Digest + rsa::pkcs8::AssociatedOid,
{
    let key = rsa::pkcs1v15::VerifyingKey::<D>::new(key);
    let sig = rsa::pkcs1v15::Signature::try_from(signature).map_err(|_| InvalidSignature)?;
    key.verify(message, &sig).map_err(|_| InvalidSignature)
}

fn pss<D>(key: rsa::RsaPublicKey, message: &[u8], signature: &[u8]) -> Result<(), InvalidSignature>
where
    D: sha2::Digest + sha2::digest::FixedOutputReset,
{
    // TLS (RFC 8446 §4.2.3) fixes the salt length to the hash length.
    let key = rsa::pss::VerifyingKey::<D>::new(key);
    let sig = rsa::pss::Signature::try_from(signature).map_err(|_| InvalidSignature)?;
    key.verify(message, &sig).map_err(|_| InvalidSignature)
}
