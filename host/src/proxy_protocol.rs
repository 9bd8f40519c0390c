//! PROXY protocol v2 (HAProxy's spec): a header sent to the target before
//! any plaintext, carrying the client's address and what TLS established
//! about it; and the same header read from a load balancer in front.

use std::net::SocketAddr;

use ppp::v2::{Addresses, Builder, Command, Header, Protocol, Type, Version};
use tokio::io::{AsyncRead, AsyncReadExt};

/// PP2_CLIENT_SSL: the client connected over TLS.
const CLIENT_SSL: u8 = 0x01;
/// PP2_CLIENT_CERT_CONN: the client sent a certificate on this connection.
const CLIENT_CERT_CONN: u8 = 0x02;
/// The 12 bytes every v2 header starts with.
const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The longest header accepted: 16 bytes plus the largest length field.
const MAX_HEADER: usize = 16 + u16::MAX as usize;

/// Why a PROXY header could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum ProxyHeaderError {
    /// The transport failed or ended inside the header.
    #[error("reading the PROXY header: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a PROXY protocol v2 header.
    #[error("not a PROXY protocol v2 header: {0}")]
    Malformed(String),
    /// A TLV value is longer than a header can carry.
    #[error("a PROXY header TLV value of {0} bytes is too long")]
    TooLong(usize),
}

/// What the target learns about a TLS client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientFacts {
    /// `TLSv1.3` or `TLSv1.2`.
    pub version: String,
    /// The SNI name the client asked for.
    pub server_name: Option<String>,
    /// The verified client certificate's subject common name.
    pub common_name: Option<String>,
}

/// A v2 PROXY header for a TCP connection from `source` to `destination`:
/// PP2_TYPE_AUTHORITY carries the SNI name; PP2_TYPE_SSL the TLS version
/// and, when a certificate was verified, its common name (verify = 0).
pub fn encode(source: SocketAddr, destination: SocketAddr, facts: &ClientFacts) -> Result<Vec<u8>, ProxyHeaderError> {
    let addresses: Addresses = match (source, destination) {
        (s @ SocketAddr::V4(_), d @ SocketAddr::V4(_)) | (s @ SocketAddr::V6(_), d @ SocketAddr::V6(_)) => {
            (s, d).into()
        }
        // Mixed families: say nothing rather than something wrong.
        _ => Addresses::Unspecified,
    };
    let mut ssl = vec![
        CLIENT_SSL
            | if facts.common_name.is_some() {
                CLIENT_CERT_CONN
            } else {
                0
            },
    ];
    ssl.extend_from_slice(&0u32.to_be_bytes());
    push_tlv(&mut ssl, Type::SSLVersion.into(), facts.version.as_bytes())?;
    if let Some(cn) = &facts.common_name {
        push_tlv(&mut ssl, Type::SSLCommonName.into(), cn.as_bytes())?;
    }
    let mut builder = Builder::with_addresses(Version::Two | Command::Proxy, Protocol::Stream, addresses);
    if let Some(name) = &facts.server_name {
        check_len(name.len())?;
        builder = builder.write_tlv(Type::Authority, name.as_bytes())?;
    }
    check_len(ssl.len())?;
    Ok(builder.write_tlv(Type::SSL, &ssl)?.build()?)
}

fn check_len(len: usize) -> Result<u16, ProxyHeaderError> {
    u16::try_from(len).map_err(|_| ProxyHeaderError::TooLong(len))
}

fn push_tlv(out: &mut Vec<u8>, kind: u8, value: &[u8]) -> Result<(), ProxyHeaderError> {
    let len = check_len(value.len())?;
    out.push(kind);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

/// Read one v2 header from `io`; the client's address if it carries one
/// (a LOCAL command, e.g. a health check, carries none).
pub async fn read<IO: AsyncRead + Unpin>(io: &mut IO) -> Result<Option<SocketAddr>, ProxyHeaderError> {
    let mut head = [0u8; 16];
    io.read_exact(&mut head).await?;
    // Refuse anything else before trusting its length field.
    if head.get(..12) != Some(SIGNATURE.as_slice()) || head.get(12).is_none_or(|v| v >> 4 != 2) {
        return Err(ProxyHeaderError::Malformed("no v2 signature".into()));
    }
    let [.., hi, lo] = head;
    let length = usize::from(u16::from_be_bytes([hi, lo]));
    let mut header = Vec::with_capacity((16 + length).min(MAX_HEADER));
    header.extend_from_slice(&head);
    header.resize(16 + length, 0);
    if let Some(rest) = header.get_mut(16..) {
        io.read_exact(rest).await?;
    }
    source_of(&header)
}

/// The source address a complete v2 header names.
pub fn source_of(header: &[u8]) -> Result<Option<SocketAddr>, ProxyHeaderError> {
    let parsed = Header::try_from(header).map_err(|e| ProxyHeaderError::Malformed(format!("{e:?}")))?;
    if parsed.command == Command::Local {
        return Ok(None);
    }
    Ok(match parsed.addresses {
        Addresses::IPv4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        Addresses::IPv6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        Addresses::Unix(_) | Addresses::Unspecified => None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip_keeps_the_address_and_the_identity() {
        let facts = ClientFacts {
            version: "TLSv1.3".into(),
            server_name: Some("app.example".into()),
            common_name: Some("client.test".into()),
        };
        for (src, dst) in [("192.0.2.1:5000", "127.0.0.1:80"), ("[2001:db8::1]:5000", "[::1]:80")] {
            let (src, dst): (SocketAddr, SocketAddr) = (src.parse().unwrap(), dst.parse().unwrap());
            let header = encode(src, dst, &facts).unwrap();
            assert_eq!(source_of(&header).unwrap(), Some(src));
            let parsed = Header::try_from(header.as_slice()).unwrap();
            let tlvs: Vec<_> = parsed.tlvs().map(Result::unwrap).collect();
            let ssl = tlvs.iter().find(|t| t.kind == u8::from(Type::SSL)).unwrap();
            assert_eq!(ssl.value.first(), Some(&(CLIENT_SSL | CLIENT_CERT_CONN)));
            assert!(ssl.value.windows(11).any(|w| w == b"client.test"));
            let authority = tlvs.iter().find(|t| t.kind == u8::from(Type::Authority)).unwrap();
            assert_eq!(&*authority.value, b"app.example");
        }
    }

    #[tokio::test]
    async fn reading_stops_at_the_end_of_the_header() {
        let src: SocketAddr = "198.51.100.7:1234".parse().unwrap();
        let mut bytes = encode(src, "127.0.0.1:443".parse().unwrap(), &ClientFacts::default()).unwrap();
        bytes.extend_from_slice(b"\x16\x03\x01");
        let mut io = bytes.as_slice();
        assert_eq!(read(&mut io).await.unwrap(), Some(src));
        assert_eq!(io, b"\x16\x03\x01");
        let mut garbage: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert!(read(&mut garbage).await.is_err());
    }
}
