//! RFC 8446 under bad input: hand-built ClientHellos, each breaking one
//! rule, sent to the box; each must be answered with the alert the RFC
//! names for it (§4.1–§4.2, §6.2), as a plaintext fatal alert record.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use tlsbox_core::rustls::AlertDescription;
use tlsbox_core::Error as TlsError;
use tlsbox_tests::*;

const X25519: u16 = 0x001d;
const SECP256R1: u16 = 0x0017;
const TLS13_AES_128_GCM_SHA256: u16 = 0x1301;
const TLS13: u16 = 0x0304;

/// One key share: group and public value.
#[derive(Clone)]
struct Share(u16, Vec<u8>);

/// The fields a test ClientHello is made of.
#[derive(Clone)]
struct Hello {
    versions: Vec<u16>,
    suites: Vec<u16>,
    groups: Vec<u16>,
    shares: Option<Vec<Share>>,
    signature_algorithms: bool,
    compression: Vec<u8>,
    /// Applied to the extensions block before it is framed.
    mangle_extensions: fn(&mut Vec<u8>),
}

/// A valid X25519 public value (the base point).
fn x25519_point() -> Vec<u8> {
    let mut p = vec![0u8; 32];
    p[0] = 9;
    p
}

impl Default for Hello {
    fn default() -> Self {
        Self {
            versions: vec![TLS13],
            suites: vec![TLS13_AES_128_GCM_SHA256],
            groups: vec![X25519, SECP256R1],
            shares: Some(vec![Share(X25519, x25519_point())]),
            signature_algorithms: true,
            compression: vec![0],
            mangle_extensions: |_| {},
        }
    }
}

fn u16b(v: usize) -> [u8; 2] {
    u16::try_from(v).unwrap().to_be_bytes()
}

fn extension(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&u16b(body.len()));
    out.extend_from_slice(body);
}

impl Hello {
    /// The ClientHello as one handshake record.
    fn record(&self) -> Vec<u8> {
        let mut ext = Vec::new();
        let mut sni = vec![0u8];
        sni.extend_from_slice(&u16b(9));
        sni.extend_from_slice(b"localhost");
        let mut list = u16b(sni.len()).to_vec();
        list.extend_from_slice(&sni);
        extension(&mut ext, 0x0000, &list);
        let mut versions = vec![u8::try_from(self.versions.len() * 2).unwrap()];
        self.versions
            .iter()
            .for_each(|v| versions.extend_from_slice(&v.to_be_bytes()));
        extension(&mut ext, 0x002b, &versions);
        let mut groups = u16b(self.groups.len() * 2).to_vec();
        self.groups
            .iter()
            .for_each(|g| groups.extend_from_slice(&g.to_be_bytes()));
        extension(&mut ext, 0x000a, &groups);
        if self.signature_algorithms {
            // ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, ed25519
            extension(&mut ext, 0x000d, &[0, 6, 0x04, 0x03, 0x08, 0x04, 0x08, 0x07]);
        }
        if let Some(shares) = &self.shares {
            let mut body = Vec::new();
            for Share(group, key) in shares {
                body.extend_from_slice(&group.to_be_bytes());
                body.extend_from_slice(&u16b(key.len()));
                body.extend_from_slice(key);
            }
            let mut framed = u16b(body.len()).to_vec();
            framed.extend_from_slice(&body);
            extension(&mut ext, 0x0033, &framed);
        }
        (self.mangle_extensions)(&mut ext);

        let mut hello = vec![0x03, 0x03];
        hello.extend_from_slice(&[0x42; 32]); // random
        hello.push(32);
        hello.extend_from_slice(&[0x24; 32]); // legacy_session_id
        hello.extend_from_slice(&u16b(self.suites.len() * 2));
        self.suites
            .iter()
            .for_each(|s| hello.extend_from_slice(&s.to_be_bytes()));
        hello.push(u8::try_from(self.compression.len()).unwrap());
        hello.extend_from_slice(&self.compression);
        hello.extend_from_slice(&u16b(ext.len()));
        hello.extend_from_slice(&ext);

        let mut message = vec![0x01, 0];
        message.extend_from_slice(&u16b(hello.len()));
        message.extend_from_slice(&hello);
        record(0x16, &message)
    }
}

fn record(content_type: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type, 0x03, 0x01];
    r.extend_from_slice(&u16b(body.len()));
    r.extend_from_slice(body);
    r
}

/// Feed `bytes` to a fresh box server; the alert it sent, checked against
/// the record it queued.
fn alert_for(bytes: &[u8]) -> Option<AlertDescription> {
    let mut server = box_server(&server_options("ecdsa-p256"), keystore());
    let err = match server.feed_ciphertext(bytes) {
        Ok(_) => return None,
        Err(e) => e,
    };
    let sent = match err.as_tls() {
        Some(TlsError::Protocol { alert, .. }) | Some(TlsError::Certificate { alert, .. }) => *alert,
        other => panic!("not an alert: {other:?} ({err})"),
    };
    let record = server.take_ciphertext(1024).unwrap();
    assert_eq!(record.first(), Some(&0x15), "no alert record: {record:02x?}");
    assert_eq!(record.get(5), Some(&2), "not fatal: {record:02x?}");
    let on_the_wire = record.get(6).copied().map(AlertDescription::from);
    assert_eq!(
        on_the_wire,
        Some(sent),
        "the typed error names another alert than the one sent: {err}"
    );
    Some(sent)
}

#[test]
fn the_baseline_hello_is_accepted() {
    // The table below is only meaningful if the unbroken hello works.
    let mut server = box_server(&server_options("ecdsa-p256"), keystore());
    server.feed_ciphertext(&Hello::default().record()).unwrap();
    let flight = server.take_ciphertext(16 * 1024).unwrap();
    assert_eq!(flight.first(), Some(&0x16), "no ServerHello: {flight:02x?}");
}

#[test]
fn each_violation_gets_the_alert_rfc_8446_names() {
    use AlertDescription::*;
    let mut off_curve = vec![0x04];
    off_curve.extend_from_slice(&[0x01; 64]);
    let cases: Vec<(&str, Vec<u8>, AlertDescription)> = vec![
        (
            // key_exchange<1..2^16-1>: an empty one is a length out of
            // range, which §6.2 calls decode_error.
            "empty X25519 key share (§4.2.8, §6.2)",
            Hello {
                shares: Some(vec![Share(X25519, vec![])]),
                ..Hello::default()
            }
            .record(),
            DecodeError,
        ),
        (
            "all-zero X25519 key share: low order (RFC 7748 §6.1)",
            Hello {
                shares: Some(vec![Share(X25519, vec![0; 32])]),
                ..Hello::default()
            }
            .record(),
            IllegalParameter,
        ),
        (
            "P-256 key share off the curve (§4.2.8.2)",
            Hello {
                groups: vec![SECP256R1],
                shares: Some(vec![Share(SECP256R1, off_curve)]),
                ..Hello::default()
            }
            .record(),
            IllegalParameter,
        ),
        (
            "no cipher suite in common (§4.1.1)",
            Hello {
                suites: vec![0x1304], // TLS_AES_128_CCM_SHA256
                ..Hello::default()
            }
            .record(),
            HandshakeFailure,
        ),
        (
            "only TLS 1.1 offered (§4.2.1, §D.2)",
            Hello {
                versions: vec![0x0302],
                ..Hello::default()
            }
            .record(),
            ProtocolVersion,
        ),
        (
            "TLS 1.3 without supported_groups but with key_share (§9.2)",
            Hello {
                groups: vec![],
                ..Hello::default()
            }
            .record(),
            DecodeError,
        ),
        (
            "TLS 1.3 with compression methods other than null (§4.1.2)",
            Hello {
                compression: vec![1, 0],
                ..Hello::default()
            }
            .record(),
            IllegalParameter,
        ),
        (
            "an extension whose length runs past the block (§4.2)",
            Hello {
                mangle_extensions: |ext| ext[3] = 0xff,
                ..Hello::default()
            }
            .record(),
            DecodeError,
        ),
        (
            "the same extension twice (§4.2)",
            Hello {
                mangle_extensions: |ext| {
                    let sni = ext[..4 + 14].to_vec();
                    ext.extend_from_slice(&sni);
                },
                ..Hello::default()
            }
            .record(),
            IllegalParameter,
        ),
        (
            "Finished before any ClientHello (§4)",
            record(0x16, &[[20, 0, 0, 32].as_slice(), &[0u8; 32]].concat()),
            UnexpectedMessage,
        ),
        (
            "application data before the handshake (§5)",
            record(0x17, &[0u8; 32]),
            UnexpectedMessage,
        ),
        (
            "an alert with a bad length (§6)",
            record(0x15, &[2, 40, 0]),
            DecodeError,
        ),
        ("an unknown record type (§5)", record(0x63, &[0u8; 8]), DecodeError),
    ];
    let mut table = String::from("| violation | alert |\n|---|---|\n");
    let mut wrong = Vec::new();
    for (what, bytes, expected) in cases {
        let got = std::panic::catch_unwind(|| alert_for(&bytes)).unwrap_or_else(|_| panic!("{what}"));
        table.push_str(&format!("| {what} | {got:?} |\n"));
        if got != Some(expected) {
            wrong.push(format!("{what}: expected {expected:?}, got {got:?}"));
        }
    }
    eprintln!("{table}");
    assert!(wrong.is_empty(), "{}\n{table}", wrong.join("\n"));
}

/// Where rustls answers otherwise than the RFC, asserted as it is, so that
/// a rustls release that changes it is noticed.
#[test]
fn known_deviations_of_rustls() {
    // §9.2: a server authenticating with a certificate MUST abort with
    // missing_extension when a TLS 1.3 hello has no signature_algorithms;
    // rustls answers handshake_failure (PeerIncompatible::
    // SignatureAlgorithmsExtensionRequired), and the box cannot choose
    // another alert for rustls.
    let no_sigalgs = Hello {
        signature_algorithms: false,
        ..Hello::default()
    };
    assert_eq!(
        alert_for(&no_sigalgs.record()),
        Some(AlertDescription::HandshakeFailure)
    );
    // §4.2.8: servers MAY abort with illegal_parameter when a key share is
    // for a group the client did not list; rustls does not check and asks
    // for a listed group instead (HelloRetryRequest). Allowed.
    let stray_share = Hello {
        groups: vec![SECP256R1],
        ..Hello::default()
    };
    assert_eq!(alert_for(&stray_share.record()), None);

    // A handshake message declaring more than rustls' 64 KiB limit: rustls
    // closes without any alert (§6.2 would have decode_error or
    // record_overflow). The typed error says no alert was sent, and none
    // was (tlsfuzzer found the error used to name one).
    let mut oversized = vec![0x01, 0x01, 0x00, 0x01];
    oversized.extend_from_slice(&[0; 100]);
    let mut server = box_server(&server_options("ecdsa-p256"), keystore());
    let err = server.feed_ciphertext(&record(0x16, &oversized)).unwrap_err();
    assert!(matches!(err.as_tls(), Some(TlsError::ClosedWithoutAlert(_))), "{err}");
    assert_eq!(server.take_ciphertext(1024).unwrap(), Vec::<u8>::new());
}

#[test]
fn a_second_hello_after_hello_retry_request_may_not_change_its_mind() {
    // No key share: the server asks again (HelloRetryRequest) for a group.
    let first = Hello {
        shares: Some(vec![]),
        groups: vec![X25519],
        ..Hello::default()
    };
    let mut server = box_server(&server_options("ecdsa-p256"), keystore());
    server.feed_ciphertext(&first.record()).unwrap();
    let hrr = server.take_ciphertext(16 * 1024).unwrap();
    // ServerHello carrying the HelloRetryRequest random (§4.1.3).
    let hrr_random = [0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11];
    assert!(
        hrr.windows(8).any(|w| w == hrr_random),
        "no HelloRetryRequest: {hrr:02x?}"
    );
    // The second hello changes the cipher suites: illegal (§4.1.2).
    let second = Hello {
        groups: vec![X25519],
        suites: vec![0x1303, TLS13_AES_128_GCM_SHA256],
        ..Hello::default()
    };
    let mut bytes = record(0x14, &[1]); // a compatibility change_cipher_spec (§D.4) is fine
    bytes.extend_from_slice(&second.record());
    let err = server.feed_ciphertext(&bytes).unwrap_err();
    assert!(
        matches!(
            err.as_tls(),
            Some(TlsError::Protocol {
                alert: AlertDescription::IllegalParameter,
                ..
            })
        ),
        "{err:?}"
    );
}
