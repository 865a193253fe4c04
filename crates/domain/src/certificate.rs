//! TLS certificates: reading a PEM certificate chain and private key, checking that they belong
//! together, and sealing the private key for storage.
//!
//! x509-parser reads the certificate's fields; rustls on *ring* reads PEM sections, loads the
//! private key and compares its public half with the certificate's (no OpenSSL). Private keys
//! are sealed with ChaCha20-Poly1305 under a key derived by HKDF-SHA256 from a secret of the
//! settings, the common name being the associated data, so a sealed key opens only for the
//! certificate it was stored with. Nothing here does I/O besides drawing random nonces.

use std::fmt;

use base64::Engine as _;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use rustls::crypto::ring::default_provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::error::Error;

/// A stored certificate. The private key is sealed and never leaves the platform except to
/// the router ([`TlsCertificate`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Certificate {
    /// Integer identity, assigned by the store.
    pub id: i64,
    /// The host name (or `*.` wildcard) the certificate is served for; unique.
    pub common_name: String,
    /// Username of the user who stored it.
    pub owner: String,
    /// The certificate chain as PEM `CERTIFICATE` sections, the end-entity certificate first.
    pub chain: String,
    /// The private key, sealed (see [`SealingKey`]).
    pub sealed_key: String,
    /// When the end-entity certificate stops being valid.
    pub expires: OffsetDateTime,
    /// Creation time.
    pub created: OffsetDateTime,
    /// Last change.
    pub updated: OffsetDateTime,
}

/// A certificate to store; the store assigns its id.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCertificate {
    /// The host name (or `*.` wildcard) the certificate is served for.
    pub common_name: String,
    /// Username of the user storing it.
    pub owner: String,
    /// PEM chain, end-entity certificate first.
    pub chain: String,
    /// The sealed private key.
    pub sealed_key: String,
    /// When the end-entity certificate stops being valid.
    pub expires: OffsetDateTime,
    /// Creation time.
    pub created: OffsetDateTime,
}

/// What the router serves over HTTPS: a chain and its private key, for some host names.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsCertificate {
    /// Host names to serve it for, lowercase; a name may be a `*.` wildcard.
    pub names: Vec<String>,
    /// PEM `CERTIFICATE` sections, end-entity certificate first.
    pub chain_pem: String,
    /// The private key as PEM (PKCS#8, PKCS#1 RSA or SEC1 EC, as it was stored).
    pub key_pem: String,
}

impl fmt::Debug for TlsCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsCertificate")
            .field("names", &self.names)
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// A certificate chain and private key that were checked to belong together.
#[derive(Clone)]
pub struct Inspected {
    /// The end-entity certificate's subject common name, lowercase, if it has one.
    pub subject_cn: Option<String>,
    /// Host names the certificate covers: its common name and DNS alternative names, lowercase.
    pub names: Vec<String>,
    /// When the end-entity certificate stops being valid.
    pub expires: OffsetDateTime,
    /// The chain re-encoded as PEM `CERTIFICATE` sections (anything else sent is dropped).
    pub chain_pem: String,
    /// The private key re-encoded as PEM.
    pub key_pem: String,
}

impl fmt::Debug for Inspected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inspected")
            .field("subject_cn", &self.subject_cn)
            .field("names", &self.names)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Reads a PEM certificate chain (end-entity first) and a PEM private key, and checks that the
/// key is the certificate's. Errors name the field (`certificate` or `key`) and never echo
/// what was sent.
pub fn inspect(certificate: &str, key: &str) -> Result<Inspected, Error> {
    let unreadable = || {
        Error::field(
            "certificate",
            "Could not read a PEM certificate (-----BEGIN CERTIFICATE-----)",
        )
    };
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(certificate.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|_| unreadable())?;
    let Some(leaf_der) = chain.first() else {
        return Err(unreadable());
    };
    for der in &chain {
        X509Certificate::from_der(der).map_err(|e| {
            Error::field(
                "certificate",
                format!("Could not parse the certificate: {e}"),
            )
        })?;
    }
    let (_, leaf) = X509Certificate::from_der(leaf_der).map_err(|e| {
        Error::field(
            "certificate",
            format!("Could not parse the certificate: {e}"),
        )
    })?;
    let key_der = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|_| {
        Error::field(
            "key",
            "Could not read a PEM private key (PKCS#8, RSA or EC PRIVATE KEY)",
        )
    })?;
    let (label, key_bytes) = match &key_der {
        PrivateKeyDer::Pkcs1(k) => ("RSA PRIVATE KEY", k.secret_pkcs1_der().to_vec()),
        PrivateKeyDer::Sec1(k) => ("EC PRIVATE KEY", k.secret_sec1_der().to_vec()),
        PrivateKeyDer::Pkcs8(k) => ("PRIVATE KEY", k.secret_pkcs8_der().to_vec()),
        _ => {
            return Err(Error::field("key", "Unsupported private key format"));
        }
    };
    let signing_key = default_provider()
        .key_provider
        .load_private_key(key_der)
        .map_err(|_| {
            Error::field(
                "key",
                "Unsupported or malformed private key (RSA, ECDSA P-256/P-384 or Ed25519)",
            )
        })?;
    CertifiedKey::new(chain.clone(), signing_key)
        .keys_match()
        .map_err(|_| Error::field("key", "The private key does not match the certificate"))?;
    let subject_cn = leaf
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_ascii_lowercase);
    let mut names: Vec<String> = subject_cn.iter().cloned().collect();
    if let Ok(Some(san)) = leaf.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(dns) = name {
                let dns = dns.to_ascii_lowercase();
                if !names.contains(&dns) {
                    names.push(dns);
                }
            }
        }
    }
    let chain_pem = chain.iter().map(|der| pem("CERTIFICATE", der)).collect();
    Ok(Inspected {
        subject_cn,
        names,
        expires: leaf.validity().not_after.to_datetime(),
        chain_pem,
        key_pem: pem(label, &key_bytes),
    })
}

/// Whether a certificate valid for `names` (which may hold `*.` wildcards) is valid for
/// `name` (itself possibly a wildcard, which only the same wildcard covers).
pub fn covers(names: &[String], name: &str) -> bool {
    names.iter().any(|pattern| {
        pattern == name
            || pattern.strip_prefix("*.").is_some_and(|parent| {
                name.split_once('.').is_some_and(|(label, rest)| {
                    label != "*" && !label.is_empty() && rest == parent
                })
            })
    })
}

/// Why sealing or opening a private key failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SealError {
    /// The key could not be derived from the secret.
    #[error("could not derive the sealing key")]
    Derive,
    /// The system's random source failed.
    #[error("could not seal the private key")]
    Seal,
    /// The sealed text is damaged or was sealed under another key.
    #[error(
        "the sealed private key does not open with this key (did cert_key or secret_key change?)"
    )]
    Open,
}

/// The symmetric key that seals private keys at rest (ChaCha20-Poly1305).
#[derive(Clone)]
pub struct SealingKey([u8; 32]);

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

/// What sealed texts start with, so that a later scheme can tell them apart.
const SEALED_PREFIX: &str = "v1:";

impl SealingKey {
    /// Derives the key from a secret of the settings (HKDF-SHA256).
    pub fn derive(secret: &str) -> Result<Self, SealError> {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"deis-rs certificate keys");
        let mut key = [0u8; 32];
        salt.extract(secret.as_bytes())
            .expand(&[b"chacha20poly1305 v1"], &CHACHA20_POLY1305)
            .and_then(|okm| okm.fill(&mut key))
            .map_err(|_| SealError::Derive)?;
        Ok(Self(key))
    }

    /// A random key: what is sealed with it cannot be opened by another process.
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut key);
        Self(key)
    }

    fn aead(&self) -> Result<LessSafeKey, SealError> {
        UnboundKey::new(&CHACHA20_POLY1305, &self.0)
            .map(LessSafeKey::new)
            .map_err(|_| SealError::Derive)
    }

    /// Seals `plaintext`, bound to `label` (authenticated, not secret): `v1:` and the base64
    /// of a random nonce followed by the ciphertext and its tag.
    pub fn seal(&self, label: &str, plaintext: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::Rng::fill(&mut rand::rng(), &mut nonce);
        let mut data = plaintext.as_bytes().to_vec();
        self.aead()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(label.as_bytes()),
                &mut data,
            )
            .map_err(|_| SealError::Seal)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(format!(
            "{SEALED_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        ))
    }

    /// Opens what [`SealingKey::seal`] sealed under the same `label`.
    pub fn open(&self, label: &str, sealed: &str) -> Result<String, SealError> {
        let bytes = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or(SealError::Open)?;
        let (nonce, data) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
        let mut data = data.to_vec();
        let plain = self
            .aead()?
            .open_in_place(nonce, Aad::from(label.as_bytes()), &mut data)
            .map_err(|_| SealError::Open)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        let names = vec!["*.example.com".to_owned(), "example.com".to_owned()];
        assert!(covers(&names, "example.com"));
        assert!(covers(&names, "www.example.com"));
        assert!(covers(&names, "*.example.com"));
        assert!(!covers(&names, "a.b.example.com"));
        assert!(!covers(&names, "example.org"));
        assert!(!covers(&["www.example.com".to_owned()], "*.example.com"));
    }

    #[test]
    fn sealed_keys_open_only_with_their_key_and_label() {
        let key = SealingKey::derive("a secret of the settings").unwrap();
        let sealed = key
            .seal("example.com", "-----BEGIN PRIVATE KEY-----")
            .unwrap();
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("PRIVATE"));
        assert_eq!(
            key.open("example.com", &sealed).unwrap(),
            "-----BEGIN PRIVATE KEY-----"
        );
        let again = SealingKey::derive("a secret of the settings").unwrap();
        assert_eq!(again.open("example.com", &sealed).unwrap().len(), 27);
        assert!(key.open("other.com", &sealed).is_err());
        assert!(SealingKey::random().open("example.com", &sealed).is_err());
        let other = SealingKey::derive("another secret").unwrap();
        assert!(other.open("example.com", &sealed).is_err());
        assert!(key.open("example.com", "v1:AAAA").is_err());
        assert!(key.open("example.com", "plain text").is_err());
        assert_ne!(
            sealed,
            key.seal("example.com", "-----BEGIN PRIVATE KEY-----")
                .unwrap()
        );
    }

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testkit/fixtures/tls/");

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{FIXTURES}{name}")).unwrap()
    }

    #[test]
    fn matching_pairs_of_every_key_type_are_read() {
        let rsa = inspect(&fixture("example.com.crt"), &fixture("example.com.key")).unwrap();
        assert_eq!(rsa.subject_cn.as_deref(), Some("example.com"));
        assert_eq!(rsa.names, ["example.com", "www.example.com"]);
        assert_eq!(rsa.expires.year(), 2126);
        assert!(rsa.chain_pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(rsa.key_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let ec = inspect(&fixture("wildcard.crt"), &fixture("wildcard.key")).unwrap();
        assert_eq!(ec.subject_cn.as_deref(), Some("*.apps.example.org"));
        assert!(ec.key_pem.starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
        let ed = inspect(&fixture("nocn.crt"), &fixture("nocn.key")).unwrap();
        assert_eq!(ed.subject_cn, None);
        assert_eq!(ed.names, ["nocn.example.net"]);
        // A key pasted into the certificate field is not kept with the chain.
        let both = format!(
            "{}{}",
            fixture("example.com.crt"),
            fixture("example.com.key")
        );
        let read = inspect(&both, &fixture("example.com.key")).unwrap();
        assert!(!read.chain_pem.contains("PRIVATE"));
        // Re-encoded PEM reads back to the same thing.
        let again = inspect(&read.chain_pem, &read.key_pem).unwrap();
        assert_eq!(again.chain_pem, read.chain_pem);
        assert_eq!(again.key_pem, read.key_pem);
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        for key in ["other.key", "wildcard.key", "nocn.key"] {
            let err = inspect(&fixture("example.com.crt"), &fixture(key)).unwrap_err();
            let Error::Fields(fields) = err else {
                panic!("not a field error: {err:?}");
            };
            assert_eq!(
                fields["key"],
                ["The private key does not match the certificate"],
                "{key}"
            );
        }
        let err = inspect(
            &fixture("example.com.crt"),
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert!(
            matches!(&err, Error::Fields(f) if f.contains_key("key")),
            "{err:?}"
        );
    }

    #[test]
    fn garbage_is_a_field_error_that_echoes_nothing() {
        let err = inspect("not a certificate", "secret-material").unwrap_err();
        let Error::Fields(fields) = err else {
            panic!("not a field error: {err:?}");
        };
        assert!(fields.contains_key("certificate"));
        assert!(!format!("{fields:?}").contains("secret-material"));
    }
}
