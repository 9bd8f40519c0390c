//! RFC 7512 `pkcs11:` URIs, as OpenSSL's pkcs11-provider, p11-kit, GnuTLS
//! and stunnel write them:
//! `pkcs11:token=web;object=server;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin`
//!
//! Path attributes select the token and the object; query attributes say
//! how to reach them. Values are percent-decoded. Unknown path attributes
//! are kept out of matching (RFC 7512 §2.3 lets vendors add their own);
//! unknown query attributes are ignored.

use std::fmt;

/// Why a URI was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// It does not start with `pkcs11:`.
    #[error("not a pkcs11: URI")]
    Scheme,
    /// An attribute is not `name=value`.
    #[error("malformed attribute {0:?}")]
    Malformed(String),
    /// A value is not valid percent-encoded text.
    #[error("bad percent-encoding in {0:?}")]
    Encoding(String),
    /// An attribute appears twice.
    #[error("attribute {0:?} given twice")]
    Duplicate(String),
    /// `type=` other than `private`, `public`, `cert`, `secret-key`, `data`.
    #[error("unknown object type {0:?}")]
    ObjectType(String),
    /// `slot-id=` is not a number.
    #[error("slot-id {0:?} is not a number")]
    SlotId(String),
}

/// Object classes a URI can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    /// A private key.
    Private,
    /// A public key.
    Public,
    /// A certificate.
    Cert,
    /// A secret key.
    SecretKey,
    /// A data object.
    Data,
}

/// A parsed `pkcs11:` URI. The PIN, if the URI carries one (`pin-value=`),
/// is not shown by `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token=`: the token label.
    pub token: Option<String>,
    /// `manufacturer=`.
    pub manufacturer: Option<String>,
    /// `model=`.
    pub model: Option<String>,
    /// `serial=`: the token serial number.
    pub serial: Option<String>,
    /// `slot-id=`.
    pub slot_id: Option<u64>,
    /// `object=`: the object label.
    pub object: Option<String>,
    /// `id=`: the object's CKA_ID (bytes).
    pub id: Option<Vec<u8>>,
    /// `type=`.
    pub object_type: Option<ObjectType>,
    /// `module-path=`: the PKCS#11 library.
    pub module_path: Option<String>,
    /// `module-name=`: the library's name without directory or suffix.
    pub module_name: Option<String>,
    /// `pin-source=`: where to read the PIN (`file:/path` or a path).
    pub pin_source: Option<String>,
    /// `pin-value=`: the PIN itself (discouraged; never logged).
    pub pin_value: Option<String>,
}

impl fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Uri")
            .field("token", &self.token)
            .field("serial", &self.serial)
            .field("slot_id", &self.slot_id)
            .field("object", &self.object)
            .field("id", &self.id)
            .field("object_type", &self.object_type)
            .field("module_path", &self.module_path)
            .field("pin_source", &self.pin_source)
            .field("pin_value", &self.pin_value.as_ref().map(|_| "(redacted)"))
            .finish_non_exhaustive()
    }
}

/// Does `s` look like a PKCS#11 URI (rather than a file path)?
pub fn is_pkcs11_uri(s: &str) -> bool {
    s.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("pkcs11:"))
}

fn decode(raw: &str) -> Result<Vec<u8>, UriError> {
    // Reject stray '%' that percent-encoding would pass through unchanged.
    let bytes = raw.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let ok = bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
            if !ok {
                return Err(UriError::Encoding(raw.to_string()));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(percent_encoding::percent_decode_str(raw).collect())
}

fn decode_text(raw: &str) -> Result<String, UriError> {
    String::from_utf8(decode(raw)?).map_err(|_| UriError::Encoding(raw.to_string()))
}

fn set<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), UriError> {
    if slot.is_some() {
        return Err(UriError::Duplicate(name.to_string()));
    }
    *slot = Some(value);
    Ok(())
}

impl std::str::FromStr for Pkcs11Uri {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, UriError> {
        if !is_pkcs11_uri(s) {
            return Err(UriError::Scheme);
        }
        let rest = s.get(7..).unwrap_or_default();
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut uri = Pkcs11Uri::default();
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| UriError::Malformed(attr.to_string()))?;
            match name {
                "token" => set(&mut uri.token, name, decode_text(value)?)?,
                "manufacturer" => set(&mut uri.manufacturer, name, decode_text(value)?)?,
                "model" => set(&mut uri.model, name, decode_text(value)?)?,
                "serial" => set(&mut uri.serial, name, decode_text(value)?)?,
                "object" => set(&mut uri.object, name, decode_text(value)?)?,
                "id" => set(&mut uri.id, name, decode(value)?)?,
                "slot-id" => {
                    let id = decode_text(value)?
                        .parse()
                        .map_err(|_| UriError::SlotId(value.to_string()))?;
                    set(&mut uri.slot_id, name, id)?;
                }
                "type" => {
                    let t = match decode_text(value)?.as_str() {
                        "private" => ObjectType::Private,
                        "public" => ObjectType::Public,
                        "cert" => ObjectType::Cert,
                        "secret-key" => ObjectType::SecretKey,
                        "data" => ObjectType::Data,
                        other => return Err(UriError::ObjectType(other.to_string())),
                    };
                    set(&mut uri.object_type, name, t)?;
                }
                // library-*, slot-manufacturer, slot-description, vendor attributes.
                _ => {}
            }
        }
        for attr in query.split('&').filter(|a| !a.is_empty()) {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| UriError::Malformed(attr.to_string()))?;
            match name {
                "module-path" => set(&mut uri.module_path, name, decode_text(value)?)?,
                "module-name" => set(&mut uri.module_name, name, decode_text(value)?)?,
                "pin-source" => set(&mut uri.pin_source, name, decode_text(value)?)?,
                "pin-value" => set(&mut uri.pin_value, name, decode_text(value)?)?,
                _ => {}
            }
        }
        Ok(uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Pkcs11Uri, UriError> {
        s.parse()
    }

    #[test]
    fn rfc7512_examples() {
        // RFC 7512 §3 examples.
        let u = parse("pkcs11:object=my-pubkey;type=public").unwrap_or_default();
        assert_eq!(u.object.as_deref(), Some("my-pubkey"));
        assert_eq!(u.object_type, Some(ObjectType::Public));

        let u = parse("pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=").unwrap_or_default();
        assert_eq!(u.token.as_deref(), Some("The Software PKCS#11 Softtoken"));
        assert_eq!(u.manufacturer.as_deref(), Some("Snake Oil, Inc."));
        assert_eq!(
            u.id.as_deref(),
            Some(&[0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91][..])
        );
        assert_eq!(u.serial.as_deref(), Some(""));
        assert_eq!(u.object_type, Some(ObjectType::Cert));

        let u =
            parse("pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin")
                .unwrap_or_default();
        assert_eq!(u.pin_value.as_deref(), Some("the-pin"));
        assert!(!format!("{u:?}").contains("the-pin"), "Debug must not show the PIN");

        let u = parse("pkcs11:slot-id=2;object=k?module-path=/usr/lib/libsofthsm2.so&pin-source=file:/etc/token")
            .unwrap_or_default();
        assert_eq!(u.slot_id, Some(2));
        assert_eq!(u.module_path.as_deref(), Some("/usr/lib/libsofthsm2.so"));
        assert_eq!(u.pin_source.as_deref(), Some("file:/etc/token"));
    }

    #[test]
    fn refuses_what_is_not_a_pkcs11_uri() {
        assert_eq!(parse("/etc/key.pem"), Err(UriError::Scheme));
        assert_eq!(parse("pkcs11:object"), Err(UriError::Malformed("object".into())));
        assert_eq!(
            parse("pkcs11:object=a;object=b"),
            Err(UriError::Duplicate("object".into()))
        );
        assert_eq!(parse("pkcs11:id=%zz"), Err(UriError::Encoding("%zz".into())));
        assert_eq!(parse("pkcs11:id=%4"), Err(UriError::Encoding("%4".into())));
        assert_eq!(parse("pkcs11:type=secret"), Err(UriError::ObjectType("secret".into())));
        assert_eq!(parse("pkcs11:slot-id=two"), Err(UriError::SlotId("two".into())));
        assert_eq!(parse("pkcs11:object=%FF"), Err(UriError::Encoding("%FF".into())));
        assert!(is_pkcs11_uri("PKCS11:object=x"));
        assert!(!is_pkcs11_uri("pkcs1"));
    }

    #[test]
    fn empty_and_vendor_attributes() {
        assert_eq!(parse("pkcs11:"), Ok(Pkcs11Uri::default()));
        let u = parse("pkcs11:x-vendor=1;object=k?x-other=2").unwrap_or_default();
        assert_eq!(u.object.as_deref(), Some("k"));
    }
}
