//! The host side of the WIT contract, generated from `wit/`.

mod generated {
    wasmtime::component::bindgen!({
        world: "tlsbox",
        path: "../wit",
    });
}

pub(crate) use generated::exports::tlsbox::tls::tls;
pub(crate) use generated::tlsbox::tls::{keystore, types};
pub(crate) use generated::{Tlsbox, TlsboxPre};
