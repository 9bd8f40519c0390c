//! Key tooling for `tlsbox keys`: list tokens and keys, generate a key pair
//! inside a token (sensitive, never extractable), make a self-signed
//! certificate or a CSR signed by the token key, import a certificate.
//!
//! These are explicit administrator actions (the user gives the PIN on
//! purpose), so they sign certificate contents the TLS keystore would
//! refuse; they never read a private key.

use std::path::Path;

use cryptoki::context::Pkcs11;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, CertificateType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use der::Decode;
use rcgen::{CertificateParams, DnType, PublicKeyData, SanType, SignatureAlgorithm, SigningKey};
use tlsbox_core::rustls::pki_types::CertificateDer;
use tlsbox_core::rustls::SignatureScheme;

use super::mechanism::{self, KeyKind};
use super::module::Module;
use super::{find_slot, login, private_key_template, Pkcs11Error, Pkcs11Uri};

/// Key pairs `tlsbox keys generate` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// RSA, 2048-bit modulus.
    Rsa2048,
    /// RSA, 3072-bit modulus.
    Rsa3072,
    /// ECDSA on P-256.
    EcP256,
    /// ECDSA on P-384.
    EcP384,
    /// Ed25519.
    Ed25519,
}

/// The SubjectPublicKeyInfo of a DER certificate.
pub fn certificate_spki(der: &[u8]) -> Option<Vec<u8>> {
    let der = CertificateDer::from(der);
    let parsed = tlsbox_core::rustls::server::ParsedCertificate::try_from(&der).ok()?;
    Some(parsed.subject_public_key_info().as_ref().to_vec())
}

/// A token listing, for `tlsbox keys list`.
#[derive(Debug, Clone)]
pub struct TokenListing {
    /// Slot number.
    pub slot: u64,
    /// Token label.
    pub label: String,
    /// Token serial number.
    pub serial: String,
    /// Token manufacturer.
    pub manufacturer: String,
    /// Keys and certificates visible (private keys only after login).
    pub objects: Vec<ObjectListing>,
}

/// One object on a token.
#[derive(Debug, Clone)]
pub struct ObjectListing {
    /// `private`, `public` or `cert`.
    pub class: &'static str,
    /// CKA_LABEL.
    pub label: String,
    /// CKA_ID.
    pub id: Vec<u8>,
    /// A `pkcs11:` URI naming it.
    pub uri: String,
}

/// Percent-encode for a URI attribute value.
fn enc(bytes: &[u8]) -> String {
    percent_encoding::percent_encode(bytes, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Every token of `module_path`, with its objects (private keys when a PIN
/// is given and accepted).
///
/// The PIN is tried on one token only: the one labelled `token_label`, or
/// the only token there is. A PIN sprayed over every token would count
/// failed logins (and lock PINs) on tokens it was never meant for.
pub fn list(
    module_path: &Path,
    pin: Option<&AuthPin>,
    token_label: Option<&str>,
) -> Result<Vec<TokenListing>, Pkcs11Error> {
    let ctx = Module::load(module_path)?.ctx().clone();
    let mut out = Vec::new();
    let slots = ctx.get_slots_with_initialized_token()?;
    let only_one = slots.len() == 1;
    for slot in slots {
        let info = ctx.get_token_info(slot)?;
        let label = info.label().trim_end().to_string();
        let session = ctx.open_ro_session(slot)?;
        let ours = token_label.map_or(only_one, |l| l == label);
        if let (Some(pin), true) = (pin, ours) {
            login(&session, pin)?;
        }
        let mut objects = Vec::new();
        for (class, name) in [
            (ObjectClass::PRIVATE_KEY, "private"),
            (ObjectClass::PUBLIC_KEY, "public"),
            (ObjectClass::CERTIFICATE, "cert"),
        ] {
            for handle in session.find_objects(&[Attribute::Class(class)])? {
                let attrs = session.get_attributes(handle, &[AttributeType::Label, AttributeType::Id])?;
                let mut object = ObjectListing {
                    class: name,
                    label: String::new(),
                    id: Vec::new(),
                    uri: String::new(),
                };
                for a in attrs {
                    match a {
                        Attribute::Label(l) => object.label = String::from_utf8_lossy(&l).into_owned(),
                        Attribute::Id(id) => object.id = id,
                        _ => {}
                    }
                }
                object.uri = format!(
                    "pkcs11:token={};object={};id={};type={name}",
                    enc(label.as_bytes()),
                    enc(object.label.as_bytes()),
                    enc(&object.id)
                );
                objects.push(object);
            }
        }
        out.push(TokenListing {
            slot: slot.id(),
            label,
            serial: info.serial_number().trim_end().to_string(),
            manufacturer: info.manufacturer_id().trim_end().to_string(),
            objects,
        });
    }
    Ok(out)
}

/// A read-write, logged-in session on one token, for administration.
pub struct TokenAdmin {
    session: Session,
    slot: Slot,
    ctx: Pkcs11,
}

impl std::fmt::Debug for TokenAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAdmin")
            .field("slot", &self.slot.id())
            .finish_non_exhaustive()
    }
}

impl TokenAdmin {
    /// Open the token `uri` names (token=, serial=, slot-id=) in `module_path`
    /// and log in with `pin`.
    pub fn open(module_path: &Path, uri: &Pkcs11Uri, pin: &AuthPin) -> Result<Self, Pkcs11Error> {
        let ctx = Module::load(module_path)?.ctx().clone();
        let slot = find_slot(&ctx, uri, &format!("{uri:?}"))?;
        let session = ctx.open_rw_session(slot)?;
        login(&session, pin)?;
        Ok(Self { session, slot, ctx })
    }

    /// Generate a key pair inside the token: the private half is a token
    /// object, sensitive, never extractable, for signing only.
    pub fn generate(&self, label: &str, id: &[u8], algorithm: KeyAlgorithm) -> Result<(), Pkcs11Error> {
        let common = |class| {
            vec![
                Attribute::Class(class),
                Attribute::Token(true),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(id.to_vec()),
            ]
        };
        let mut public = common(ObjectClass::PUBLIC_KEY);
        public.push(Attribute::Verify(true));
        let mut private = common(ObjectClass::PRIVATE_KEY);
        private.extend([
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
        ]);
        let (mechanism, kind) = match algorithm {
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 => {
                let bits: u64 = if algorithm == KeyAlgorithm::Rsa2048 { 2048 } else { 3072 };
                public.push(Attribute::ModulusBits(bits.into()));
                public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
                (Mechanism::RsaPkcsKeyPairGen, KeyKind::Rsa)
            }
            KeyAlgorithm::EcP256 => (Mechanism::EccKeyPairGen, KeyKind::EcP256),
            KeyAlgorithm::EcP384 => (Mechanism::EccKeyPairGen, KeyKind::EcP384),
            KeyAlgorithm::Ed25519 => (Mechanism::EccEdwardsKeyPairGen, KeyKind::Ed25519),
        };
        if let Some(params) = mechanism::ec_params(kind) {
            public.push(Attribute::EcParams(params.to_vec()));
        }
        self.session.generate_key_pair(&mechanism, &public, &private)?;
        Ok(())
    }

    fn private_key(&self, uri: &Pkcs11Uri) -> Result<(ObjectHandle, KeyKind, Vec<u8>), Pkcs11Error> {
        let template = private_key_template(uri);
        let shown = format!("{uri:?}");
        let handle = match self.session.find_objects(&template)?.as_slice() {
            [h] => *h,
            [] => return Err(Pkcs11Error::NoKey(shown)),
            _ => return Err(Pkcs11Error::AmbiguousKey(shown)),
        };
        let super::Described { kind, spki, .. } = super::describe(&self.session, handle, &template)?;
        let spki =
            spki.ok_or_else(|| Pkcs11Error::UnsupportedKey(format!("no public key on the token for {shown}")))?;
        Ok((handle, kind, spki))
    }

    fn signer(&self, uri: &Pkcs11Uri) -> Result<TokenSigner<'_>, Pkcs11Error> {
        let (handle, kind, spki) = self.private_key(uri)?;
        let public_key = spki::SubjectPublicKeyInfoRef::from_der(&spki)
            .map_err(|e| Pkcs11Error::UnsupportedKey(format!("public key: {e}")))?
            .subject_public_key
            .raw_bytes()
            .to_vec();
        let (algorithm, scheme): (&'static SignatureAlgorithm, _) = match kind {
            KeyKind::Rsa => (&rcgen::PKCS_RSA_SHA256, SignatureScheme::RSA_PKCS1_SHA256),
            KeyKind::EcP256 => (&rcgen::PKCS_ECDSA_P256_SHA256, SignatureScheme::ECDSA_NISTP256_SHA256),
            KeyKind::EcP384 => (&rcgen::PKCS_ECDSA_P384_SHA384, SignatureScheme::ECDSA_NISTP384_SHA384),
            KeyKind::Ed25519 => (&rcgen::PKCS_ED25519, SignatureScheme::ED25519),
        };
        Ok(TokenSigner {
            session: &self.session,
            handle,
            kind,
            public_key,
            algorithm,
            scheme,
        })
    }

    /// A self-signed certificate for `names` (DNS names or IP addresses),
    /// signed inside the token by the key `uri` names. PEM.
    pub fn self_signed(&self, uri: &Pkcs11Uri, names: &[String], days: i64) -> Result<String, Pkcs11Error> {
        let signer = self.signer(uri)?;
        let mut params = subject_params(names)?;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(days);
        params.serial_number = Some(random_serial());
        let cert = params
            .self_signed(&signer)
            .map_err(|e| Pkcs11Error::UnsupportedKey(format!("certificate: {e}")))?;
        Ok(cert.pem())
    }

    /// A certificate signing request for `names`, signed by the token key. PEM.
    pub fn csr(&self, uri: &Pkcs11Uri, names: &[String]) -> Result<String, Pkcs11Error> {
        let signer = self.signer(uri)?;
        let params = subject_params(names)?;
        let csr = params
            .serialize_request(&signer)
            .map_err(|e| Pkcs11Error::UnsupportedKey(format!("CSR: {e}")))?;
        csr.pem().map_err(|e| Pkcs11Error::UnsupportedKey(format!("CSR: {e}")))
    }

    /// Store a DER certificate on the token, with the key's label and id.
    pub fn import_certificate(&self, der: &[u8], label: &str, id: &[u8]) -> Result<(), Pkcs11Error> {
        let cert = CertificateDer::from(der);
        tlsbox_core::rustls::server::ParsedCertificate::try_from(&cert)
            .map_err(|e| Pkcs11Error::UnsupportedKey(format!("not a certificate: {e}")))?;
        let subject = x509_subject(der).unwrap_or_default();
        self.session.create_object(&[
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::CertificateType(CertificateType::X_509),
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
            Attribute::Subject(subject),
            Attribute::Value(der.to_vec()),
        ])?;
        Ok(())
    }

    /// The module context, for callers that list mechanisms.
    pub fn mechanisms(&self) -> Result<Vec<cryptoki::mechanism::MechanismType>, Pkcs11Error> {
        Ok(self.ctx.get_mechanism_list(self.slot)?)
    }
}

/// The DER subject Name of a certificate.
fn x509_subject(der: &[u8]) -> Option<Vec<u8>> {
    use der::Encode;
    let cert = x509_cert_min::Certificate::from_der(der).ok()?;
    cert.tbs.subject.to_der().ok()
}

/// Just enough of X.509 to reach the subject: the fields before it.
mod x509_cert_min {
    use der::asn1::{AnyRef, BitStringRef};
    use der::Sequence;

    #[derive(Sequence)]
    pub(super) struct Certificate<'a> {
        pub(super) tbs: Tbs<'a>,
        pub(super) algorithm: AnyRef<'a>,
        pub(super) signature: BitStringRef<'a>,
    }

    #[derive(Sequence)]
    pub(super) struct Tbs<'a> {
        #[asn1(context_specific = "0", optional = "true")]
        pub(super) version: Option<AnyRef<'a>>,
        pub(super) serial: AnyRef<'a>,
        pub(super) signature: AnyRef<'a>,
        pub(super) issuer: AnyRef<'a>,
        pub(super) validity: AnyRef<'a>,
        pub(super) subject: AnyRef<'a>,
        pub(super) spki: AnyRef<'a>,
        #[asn1(context_specific = "1", optional = "true", tag_mode = "IMPLICIT")]
        pub(super) issuer_unique_id: Option<BitStringRef<'a>>,
        #[asn1(context_specific = "2", optional = "true", tag_mode = "IMPLICIT")]
        pub(super) subject_unique_id: Option<BitStringRef<'a>>,
        #[asn1(context_specific = "3", optional = "true")]
        pub(super) extensions: Option<AnyRef<'a>>,
    }
}

/// A positive 128-bit random certificate serial (RFC 5280 §4.1.2.2).
pub fn random_serial() -> rcgen::SerialNumber {
    let mut serial = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut serial);
    serial[0] &= 0x7f;
    rcgen::SerialNumber::from_slice(&serial)
}

/// Subject and subject alternative names for `names`.
fn subject_params(names: &[String]) -> Result<CertificateParams, Pkcs11Error> {
    let bad = |e: rcgen::Error| Pkcs11Error::UnsupportedKey(format!("certificate names: {e}"));
    let mut params = CertificateParams::default();
    let first = names.first().cloned().unwrap_or_else(|| "localhost".into());
    params.distinguished_name.push(DnType::CommonName, first);
    for name in names {
        params.subject_alt_names.push(match name.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(name.clone().try_into().map_err(bad)?),
        });
    }
    Ok(params)
}

/// rcgen's view of a token key.
struct TokenSigner<'a> {
    session: &'a Session,
    handle: ObjectHandle,
    kind: KeyKind,
    public_key: Vec<u8>,
    algorithm: &'static SignatureAlgorithm,
    scheme: SignatureScheme,
}

impl PublicKeyData for TokenSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.public_key
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.algorithm
    }
}

impl SigningKey for TokenSigner<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let plan = mechanism::plan(self.kind, self.scheme, msg).ok_or(rcgen::Error::RemoteKeyError)?;
        let raw = self
            .session
            .sign(&plan.mechanism, self.handle, &plan.input)
            .map_err(|_| rcgen::Error::RemoteKeyError)?;
        match plan.der_ecdsa {
            Some(kind) => mechanism::ecdsa_der(kind, &raw).ok_or(rcgen::Error::RemoteKeyError),
            None => Ok(raw),
        }
    }
}
