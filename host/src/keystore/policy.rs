//! What the keystore agrees to sign (DESIGN.md invariant 3): only content
//! shaped like a TLS handshake signature, so that a compromised box cannot
//! use the identity key as a general signing oracle.
/// RFC 8446 §4.4.3: 64 spaces, a context string, a zero byte, a hash.
const TLS13_PAD: [u8; 64] = [0x20; 64];
const TLS13_SERVER_CONTEXT: &[u8] = b"TLS 1.3, server CertificateVerify";
const TLS13_CLIENT_CONTEXT: &[u8] = b"TLS 1.3, client CertificateVerify";
/// Largest TLS 1.2 client CertificateVerify content (the handshake so far,
/// certificates included) we sign.
const MAX_TLS12_TRANSCRIPT: usize = 256 * 1024;

/// Accept `message` if it is one of:
/// - a TLS 1.3 CertificateVerify content (server or client) with a
///   SHA-256 or SHA-384 transcript hash;
/// - a TLS 1.2 ServerKeyExchange content: client random, server random and
///   ECDHE parameters (named curve, one public point), nothing more;
/// - a TLS 1.2 client CertificateVerify content: the handshake messages,
///   which start with the ClientHello.
pub fn check_message(message: &[u8]) -> Result<(), &'static str> {
    if is_tls13_certificate_verify(message) {
        return Ok(());
    }
    if is_tls12_server_key_exchange(message) || is_tls12_client_transcript(message) {
        return Ok(());
    }
    Err("message is not a TLS CertificateVerify or ServerKeyExchange content")
}

fn is_tls13_certificate_verify(m: &[u8]) -> bool {
    let Some(rest) = m.strip_prefix(&TLS13_PAD[..]) else {
        return false;
    };
    let Some(rest) = rest
        .strip_prefix(TLS13_SERVER_CONTEXT)
        .or_else(|| rest.strip_prefix(TLS13_CLIENT_CONTEXT))
    else {
        return false;
    };
    let Some(hash) = rest.strip_prefix(&[0u8]) else {
        return false;
    };
    matches!(hash.len(), 32 | 48)
}

fn is_tls12_server_key_exchange(m: &[u8]) -> bool {
    // client_random(32) ‖ server_random(32) ‖ ECParameters: curve_type
    // named_curve(3) ‖ NamedCurve(2) ‖ ECPoint: length(1) ‖ point.
    let Some(params) = m.get(64..) else { return false };
    match params {
        [3, _, _, len, point @ ..] => !point.is_empty() && point.len() == usize::from(*len),
        _ => false,
    }
}

fn is_tls12_client_transcript(m: &[u8]) -> bool {
    // The first handshake message is a ClientHello (type 1) whose 24-bit
    // length fits within the transcript.
    match m {
        [1, a, b, c, rest @ ..] => {
            let len = (usize::from(*a) << 16) | (usize::from(*b) << 8) | usize::from(*c);
            m.len() <= MAX_TLS12_TRANSCRIPT && len <= rest.len() && len >= 38
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_tls13_certificate_verify() {
        let mut m = TLS13_PAD.to_vec();
        m.extend_from_slice(TLS13_SERVER_CONTEXT);
        m.push(0);
        m.extend_from_slice(&[7u8; 32]);
        assert!(check_message(&m).is_ok());
        m.push(1);
        assert!(check_message(&m).is_err());
    }

    #[test]
    fn accepts_tls12_server_key_exchange() {
        let mut m = vec![9u8; 64];
        m.extend_from_slice(&[3, 0, 23, 65]);
        m.extend_from_slice(&[4u8; 65]);
        assert!(check_message(&m).is_ok());
        m.push(0);
        assert!(check_message(&m).is_err());
    }

    #[test]
    fn refuses_arbitrary_messages() {
        for m in [
            &b""[..],
            b"sign this, please",
            &[0u8; 200][..],
            &[0x20u8; 64 + 34 + 32][..],
        ] {
            assert!(check_message(m).is_err());
        }
    }
}
