//! The zero-configuration identity: a local CA that signs a certificate for
//! localhost once, then is thrown away (its key is never stored, so nothing
//! can mint more certificates with it). The leaf key is kept, readable by
//! its owner only, and served through the software keystore.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use rand_core::OsRng;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyUsagePurpose, PublicKeyData,
    SanType, SignatureAlgorithm, SigningKey,
};
use signature::Signer;
use tlsbox_host::keystore::pkcs11::tooling;

/// Files of a generated identity.
pub(crate) struct GeneratedIdentity {
    /// The CA certificate to trust (`curl --cacert`).
    pub(crate) ca_cert: PathBuf,
    /// The server's certificate chain.
    pub(crate) cert: PathBuf,
    /// The server's private key.
    pub(crate) key: PathBuf,
}

/// Certificates are renewed when older than this (they last 397 days).
const RENEW_AFTER: Duration = Duration::from_secs(365 * 24 * 3600);
const VALIDITY_DAYS: i64 = 397;

/// The generated identity under `dir`, made on first use or when old.
pub(crate) fn load_or_generate(dir: &Path) -> Result<GeneratedIdentity> {
    let id = GeneratedIdentity {
        ca_cert: dir.join("ca.pem"),
        cert: dir.join("localhost.pem"),
        key: dir.join("localhost.key"),
    };
    let fresh = fs::metadata(&id.cert)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age < RENEW_AFTER);
    if fresh && id.key.exists() && id.ca_cert.exists() {
        return Ok(id);
    }
    generate(dir, &id)?;
    Ok(id)
}

/// A P-256 key as rcgen wants it.
struct P256Key(p256::ecdsa::SigningKey, Vec<u8>);

impl P256Key {
    fn new() -> Result<Self> {
        let key = p256::ecdsa::SigningKey::random(&mut OsRng);
        // rcgen wants the subjectPublicKey bits, i.e. the SEC1 point.
        let point = key.verifying_key().to_encoded_point(false).as_bytes().to_vec();
        Ok(Self(key, point))
    }
}

impl PublicKeyData for P256Key {
    fn der_bytes(&self) -> &[u8] {
        &self.1
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl SigningKey for P256Key {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let sig: p256::ecdsa::DerSignature = self.0.try_sign(msg).map_err(|_| rcgen::Error::RemoteKeyError)?;
        Ok(sig.as_bytes().to_vec())
    }
}

fn generate(dir: &Path, id: &GeneratedIdentity) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let now = time::OffsetDateTime::now_utc();

    let ca_key = P256Key::new()?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name.push(DnType::CommonName, "tlsbox local CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = now - time::Duration::days(1);
    ca.not_after = now + time::Duration::days(VALIDITY_DAYS);
    ca.serial_number = Some(tooling::random_serial());
    let ca_cert = ca.self_signed(&ca_key).context("signing the local CA")?;

    let leaf_key = P256Key::new()?;
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name.push(DnType::CommonName, "localhost");
    leaf.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into().context("SAN")?),
        SanType::IpAddress([127, 0, 0, 1].into()),
        SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()),
    ];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = ca.not_before;
    leaf.not_after = ca.not_after;
    leaf.serial_number = Some(tooling::random_serial());
    let issuer = Issuer::new(ca, &ca_key);
    let leaf_cert = leaf
        .signed_by(&leaf_key, &issuer)
        .context("signing the localhost certificate")?;

    let key_pem = leaf_key.0.to_pkcs8_pem(LineEnding::LF).context("encoding the key")?;
    write_private(&id.key, key_pem.as_bytes())?;
    fs::write(&id.cert, leaf_cert.pem()).with_context(|| format!("writing {}", id.cert.display()))?;
    fs::write(&id.ca_cert, ca_cert.pem()).with_context(|| format!("writing {}", id.ca_cert.display()))?;
    Ok(())
}

/// Write a file only its owner can read, replacing any previous one.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o600))?;
    }
    tmp.write_all(bytes)?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
