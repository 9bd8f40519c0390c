//! Known answers for the curve arithmetic under the key exchanges and
//! Ed25519 signatures, and agreement through the provider's groups.
//!
//! The box the host embeds is compiled with wasm's wide arithmetic and
//! curve25519-dalek's 64-bit backend (host/build.rs), the portable box
//! without: the same source, two lowerings of every field multiply (and
//! for curve25519-dalek, two backends).
//! These run wherever this crate runs, so each flavour's curve arithmetic
//! is checked in wasm, not only the native build's.

use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::elliptic_curve::PrimeField;

/// RFC 7748 §5.2: (scalar, u-coordinate, X25519 of the two).
const X25519_VECTORS: [(&str, &str, &str); 2] = [
    (
        "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
        "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
        "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
    ),
    (
        "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
        "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
        "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
    ),
];

/// RFC 7748 §5.2: k and u start at 9; after each step u takes k's old
/// value and k the result. k after 1 and after 1,000 steps.
const X25519_ITERATED: [(usize, &str); 2] = [
    (1, "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"),
    (1000, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"),
];

/// RFC 7748 §6.1: Alice's and Bob's private keys, public keys, and the
/// secret they share.
const X25519_ALICE: (&str, &str) = (
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
);
const X25519_BOB: (&str, &str) = (
    "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
);
const X25519_SHARED: &str = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

/// NIST P-256 point multiplication vectors (k, then the x and y of k·G),
/// as published at point-at-infinity.org/ecc/nisttv.
const P256_VECTORS: [(&str, &str, &str); 2] = [
    (
        "000000000000000000000000000000000000000000000000018ebbb95eed0e13",
        "339150844ec15234807fe862a86be77977dbfb3ae3d96f4c22795513aeaab82f",
        "b1c14ddfdc8ec1b2583f51e85a5eb3a155840f2034730e9b5ada38b674336a21",
    ),
    (
        "0000000000000000000000000000000000159d893d4cdd747246cdca43590e13",
        "1b7e046a076cc25e6d7fa5003f6729f665cc3241b5adab12b498cd32f2803264",
        "bfea79be2b666b073db69a2a241adab0738fe9d2dd28b5604eb8c8cf097c457b",
    ),
];

/// RFC 8032 §7.1 tests 1 and 2: (secret key, public key, message,
/// signature).
const ED25519_VECTORS: [(&str, &str, &str, &str); 2] = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
];

fn unhex(hex: &str) -> Result<Vec<u8>, String> {
    hex::decode(hex).map_err(|e| format!("bad hex in a vector: {e}"))
}

fn bytes<const N: usize>(hex: &str) -> Result<[u8; N], String> {
    unhex(hex)?.try_into().map_err(|_| format!("a vector is not {N} bytes"))
}

fn expect(what: &str, got: &[u8], want: &str) -> Result<(), String> {
    if hex::encode(got) == want {
        Ok(())
    } else {
        Err(format!("{what}: got {}, want {want}", hex::encode(got)))
    }
}

fn x25519() -> Result<usize, String> {
    let mut checked = 0;
    for (k, u, want) in X25519_VECTORS {
        expect(
            "X25519 (RFC 7748 §5.2)",
            &x25519_dalek::x25519(bytes::<32>(k)?, bytes::<32>(u)?),
            want,
        )?;
        checked += 1;
    }
    let (mut k, mut u) = (
        x25519_dalek::X25519_BASEPOINT_BYTES,
        x25519_dalek::X25519_BASEPOINT_BYTES,
    );
    let mut done = 0;
    for (steps, want) in X25519_ITERATED {
        while done < steps {
            let result = x25519_dalek::x25519(k, u);
            u = k;
            k = result;
            done += 1;
        }
        expect(&format!("X25519 iterated {steps} times (RFC 7748 §5.2)"), &k, want)?;
        checked += 1;
    }
    for (private, public) in [X25519_ALICE, X25519_BOB] {
        let public_key = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(bytes::<32>(private)?));
        expect("X25519 public key (RFC 7748 §6.1)", public_key.as_bytes(), public)?;
        checked += 1;
    }
    for (private, peer) in [(X25519_ALICE.0, X25519_BOB.1), (X25519_BOB.0, X25519_ALICE.1)] {
        let shared = x25519_dalek::StaticSecret::from(bytes::<32>(private)?)
            .diffie_hellman(&x25519_dalek::PublicKey::from(bytes::<32>(peer)?));
        expect("X25519 shared secret (RFC 7748 §6.1)", shared.as_bytes(), X25519_SHARED)?;
        checked += 1;
    }
    Ok(checked)
}

fn p256() -> Result<usize, String> {
    let mut checked = 0;
    for (k, x, y) in P256_VECTORS {
        let k = Option::<p256::Scalar>::from(p256::Scalar::from_repr(bytes::<32>(k)?.into()))
            .ok_or("a P-256 vector's scalar is out of range")?;
        let point = (p256::ProjectivePoint::GENERATOR * k)
            .to_affine()
            .to_encoded_point(false);
        let (got_x, got_y) = point.x().zip(point.y()).ok_or("k·G is the identity")?;
        expect("P-256 k·G, x", got_x, x)?;
        expect("P-256 k·G, y", got_y, y)?;
        checked += 1;
    }
    Ok(checked)
}

/// The box verifies Ed25519 certificates and handshake signatures: each
/// vector's signature must verify under its public key (derived from the
/// secret key too), and the same signature with one bit of S flipped must
/// not: S stays below the group order, so the verification equation
/// itself refuses it (a flipped bit of R can fail as early as decoding R).
fn ed25519() -> Result<usize, String> {
    let mut checked = 0;
    for (secret, public, message, signature) in ED25519_VECTORS {
        let derived = ed25519_dalek::SigningKey::from_bytes(&bytes::<32>(secret)?).verifying_key();
        expect("Ed25519 public key (RFC 8032 §7.1)", derived.as_bytes(), public)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes::<32>(public)?)
            .map_err(|e| format!("an RFC 8032 public key: {e}"))?;
        let message = unhex(message)?;
        let mut signature = bytes::<64>(signature)?;
        key.verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&signature))
            .map_err(|e| format!("Ed25519 (RFC 8032 §7.1): a valid signature failed: {e}"))?;
        signature[32] ^= 1;
        if key
            .verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&signature))
            .is_ok()
        {
            return Err("Ed25519: a signature with a flipped bit verified".into());
        }
        checked += 1;
    }
    Ok(checked)
}

/// Both sides of each of the provider's groups, through rustls' API:
/// they must derive the same secret, and a changed public key another.
fn agreement() -> Result<usize, String> {
    let mut checked = 0;
    for group in tlsbox_core::provider::ALL_KX_GROUPS {
        let name = group.name();
        let client = group.start().map_err(|e| format!("{name:?}: start: {e}"))?;
        let server = group
            .start_and_complete(client.pub_key())
            .map_err(|e| format!("{name:?}: server side: {e}"))?;
        let server_public = server.pub_key.clone();
        let server_secret = server.secret.secret_bytes().to_vec();
        let client_secret = client
            .complete(&server_public)
            .map_err(|e| format!("{name:?}: client side: {e}"))?;
        if client_secret.secret_bytes() != server_secret.as_slice() {
            return Err(format!("{name:?}: the two sides derived different secrets"));
        }
        let other = group.start().map_err(|e| format!("{name:?}: start: {e}"))?;
        let other_secret = other
            .complete(&server_public)
            .map_err(|e| format!("{name:?}: second client: {e}"))?;
        if other_secret.secret_bytes() == server_secret.as_slice() {
            return Err(format!("{name:?}: another client key derived the same secret"));
        }
        checked += 1;
    }
    Ok(checked)
}

/// Every check above; how many passed.
pub(crate) fn run() -> Result<usize, String> {
    Ok(x25519()? + p256()? + ed25519()? + agreement()?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_curves_give_the_published_answers_and_both_sides_agree() {
        // 8 X25519, 2 P-256, 2 Ed25519, 4 groups.
        assert_eq!(super::run(), Ok(16));
    }
}
