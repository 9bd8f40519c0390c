//! The identity key in a PKCS#11 token (SoftHSM2): handshakes with every
//! key type against native rustls and OpenSSL, non-extractability, the
//! signing-oracle guard, token faults, concurrency.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::{Attribute, AttributeInfo, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tlsbox_core::keystore::{Keystore, KeystoreError};
use tlsbox_core::rustls::{ProtocolVersion, SignatureScheme};
use tlsbox_host::keystore::pkcs11::tooling::{KeyAlgorithm, TokenAdmin};
use tlsbox_host::keystore::pkcs11::{KeySource, Pkcs11Error, Pkcs11Keystore, Pkcs11Uri};
use tlsbox_test_support::softhsm;
use tlsbox_tests::*;

/// Key labels in the test token, with their algorithms.
const KEYS: [(&str, KeyAlgorithm); 5] = [
    ("rsa2048", KeyAlgorithm::Rsa2048),
    ("rsa3072", KeyAlgorithm::Rsa3072),
    ("p256", KeyAlgorithm::EcP256),
    ("p384", KeyAlgorithm::EcP384),
    ("ed25519", KeyAlgorithm::Ed25519),
];

/// The token with every key generated in it, and a self-signed certificate
/// (made by the token key) for each, as a PEM file.
struct Fixture {
    module: PathBuf,
    certs: std::collections::HashMap<&'static str, PathBuf>,
}

/// `C_CloseAllSessions` and a logout reach every session this process has
/// on the token, whichever keystore opened it: the test that does them runs
/// alone, and every other test holds this shared while it uses the token.
static TOKEN_SESSIONS: RwLock<()> = RwLock::new(());

fn token_shared() -> RwLockReadGuard<'static, ()> {
    TOKEN_SESSIONS.read().unwrap_or_else(PoisonError::into_inner)
}

fn token_alone() -> RwLockWriteGuard<'static, ()> {
    TOKEN_SESSIONS.write().unwrap_or_else(PoisonError::into_inner)
}

fn uri(label: &str) -> Pkcs11Uri {
    format!("pkcs11:token={};object={label};type=private", softhsm::TOKEN)
        .parse()
        .unwrap()
}

fn pin() -> AuthPin {
    AuthPin::from(softhsm::PIN.to_string())
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let hsm = softhsm::get();
        let admin = TokenAdmin::open(&hsm.module, &uri(""), &pin()).unwrap();
        let mut certs = std::collections::HashMap::new();
        for (i, (label, algorithm)) in KEYS.into_iter().enumerate() {
            admin.generate(label, &[i as u8 + 1], algorithm).unwrap();
            let pem = admin
                .self_signed(&uri(label), &["localhost".into(), "127.0.0.1".into()], 30)
                .unwrap();
            let path = hsm.dir.join(format!("{label}.pem"));
            std::fs::write(&path, pem).unwrap();
            certs.insert(label, path);
        }
        Fixture {
            module: hsm.module.clone(),
            certs,
        }
    })
}

fn token_keystore(label: &str) -> Arc<Pkcs11Keystore> {
    let f = fixture();
    let mut keys = Pkcs11Keystore::new();
    let source = KeySource {
        uri: uri(label),
        module: Some(f.module.clone()),
        token_label: None,
        pin: Some(pin()),
    };
    keys.add_key(label, &source).unwrap();
    Arc::new(keys)
}

fn cert_der(label: &str) -> Vec<u8> {
    CertificateDer::from_pem_file(&fixture().certs[label]).unwrap().to_vec()
}

fn token_server_options(label: &str, versions: Vec<ProtocolVersion>) -> tlsbox_core::ServerOptions {
    tlsbox_core::ServerOptions {
        identity: tlsbox_core::Identity {
            certificate_chain: vec![cert_der(label)],
            key: label.into(),
            schemes: vec![],
        },
        versions,
        ..Default::default()
    }
}

fn client_trusting(label: &str, versions: Vec<ProtocolVersion>) -> tlsbox_core::ClientOptions {
    tlsbox_core::ClientOptions {
        server_name: "localhost".into(),
        trust_anchors: vec![cert_der(label)],
        versions,
        ..Default::default()
    }
}

#[test]
fn box_server_signs_with_every_token_key_type() {
    let _sessions = token_shared();
    for (label, _) in KEYS {
        let keys = token_keystore(label);
        let mut versions = vec![vec![ProtocolVersion::TLSv1_3]];
        if matches!(label, "rsa2048" | "p256") {
            versions.push(vec![ProtocolVersion::TLSv1_2]);
        }
        for v in versions {
            let mut server = box_server(&token_server_options(label, v.clone()), keys.clone());
            let mut client = native_client(&client_trusting(label, v.clone()), keystore());
            handshake(&mut client, &mut server).unwrap_or_else(|e| panic!("{label} {v:?}: {e}"));
            assert_eq!(Endpoint::info(&mut client).unwrap().version, v.first().copied());
            assert_eq!(
                transfer(&mut server, &mut client, b"signed in a token").unwrap(),
                b"signed in a token"
            );
        }
    }
}

#[test]
fn openssl_verifies_token_signatures() {
    let _sessions = token_shared();
    for (label, _) in KEYS {
        let server = BoxServer::start(token_server_options(label, vec![]), token_keystore(label));
        let ca = &fixture().certs[label];
        let out = s_client(server.port(), ca, &["-tls1_3"], b"hello\n");
        assert!(
            out.contains("Verification: OK") && out.contains("New, TLSv1.3"),
            "{label}: {out}"
        );
        if matches!(label, "rsa2048" | "p256") {
            let out = s_client(server.port(), ca, &["-tls1_2"], b"hello\n");
            assert!(
                out.contains("Verification: OK") && out.contains("New, TLSv1.2"),
                "{label}: {out}"
            );
        }
    }
}

#[test]
fn client_certificate_from_the_token() {
    let _sessions = token_shared();
    let keys = token_keystore("p256");
    let ca = fixture().certs["p256"].to_str().unwrap().to_string();
    let server = ServerProcess::openssl(
        "ecdsa-p256",
        &["-tls1_3", "-Verify", "1", "-verify_return_error", "-CAfile", &ca],
    );
    let options = tlsbox_core::ClientOptions {
        identity: Some(tlsbox_core::Identity {
            certificate_chain: vec![cert_der("p256")],
            key: "p256".into(),
            schemes: vec![],
        }),
        ..client_options()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let page = runtime.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let config = tlsbox_host::ClientConfig::new(engine(), &options, keys).unwrap();
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
            .await
            .unwrap();
        let mut tls = tlsbox_host::stream::connect(engine(), &config, tcp).await.unwrap();
        tls.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        let mut page = Vec::new();
        let _ = tls.read_to_end(&mut page).await;
        String::from_utf8_lossy(&page).into_owned()
    });
    // s_server -www reports the client certificate it verified.
    assert!(page.starts_with("HTTP/1.0 200 ok"), "{page}");
    assert!(
        page.contains("Client certificate") || page.contains("CN=localhost") || page.contains("CN = localhost"),
        "{page}"
    );
}

/// A second handle on the module, as another part of the process (or a
/// careless library) would have.
fn other_handle() -> Pkcs11 {
    let ctx = Pkcs11::new(&fixture().module).unwrap();
    let _ = ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    ctx
}

/// The slot of the test token.
fn test_token_slot(ctx: &Pkcs11) -> cryptoki::slot::Slot {
    let slots = ctx.get_slots_with_initialized_token().unwrap();
    slots
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label().trim_end() == softhsm::TOKEN)
        .unwrap()
}

#[test]
fn generated_keys_are_sensitive_and_never_extractable() {
    let _sessions = token_shared();
    fixture();
    let ctx = other_handle();
    let slot = test_token_slot(&ctx);
    let session = ctx.open_ro_session(slot).unwrap();
    let _ = session.login(UserType::User, Some(&pin()));
    let keys = session
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
        .unwrap();
    assert_eq!(keys.len(), KEYS.len());
    for key in keys {
        let info = session
            .get_attribute_info(key, &[AttributeType::Value, AttributeType::PrivateExponent])
            .unwrap();
        for i in &info {
            assert!(
                matches!(i, AttributeInfo::Sensitive | AttributeInfo::TypeInvalid),
                "{info:?}"
            );
        }
        assert!(info.iter().any(|i| matches!(i, AttributeInfo::Sensitive)), "{info:?}");
        let attrs = session
            .get_attributes(key, &[AttributeType::Extractable, AttributeType::Sensitive])
            .unwrap();
        assert!(attrs.contains(&Attribute::Extractable(false)), "{attrs:?}");
        assert!(attrs.contains(&Attribute::Sensitive(true)), "{attrs:?}");
    }
}

/// A TLS 1.3 CertificateVerify content, the only thing worth signing.
fn certificate_verify_content() -> Vec<u8> {
    let mut m = vec![0x20; 64];
    m.extend_from_slice(b"TLS 1.3, server CertificateVerify\0");
    m.extend_from_slice(&[0xab; 32]);
    m
}

#[test]
fn the_keystore_is_not_a_signing_oracle() {
    let _sessions = token_shared();
    let keys = token_keystore("p256");
    for junk in [&b"transfer 1000 EUR to Mallory"[..], &[0u8; 32][..], &[]] {
        let err = keys
            .sign("p256", SignatureScheme::ECDSA_NISTP256_SHA256, junk)
            .unwrap_err();
        assert!(matches!(err, KeystoreError::Refused(_)), "{err:?}");
    }
    // A key the configuration does not name is unknown, whatever the token holds.
    let err = keys
        .sign(
            "p384",
            SignatureScheme::ECDSA_NISTP384_SHA384,
            &certificate_verify_content(),
        )
        .unwrap_err();
    assert!(matches!(err, KeystoreError::UnknownKey(_)), "{err:?}");
    // The right shape is signed.
    assert!(keys
        .sign(
            "p256",
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &certificate_verify_content()
        )
        .is_ok());
}

#[test]
fn a_wrong_pin_fails_at_start_up() {
    let _sessions = token_shared();
    let f = fixture();
    let source = KeySource {
        uri: format!("pkcs11:token={};object=none", softhsm::SECOND_TOKEN)
            .parse()
            .unwrap(),
        module: Some(f.module.clone()),
        token_label: None,
        pin: Some(AuthPin::from("0000".to_string())),
    };
    let err = Pkcs11Keystore::new().add_key("k", &source).unwrap_err();
    assert!(err.to_string().contains("PIN is incorrect"), "{err}");
    assert!(!err.to_string().contains("0000"), "the PIN must not appear in errors");
}

#[test]
fn a_missing_key_fails_at_start_up() {
    let _sessions = token_shared();
    let f = fixture();
    let source = KeySource {
        uri: uri("no-such-key"),
        module: Some(f.module.clone()),
        token_label: None,
        pin: Some(pin()),
    };
    let err = Pkcs11Keystore::new().add_key("k", &source).unwrap_err();
    assert!(matches!(err, Pkcs11Error::NoKey(_)), "{err}");
}

/// `C_CloseAllSessions` from another handle on the module: the keystore's
/// pooled sessions die behind its back.
fn close_all_sessions_behind_the_back() {
    use cryptoki_sys::{CK_FUNCTION_LIST_PTR_PTR, CK_RV};
    let ctx = other_handle();
    let slot = test_token_slot(&ctx);
    // SAFETY: the test loads the same SoftHSM2 library the keystore uses and
    // calls two PKCS#11 entry points with valid arguments.
    unsafe {
        let lib = libloading::Library::new(&fixture().module).unwrap();
        let get: libloading::Symbol<unsafe extern "C" fn(CK_FUNCTION_LIST_PTR_PTR) -> CK_RV> =
            lib.get(b"C_GetFunctionList").unwrap();
        let mut list = std::ptr::null_mut();
        assert_eq!(get(&mut list), 0);
        let close_all = (*list).C_CloseAllSessions.unwrap();
        assert_eq!(close_all(slot.id()), 0);
    }
}

#[test]
fn the_keystore_recovers_when_its_sessions_are_closed_behind_its_back() {
    let _sessions = token_alone();
    let keys = token_keystore("rsa2048");
    let handshake_once = || {
        let mut server = box_server(&token_server_options("rsa2048", vec![]), keys.clone());
        let mut client = native_client(&client_trusting("rsa2048", vec![]), keystore());
        handshake(&mut client, &mut server)
    };
    handshake_once().unwrap();
    close_all_sessions_behind_the_back();
    handshake_once().expect("the next handshake after C_CloseAllSessions");
    // Logged out from another handle: the keystore logs in again.
    let ctx = other_handle();
    let s = ctx.open_ro_session(test_token_slot(&ctx)).unwrap();
    let _ = s.logout();
    handshake_once().expect("the next handshake after a logout");
}

#[test]
fn two_threads_sign_at_once_for_ten_seconds() {
    let _sessions = token_shared();
    let keys = token_keystore("p256");
    let message = certificate_verify_content();
    let until = Instant::now() + Duration::from_secs(10);
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (keys, message) = (keys.clone(), message.clone());
            std::thread::spawn(move || {
                let mut signed = 0u64;
                while Instant::now() < until {
                    keys.sign("p256", SignatureScheme::ECDSA_NISTP256_SHA256, &message)
                        .unwrap();
                    signed += 1;
                }
                signed
            })
        })
        .collect();
    for w in workers {
        assert!(w.join().unwrap() > 0);
    }
}
