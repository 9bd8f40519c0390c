//! RFC 7512 `pkcs11:` URIs as users type them into --key: any text gives
//! a URI or a typed error, and a URI's Debug form never shows a PIN.
#![no_main]

#[path = "../../host/src/keystore/pkcs11/uri.rs"]
#[allow(dead_code, unreachable_pub)]
mod uri;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = uri::is_pkcs11_uri(text);
    if let Ok(parsed) = text.parse::<uri::Pkcs11Uri>() {
        if parsed.pin_value.is_some() {
            // The Debug form with the PIN is the one without it, but for
            // the redaction marker: no byte of the PIN shows.
            let without = uri::Pkcs11Uri {
                pin_value: None,
                ..parsed.clone()
            };
            // Only the field itself, the last of its kind: a token label
            // may contain the same text (found by this fuzzer).
            let shown = format!("{without:?}");
            let Some((before, after)) = shown.rsplit_once("pin_value: None") else {
                panic!("no pin_value field in {shown}")
            };
            let expected = format!("{before}pin_value: Some(\"(redacted)\"){after}");
            assert_eq!(format!("{parsed:?}"), expected, "Debug shows the PIN");
        }
    }
});
