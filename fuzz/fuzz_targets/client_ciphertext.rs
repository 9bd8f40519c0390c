//! The box's TLS core in the client role: after its ClientHello, whatever
//! the "server" sends is arbitrary.
#![no_main]

mod common;

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use tlsbox_core::{ClientConfig, ClientOptions, Connection, PeerPolicy};

fn config() -> &'static ClientConfig {
    static CONFIG: OnceLock<ClientConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let options = ClientOptions {
            server_name: "localhost".into(),
            trust_anchors: common::certs(common::CA),
            alpn_protocols: vec![b"h2".to_vec()],
            peer_policy: PeerPolicy {
                uris: vec!["spiffe://tlsbox.test/**".into()],
                common_names: vec!["localhost".into()],
                ..Default::default()
            },
            ..Default::default()
        };
        match ClientConfig::new(&options, Arc::new(common::NoSign(common::leaf_spki()))) {
            Ok(c) => c,
            Err(e) => panic!("fuzz setup: {e}"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(mut conn) = Connection::new_client(config()) else {
        return;
    };
    let _client_hello = conn.take_ciphertext(1 << 16);
    let (step, rest) = match data.split_first() {
        Some((s, rest)) => (usize::from(*s).max(1), rest),
        None => return,
    };
    for piece in rest.chunks(step) {
        let fed = conn.feed_ciphertext(piece);
        let _ = conn.take_ciphertext(1 << 16);
        if fed.is_err() {
            break;
        }
        let _ = conn.read_plaintext(1 << 16);
    }
    let _ = conn.status();
});
