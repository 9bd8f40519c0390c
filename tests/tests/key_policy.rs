//! The key policy against an independent peer (rustls on aws-lc-rs): the
//! RFC 8446 exporter stays shut unless allowed, and agrees with the peer
//! when it is; KeyUpdate after a byte count keeps data flowing both ways.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::sync::Arc;

use rustls::crypto::aws_lc_rs;
use rustls_pki_types::{CertificateDer, ServerName};
use tlsbox_core::KeyPolicy;
use tlsbox_host::Error;
use tlsbox_tests::*;

fn aws_client() -> Native {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca()[0].clone())).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let conn = rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap()).unwrap();
    Native(conn.into())
}

fn server_with(policy: KeyPolicy) -> tlsbox_host::Connection {
    let mut options = server_options("ecdsa-p256");
    options.key_policy = policy;
    box_server(&options, keystore())
}

#[test]
fn the_exporter_is_shut_unless_the_key_policy_opens_it() {
    let mut server = server_with(KeyPolicy::default());
    let mut client = aws_client();
    handshake(&mut client, &mut server).unwrap();
    let refused = server.export_keying_material(b"EXPORTER-test", None, 32);
    assert!(
        matches!(&refused, Err(Error::Tls(tlsbox_core::Error::InvalidState(why))) if why.contains("key policy")),
        "{refused:?}"
    );

    let mut server = server_with(KeyPolicy {
        allow_exporter: true,
        ..KeyPolicy::default()
    });
    let mut client = aws_client();
    // Not before the handshake is done.
    assert!(server.export_keying_material(b"EXPORTER-test", None, 32).is_err());
    handshake(&mut client, &mut server).unwrap();
    for context in [None, Some(&b"context"[..])] {
        let ours = server.export_keying_material(b"EXPORTER-test", context, 48).unwrap();
        let theirs = client
            .0
            .export_keying_material(vec![0u8; 48], b"EXPORTER-test", context)
            .unwrap();
        assert_eq!(ours, theirs, "context {context:?}");
    }
    // Bounded: the box does not allocate what the host asks for blindly.
    assert!(server.export_keying_material(b"EXPORTER-test", None, 4096).is_err());
    assert!(server.export_keying_material(b"EXPORTER-test", None, 0).is_err());
}

#[test]
fn key_update_after_a_byte_count_keeps_both_directions_flowing() {
    let mut server = server_with(KeyPolicy {
        key_update_after_bytes: 1000,
        ..KeyPolicy::default()
    });
    let mut client = aws_client();
    handshake(&mut client, &mut server).unwrap();
    let data = pattern(100_000);
    // A hundred KeyUpdates each way: rustls answers each and moves on.
    for _ in 0..3 {
        assert_eq!(transfer(&mut server, &mut client, &data).unwrap(), data);
        assert_eq!(transfer(&mut client, &mut server, &data).unwrap(), data);
    }
}
