//! The box's TLS core in the server role, fed arbitrary bytes from the
//! network in arbitrary pieces: it must answer with an error (and an
//! alert), never panic, and never buffer without bound.
#![no_main]

mod common;

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use tlsbox_core::{ClientAuth, Connection, Identity, ServerConfig, ServerOptions};

fn config() -> &'static ServerConfig {
    static CONFIG: OnceLock<ServerConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let options = ServerOptions {
            identity: Identity {
                certificate_chain: common::certs(common::LEAF),
                key: "leaf".into(),
                schemes: vec![],
            },
            alpn_protocols: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            client_auth: ClientAuth::Optional(common::certs(common::CA)),
            ..Default::default()
        };
        match ServerConfig::new(&options, Arc::new(common::NoSign(common::leaf_spki()))) {
            Ok(c) => c,
            Err(e) => panic!("fuzz setup: {e}"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(mut conn) = Connection::new_server(config()) else {
        return;
    };
    // The first byte picks the piece size: records split anywhere.
    let (step, rest) = match data.split_first() {
        Some((s, rest)) => (usize::from(*s).max(1), rest),
        None => return,
    };
    for piece in rest.chunks(step) {
        match conn.feed_ciphertext(piece) {
            Ok(_) => {
                let _ = conn.take_ciphertext(1 << 16);
                let _ = conn.read_plaintext(1 << 16);
            }
            Err(_) => {
                // The alert the box queued goes out; then the connection is done.
                let _ = conn.take_ciphertext(1 << 16);
                assert!(conn.feed_ciphertext(piece).is_err());
                break;
            }
        }
    }
    let _ = conn.status();
    let _ = conn.session_info();
});
