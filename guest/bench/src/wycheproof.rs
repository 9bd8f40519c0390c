//! Wycheproof's AEAD test vectors (`guest/crypto/testdata/wycheproof/`)
//! against tlsbox-crypto's ChaCha20-Poly1305 and AES-GCM.
//!
//! Only the groups the crate implements are run: 96-bit nonces, 128-bit
//! tags, and AES-128, AES-256 or ChaCha20 keys (TLS has no other). A valid
//! vector must seal to its ciphertext and tag and open to its message; an
//! invalid one must be refused, its buffer left wiped.

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use serde::Deserialize;

const CHACHA20_POLY1305: &str = include_str!("../../crypto/testdata/wycheproof/chacha20_poly1305_test.json");
const AES_GCM: &str = include_str!("../../crypto/testdata/wycheproof/aes_gcm_test.json");

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestFile {
    test_groups: Vec<TestGroup>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestGroup {
    key_size: usize,
    iv_size: usize,
    tag_size: usize,
    tests: Vec<TestCase>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestCase {
    tc_id: u32,
    key: String,
    iv: String,
    aad: String,
    msg: String,
    ct: String,
    tag: String,
    result: String,
}

/// Run every applicable vector; how many ran.
pub(crate) fn run() -> Result<usize, String> {
    let mut ran = 0;
    for group in groups(CHACHA20_POLY1305)?.iter().filter(|g| g.key_size == 256) {
        ran += run_group::<tlsbox_crypto::ChaCha20Poly1305>("ChaCha20-Poly1305", group)?;
    }
    for group in &groups(AES_GCM)? {
        ran += match group.key_size {
            128 => run_group::<tlsbox_crypto::Aes128Gcm>("AES-128-GCM", group)?,
            256 => run_group::<tlsbox_crypto::Aes256Gcm>("AES-256-GCM", group)?,
            // AES-192: no TLS suite uses it, and the crate has none.
            _ => 0,
        };
    }
    Ok(ran)
}

/// The file's groups with 96-bit nonces and 128-bit tags.
fn groups(json: &str) -> Result<Vec<TestGroup>, String> {
    let file: TestFile = serde_json::from_str(json).map_err(|e| format!("Wycheproof file: {e}"))?;
    Ok(file
        .test_groups
        .into_iter()
        .filter(|g| g.iv_size == 96 && g.tag_size == 128)
        .collect())
}

fn run_group<A: KeyInit + AeadInPlace>(name: &str, group: &TestGroup) -> Result<usize, String> {
    for case in &group.tests {
        check::<A>(case).map_err(|e| format!("{name}, Wycheproof tcId {}: {e}", case.tc_id))?;
    }
    Ok(group.tests.len())
}

fn check<A: KeyInit + AeadInPlace>(case: &TestCase) -> Result<(), String> {
    let bytes = |field: &str| hex::decode(field).map_err(|e| format!("bad hex: {e}"));
    let (key, iv, aad, msg, ct, tag) = (
        bytes(&case.key)?,
        bytes(&case.iv)?,
        bytes(&case.aad)?,
        bytes(&case.msg)?,
        bytes(&case.ct)?,
        bytes(&case.tag)?,
    );
    if iv.len() != 12 || tag.len() != 16 {
        return Err("not a 96-bit nonce and a 128-bit tag".into());
    }
    let aead = A::new_from_slice(&key).map_err(|_| String::from("key refused"))?;
    let nonce = GenericArray::from_slice(&iv);
    let mut opened = ct.clone();
    let open = aead.decrypt_in_place_detached(nonce, &aad, &mut opened, GenericArray::from_slice(&tag));
    match case.result.as_str() {
        "valid" | "acceptable" => {
            let mut sealed = msg.clone();
            let sealed_tag = aead
                .encrypt_in_place_detached(nonce, &aad, &mut sealed)
                .map_err(|_| String::from("seal refused"))?;
            if sealed != ct || sealed_tag.as_slice() != tag.as_slice() {
                return Err("sealed to another ciphertext or tag".into());
            }
            if open.is_err() || opened != msg {
                return Err("did not open".into());
            }
        }
        _ => {
            if open.is_ok() {
                return Err("an invalid vector opened".into());
            }
            if opened.iter().any(|b| *b != 0) {
                return Err("a refused vector left data behind".into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_applicable_wycheproof_vectors_pass_natively() {
        // 316 ChaCha20-Poly1305, 67 AES-128-GCM and 66 AES-256-GCM.
        assert_eq!(super::run(), Ok(449));
    }
}
