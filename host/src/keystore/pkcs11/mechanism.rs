//! TLS signature schemes as PKCS#11 mechanisms, and public keys as SPKI.
//!
//! - `rsa_pss_rsae_sha*`: hash in the host, CKM_RSA_PKCS_PSS with MGF1 of
//!   the same hash and a salt as long as the hash (RFC 8446 §4.2.3);
//! - `rsa_pkcs1_sha*` (TLS 1.2): CKM_SHA*_RSA_PKCS;
//! - `ecdsa_secp256r1_sha256` / `ecdsa_secp384r1_sha384`: hash in the host,
//!   CKM_ECDSA (SoftHSM lacks CKM_ECDSA_SHA256), raw r‖s turned into DER;
//! - `ed25519`: CKM_EDDSA.

use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use pkcs8::EncodePublicKey;
use sha2::Digest;
use tlsbox_core::rustls::SignatureScheme as S;

/// The kind of key behind a token object, with what the box needs of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// RSA.
    Rsa,
    /// ECDSA on P-256.
    EcP256,
    /// ECDSA on P-384.
    EcP384,
    /// Ed25519.
    Ed25519,
}

/// How to make one scheme's signature with the token.
pub(crate) struct Plan {
    /// The mechanism to call C_Sign with.
    pub(crate) mechanism: Mechanism<'static>,
    /// What to hand to C_Sign: the message or its hash.
    pub(crate) input: Vec<u8>,
    /// Turn the token's raw ECDSA r‖s into DER.
    pub(crate) der_ecdsa: Option<KeyKind>,
}

fn pss(hash_alg: MechanismType, mgf: PkcsMgfType, len: usize) -> Mechanism<'static> {
    Mechanism::RsaPkcsPss(PkcsPssParams {
        hash_alg,
        mgf,
        s_len: (len as u64).into(),
    })
}

/// The C_Sign call for `scheme` over `message`, if `kind` can make it.
pub(crate) fn plan(kind: KeyKind, scheme: S, message: &[u8]) -> Option<Plan> {
    let direct = |mechanism| Plan {
        mechanism,
        input: message.to_vec(),
        der_ecdsa: None,
    };
    Some(match (kind, scheme) {
        (KeyKind::Rsa, S::RSA_PSS_SHA256) => Plan {
            mechanism: pss(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, 32),
            input: sha2::Sha256::digest(message).to_vec(),
            der_ecdsa: None,
        },
        (KeyKind::Rsa, S::RSA_PSS_SHA384) => Plan {
            mechanism: pss(MechanismType::SHA384, PkcsMgfType::MGF1_SHA384, 48),
            input: sha2::Sha384::digest(message).to_vec(),
            der_ecdsa: None,
        },
        (KeyKind::Rsa, S::RSA_PSS_SHA512) => Plan {
            mechanism: pss(MechanismType::SHA512, PkcsMgfType::MGF1_SHA512, 64),
            input: sha2::Sha512::digest(message).to_vec(),
            der_ecdsa: None,
        },
        (KeyKind::Rsa, S::RSA_PKCS1_SHA256) => direct(Mechanism::Sha256RsaPkcs),
        (KeyKind::Rsa, S::RSA_PKCS1_SHA384) => direct(Mechanism::Sha384RsaPkcs),
        (KeyKind::Rsa, S::RSA_PKCS1_SHA512) => direct(Mechanism::Sha512RsaPkcs),
        (KeyKind::EcP256, S::ECDSA_NISTP256_SHA256) => Plan {
            mechanism: Mechanism::Ecdsa,
            input: sha2::Sha256::digest(message).to_vec(),
            der_ecdsa: Some(KeyKind::EcP256),
        },
        (KeyKind::EcP384, S::ECDSA_NISTP384_SHA384) => Plan {
            mechanism: Mechanism::Ecdsa,
            input: sha2::Sha384::digest(message).to_vec(),
            der_ecdsa: Some(KeyKind::EcP384),
        },
        (KeyKind::Ed25519, S::ED25519) => direct(Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure))),
        _ => return None,
    })
}

/// The schemes a key of `kind` can make with a token offering `mechanisms`,
/// in preference order.
pub(crate) fn schemes(kind: KeyKind, mechanisms: &[MechanismType]) -> Vec<S> {
    let has = |m: MechanismType| mechanisms.contains(&m);
    let mut out = Vec::new();
    match kind {
        KeyKind::Rsa => {
            if has(MechanismType::RSA_PKCS_PSS) {
                out.extend([S::RSA_PSS_SHA256, S::RSA_PSS_SHA384, S::RSA_PSS_SHA512]);
            }
            for (m, s) in [
                (MechanismType::SHA256_RSA_PKCS, S::RSA_PKCS1_SHA256),
                (MechanismType::SHA384_RSA_PKCS, S::RSA_PKCS1_SHA384),
                (MechanismType::SHA512_RSA_PKCS, S::RSA_PKCS1_SHA512),
            ] {
                if has(m) {
                    out.push(s);
                }
            }
        }
        KeyKind::EcP256 if has(MechanismType::ECDSA) => out.push(S::ECDSA_NISTP256_SHA256),
        KeyKind::EcP384 if has(MechanismType::ECDSA) => out.push(S::ECDSA_NISTP384_SHA384),
        KeyKind::Ed25519 if has(MechanismType::EDDSA) => out.push(S::ED25519),
        _ => {}
    }
    out
}

/// Raw r‖s from CKM_ECDSA to the DER `Ecdsa-Sig-Value` TLS carries.
pub(crate) fn ecdsa_der(kind: KeyKind, raw: &[u8]) -> Option<Vec<u8>> {
    match kind {
        KeyKind::EcP256 => p256::ecdsa::Signature::from_slice(raw)
            .ok()
            .map(|s| s.to_der().as_bytes().to_vec()),
        KeyKind::EcP384 => p384::ecdsa::Signature::from_slice(raw)
            .ok()
            .map(|s| s.to_der().as_bytes().to_vec()),
        _ => None,
    }
}

/// DER OIDs of the curves in CKA_EC_PARAMS.
pub(super) const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// PKCS#11 3.0 also allows the curve name as a PrintableString.
const NAME_ED25519: &[u8] = b"edwards25519";

/// The key kind named by CKA_EC_PARAMS.
pub(crate) fn ec_kind(params: &[u8]) -> Option<KeyKind> {
    if params == OID_P256 {
        Some(KeyKind::EcP256)
    } else if params == OID_P384 {
        Some(KeyKind::EcP384)
    } else if params == OID_ED25519 || params.ends_with(NAME_ED25519) {
        Some(KeyKind::Ed25519)
    } else {
        None
    }
}

/// CKA_EC_PARAMS for a curve, to generate keys.
pub(crate) fn ec_params(kind: KeyKind) -> Option<&'static [u8]> {
    match kind {
        KeyKind::EcP256 => Some(OID_P256),
        KeyKind::EcP384 => Some(OID_P384),
        KeyKind::Ed25519 => Some(OID_ED25519),
        KeyKind::Rsa => None,
    }
}

/// CKA_EC_POINT is a DER OCTET STRING around the point (some tokens give
/// the bare point); return the point.
pub(super) fn unwrap_point(ec_point: &[u8], len: usize) -> Option<&[u8]> {
    if ec_point.len() == len {
        return Some(ec_point);
    }
    match ec_point {
        [0x04, l, rest @ ..] if usize::from(*l) == len && rest.len() == len => Some(rest),
        _ => None,
    }
}

/// SubjectPublicKeyInfo DER of an EC or EdDSA public key.
pub(crate) fn ec_spki(kind: KeyKind, ec_point: &[u8]) -> Option<Vec<u8>> {
    let der = match kind {
        KeyKind::EcP256 => p256::PublicKey::from_sec1_bytes(unwrap_point(ec_point, 65)?)
            .ok()?
            .to_public_key_der(),
        KeyKind::EcP384 => p384::PublicKey::from_sec1_bytes(unwrap_point(ec_point, 97)?)
            .ok()?
            .to_public_key_der(),
        KeyKind::Ed25519 => {
            let bytes: [u8; 32] = unwrap_point(ec_point, 32)?.try_into().ok()?;
            ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .ok()?
                .to_public_key_der()
        }
        KeyKind::Rsa => return None,
    };
    der.ok().map(|d| d.into_vec())
}

/// SubjectPublicKeyInfo DER of an RSA public key.
pub(crate) fn rsa_spki(modulus: &[u8], exponent: &[u8]) -> Option<Vec<u8>> {
    let key = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(modulus),
        rsa::BigUint::from_bytes_be(exponent),
    )
    .ok()?;
    key.to_public_key_der().ok().map(|d| d.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_follow_the_token_mechanisms() {
        let all = [
            MechanismType::RSA_PKCS_PSS,
            MechanismType::SHA256_RSA_PKCS,
            MechanismType::SHA384_RSA_PKCS,
            MechanismType::SHA512_RSA_PKCS,
            MechanismType::ECDSA,
            MechanismType::EDDSA,
        ];
        assert_eq!(schemes(KeyKind::Rsa, &all).len(), 6);
        // No PSS: TLS 1.2 only.
        assert_eq!(
            schemes(KeyKind::Rsa, &all[1..]),
            [S::RSA_PKCS1_SHA256, S::RSA_PKCS1_SHA384, S::RSA_PKCS1_SHA512]
        );
        assert_eq!(schemes(KeyKind::EcP384, &all), [S::ECDSA_NISTP384_SHA384]);
        assert!(schemes(KeyKind::Ed25519, &all[..5]).is_empty());
    }

    #[test]
    fn plans_match_scheme_and_key() {
        assert!(plan(KeyKind::EcP256, S::ECDSA_NISTP384_SHA384, b"m").is_none());
        assert!(plan(KeyKind::Rsa, S::ED25519, b"m").is_none());
        let p = plan(KeyKind::Rsa, S::RSA_PSS_SHA384, b"m").map(|p| p.input.len());
        assert_eq!(p, Some(48));
    }

    #[test]
    fn raw_ecdsa_becomes_der() {
        let mut raw = [1u8; 64];
        raw[0] = 0x80; // high bit: DER needs a leading zero
        let der = ecdsa_der(KeyKind::EcP256, &raw).unwrap_or_default();
        assert_eq!(der.first(), Some(&0x30));
        assert!(ecdsa_der(KeyKind::EcP256, &raw[..63]).is_none());
        assert!(
            ecdsa_der(KeyKind::EcP256, &[0u8; 64]).is_none(),
            "r = s = 0 is not a signature"
        );
    }

    #[test]
    fn curves_from_ec_params() {
        assert_eq!(ec_kind(OID_P256), Some(KeyKind::EcP256));
        assert_eq!(ec_kind(OID_P384), Some(KeyKind::EcP384));
        assert_eq!(
            ec_kind(&[0x13, 0x0c, b'e', b'd', b'w', b'a', b'r', b'd', b's', b'2', b'5', b'5', b'1', b'9']),
            Some(KeyKind::Ed25519)
        );
        assert_eq!(ec_kind(&[0x06, 0x01, 0x00]), None);
    }
}
