//! The box's own primitives (`tlsbox-crypto`), checked where their SIMD128
//! code runs: inside wasm. The native unit tests run the same checks on the
//! portable fallback; this runs them on the `v128` code the box ships, and
//! the curves' known answers on both flavours' field arithmetic.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod guest_command;

use guest_command::GuestCommand;

#[test]
fn simd128_primitives_match_the_published_vectors_and_rustcrypto_inside_wasm() {
    // Both builds of the box: the one the host embeds (wide arithmetic,
    // curve25519-dalek's 64-bit backend) and the portable one the JS and
    // Python bindings load.
    for (flavour, command) in [
        ("embedded", GuestCommand::load()),
        ("portable", GuestCommand::load_portable()),
    ] {
        let out = command.unwrap().run(&["check", "300"]).unwrap();
        // `ok <vectors> <random cases>`
        let fields: Vec<&str> = out.trim().split('\t').collect();
        assert_eq!(fields.first(), Some(&"ok"), "{flavour}: {out}");
        assert_eq!(fields.get(1), Some(&"674"), "{flavour}: {out}");
        assert_eq!(fields.get(2), Some(&"1800"), "{flavour}: {out}");
    }
}
