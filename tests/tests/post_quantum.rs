//! X25519MLKEM768 against an independent implementation (rustls with the
//! aws-lc-rs provider, post-quantum preferred), and classical peers still
//! served without a HelloRetryRequest.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::sync::Arc;

use rustls::crypto::aws_lc_rs;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tlsbox_core::rustls::NamedGroup;
use tlsbox_tests::*;

fn aws_provider() -> Arc<rustls::crypto::CryptoProvider> {
    let provider = aws_lc_rs::default_provider();
    // With `prefer-post-quantum`, the hybrid leads aws-lc-rs's own list.
    assert_eq!(
        provider.kx_groups.first().map(|g| g.name()),
        Some(NamedGroup::X25519MLKEM768)
    );
    Arc::new(provider)
}

fn aws_client() -> Native {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca()[0].clone())).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(aws_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let conn = rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap()).unwrap();
    Native(conn.into())
}

fn aws_server() -> Native {
    let chain = chain("ecdsa-p256").into_iter().map(CertificateDer::from).collect();
    let key = PrivateKeyDer::from_pem_file(pki_path("ecdsa-p256.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(aws_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    Native(rustls::ServerConnection::new(Arc::new(config)).unwrap().into())
}

#[test]
fn box_server_and_aws_lc_rs_client_agree_on_x25519mlkem768() {
    let mut server = box_server(&server_options("ecdsa-p256"), keystore());
    let mut client = aws_client();
    handshake(&mut client, &mut server).unwrap();
    assert_eq!(server.session_info().unwrap().group, Some(NamedGroup::X25519MLKEM768));
    assert_eq!(client.info().unwrap().group, Some(NamedGroup::X25519MLKEM768));
    let data = pattern(100_000);
    assert_eq!(transfer(&mut client, &mut server, &data).unwrap(), data);
    assert_eq!(transfer(&mut server, &mut client, &data).unwrap(), data);
}

#[test]
fn box_client_and_aws_lc_rs_server_agree_on_x25519mlkem768() {
    let mut server = aws_server();
    let mut client = box_client(&client_options(), keystore());
    handshake(&mut client, &mut server).unwrap();
    assert_eq!(client.session_info().unwrap().group, Some(NamedGroup::X25519MLKEM768));
    assert_eq!(server.info().unwrap().group, Some(NamedGroup::X25519MLKEM768));
    assert_eq!(
        transfer(&mut server, &mut client, b"post-quantum").unwrap(),
        b"post-quantum"
    );
}

#[test]
fn box_client_sends_an_x25519_share_too_so_classical_servers_need_no_retry() {
    // A classical-only server: it must pick X25519 from the client's first
    // flight (the hybrid's X25519 half), without a HelloRetryRequest.
    let classical = tlsbox_core::ServerOptions {
        groups: vec![NamedGroup::X25519, NamedGroup::secp256r1],
        ..server_options("ecdsa-p256")
    };
    let mut server = native_server(&classical, keystore());
    let mut client = box_client(&client_options(), keystore());
    let first_flight = client.take_ciphertext(64 * 1024).unwrap();
    server.feed_ciphertext(&first_flight).unwrap();
    let reply = server.take_ciphertext(64 * 1024);
    // ServerHello, not HelloRetryRequest: the HRR random is fixed (RFC 8446 §4.1.3).
    const HRR_RANDOM: [u8; 8] = [0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11];
    assert_eq!(reply[0], 0x16);
    assert_eq!(reply[5], 2, "a ServerHello");
    assert_ne!(&reply[11..19], &HRR_RANDOM, "a HelloRetryRequest was needed");
    client.feed_ciphertext(&reply).unwrap();
    handshake(&mut client, &mut server).unwrap();
    assert_eq!(client.session_info().unwrap().group, Some(NamedGroup::X25519));
}

#[test]
fn openssl_3_0_classical_client_gets_x25519_without_a_retry() {
    let server = BoxServer::start(server_options("ecdsa-p256"), keystore());
    let out = s_client(server.port(), &pki_path("ca.pem"), &["-tls1_3", "-msg"], b"hello\n");
    assert!(out.contains("group=Some(X25519)"), "{out}");
    assert_eq!(
        out.matches(", ClientHello").count(),
        1,
        "a HelloRetryRequest happened:\n{out}"
    );
}

/// A client group that sends a malformed X25519MLKEM768 share.
#[derive(Debug)]
struct BadHybridShare(Vec<u8>);

struct BadExchange(Vec<u8>);

impl rustls::crypto::SupportedKxGroup for BadHybridShare {
    fn start(&self) -> Result<Box<dyn rustls::crypto::ActiveKeyExchange>, rustls::Error> {
        Ok(Box::new(BadExchange(self.0.clone())))
    }
    fn name(&self) -> NamedGroup {
        NamedGroup::X25519MLKEM768
    }
}

impl rustls::crypto::ActiveKeyExchange for BadExchange {
    fn complete(self: Box<Self>, _peer: &[u8]) -> Result<rustls::crypto::SharedSecret, rustls::Error> {
        Err(rustls::Error::General("unused".into()))
    }
    fn pub_key(&self) -> &[u8] {
        &self.0
    }
    fn group(&self) -> NamedGroup {
        NamedGroup::X25519MLKEM768
    }
}

#[test]
fn a_malformed_hybrid_share_ends_the_handshake_with_illegal_parameter() {
    // Right length, but every coefficient 0xFFF >= q: FIPS 203's modulus
    // check refuses the encapsulation key. Then: too short; then: a low-order
    // X25519 half.
    let mut low_order = vec![0u8; 1216];
    low_order[..1184].copy_from_slice(&[0u8; 1184]);
    for share in [vec![0xff; 1216], vec![0x01; 100], low_order] {
        let group: &'static BadHybridShare = Box::leak(Box::new(BadHybridShare(share)));
        let provider = rustls::crypto::CryptoProvider {
            kx_groups: vec![group],
            ..tlsbox_core::provider::default_provider()
        };
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(ca()[0].clone())).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let conn = rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap()).unwrap();
        let mut client = Native(conn.into());
        let mut server = box_server(&server_options("ecdsa-p256"), keystore());
        let err = handshake(&mut client, &mut server).unwrap_err();
        assert!(
            matches!(
                err.as_tls(),
                Some(tlsbox_core::Error::Protocol {
                    alert: tlsbox_core::rustls::AlertDescription::IllegalParameter,
                    ..
                })
            ),
            "{err:?}"
        );
    }
}
