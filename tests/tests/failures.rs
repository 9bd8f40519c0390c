//! What goes wrong ends one connection cleanly, with a typed error and the
//! right alert; the engine carries on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tlsbox_core::keystore::{KeyInfo, Keystore, KeystoreError};
use tlsbox_core::rustls::{AlertDescription, SignatureScheme};
use tlsbox_core::Error as TlsError;
use tlsbox_host::{Engine, EngineConfig, Error};
use tlsbox_tests::*;

fn tls_error(e: &Error) -> &TlsError {
    e.as_tls().unwrap_or_else(|| panic!("expected a TLS error, got {e:?}"))
}

fn certificate_alert(e: &Error) -> AlertDescription {
    match tls_error(e) {
        TlsError::Certificate { alert, .. } => *alert,
        other => panic!("expected a certificate error, got {other:?}"),
    }
}

#[test]
fn client_rejects_untrusted_certificate() {
    let keys = keystore();
    let mut server = native_server(&server_options("untrusted"), keys.clone());
    let mut client = box_client(&client_options(), keys);
    let err = handshake(&mut client, &mut server).unwrap_err();
    assert_eq!(certificate_alert(&err), AlertDescription::UnknownCA, "{err}");
    // The alert reached the server.
    let err = flow(&mut client, &mut server).unwrap_err();
    assert!(
        matches!(tls_error(&err), TlsError::PeerAlert(AlertDescription::UnknownCA)),
        "{err:?}"
    );
}

#[test]
fn client_rejects_wrong_host_name() {
    let keys = keystore();
    let mut server = native_server(&server_options("ecdsa-p256"), keys.clone());
    let options = tlsbox_core::ClientOptions {
        server_name: "wrong.example".into(),
        ..client_options()
    };
    let mut client = box_client(&options, keys);
    let err = handshake(&mut client, &mut server).unwrap_err();
    assert_eq!(certificate_alert(&err), AlertDescription::BadCertificate, "{err}");
    assert!(err.to_string().contains("not valid for name"), "{err}");
}

#[test]
fn client_reads_time_from_wasi_clocks_and_rejects_expired_certificate() {
    // The test certificates are valid until 2126; a box whose WASI wall
    // clock says 2200 must see them as expired.
    let year_2200 = SystemTime::UNIX_EPOCH + Duration::from_secs(7_258_118_400);
    let engine = Engine::new(EngineConfig {
        max_instances: 4,
        fixed_time: Some(year_2200),
        ..Default::default()
    })
    .unwrap();
    let keys = keystore();
    let config = tlsbox_host::ClientConfig::new(&engine, &client_options(), keys.clone()).unwrap();
    let mut client = engine.new_client(&config).unwrap();
    let mut server = native_server(&server_options("ecdsa-p256"), keys);
    let err = handshake(&mut client, &mut server).unwrap_err();
    assert_eq!(certificate_alert(&err), AlertDescription::CertificateExpired, "{err}");
}

/// The record the box sent after an error must be a fatal alert.
fn assert_plaintext_alert(record: &[u8], expected: AlertDescription) {
    assert!(record.len() >= 7, "no alert record: {record:?}");
    assert_eq!(record[0], 0x15, "not an alert record: {record:?}");
    assert_eq!(&record[3..5], &[0, 2]);
    assert_eq!(record[5], 2, "not fatal");
    assert_eq!(AlertDescription::from(record[6]), expected);
}

#[test]
fn garbage_ends_the_connection_with_an_alert_and_the_engine_carries_on() {
    let keys = keystore();
    let mut server = box_server(&server_options("ecdsa-p256"), keys.clone());
    let err = server
        .feed_ciphertext(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap_err();
    assert!(matches!(tls_error(&err), TlsError::Protocol { .. }), "{err:?}");
    let alert = server.take_ciphertext(1024).unwrap();
    let TlsError::Protocol { alert: sent, .. } = tls_error(&err) else {
        unreachable!()
    };
    assert_plaintext_alert(&alert, *sent);
    // The connection stays failed; nothing else is accepted.
    assert!(matches!(
        server.feed_ciphertext(b"\x16\x03\x01").map_err(|e| e.as_tls().cloned()),
        Err(Some(TlsError::Failed))
    ));

    // Every bad record header: its own typed error, never a panic or trap.
    for (bytes, alert) in [
        // A length above 2^14+256: rustls' record header check answers
        // decode_error where RFC 8446 §5.2 says record_overflow. rustls has
        // no way to send an alert of the box's choosing, and once records
        // are protected the box cannot make one itself (rfc8446_alerts.rs
        // lists the deviations).
        (&[0x16, 0x03, 0x03, 0x48, 0x01][..], AlertDescription::DecodeError),
        (&[0x17, 0x03, 0x03, 0x00, 0x10][..], AlertDescription::UnexpectedMessage),
        (
            &[0x16, 0x03, 0x03, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00][..],
            AlertDescription::DecodeError,
        ),
        (&[0x63, 0x03, 0x03, 0x00, 0x01, 0x00][..], AlertDescription::DecodeError),
    ] {
        let mut server = box_server(&server_options("ecdsa-p256"), keys.clone());
        let mut data = bytes.to_vec();
        data.extend_from_slice(&[0u8; 32]);
        let err = server.feed_ciphertext(&data).unwrap_err();
        match tls_error(&err) {
            TlsError::Protocol { alert: sent, .. } => {
                assert_eq!(*sent, alert, "{bytes:02x?}: {err}");
                assert_plaintext_alert(&server.take_ciphertext(1024).unwrap(), alert);
            }
            other => panic!("{bytes:02x?}: {other:?}"),
        }
    }

    // The same engine still completes a handshake.
    let mut server = box_server(&server_options("ecdsa-p256"), keys.clone());
    let mut client = native_client(&client_options(), keys);
    handshake(&mut client, &mut server).unwrap();
    assert_eq!(
        transfer(&mut client, &mut server, b"still fine").unwrap(),
        b"still fine"
    );
}

#[test]
fn tampered_record_is_bad_record_mac() {
    let keys = keystore();
    let mut server = box_server(&server_options("ecdsa-p256"), keys.clone());
    let mut client = native_client(&client_options(), keys);
    handshake(&mut client, &mut server).unwrap();
    client.write_plaintext(b"secret data").unwrap();
    let mut record = client.take_ciphertext(4096);
    let last = record.len() - 1;
    record[last] ^= 1;
    let err = server.feed_ciphertext(&record).unwrap_err();
    assert!(
        matches!(
            tls_error(&err),
            TlsError::Protocol {
                alert: AlertDescription::BadRecordMac,
                ..
            }
        ),
        "{err:?}"
    );
    // The (encrypted) alert reaches the client.
    let alert = server.take_ciphertext(1024).unwrap();
    let err = client.feed_ciphertext(&alert).unwrap_err();
    assert_eq!(err, TlsError::PeerAlert(AlertDescription::BadRecordMac));
}

/// A keystore that refuses every signature.
struct Refusing(Arc<dyn Keystore>);

impl Keystore for Refusing {
    fn describe_key(&self, key: &str) -> Result<KeyInfo, KeystoreError> {
        self.0.describe_key(key)
    }

    fn sign(&self, _key: &str, _scheme: SignatureScheme, _message: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        Err(KeystoreError::Refused("this test keystore signs nothing".into()))
    }
}

#[test]
fn refusing_keystore_fails_the_handshake_cleanly() {
    let keys = keystore();
    for stem in ["ecdsa-p256", "rsa-2048"] {
        for tls12 in [false, true] {
            let mut options = server_options(stem);
            if tls12 {
                options.versions = vec![tlsbox_core::rustls::ProtocolVersion::TLSv1_2];
            }
            let mut server = box_server(&options, Arc::new(Refusing(keys.clone())));
            let mut client = native_client(&client_options(), keys.clone());
            let err = handshake(&mut client, &mut server).unwrap_err();
            assert!(
                matches!(tls_error(&err), TlsError::Keystore(KeystoreError::Refused(why)) if why.contains("signs nothing")),
                "{stem} tls12={tls12}: {err:?}"
            );
            // rustls queues no alert for a local signing failure: the
            // client never completes (its transport would just close).
            let _ = flow(&mut server, &mut client);
            assert!(server.take_ciphertext(1024).unwrap().is_empty());
            assert_eq!(
                Endpoint::status(&mut client).unwrap().phase,
                tlsbox_host::Phase::Handshaking
            );
        }
    }
}

#[test]
fn unknown_key_is_a_configuration_error() {
    let mut options = server_options("ecdsa-p256");
    options.identity.key = "no-such-key".into();
    let err = tlsbox_host::ServerConfig::new(engine(), &options, keystore()).unwrap_err();
    assert!(
        matches!(tls_error(&err), TlsError::Keystore(KeystoreError::UnknownKey(k)) if k == "no-such-key"),
        "{err:?}"
    );
}

#[test]
fn key_not_matching_the_certificate_is_a_configuration_error() {
    let mut options = server_options("ecdsa-p256");
    options.identity.key = "client".into();
    let err = tlsbox_host::ServerConfig::new(engine(), &options, keystore()).unwrap_err();
    assert!(
        matches!(tls_error(&err), TlsError::InvalidConfig(why) if why.contains("does not match")),
        "{err:?}"
    );
}

/// A keystore whose signatures are far too big for the box's memory.
struct Flooding(Arc<dyn Keystore>);

impl Keystore for Flooding {
    fn describe_key(&self, key: &str) -> Result<KeyInfo, KeystoreError> {
        self.0.describe_key(key)
    }

    fn sign(&self, _key: &str, _scheme: SignatureScheme, _message: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        Ok(vec![0u8; 64 << 20])
    }
}

#[test]
fn a_trap_ends_one_connection_and_the_others_carry_on() {
    let keys = keystore();
    // A live connection, established before the trap.
    let mut live_server = box_server(&server_options("ecdsa-p256"), keys.clone());
    let mut live_client = native_client(&client_options(), keys.clone());
    handshake(&mut live_client, &mut live_server).unwrap();

    // This box runs out of memory taking the keystore's reply: it traps.
    let mut server = box_server(&server_options("ecdsa-p256"), Arc::new(Flooding(keys.clone())));
    let mut client = native_client(&client_options(), keys.clone());
    let err = handshake(&mut client, &mut server).unwrap_err();
    assert!(matches!(err, Error::Trap(_)), "{err:?}");
    // Poisoned: every later call says so, nothing panics.
    assert!(matches!(server.status(), Err(Error::Trap(_))));
    assert!(matches!(server.take_ciphertext(100), Err(Error::Trap(_))));

    // The live connection still moves data, and new ones still start.
    let data = pattern(100_000);
    assert_eq!(transfer(&mut live_client, &mut live_server, &data).unwrap(), data);
    assert_eq!(transfer(&mut live_server, &mut live_client, &data).unwrap(), data);
    let mut server = box_server(&server_options("ecdsa-p256"), keys.clone());
    let mut client = native_client(&client_options(), keys);
    handshake(&mut client, &mut server).unwrap();
}

#[test]
fn boxes_are_bounded_by_the_pool_and_slots_come_back() {
    let engine = Engine::new(EngineConfig {
        max_instances: 3,
        cache_dir: None,
        ..Default::default()
    })
    .unwrap();
    let keys = keystore();
    let config = tlsbox_host::ServerConfig::new(&engine, &server_options("ecdsa-p256"), keys.clone()).unwrap();
    let mut live: Vec<_> = (0..3).map(|_| engine.new_server(&config).unwrap()).collect();
    let err = engine.new_server(&config).unwrap_err();
    assert!(matches!(err, Error::Engine(_)), "{err:?}");
    // A finished connection gives its slot back; the others are untouched.
    drop(live.pop());
    let mut again = engine.new_server(&config).unwrap();
    let mut client = native_client(&client_options(), keys);
    handshake(&mut client, &mut again).unwrap();
    for conn in &mut live {
        assert_eq!(conn.status().unwrap().phase, tlsbox_host::Phase::Handshaking);
    }
}

/// A keystore whose RSA key can only make PKCS#1 v1.5 signatures, like an
/// RSA key in a token without CKM_RSA_PKCS_PSS.
struct NoPss(Arc<dyn Keystore>);

impl Keystore for NoPss {
    fn describe_key(&self, key: &str) -> Result<KeyInfo, KeystoreError> {
        let mut info = self.0.describe_key(key)?;
        info.schemes.retain(|s| {
            matches!(
                s,
                SignatureScheme::RSA_PKCS1_SHA256
                    | SignatureScheme::RSA_PKCS1_SHA384
                    | SignatureScheme::RSA_PKCS1_SHA512
            )
        });
        Ok(info)
    }

    fn sign(&self, key: &str, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        self.0.sign(key, scheme, message)
    }
}

#[test]
fn a_key_without_tls13_signatures_serves_tls12_instead_of_failing() {
    let keys = keystore();
    let mut server = box_server(&server_options("rsa-2048"), Arc::new(NoPss(keys.clone())));
    let mut client = native_client(&client_options(), keys.clone());
    handshake(&mut client, &mut server).unwrap();
    assert_eq!(
        Endpoint::info(&mut server).unwrap().version,
        Some(tlsbox_core::rustls::ProtocolVersion::TLSv1_2)
    );
    // Asked for TLS 1.3 only, it is a clear configuration error.
    let options = tlsbox_core::ServerOptions {
        versions: vec![tlsbox_core::rustls::ProtocolVersion::TLSv1_3],
        ..server_options("rsa-2048")
    };
    let err = tlsbox_host::ServerConfig::new(engine(), &options, Arc::new(NoPss(keys))).unwrap_err();
    assert!(
        matches!(tls_error(&err), TlsError::InvalidConfig(why) if why.contains("RSA-PSS")),
        "{err:?}"
    );
}
