//! The tokio adapter: large transfers both ways with backpressure, clean
//! close, and truncation detected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use tlsbox_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn pair(
    transport_size: usize,
) -> (
    tlsbox_host::stream::TlsStream<tokio::io::DuplexStream>,
    tlsbox_host::stream::TlsStream<tokio::io::DuplexStream>,
) {
    let (a, b) = tokio::io::duplex(transport_size);
    let keys = keystore();
    let server_config = tlsbox_host::ServerConfig::new(engine(), &server_options("ecdsa-p256"), keys.clone()).unwrap();
    let client_config = tlsbox_host::ClientConfig::new(engine(), &client_options(), keys).unwrap();
    let (server, client) = tokio::join!(
        tlsbox_host::stream::accept(engine(), &server_config, a),
        tlsbox_host::stream::connect(engine(), &client_config, b)
    );
    (server.unwrap(), client.unwrap())
}

#[tokio::test]
async fn four_mebibytes_each_way_through_a_narrow_transport() {
    // A 4 KiB transport: every write waits for the other side to read.
    let (mut server, client) = pair(4096).await;
    let data = pattern(4 << 20);
    let expected = data.clone();
    // The client writes and reads at once, as a real echo client must.
    let writer = tokio::spawn(async move {
        let (mut from_server, mut to_server) = tokio::io::split(client);
        let send = async move {
            to_server.write_all(&data).await.unwrap();
            to_server.shutdown().await.unwrap();
        };
        let receive = async move {
            let mut back = Vec::new();
            from_server.read_to_end(&mut back).await.unwrap();
            back
        };
        tokio::join!(send, receive).1
    });
    // Echo everything back, then close.
    let mut received = Vec::new();
    let mut buf = vec![0u8; 10_000];
    loop {
        let n = server.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buf[..n]);
        server.write_all(&buf[..n]).await.unwrap();
    }
    server.shutdown().await.unwrap();
    assert!(
        received == expected,
        "server received {} bytes, not the data sent",
        received.len()
    );
    let back = writer.await.unwrap();
    assert!(
        back == expected,
        "client got {} bytes back, not the data sent",
        back.len()
    );
}

#[tokio::test]
async fn truncation_without_close_notify_is_an_error() {
    let keys = keystore();
    let config = tlsbox_host::ServerConfig::new(engine(), &server_options("ecdsa-p256"), keys).unwrap();
    let (a, b) = tokio::io::duplex(64 * 1024);
    let (server, client) = tokio::join!(tlsbox_host::stream::accept(engine(), &config, a), async move {
        // A native client over the other end, driven by hand.
        let mut client = native_client(&client_options(), keystore());
        let mut b = b;
        let mut buf = vec![0u8; 64 * 1024];
        while client.status().phase == tlsbox_host::Phase::Handshaking {
            let out = client.take_ciphertext(64 * 1024);
            b.write_all(&out).await.unwrap();
            let n = b.read(&mut buf).await.unwrap();
            client.feed_ciphertext(&buf[..n]).unwrap();
        }
        b.write_all(&client.take_ciphertext(64 * 1024)).await.unwrap();
        client.write_plaintext(b"partial").unwrap();
        b.write_all(&client.take_ciphertext(64 * 1024)).await.unwrap();
        b // dropped by the caller: the transport closes, no close_notify
    });
    let mut server = server.unwrap();
    drop(client);
    let mut got = Vec::new();
    let err = server.read_to_end(&mut got).await.unwrap_err();
    assert_eq!(got, b"partial");
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
}

#[tokio::test]
async fn handshake_failure_reaches_the_caller_as_a_typed_error() {
    let keys = keystore();
    let config = tlsbox_host::ServerConfig::new(engine(), &server_options("ecdsa-p256"), keys).unwrap();
    let (a, mut b) = tokio::io::duplex(64 * 1024);
    b.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").await.unwrap();
    let err = tlsbox_host::stream::accept(engine(), &config, a).await.unwrap_err();
    assert!(
        matches!(err.as_tls(), Some(tlsbox_core::Error::Protocol { .. })),
        "{err:?}"
    );
    // The alert went out on the transport.
    let mut alert = [0u8; 7];
    b.read_exact(&mut alert).await.unwrap();
    assert_eq!(alert[0], 0x15, "{alert:?}");
}
