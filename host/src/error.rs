//! The host library's error type.

/// Why a host call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The TLS endpoint in the box reported an error (alert, certificate,
    /// keystore, configuration…).
    #[error(transparent)]
    Tls(#[from] tlsbox_core::Error),
    /// The box trapped (a guest bug or an exhausted limit). Only this
    /// connection ended; the engine and other connections are unaffected.
    #[error("the box trapped; connection ended: {0}")]
    Trap(String),
    /// The engine could not be set up (compilation, limits, cache).
    #[error("engine: {0}")]
    Engine(String),
    /// The transport failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    pub(crate) fn engine(err: impl std::fmt::Display) -> Self {
        Error::Engine(err.to_string())
    }

    /// The TLS error, if this is one.
    pub fn as_tls(&self) -> Option<&tlsbox_core::Error> {
        match self {
            Error::Tls(e) => Some(e),
            _ => None,
        }
    }
}

impl From<Error> for std::io::Error {
    fn from(err: Error) -> Self {
        match err {
            Error::Io(io) => io,
            other => std::io::Error::other(other),
        }
    }
}
