//! Containment: a box that overruns its call deadline (stuck in a loop, or
//! waiting on a keystore that does not answer) traps, and that ends its own
//! connection only; boxes are counted, so a leak would show.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use tlsbox_core::keystore::{KeyInfo, Keystore, KeystoreError};
use tlsbox_core::rustls::SignatureScheme;
use tlsbox_host::{Engine, EngineConfig, Error, ServerConfig};
use tlsbox_tests::*;

/// An engine of this test's own, so that its box count is its own.
fn own_engine(call_deadline: Duration) -> Engine {
    Engine::new(EngineConfig {
        max_instances: 128,
        call_deadline,
        ..EngineConfig::default()
    })
    .unwrap()
}

#[test]
fn a_trap_ends_one_connection_while_a_hundred_others_keep_moving() {
    let engine = own_engine(Duration::from_secs(5));
    let keys = keystore();
    let config = ServerConfig::new(&engine, &server_options("ecdsa-p256"), keys.clone()).unwrap();
    assert_eq!(engine.live_boxes(), 0, "the configuration check left a box behind");
    let mut pairs = established_pairs(&engine, &config, &keys, 101);
    assert_eq!(engine.live_boxes(), 101);

    let (mut client, mut victim) = pairs.pop().unwrap();
    victim.expire_deadline_for_tests();
    let err = transfer(&mut client, &mut victim, b"into a stuck box").unwrap_err();
    assert!(matches!(err, Error::Trap(_)), "{err:?}");
    // Poisoned for good: every later call says so, none reaches the box.
    assert!(matches!(victim.status(), Err(Error::Trap(_))));
    assert!(matches!(victim.read_plaintext(10), Err(Error::Trap(_))));

    let data = pattern(32 * 1024);
    for (client, server) in &mut pairs {
        assert_eq!(transfer(client, server, &data).unwrap(), data);
        assert_eq!(transfer(server, client, &data).unwrap(), data);
    }
    drop(victim);
    assert_eq!(engine.live_boxes(), 100);
    drop(pairs);
    assert_eq!(engine.live_boxes(), 0, "boxes leaked");
}

/// Signs, after keeping the box waiting.
struct SlowKeystore {
    inner: Arc<dyn Keystore>,
    delay: Duration,
}

impl Keystore for SlowKeystore {
    fn describe_key(&self, key: &str) -> Result<KeyInfo, KeystoreError> {
        self.inner.describe_key(key)
    }

    fn sign(&self, key: &str, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        std::thread::sleep(self.delay);
        self.inner.sign(key, scheme, message)
    }
}

#[test]
fn a_call_past_its_deadline_traps_and_the_engine_serves_on() {
    let engine = own_engine(Duration::from_millis(100));
    let slow = Arc::new(SlowKeystore {
        inner: keystore(),
        delay: Duration::from_millis(400),
    });
    let config = ServerConfig::new(&engine, &server_options("ecdsa-p256"), slow).unwrap();
    let mut server = engine.new_server(&config).unwrap();
    let mut client = native_client(&client_options(), keystore());
    let err = handshake(&mut client, &mut server).unwrap_err();
    assert!(
        matches!(err, Error::Trap(ref why) if why.contains("interrupt")),
        "{err:?}"
    );
    drop(server);

    // The same engine, a keystore that answers in time: business as usual.
    let config = ServerConfig::new(&engine, &server_options("ecdsa-p256"), keystore()).unwrap();
    let mut server = engine.new_server(&config).unwrap();
    let mut client = native_client(&client_options(), keystore());
    handshake(&mut client, &mut server).unwrap();
    assert_eq!(transfer(&mut client, &mut server, b"on time").unwrap(), b"on time");
    drop(server);
    assert_eq!(engine.live_boxes(), 0);
}

#[test]
fn a_peer_that_never_stops_sending_meets_backpressure_not_memory_growth() {
    let keys = keystore();
    let mut server = box_server(&server_options("ecdsa-p256"), keys.clone());
    let mut client = native_client(&client_options(), keys);
    handshake(&mut client, &mut server).unwrap();
    // The client sends 4 MiB; the application behind the server never reads.
    let chunk = pattern(16 * 1024);
    let mut offered = 0usize;
    let mut taken = 0usize;
    let mut refused = false;
    for _ in 0..256 {
        client.write_plaintext(&chunk).unwrap();
        let records = client.take_ciphertext(1 << 20);
        offered += records.len();
        let n = server.feed_ciphertext(&records).unwrap();
        taken += n;
        if n < records.len() {
            refused = true;
            break;
        }
    }
    assert!(refused, "the box took all {offered} bytes without anyone reading");
    let ready = server.status().unwrap().plaintext_ready;
    assert!(ready <= 32 * 1024, "{ready} bytes of plaintext buffered");
    assert!(taken <= 64 * 1024, "{taken} bytes of ciphertext taken");
}

#[test]
fn records_fed_many_at_a_time_arrive_whole_and_in_order() {
    // After the handshake the box hands rustls all the ciphertext it takes
    // before processing it. Records of many sizes, fed in slices that cut
    // them anywhere and span several, must come out byte for byte, with
    // backpressure (a slice only partly taken) in between.
    let keys = keystore();
    let mut server = box_server(&server_options("ecdsa-p256"), keys.clone());
    let mut client = native_client(&client_options(), keys);
    handshake(&mut client, &mut server).unwrap();
    let data = pattern(300 * 1024 + 7);
    let mut ciphertext = Vec::new();
    let mut written = 0;
    for size in [1, 100, 16 * 1024, 16 * 1024 + 1, 5000, 3 * 16 * 1024 + 7]
        .into_iter()
        .cycle()
    {
        if written == data.len() {
            break;
        }
        let end = data.len().min(written + size);
        while written < end {
            written += client.write_plaintext(&data[written..end]).unwrap();
            ciphertext.extend(client.take_ciphertext(1 << 20));
        }
    }
    let mut received = Vec::with_capacity(data.len());
    let mut fed = 0;
    let mut partial_feeds = 0;
    for slice in [7, 3000, 40 * 1024, 64 * 1024, 16 * 1024 + 22, 1].into_iter().cycle() {
        if fed == ciphertext.len() {
            break;
        }
        let end = ciphertext.len().min(fed + slice);
        let taken = server.feed_ciphertext(&ciphertext[fed..end]).unwrap();
        if fed + taken < end {
            partial_feeds += 1;
        }
        fed += taken;
        let before = received.len();
        loop {
            let plaintext = server.read_plaintext(64 * 1024).unwrap();
            if plaintext.is_empty() {
                break;
            }
            received.extend_from_slice(&plaintext);
        }
        assert!(
            taken > 0 || received.len() > before,
            "stalled at {fed} of {} bytes: nothing taken, nothing to read",
            ciphertext.len()
        );
    }
    assert_eq!(received.len(), data.len());
    assert!(received == data, "the plaintext differs from what was sent");
    assert!(partial_feeds > 0, "no slice met backpressure: the test did not test it");
}

#[test]
fn an_application_that_never_stops_writing_meets_backpressure() {
    let keys = keystore();
    let mut server = box_server(&server_options("ecdsa-p256"), keys.clone());
    let mut client = native_client(&client_options(), keys);
    handshake(&mut client, &mut server).unwrap();
    // The peer never reads: no ciphertext is taken from the box.
    let chunk = pattern(16 * 1024);
    let mut accepted = 0usize;
    for _ in 0..256 {
        let n = server.write_plaintext(&chunk).unwrap();
        accepted += n;
        if n == 0 {
            break;
        }
    }
    assert!(
        accepted <= tlsbox_core::driver::OUTGOING_LIMIT + chunk.len(),
        "{accepted} bytes accepted with nothing sent"
    );
    // Once the peer reads, the connection moves again.
    let records = server.take_ciphertext(1 << 20).unwrap();
    client.feed_ciphertext(&records).unwrap();
    assert!(server.write_plaintext(&chunk).unwrap() > 0);
}
