//! `--key file.pem`: any bytes give a key or a typed error. A key that
//! loads describes itself and signs a TLS 1.3 CertificateVerify with every
//! scheme it claims.
#![no_main]

// What the software keystore takes from its parent module in the host.
#[allow(unused_imports)]
use tlsbox_core::keystore::{KeyInfo, Keystore, KeystoreError};

#[path = "../../host/src/keystore/software.rs"]
#[allow(dead_code, unreachable_pub)]
mod software;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(key) = software::SoftwareKey::from_pem(data) else { return };
    assert!(key.subject_public_key_info().is_ok());
    let mut message = vec![0x20; 64];
    message.extend_from_slice(b"TLS 1.3, server CertificateVerify\0");
    message.extend_from_slice(&[7; 32]);
    for scheme in key.schemes() {
        assert!(key.sign(scheme, &message).is_ok(), "{scheme:?}");
    }
});
