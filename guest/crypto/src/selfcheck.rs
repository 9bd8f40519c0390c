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
use cipher::{BlockEncrypt, KeyIvInit, StreamCipher, StreamCipherSeek};

use crate::{Aes128, Aes128Gcm, Aes256, Aes256Gcm, ChaCha20, ChaCha20Poly1305, GHash, Poly1305};

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
    checked.vectors += fips197()?;
    checked.vectors += gcm_spec()?;
    for case in 0..random_cases {
        chacha20_against_reference(fill, case)?;
        poly1305_against_reference(fill)?;
        aead_against_reference(fill, case)?;
        aes_against_reference(fill, case)?;
        ghash_against_reference(fill)?;
        gcm_against_reference(fill, case)?;
        checked.random_cases += 6;
    }
    counter_end()?;
    checked.vectors += 1;
    checked.vectors += poly1305_extremes()?;
    checked.vectors += ghash_extremes()?;
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

/// RFC 8439 Appendix A.3 #5 to #11: a final accumulator just above p (the
/// last subtraction taken), the carry out of adding s, one just below p
/// (not taken), and multi-block messages built to cancel (through the pair
/// and lone-block paths) with r = 1, 2 or a bit in r's second word.
fn rfc8439_poly1305_reduction() -> Result<usize, String> {
    let r1 = format!("01{}", "00".repeat(15));
    let r2 = format!("02{}", "00".repeat(15));
    let r_wide = format!("01{}04{}", "00".repeat(7), "00".repeat(7));
    let zero = "00".repeat(16);
    let canceling = format!(
        "e33594d7505e43b9{}3394d7505e4379cd01{}{}",
        "00".repeat(8),
        "00".repeat(7),
        zero
    );
    let cases = [
        // #5, #6, #9
        (
            r2.clone(),
            "ff".repeat(16),
            zero.clone(),
            format!("03{}", "00".repeat(15)),
        ),
        (
            r2.clone(),
            r2.clone(),
            "ff".repeat(16),
            format!("03{}", "00".repeat(15)),
        ),
        (
            r2,
            format!("fd{}", "ff".repeat(15)),
            zero.clone(),
            format!("fa{}", "ff".repeat(15)),
        ),
        // #7, #8
        (
            r1.clone(),
            format!("{}f0{}11{}", "ff".repeat(16), "ff".repeat(15), "00".repeat(15)),
            zero.clone(),
            format!("05{}", "00".repeat(15)),
        ),
        (
            r1,
            format!("{}fb{}{}", "ff".repeat(16), "fe".repeat(15), "01".repeat(16)),
            zero.clone(),
            zero.clone(),
        ),
        // #10 (four blocks), #11 (three)
        (
            r_wide.clone(),
            format!("{canceling}01{}", "00".repeat(15)),
            zero.clone(),
            format!("14{}55{}", "00".repeat(7), "00".repeat(7)),
        ),
        (r_wide, canceling, zero, format!("13{}", "00".repeat(15))),
    ];
    for (i, (r, data, s, tag)) in cases.iter().enumerate() {
        let mut key = [0u8; 32];
        let (key_r, key_s) = key.split_at_mut(16);
        key_r.copy_from_slice(&hex(r)?);
        key_s.copy_from_slice(&hex(s)?);
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
/// zero or 0x01 in every byte, the pad all ones (the carry out of the last
/// addition), and all-ones messages; lengths with whole blocks in pairs, a
/// lone block and a partial one after them. Returns how many cases ran.
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
                for len in [0usize, 1, 15, 16, 17, 32, 33, 48, 64, 80, 255, 1024] {
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
    // Up to a full TLS record (or a step edge), up to 40 bytes of associated data.
    let len = message_len(case, u16::from_le_bytes([a, b]));
    let aad_len = usize::from(c % 41);
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
    refuses_forgeries("ChaCha20-Poly1305", case, &sealed, &aad, &tag, &|text, aad, tag| {
        aead.decrypt_in_place_detached(&nonce.into(), aad, text, tag.into())
            .is_ok()
    })?;
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

/// FIPS 197 Appendix C.1 and C.3: the example vectors of AES-128 and AES-256.
fn fips197() -> Result<usize, String> {
    let plaintext = hex("00112233445566778899aabbccddeeff")?;
    let mut block = cipher::Block::<Aes128>::clone_from_slice(&plaintext);
    Aes128::new_from_slice(&hex("000102030405060708090a0b0c0d0e0f")?)
        .map_err(|e| format!("{e}"))?
        .encrypt_block(&mut block);
    if block.as_slice() != hex("69c4e0d86a7b0430d8cdb78070b4c55a")? {
        return Err("AES-128 differs from FIPS 197 C.1".into());
    }
    let mut block = cipher::Block::<Aes256>::clone_from_slice(&plaintext);
    Aes256::new_from_slice(&hex(
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    )?)
    .map_err(|e| format!("{e}"))?
    .encrypt_block(&mut block);
    if block.as_slice() != hex("8ea2b7ca516745bfeafc49904b496089")? {
        return Err("AES-256 differs from FIPS 197 C.3".into());
    }
    Ok(2)
}

/// The test cases of the GCM specification (McGrew and Viega, "The
/// Galois/Counter Mode of Operation", appendix B): 1–4 for AES-128 and
/// 14–16 for AES-256, sealed and opened.
fn gcm_spec() -> Result<usize, String> {
    const KEY: &str = "feffe9928665731c6d6a8f9467308308";
    const IV: &str = "cafebabefacedbaddecaf888";
    const PLAINTEXT: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
    const AAD: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
    const C3: &str = "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
                      21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985";
    const C15: &str = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
                       8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";
    let zero_key = "00000000000000000000000000000000";
    let zero_iv = "000000000000000000000000";
    let zero_block = "00000000000000000000000000000000";
    // (case, key, iv, plaintext, aad, ciphertext, tag); cases 4 and 16
    // drop the last 4 bytes of 3 and 15 and add associated data.
    let cases: [(u8, String, &str, String, &str, String, &str); 7] = [
        (
            1,
            zero_key.into(),
            zero_iv,
            String::new(),
            "",
            String::new(),
            "58e2fccefa7e3061367f1d57a4e7455a",
        ),
        (
            2,
            zero_key.into(),
            zero_iv,
            zero_block.into(),
            "",
            "0388dace60b6a392f328c2b971b2fe78".into(),
            "ab6e47d42cec13bdf53a67b21257bddf",
        ),
        (
            3,
            KEY.into(),
            IV,
            PLAINTEXT.into(),
            "",
            C3.into(),
            "4d5c2af327cd64a62cf35abd2ba6fab4",
        ),
        (
            4,
            KEY.into(),
            IV,
            without_last_4(PLAINTEXT),
            AAD,
            without_last_4(C3),
            "5bc94fbc3221a5db94fae95ae7121a47",
        ),
        (
            14,
            format!("{zero_key}{zero_key}"),
            zero_iv,
            zero_block.into(),
            "",
            "cea7403d4d606b6e074ec5d3baf39d18".into(),
            "d0d1c8a799996bf0265b98b5d48ab919",
        ),
        (
            15,
            format!("{KEY}{KEY}"),
            IV,
            PLAINTEXT.into(),
            "",
            C15.into(),
            "b094dac5d93471bdec1a502270e3cc6c",
        ),
        (
            16,
            format!("{KEY}{KEY}"),
            IV,
            without_last_4(PLAINTEXT),
            AAD,
            without_last_4(C15),
            "76fc6ece0f4e1768cddf8853bb2d551b",
        ),
    ];
    for (case, key, iv, plaintext, aad, ciphertext, tag) in &cases {
        let (key, iv, aad) = (hex(key)?, hex(iv)?, hex(aad)?);
        let (plaintext, ciphertext, tag) = (hex(plaintext)?, hex(ciphertext)?, hex(tag)?);
        let mut text = plaintext.clone();
        let sealed_tag = if key.len() == 16 {
            gcm_seal::<Aes128Gcm>(&key, &iv, &aad, &mut text)?
        } else {
            gcm_seal::<Aes256Gcm>(&key, &iv, &aad, &mut text)?
        };
        if text != ciphertext || sealed_tag != tag {
            return Err(format!("AES-GCM differs from the GCM specification's test case {case}"));
        }
        let opened = if key.len() == 16 {
            gcm_open::<Aes128Gcm>(&key, &iv, &aad, &mut text, &tag)
        } else {
            gcm_open::<Aes256Gcm>(&key, &iv, &aad, &mut text, &tag)
        };
        if opened.is_err() || text != plaintext {
            return Err(format!(
                "AES-GCM does not open the GCM specification's test case {case}"
            ));
        }
    }
    Ok(cases.len())
}

fn without_last_4(hex: &str) -> String {
    let digits: String = hex.chars().filter(char::is_ascii_hexdigit).collect();
    digits.chars().take(digits.len().saturating_sub(8)).collect()
}

fn gcm_seal<A: AeadInPlace + KeyInit>(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    text: &mut [u8],
) -> Result<vec::Vec<u8>, String> {
    let aead = A::new_from_slice(key).map_err(|e| format!("{e}"))?;
    let nonce = chacha20poly1305::aead::Nonce::<A>::from_exact_iter(iv.iter().copied())
        .ok_or_else(|| String::from("AES-GCM nonce length"))?;
    let tag = aead
        .encrypt_in_place_detached(&nonce, aad, text)
        .map_err(|e| format!("{e}"))?;
    Ok(tag.to_vec())
}

fn gcm_open<A: AeadInPlace + KeyInit>(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    text: &mut [u8],
    tag: &[u8],
) -> Result<(), String> {
    let aead = A::new_from_slice(key).map_err(|e| format!("{e}"))?;
    let nonce = chacha20poly1305::aead::Nonce::<A>::from_exact_iter(iv.iter().copied())
        .ok_or_else(|| String::from("AES-GCM nonce length"))?;
    let tag = chacha20poly1305::aead::Tag::<A>::from_exact_iter(tag.iter().copied())
        .ok_or_else(|| String::from("AES-GCM tag length"))?;
    aead.decrypt_in_place_detached(&nonce, aad, text, &tag)
        .map_err(|_| String::from("AES-GCM refused the tag"))
}

/// Random keys (AES-128 and AES-256 in turn) and 1 to 20 blocks, so that
/// both the eight-block pass and the shorter tails run, against RustCrypto.
fn aes_against_reference(fill: &mut dyn FnMut(&mut [u8]), case: usize) -> Result<(), String> {
    let key: [u8; 32] = random(fill);
    let [count] = random::<1>(fill);
    let count = 1 + usize::from(count % 20);
    let mut ours = vec![cipher::Block::<Aes128>::default(); count];
    for block in &mut ours {
        fill(block);
    }
    let mut theirs = ours.clone();
    let (name, key_len) = if case.is_multiple_of(2) {
        ("AES-128", 16)
    } else {
        ("AES-256", 32)
    };
    let key = key.get(..key_len).unwrap_or_default();
    let bad = |e: cipher::InvalidLength| format!("{e}");
    if key_len == 16 {
        Aes128::new_from_slice(key).map_err(bad)?.encrypt_blocks(&mut ours);
        aes::Aes128::new_from_slice(key)
            .map_err(bad)?
            .encrypt_blocks(&mut theirs);
    } else {
        Aes256::new_from_slice(key).map_err(bad)?.encrypt_blocks(&mut ours);
        aes::Aes256::new_from_slice(key)
            .map_err(bad)?
            .encrypt_blocks(&mut theirs);
    }
    if ours != theirs {
        return Err(format!(
            "{name} differs from RustCrypto on {count} blocks (case {case})"
        ));
    }
    Ok(())
}

/// AES-GCM on up to a TLS record, against RustCrypto's; a flipped bit
/// anywhere must not open, and leaves nothing of the decryption behind.
fn gcm_against_reference(fill: &mut dyn FnMut(&mut [u8]), case: usize) -> Result<(), String> {
    let key: [u8; 32] = random(fill);
    let iv: [u8; 12] = random(fill);
    let [a, b, c] = random::<3>(fill);
    let len = message_len(case, u16::from_le_bytes([a, b]));
    let mut aad = vec![0u8; usize::from(c % 41)];
    fill(&mut aad);
    let mut ours = vec![0u8; len];
    fill(&mut ours);
    let mut theirs = ours.clone();
    let key = if case.is_multiple_of(2) {
        key.get(..16).unwrap_or_default()
    } else {
        &key[..]
    };
    let (tag, reference_tag) = if key.len() == 16 {
        (
            gcm_seal::<Aes128Gcm>(key, &iv, &aad, &mut ours)?,
            gcm_seal::<aes_gcm::Aes128Gcm>(key, &iv, &aad, &mut theirs)?,
        )
    } else {
        (
            gcm_seal::<Aes256Gcm>(key, &iv, &aad, &mut ours)?,
            gcm_seal::<aes_gcm::Aes256Gcm>(key, &iv, &aad, &mut theirs)?,
        )
    };
    if ours != theirs || tag != reference_tag {
        return Err(format!("AES-GCM differs from RustCrypto on {len} bytes (case {case})"));
    }
    let open = |text: &mut [u8], aad: &[u8], tag: &[u8]| {
        if key.len() == 16 {
            gcm_open::<Aes128Gcm>(key, &iv, aad, text, tag)
        } else {
            gcm_open::<Aes256Gcm>(key, &iv, aad, text, tag)
        }
    };
    let sealed = ours.clone();
    open(&mut ours, &aad, &tag).map_err(|_| format!("AES-GCM does not open its own {len} bytes"))?;
    refuses_forgeries("AES-GCM", case, &sealed, &aad, &tag, &|text, aad, tag| {
        open(text, aad, tag).is_ok()
    })?;
    Ok(())
}

/// GHASH on random keys and up to a TLS record of data, against RustCrypto's.
fn ghash_against_reference(fill: &mut dyn FnMut(&mut [u8])) -> Result<(), String> {
    let key: [u8; 16] = random(fill);
    let [a, b] = random::<2>(fill);
    let mut data = vec![0u8; usize::from(u16::from_le_bytes([a, b])) % (16 * 1024 + 300)];
    fill(&mut data);
    ghash_check(&key, &data)
}

fn ghash_check(key: &[u8; 16], data: &[u8]) -> Result<(), String> {
    use ghash::universal_hash::{KeyInit as _, UniversalHash};
    let mut ours = GHash::new(key);
    ours.update_padded(data);
    let mut theirs = ghash::GHash::new(key.into());
    theirs.update_padded(data);
    if ours.finalize() != <[u8; 16]>::from(theirs.finalize()) {
        return Err(format!("GHASH differs from RustCrypto on {} bytes", data.len()));
    }
    Ok(())
}

/// GHASH where its integer multiplies carry the most: keys and blocks of
/// all ones (sixteen ones gather in a bit of each product), the keys x^0
/// and x^127 alone, on odd and even numbers of blocks. Returns how many
/// cases ran.
fn ghash_extremes() -> Result<usize, String> {
    let mut x0 = [0u8; 16];
    let mut x127 = [0u8; 16];
    if let (Some(first), Some(last)) = (x0.first_mut(), x127.last_mut()) {
        (*first, *last) = (0x80, 0x01);
    }
    let mut cases = 0;
    for key in [[0xffu8; 16], x0, x127] {
        for byte in [0xffu8, 0x80, 0x01] {
            for len in [16usize, 32, 48, 100, 1024] {
                ghash_check(&key, &vec![byte; len])?;
                cases += 1;
            }
        }
    }
    Ok(cases)
}

/// Opens `(text, associated data, tag)` in place; true when the tag holds.
type Opener<'a> = dyn Fn(&mut [u8], &[u8], &[u8]) -> bool + 'a;

/// One flipped bit in the ciphertext, the associated data or the tag (at a
/// place that moves with `case`): `open` must refuse each, and leave
/// nothing of the decryption in the buffer.
fn refuses_forgeries(
    name: &str,
    case: usize,
    sealed: &[u8],
    aad: &[u8],
    tag: &[u8],
    open: &Opener<'_>,
) -> Result<(), String> {
    let flipped = |bytes: &[u8]| {
        let mut bytes = bytes.to_vec();
        let at = case % bytes.len().max(1);
        let byte = bytes.get_mut(at)?;
        *byte ^= 1;
        Some(bytes)
    };
    let mut forgeries = vec![];
    if let Some(text) = flipped(sealed) {
        forgeries.push(("ciphertext", text, aad.to_vec(), tag.to_vec()));
    }
    if let Some(bad_aad) = flipped(aad) {
        forgeries.push(("associated data", sealed.to_vec(), bad_aad, tag.to_vec()));
    }
    if let Some(bad_tag) = flipped(tag) {
        forgeries.push(("tag", sealed.to_vec(), aad.to_vec(), bad_tag));
    }
    for (what, mut text, aad, tag) in forgeries {
        if open(&mut text, &aad, &tag) {
            return Err(format!("{name} opened with a flipped {what} ({} bytes)", sealed.len()));
        }
        if text.iter().any(|b| *b != 0) {
            return Err(format!("{name} left data behind after a flipped {what}"));
        }
    }
    Ok(())
}

/// Lengths where the one-pass AEADs change step: around AES-GCM's first
/// step (112 bytes) and its later ones (128), ChaCha20-Poly1305's (256),
/// and a whole record.
const STEP_EDGES: [usize; 16] = [
    0,
    1,
    15,
    16,
    17,
    111,
    112,
    113,
    127,
    128,
    129,
    240,
    255,
    256,
    257,
    16 * 1024,
];

/// A message length for an AEAD check: every third case one of
/// [`STEP_EDGES`] in turn, else random up to a TLS record and a bit more
/// (the associated data runs up to 40 bytes, three GHASH blocks).
fn message_len(case: usize, random: u16) -> usize {
    if case % 3 == 2 {
        STEP_EDGES.get(case / 3 % STEP_EDGES.len()).copied().unwrap_or(0)
    } else {
        usize::from(random) % (16 * 1024 + 300)
    }
}
