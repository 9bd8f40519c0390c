//! PROXY protocol v2: what the encoder writes, the decoder reads back to
//! the same client address; arbitrary bytes from a "load balancer" give an
//! address or a typed error.
#![no_main]

#[path = "../../host/src/proxy_protocol.rs"]
#[allow(dead_code, unreachable_pub)]
mod proxy_protocol;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = proxy_protocol::source_of(data);
    let runtime = tokio::runtime::Builder::new_current_thread().build();
    if let Ok(runtime) = runtime {
        let mut input = data;
        let _ = runtime.block_on(proxy_protocol::read(&mut input));
    }

    // Round trip: addresses and facts taken from the input.
    let Some((head, rest)) = data.split_at_checked(38) else { return };
    let port = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
    let (source, destination) = if head[0] & 1 == 0 {
        let ip = |b: &[u8]| IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]));
        (SocketAddr::new(ip(&head[1..5]), port(&head[5..7])), SocketAddr::new(ip(&head[7..11]), port(&head[11..13])))
    } else {
        let ip = |b: &[u8]| IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap_or_default()));
        (SocketAddr::new(ip(&head[1..17]), port(&head[17..19])), SocketAddr::new(ip(&head[19..35]), port(&head[35..37])))
    };
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.splitn(3, '\n');
    let facts = proxy_protocol::ClientFacts {
        version: parts.next().unwrap_or_default().to_string(),
        server_name: parts.next().map(str::to_string),
        common_name: parts.next().map(str::to_string),
    };
    if let Ok(header) = proxy_protocol::encode(source, destination, &facts) {
        assert_eq!(proxy_protocol::source_of(&header).ok().flatten(), Some(source));
    }
});
