//! The allow-list rules judging an arbitrary "certificate": a verdict,
//! never a panic (the verifier runs them only on verified chains, but the
//! parser must not care).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlsbox_core::PeerPolicy;

fuzz_target!(|data: &[u8]| {
    let policy = PeerPolicy {
        common_names: vec!["client.test".into()],
        organizational_units: vec!["tests".into()],
        dns_names: vec!["client.test".into()],
        uris: vec!["spiffe://tlsbox.test/ns/*/sa/**".into()],
        spki_sha256: vec![vec![0; 32]],
    };
    let _ = policy.evaluate(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some((pattern, uri)) = text.split_once('\n') {
            let _ = tlsbox_core::peer_policy::uri_matches(pattern, uri);
        }
    }
});
