//! What the box's primitives cost where they run: the same code timed
//! inside wasm (this crate built as a wasm32-wasip2 command and run by
//! wasmtime, see `host/benches/primitives.rs`) and natively (this crate
//! as a library), so the two columns differ only in where they ran.
//!
//! Also the wasm half of the crypto self-check: the SIMD128 code paths
//! exist only in wasm, so `tlsbox_crypto::selfcheck` must run there too.

mod curves;
mod wycheproof;

use std::hint::black_box;
use std::time::{Duration, Instant};

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use rustls::crypto::cipher::{InboundOpaqueMessage, OutboundChunks, OutboundPlainMessage};
use rustls::crypto::tls13::OkmBlock;
use rustls::crypto::SupportedKxGroup;
use rustls::{ContentType, ProtocolVersion, SupportedCipherSuite};
use sha2::Digest;

/// One timed figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    /// What was timed, e.g. `chacha20 keystream (tlsbox-crypto)`.
    pub name: String,
    /// The figure, in `unit`.
    pub value: f64,
    /// `MB/s` (10^6 bytes of input per second) or `µs` per operation.
    pub unit: &'static str,
}

/// A TLS record's worth: what the record layer encrypts per call.
const RECORD: usize = 16 * 1024;

/// Every figure, each timed for about `budget`.
pub fn measure(budget: Duration) -> Vec<Measure> {
    let mut out = Vec::new();
    let mut buf = vec![0x5au8; RECORD];
    let key = [0x42u8; 32];
    let nonce = [0x24u8; 12];
    let mut blocks = vec![aes::Block::default(); RECORD / 16];

    out.push(throughput("chacha20 keystream (RustCrypto)", budget, || {
        use chacha20::cipher::{KeyIvInit, StreamCipher};
        let mut c = chacha20::ChaCha20::new(&key.into(), &nonce.into());
        c.apply_keystream(&mut buf);
        RECORD
    }));
    out.push(throughput("chacha20 keystream (tlsbox-crypto)", budget, || {
        use chacha20::cipher::{KeyIvInit, StreamCipher};
        let mut c = tlsbox_crypto::ChaCha20::new(&key.into(), &nonce.into());
        c.apply_keystream(&mut buf);
        RECORD
    }));
    out.push(throughput("poly1305 (RustCrypto)", budget, || {
        use poly1305::universal_hash::{KeyInit, UniversalHash};
        let mut mac = poly1305::Poly1305::new(&key.into());
        mac.update_padded(&buf);
        black_box(mac.finalize());
        RECORD
    }));
    out.push(throughput("poly1305 (tlsbox-crypto)", budget, || {
        let mut mac = tlsbox_crypto::Poly1305::new(&key);
        mac.update_padded(&buf);
        black_box(mac.finalize());
        RECORD
    }));
    out.push(throughput("chacha20-poly1305 seal (RustCrypto)", budget, || {
        let aead = chacha20poly1305::ChaCha20Poly1305::new(&key.into());
        seal(&aead, &nonce, &mut buf)
    }));
    out.push(throughput("chacha20-poly1305 seal (tlsbox-crypto)", budget, || {
        let aead = tlsbox_crypto::ChaCha20Poly1305::new(&key.into());
        seal(&aead, &nonce, &mut buf)
    }));
    out.push(throughput("aes-128 blocks (RustCrypto fixslice)", budget, || {
        use aes::cipher::{BlockEncrypt, KeyInit};
        let aes = aes::Aes128::new(&[0x42u8; 16].into());
        aes.encrypt_blocks(&mut blocks);
        RECORD
    }));
    out.push(throughput("aes-128 blocks (tlsbox-crypto)", budget, || {
        use aes::cipher::{BlockEncrypt, KeyInit};
        let aes = tlsbox_crypto::Aes128::new(&[0x42u8; 16].into());
        aes.encrypt_blocks(&mut blocks);
        RECORD
    }));
    out.push(throughput("ghash (RustCrypto)", budget, || {
        use ghash::universal_hash::{KeyInit, UniversalHash};
        let mut mac = ghash::GHash::new(&[0x42u8; 16].into());
        mac.update_padded(&buf);
        black_box(mac.finalize());
        RECORD
    }));
    out.push(throughput("aes-128-gcm seal (RustCrypto)", budget, || {
        let aead = aes_gcm::Aes128Gcm::new(&[0x42u8; 16].into());
        seal(&aead, &nonce, &mut buf)
    }));
    out.push(throughput("ghash (tlsbox-crypto)", budget, || {
        let mut mac = tlsbox_crypto::GHash::new(&[0x42u8; 16]);
        mac.update_padded(&buf);
        black_box(mac.finalize());
        RECORD
    }));
    out.push(throughput(
        "aes-128-gcm seal (RustCrypto GCM, tlsbox-crypto AES)",
        budget,
        || {
            let aead = aes_gcm::AesGcm::<tlsbox_crypto::Aes128, aes_gcm::aead::consts::U12>::new(&[0x42u8; 16].into());
            seal(&aead, &nonce, &mut buf)
        },
    ));
    out.push(throughput("aes-128-gcm seal (tlsbox-crypto)", budget, || {
        let aead = tlsbox_crypto::Aes128Gcm::new(&[0x42u8; 16].into());
        seal(&aead, &nonce, &mut buf)
    }));
    out.push(throughput("sha-256", budget, || {
        black_box(sha2::Sha256::digest(&buf));
        RECORD
    }));

    out.extend(measure_records(budget));

    for (name, group) in [
        ("x25519", tlsbox_core::provider::X25519),
        ("secp256r1", tlsbox_core::provider::SECP256R1),
        ("x25519mlkem768", tlsbox_core::provider::X25519MLKEM768),
    ] {
        out.push(key_exchange(name, group, budget));
    }
    out
}

/// Only the provider's TLS 1.3 record seal and open, per suite: the
/// baseline for the box's bulk throughput across the WIT boundary.
pub fn measure_records(budget: Duration) -> Vec<Measure> {
    measure_records_of(
        &[
            tlsbox_core::provider::TLS13_CHACHA20_POLY1305_SHA256,
            tlsbox_core::provider::TLS13_AES_128_GCM_SHA256,
            tlsbox_core::provider::TLS13_AES_256_GCM_SHA384,
        ],
        budget,
    )
}

/// The record seal and open rows for any provider's TLS 1.3 `suites`
/// (the native benchmark also times aws-lc-rs's).
pub fn measure_records_of(suites: &[SupportedCipherSuite], budget: Duration) -> Vec<Measure> {
    let mut out = Vec::new();
    for suite in suites {
        let name = suite.suite().as_str().unwrap_or("unnamed suite");
        let (seal, open) = record_layer(*suite, budget);
        out.push(Measure {
            name: format!("{name} record seal, 16 KiB"),
            ..seal
        });
        out.push(Measure {
            name: format!("{name} record open, 16 KiB"),
            ..open
        });
    }
    out
}

fn seal<A: AeadInPlace<NonceSize = U12>>(aead: &A, nonce: &[u8; 12], buf: &mut [u8]) -> usize {
    match aead.encrypt_in_place_detached(&(*nonce).into(), b"header", buf) {
        Ok(tag) => {
            black_box(tag);
            buf.len()
        }
        Err(_) => 0,
    }
}

/// Run `f` (which returns the bytes it processed) for about `budget`.
fn throughput(name: &str, budget: Duration, mut f: impl FnMut() -> usize) -> Measure {
    f(); // warm up
    let start = Instant::now();
    let mut bytes = 0usize;
    while start.elapsed() < budget {
        bytes += f();
    }
    Measure {
        name: name.into(),
        value: bytes as f64 / start.elapsed().as_secs_f64() / 1e6,
        unit: "MB/s",
    }
}

/// The provider's own record encrypter and decrypter, as the box's record
/// layer calls them (the record copied in, sealed, opened).
fn record_layer(suite: SupportedCipherSuite, budget: Duration) -> (Measure, Measure) {
    let failed = |name: &str| Measure {
        name: name.into(),
        value: 0.0,
        unit: "MB/s",
    };
    let SupportedCipherSuite::Tls13(suite) = suite else {
        return (failed("seal"), failed("open"));
    };
    // Keys as the key schedule makes them (RFC 8446 §7.3), of the suite's
    // length, through rustls' (semver-exempt) helpers.
    let expander = suite.hkdf_provider.expander_for_okm(&OkmBlock::new(&[0x42u8; 32]));
    let key = || rustls::internal::derive_traffic_key(expander.as_ref(), suite.aead_alg);
    let iv = || rustls::internal::derive_traffic_iv(expander.as_ref());
    let payload = vec![0x5au8; RECORD];
    let mut encrypter = suite.aead_alg.encrypter(key(), iv());
    let mut decrypter = suite.aead_alg.decrypter(key(), iv());
    let Ok(sealed) = encrypter.encrypt(plain(&payload), 0) else {
        return (failed("seal"), failed("open"));
    };
    let sealed = sealed.encode();
    let mut seq = 0u64;
    let seal = throughput("seal", budget, || {
        seq += 1;
        match encrypter.encrypt(plain(&payload), seq) {
            Ok(msg) => {
                black_box(msg);
                RECORD
            }
            Err(_) => 0,
        }
    });
    // Open the same record again and again (sequence 0): the work per call
    // is the same as for a fresh one.
    let mut record = sealed.clone();
    let open = throughput("open", budget, || {
        record.copy_from_slice(&sealed);
        let Some(body) = record.get_mut(5..) else { return 0 };
        let msg = InboundOpaqueMessage::new(ContentType::ApplicationData, ProtocolVersion::TLSv1_2, body);
        match decrypter.decrypt(msg, 0) {
            Ok(plain) => plain.payload.len(),
            Err(_) => 0,
        }
    });
    (seal, open)
}

fn plain(bytes: &[u8]) -> OutboundPlainMessage<'_> {
    OutboundPlainMessage {
        typ: ContentType::ApplicationData,
        version: ProtocolVersion::TLSv1_2,
        payload: OutboundChunks::Single(bytes),
    }
}

/// A server's key exchange: a fresh key pair and the shared secret with a
/// client share, as one handshake does it.
pub fn key_exchange(name: &str, group: &dyn SupportedKxGroup, budget: Duration) -> Measure {
    let failed = Measure {
        name: format!("{name} key exchange (server)"),
        value: 0.0,
        unit: "µs",
    };
    let Ok(client) = group.start() else { return failed };
    let client_share = client.pub_key().to_vec();
    let mut ops = 0u32;
    let start = Instant::now();
    while start.elapsed() < budget || ops == 0 {
        let Ok(done) = group.start_and_complete(&client_share) else {
            return failed;
        };
        black_box(done);
        ops += 1;
    }
    Measure {
        value: start.elapsed().as_secs_f64() * 1e6 / f64::from(ops),
        ..failed
    }
}

/// The crypto self-check over `cases` random inputs per check, with the
/// system's random source, then Wycheproof's AEAD vectors and the curves'
/// known answers and agreement (counted among the vectors).
pub fn check(cases: usize) -> Result<tlsbox_crypto::selfcheck::Checked, String> {
    let mut failed = false;
    let mut fill = |buf: &mut [u8]| failed |= getrandom::fill(buf).is_err();
    let mut checked = tlsbox_crypto::selfcheck::run(&mut fill, cases)?;
    if failed {
        return Err("no random bytes from the system".into());
    }
    checked.vectors += wycheproof::run()?;
    checked.vectors += curves::run()?;
    Ok(checked)
}
