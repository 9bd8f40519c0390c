//! The one error type of the TLS core, mirrored by the WIT `tls-error`.

use alloc::string::{String, ToString};

use rustls::AlertDescription;

use crate::keystore::KeystoreError;

/// Why a call on a configuration or connection failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer broke the protocol; `alert` was sent.
    #[error("protocol error ({alert:?} sent): {reason}")]
    Protocol {
        /// The fatal alert sent to the peer.
        alert: AlertDescription,
        /// What went wrong (no secrets).
        reason: String,
    },
    /// The peer's certificate was refused; `alert` was sent.
    #[error("certificate refused ({alert:?} sent): {reason}")]
    Certificate {
        /// The fatal alert sent to the peer.
        alert: AlertDescription,
        /// Why the certificate was refused.
        reason: String,
    },
    /// The peer broke the protocol and the connection was closed without
    /// an alert (rustls sends none for some faults).
    #[error("protocol error (no alert sent): {0}")]
    ClosedWithoutAlert(String),
    /// The peer sent a fatal alert.
    #[error("peer sent fatal alert {0:?}")]
    PeerAlert(AlertDescription),
    /// The keystore did not sign.
    #[error("keystore: {0}")]
    Keystore(#[from] KeystoreError),
    /// A configuration was invalid.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The call does not fit the connection's state.
    #[error("invalid state: {0}")]
    InvalidState(String),
    /// The connection failed before; make a new one.
    #[error("the connection has already failed")]
    Failed,
}

impl Error {
    /// Classify a rustls error raised while processing peer data, with the
    /// alert rustls sends for it (mirrors rustls' own choice of alert).
    pub(crate) fn from_rustls(err: &rustls::Error) -> Self {
        use rustls::Error as E;
        let protocol = |alert| Error::Protocol {
            alert,
            reason: err.to_string(),
        };
        match err {
            E::AlertReceived(alert) => Error::PeerAlert(*alert),
            E::InvalidCertificate(cert) => Error::Certificate {
                alert: AlertDescription::from(cert.clone()),
                reason: err.to_string(),
            },
            E::NoCertificatesPresented => Error::Certificate {
                alert: AlertDescription::CertificateRequired,
                reason: err.to_string(),
            },
            E::Other(other) => match other.0.downcast_ref::<KeystoreError>() {
                Some(keystore) => Error::Keystore(keystore.clone()),
                None => protocol(AlertDescription::InternalError),
            },
            E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. } => {
                protocol(AlertDescription::UnexpectedMessage)
            }
            // rustls' own choice per malformation (most are decode_error).
            E::InvalidMessage(m) => protocol(AlertDescription::from(*m)),
            E::DecryptError => protocol(AlertDescription::BadRecordMac),
            E::PeerSentOversizedRecord => protocol(AlertDescription::RecordOverflow),
            E::NoApplicationProtocol => protocol(AlertDescription::NoApplicationProtocol),
            E::PeerIncompatible(rustls::PeerIncompatible::SupportedVersionsExtensionRequired)
            | E::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOffered)
            | E::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOfferedOrEnabled)
            | E::PeerIncompatible(rustls::PeerIncompatible::Tls13RequiredForQuic) => {
                protocol(AlertDescription::ProtocolVersion)
            }
            E::PeerIncompatible(_) => protocol(AlertDescription::HandshakeFailure),
            E::PeerMisbehaved(_) => protocol(AlertDescription::IllegalParameter),
            _ => protocol(AlertDescription::InternalError),
        }
    }
}
