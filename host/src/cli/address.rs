//! Where to listen or connect: `HOST:PORT` or `unix:PATH`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{bail, Context, Result};

/// A TCP or UNIX-socket address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Address {
    /// `HOST:PORT`; HOST may be a name, resolved when used.
    Tcp(String),
    /// `unix:PATH`.
    Unix(PathBuf),
}

impl FromStr for Address {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("unix: needs a path".into());
            }
            return Ok(Self::Unix(path.into()));
        }
        match s.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(Self::Tcp(s.into())),
            _ => Err(format!("{s:?}: expected HOST:PORT or unix:PATH")),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(a) => f.write_str(a),
            Self::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

impl Address {
    /// Every address the name resolves to (TCP only).
    pub(crate) async fn resolve(&self) -> Result<Vec<SocketAddr>> {
        match self {
            Self::Tcp(a) => {
                let found: Vec<SocketAddr> = tokio::net::lookup_host(a.as_str())
                    .await
                    .with_context(|| format!("resolving {a}"))?
                    .collect();
                if found.is_empty() {
                    bail!("{a} resolves to no address");
                }
                Ok(found)
            }
            Self::Unix(_) => Ok(vec![]),
        }
    }

    /// A UNIX socket, or a name whose every address is loopback: traffic
    /// that never leaves the machine.
    pub(crate) async fn is_local(&self) -> Result<bool> {
        Ok(self.resolve().await?.iter().all(|a| a.ip().is_loopback()))
    }

    /// The host part of `HOST:PORT` (brackets of IPv6 removed).
    pub(crate) fn host(&self) -> Option<&str> {
        match self {
            Self::Tcp(a) => a
                .rsplit_once(':')
                .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']')),
            Self::Unix(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tcp_and_unix() {
        assert_eq!("127.0.0.1:80".parse(), Ok(Address::Tcp("127.0.0.1:80".into())));
        assert_eq!("unix:/run/a.sock".parse(), Ok(Address::Unix("/run/a.sock".into())));
        assert_eq!(
            "[::1]:443"
                .parse::<Address>()
                .ok()
                .and_then(|a| a.host().map(String::from)),
            Some("::1".into())
        );
        for bad in ["", "unix:", "localhost", "host:port", ":80", "host:99999"] {
            assert!(bad.parse::<Address>().is_err(), "{bad}");
        }
    }
}
