//! The box against native rustls (same provider), both roles, every suite
//! and group, data both ways byte-exact.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use tlsbox_core::rustls::{CipherSuite, NamedGroup, ProtocolVersion};
use tlsbox_tests::*;

const SUITES: [(CipherSuite, &str); 9] = [
    (CipherSuite::TLS13_AES_128_GCM_SHA256, "ecdsa-p256"),
    (CipherSuite::TLS13_AES_256_GCM_SHA384, "ecdsa-p256"),
    (CipherSuite::TLS13_CHACHA20_POLY1305_SHA256, "ecdsa-p256"),
    (CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "ecdsa-p256"),
    (CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, "ecdsa-p384"),
    (CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, "ecdsa-p256"),
    (CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, "rsa-2048"),
    (CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, "rsa-2048"),
    (CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, "rsa-2048"),
];

const GROUPS: [NamedGroup; 4] = [
    NamedGroup::X25519MLKEM768,
    NamedGroup::X25519,
    NamedGroup::secp256r1,
    NamedGroup::secp384r1,
];

fn is_tls13(s: CipherSuite) -> bool {
    matches!(
        s,
        CipherSuite::TLS13_AES_128_GCM_SHA256
            | CipherSuite::TLS13_AES_256_GCM_SHA384
            | CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
    )
}

/// Handshake, check what was negotiated, then 1 B, 16 KiB and 1 MiB each way.
fn exercise(
    client: &mut dyn Endpoint,
    server: &mut dyn Endpoint,
    suite: CipherSuite,
    group: NamedGroup,
    sizes: &[usize],
) {
    handshake(client, server).unwrap();
    for info in [client.info().unwrap(), server.info().unwrap()] {
        assert_eq!(info.cipher_suite, Some(suite));
        assert_eq!(info.group, Some(group));
        let version = if is_tls13(suite) {
            ProtocolVersion::TLSv1_3
        } else {
            ProtocolVersion::TLSv1_2
        };
        assert_eq!(info.version, Some(version));
    }
    assert_eq!(server.info().unwrap().server_name.as_deref(), Some("localhost"));
    assert!(!client.info().unwrap().peer_certificates.is_empty());
    for &len in sizes {
        let data = pattern(len);
        assert_eq!(
            transfer(client, server, &data).unwrap(),
            data,
            "client to server, {len} bytes"
        );
        assert_eq!(
            transfer(server, client, &data).unwrap(),
            data,
            "server to client, {len} bytes"
        );
    }
}

fn server_opts(suite: CipherSuite, group: NamedGroup, key: &str) -> tlsbox_core::ServerOptions {
    tlsbox_core::ServerOptions {
        cipher_suites: vec![suite],
        groups: vec![group],
        ..server_options(key)
    }
}

fn client_opts(suite: CipherSuite, group: NamedGroup) -> tlsbox_core::ClientOptions {
    tlsbox_core::ClientOptions {
        cipher_suites: vec![suite],
        groups: vec![group],
        ..client_options()
    }
}

const SIZES: [usize; 3] = [1, 16 * 1024, 1024 * 1024];

/// Every suite (with a key of the right type) and group, and the data
/// sizes to move: all of them with X25519, one byte otherwise (the groups
/// differ only in the handshake). The KEM group is TLS 1.3 only.
fn matrix() -> impl Iterator<Item = (CipherSuite, &'static str, NamedGroup, &'static [usize])> {
    SUITES.into_iter().flat_map(|(suite, key)| {
        GROUPS
            .into_iter()
            .filter(move |g| *g != NamedGroup::X25519MLKEM768 || is_tls13(suite))
            .map(move |g| {
                (
                    suite,
                    key,
                    g,
                    if g == NamedGroup::X25519 {
                        &SIZES[..]
                    } else {
                        &SIZES[..1]
                    },
                )
            })
    })
}

#[test]
fn box_server_native_client_every_suite_and_group() {
    let keys = keystore();
    for (suite, key, group, sizes) in matrix() {
        let mut server = box_server(&server_opts(suite, group, key), keys.clone());
        let mut client = native_client(&client_opts(suite, group), keys.clone());
        exercise(&mut client, &mut server, suite, group, sizes);
    }
}

#[test]
fn box_client_native_server_every_suite_and_group() {
    let keys = keystore();
    for (suite, key, group, sizes) in matrix() {
        let mut server = native_server(&server_opts(suite, group, key), keys.clone());
        let mut client = box_client(&client_opts(suite, group), keys.clone());
        exercise(&mut client, &mut server, suite, group, sizes);
    }
}

#[test]
fn box_to_box_every_key_type() {
    let keys = keystore();
    for key in KEY_TYPES {
        let mut server = box_server(&server_options(key), keys.clone());
        let mut client = box_client(&client_options(), keys.clone());
        handshake(&mut client, &mut server).unwrap();
        let info = client.info().unwrap();
        assert_eq!(info.version, Some(ProtocolVersion::TLSv1_3), "{key}");
        // The server prefers ChaCha20-Poly1305: fastest in wasm.
        assert_eq!(
            info.cipher_suite,
            Some(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256),
            "{key}"
        );
        // Post-quantum hybrid first, by default, on both sides.
        assert_eq!(info.group, Some(NamedGroup::X25519MLKEM768), "{key}");
        assert_eq!(transfer(&mut server, &mut client, b"hello").unwrap(), b"hello");
    }
}

#[test]
fn mutual_tls_both_roles() {
    let keys = keystore();
    let client_identity = tlsbox_core::Identity {
        certificate_chain: chain("client"),
        key: "client".into(),
        schemes: vec![],
    };
    for tls12 in [false, true] {
        let versions = if tls12 { vec![ProtocolVersion::TLSv1_2] } else { vec![] };
        let server = tlsbox_core::ServerOptions {
            client_auth: tlsbox_core::ClientAuth::Required(ca()),
            versions: versions.clone(),
            ..server_options("ecdsa-p256")
        };
        let client = tlsbox_core::ClientOptions {
            identity: Some(client_identity.clone()),
            versions,
            ..client_options()
        };

        let mut s = box_server(&server, keys.clone());
        let mut c = native_client(&client, keys.clone());
        handshake(&mut c, &mut s).unwrap();
        assert_eq!(s.info().unwrap().peer_certificates, chain("client"));

        let mut s = native_server(&server, keys.clone());
        let mut c = box_client(&client, keys.clone());
        handshake(&mut c, &mut s).unwrap();
        assert_eq!(s.info().unwrap().peer_certificates, chain("client"));
    }
}

#[test]
fn required_client_certificate_missing_is_refused() {
    let keys = keystore();
    let server = tlsbox_core::ServerOptions {
        client_auth: tlsbox_core::ClientAuth::Required(ca()),
        ..server_options("ecdsa-p256")
    };
    let mut s = box_server(&server, keys.clone());
    let mut c = native_client(&client_options(), keys);
    let err = handshake(&mut c, &mut s).unwrap_err();
    let tls = err.as_tls().expect("a TLS error");
    assert!(
        matches!(
            tls,
            tlsbox_core::Error::Certificate {
                alert: tlsbox_core::rustls::AlertDescription::CertificateRequired,
                ..
            }
        ),
        "{tls:?}"
    );
}

#[test]
fn alpn_is_negotiated() {
    let keys = keystore();
    let server = tlsbox_core::ServerOptions {
        alpn_protocols: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        ..server_options("ecdsa-p256")
    };
    let client = tlsbox_core::ClientOptions {
        alpn_protocols: vec![b"http/1.1".to_vec()],
        ..client_options()
    };
    let mut s = box_server(&server, keys.clone());
    let mut c = box_client(&client, keys);
    handshake(&mut c, &mut s).unwrap();
    assert_eq!(s.info().unwrap().alpn_protocol.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(c.info().unwrap().alpn_protocol.as_deref(), Some(&b"http/1.1"[..]));
}

#[test]
fn close_notify_both_ways() {
    let keys = keystore();
    let mut s = box_server(&server_options("ecdsa-p256"), keys.clone());
    let mut c = native_client(&client_options(), keys);
    handshake(&mut c, &mut s).unwrap();
    Endpoint::close(&mut c).unwrap();
    flow(&mut c, &mut s).unwrap();
    assert!(s.status().unwrap().peer_closed);
    assert!(s.read(100).unwrap().is_empty());
    s.close().unwrap();
    flow(&mut s, &mut c).unwrap();
    assert!(Endpoint::status(&mut c).unwrap().peer_closed);
    assert_eq!(s.status().unwrap().phase, tlsbox_host::Phase::Closed);
    assert!(matches!(s.write(b"late"), Err(e) if matches!(e.as_tls(), Some(tlsbox_core::Error::InvalidState(_)))));
}
