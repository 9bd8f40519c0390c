//! Known-answer and differential checks of this crate's primitives,
//! shared by the native unit tests and the wasm check run inside wasmtime
//! (`tlsbox-guest-bench --check`), so the SIMD128 path is checked by the
//! very same code as the portable one.
//!
//! The reference is RustCrypto's own implementation (one block at a time);
//! inputs come from the caller's random source.

use alloc::format;
use alloc::string::String;
use alloc::vec;

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};

use crate::{ChaCha20, ChaCha20Poly1305, Poly1305};

/// What [`run`] checked, for the caller to print.
#[derive(Debug, Default)]
pub struct Checked {
    /// Published test vectors that matched.
    pub vectors: usize,
    /// Random inputs on which we and the reference agreed.
    pub random_cases: usize,
}

/// Run every check; `random_cases` random inputs per differential check.
pub fn run(fill: &mut dyn FnMut(&mut [u8]), random_cases: usize) -> Result<Checked, String> {
    let mut checked = Checked::default();
    rfc8439_keystream()?;
    rfc8439_poly1305()?;
    rfc8439_aead()?;
    checked.vectors += 3;
    for case in 0..random_cases {
        chacha20_against_reference(fill, case)?;
        poly1305_against_reference(fill)?;
        aead_against_reference(fill, case)?;
        checked.random_cases += 3;
    }
    counter_end()?;
    checked.vectors += 1;
    checked.vectors += poly1305_extremes()?;
    checked.vectors += rfc8439_poly1305_reduction()?;
    Ok(checked)
}

fn hex(text: &str) -> Result<vec::Vec<u8>, String> {
    let digits: vec::Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| {
            core::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| String::from("bad hex in a test vector"))
        })
        .collect()
}

fn random<const N: usize>(fill: &mut dyn FnMut(&mut [u8])) -> [u8; N] {
    let mut out = [0u8; N];
    fill(&mut out);
    out
}

/// RFC 8439 §2.4.2: the "sunscreen" text, block counter 1.
fn rfc8439_keystream() -> Result<(), String> {
    let key = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")?;
    let nonce = hex("000000000000004a00000000")?;
    let mut text = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".to_vec();
    let expected = hex("6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b\
         f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8\
         07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736\
         5af90bbf74a35be6b40b8eedf2785e42874d")?;
    let mut cipher = ChaCha20::new_from_slices(&key, &nonce).map_err(|e| format!("{e}"))?;
    cipher.seek(64u32);
    cipher.apply_keystream(&mut text);
    if text != expected {
        return Err("ChaCha20 differs from RFC 8439 §2.4.2".into());
    }
    Ok(())
}

/// RFC 8439 §2.5.2.
fn rfc8439_poly1305() -> Result<(), String> {
    let key = hex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")?;
    let key: [u8; 32] = key.try_into().map_err(|_| String::from("bad key length"))?;
    let tag = Poly1305::new(&key).compute_unpadded(b"Cryptographic Forum Research Group");
    if tag.as_slice() != hex("a8061dc1305136c6c22b8baf0c0127a9")?.as_slice() {
        return Err("Poly1305 differs from RFC 8439 §2.5.2".into());
    }
    Ok(())
}

/// RFC 8439 Appendix A.3 #5, #6 and #9: a final accumulator just above p
/// (the last subtraction taken), the carry out of adding s, and one just
/// below p (not taken). r = 2 in each.
fn rfc8439_poly1305_reduction() -> Result<usize, String> {
    let cases = [
        ("ff".repeat(16), "00".repeat(16), format!("03{}", "00".repeat(15))),
        (
            format!("02{}", "00".repeat(15)),
            "ff".repeat(16),
            format!("03{}", "00".repeat(15)),
        ),
        (
            format!("fd{}", "ff".repeat(15)),
            "00".repeat(16),
            format!("fa{}", "ff".repeat(15)),
        ),
    ];
    for (i, (data, s, tag)) in cases.iter().enumerate() {
        let mut key = [0u8; 32];
        key[0] = 2;
        if let Some(pad) = key.get_mut(16..) {
            pad.copy_from_slice(&hex(s)?);
        }
        let data = hex(data)?;
        if Poly1305::new(&key).compute_unpadded(&data).as_slice() != hex(tag)?.as_slice() {
            return Err(format!("Poly1305 differs from RFC 8439 A.3 (case {i})"));
        }
        poly1305_check(&key, &data)?;
    }
    Ok(cases.len())
}

/// Our Poly1305 against RustCrypto's, with both paddings.
fn poly1305_check(key: &[u8; 32], data: &[u8]) -> Result<(), String> {
    use poly1305::universal_hash::{KeyInit as _, UniversalHash};
    let ours = Poly1305::new(key).compute_unpadded(data);
    let theirs = poly1305::Poly1305::new(key.into()).compute_unpadded(data);
    if ours.as_slice() != theirs.as_slice() {
        return Err(format!("Poly1305 differs from RustCrypto on {} bytes", data.len()));
    }
    let mut ours = Poly1305::new(key);
    ours.update_padded(data);
    let mut theirs = poly1305::Poly1305::new(key.into());
    theirs.update_padded(data);
    if ours.finalize().as_slice() != theirs.finalize().as_slice() {
        return Err(format!(
            "padded Poly1305 differs from RustCrypto on {} bytes",
            data.len()
        ));
    }
    Ok(())
}

fn poly1305_against_reference(fill: &mut dyn FnMut(&mut [u8])) -> Result<(), String> {
    let key: [u8; 32] = random(fill);
    let [a, b] = random::<2>(fill);
    let mut data = vec![0u8; usize::from(u16::from_le_bytes([a, b]) % 2000)];
    fill(&mut data);
    poly1305_check(&key, &data)
}

/// Keys and messages at the edges of the arithmetic: r clamped to its
/// largest (the accumulator near 2^130 - 5 and the final subtraction), r
/// zero or one, the pad all ones (the carry out of the last addition), and
/// all-ones messages. Returns how many cases ran.
fn poly1305_extremes() -> Result<usize, String> {
    let mut cases = 0;
    // r all ones (clamped to its largest), zero, and 0x01 in every byte.
    for r in [[0xffu8; 16], [0u8; 16], [1u8; 16]] {
        for pad in [[0u8; 16], [0xffu8; 16]] {
            let mut key = [0u8; 32];
            let (k_r, k_pad) = key.split_at_mut(16);
            k_r.copy_from_slice(&r);
            k_pad.copy_from_slice(&pad);
            for byte in [0u8, 0xff] {
                for len in [0usize, 1, 15, 16, 17, 32, 33, 64, 255, 1024] {
                    poly1305_check(&key, &vec![byte; len])?;
                    cases += 1;
                }
            }
        }
    }
    Ok(cases)
}

/// RFC 8439 §2.8.2: the AEAD over the same text.
fn rfc8439_aead() -> Result<(), String> {
    let key = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")?;
    let nonce = hex("070000004041424344454647")?;
    let aad = hex("50515253c0c1c2c3c4c5c6c7")?;
    let mut text = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".to_vec();
    let expected = hex("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6\
         3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36\
         92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc\
         3ff4def08e4b7a9de576d26586cec64b6116")?;
    let expected_tag = hex("1ae10b594f09e26a7e902ecbd0600691")?;
    let aead = ChaCha20Poly1305::new_from_slice(&key).map_err(|e| format!("{e}"))?;
    let tag = aead
        .encrypt_in_place_detached(nonce.as_slice().into(), &aad, &mut text)
        .map_err(|e| format!("{e}"))?;
    if text != expected || tag.as_slice() != expected_tag.as_slice() {
        return Err("ChaCha20-Poly1305 differs from RFC 8439 §2.8.2".into());
    }
    aead.decrypt_in_place_detached(nonce.as_slice().into(), &aad, &mut text, &tag)
        .map_err(|_| String::from("RFC 8439 §2.8.2 does not decrypt"))?;
    Ok(())
}

/// A random key, nonce, start position and length (0 to 1100 bytes, so
/// every tail of 0-3 blocks and partial blocks are hit), in one call or in
/// random pieces.
fn chacha20_against_reference(fill: &mut dyn FnMut(&mut [u8]), case: usize) -> Result<(), String> {
    let key: [u8; 32] = random(fill);
    let nonce: [u8; 12] = random(fill);
    let [a, b, c, d] = random::<4>(fill);
    let len = usize::from(u16::from_le_bytes([a, b]) % 1101);
    let start = u64::from(c) * 7 + u64::from(d % 64);
    let mut ours = vec![0u8; len];
    fill(&mut ours);
    let mut theirs = ours.clone();

    let mut cipher = ChaCha20::new(&key.into(), &nonce.into());
    let mut reference = chacha20::ChaCha20::new(&key.into(), &nonce.into());
    cipher.seek(start);
    reference.seek(start);
    // Every third case in one call (the four-block path); the others in
    // uneven pieces (the wrapper's buffering of partial blocks).
    let piece = if case.is_multiple_of(3) {
        len.max(1)
    } else {
        1 + case % 97
    };
    for chunk in ours.chunks_mut(piece) {
        cipher.apply_keystream(chunk);
    }
    reference.apply_keystream(&mut theirs);
    if ours != theirs {
        return Err(format!(
            "ChaCha20 differs from RustCrypto: {len} bytes from {start}, pieces of {piece}"
        ));
    }
    Ok(())
}

fn aead_against_reference(fill: &mut dyn FnMut(&mut [u8]), case: usize) -> Result<(), String> {
    let key: [u8; 32] = random(fill);
    let nonce: [u8; 12] = random(fill);
    let [a, b, c] = random::<3>(fill);
    // Up to a full TLS record, plus the record header as associated data.
    let len = usize::from(u16::from_le_bytes([a, b])) % (16 * 1024 + 300);
    let aad_len = usize::from(c % 14);
    let mut aad = vec![0u8; aad_len];
    fill(&mut aad);
    let mut ours = vec![0u8; len];
    fill(&mut ours);
    let mut theirs = ours.clone();

    let aead = ChaCha20Poly1305::new(&key.into());
    let reference = chacha20poly1305::ChaCha20Poly1305::new(&key.into());
    let tag = aead
        .encrypt_in_place_detached(&nonce.into(), &aad, &mut ours)
        .map_err(|e| format!("{e}"))?;
    let reference_tag = reference
        .encrypt_in_place_detached(&nonce.into(), &aad, &mut theirs)
        .map_err(|e| format!("{e}"))?;
    if ours != theirs || tag != reference_tag {
        return Err(format!(
            "ChaCha20-Poly1305 differs from RustCrypto on {len} bytes (case {case})"
        ));
    }
    let sealed = ours.clone();
    aead.decrypt_in_place_detached(&nonce.into(), &aad, &mut ours, &tag)
        .map_err(|_| format!("ChaCha20-Poly1305 does not open its own {len} bytes"))?;
    // One flipped bit in the ciphertext, the associated data or the tag:
    // no opening, and nothing of the decryption left in the buffer.
    let flipped = |bytes: &[u8]| {
        let mut bytes = bytes.to_vec();
        let at = case % bytes.len().max(1);
        let byte = bytes.get_mut(at)?;
        *byte ^= 1;
        Some(bytes)
    };
    let mut forgeries = vec![];
    if let Some(text) = flipped(&sealed) {
        forgeries.push(("ciphertext", text, aad.clone(), tag.to_vec()));
    }
    if let Some(bad_aad) = flipped(&aad) {
        forgeries.push(("associated data", sealed.clone(), bad_aad, tag.to_vec()));
    }
    if let Some(bad_tag) = flipped(&tag) {
        forgeries.push(("tag", sealed.clone(), aad.clone(), bad_tag));
    }
    for (what, mut text, aad, tag) in forgeries {
        let opened = aead.decrypt_in_place_detached(&nonce.into(), &aad, &mut text, tag.as_slice().into());
        if opened.is_ok() {
            return Err(format!("ChaCha20-Poly1305 opened with a flipped {what} ({len} bytes)"));
        }
        if text.iter().any(|b| *b != 0) {
            return Err(format!("ChaCha20-Poly1305 left data behind after a flipped {what}"));
        }
    }
    Ok(())
}

/// The last blocks before the 32-bit counter ends: the same keystream as
/// the reference, and an error (never a wrap) past the end.
fn counter_end() -> Result<(), String> {
    let key = [7u8; 32];
    let nonce = [9u8; 12];
    let start = (u64::from(u32::MAX) - 3) * 64;
    let mut ours = vec![0u8; 2 * 64];
    let mut theirs = ours.clone();
    let mut cipher = ChaCha20::new(&key.into(), &nonce.into());
    let mut reference = chacha20::ChaCha20::new(&key.into(), &nonce.into());
    cipher.seek(start);
    reference.seek(start);
    cipher.apply_keystream(&mut ours);
    reference.apply_keystream(&mut theirs);
    if ours != theirs {
        return Err("ChaCha20 differs from RustCrypto at the counter's end".into());
    }
    // One block is left: 65 bytes would need the counter to wrap.
    if cipher.try_apply_keystream(&mut [0u8; 65]).is_ok() {
        return Err("ChaCha20 went past the end of its counter".into());
    }
    Ok(())
}
