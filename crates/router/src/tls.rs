//! HTTPS: the certificate store the controller fills, and SNI picking from it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// A certificate the router serves over HTTPS.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The names it serves: its common name and subject alternative names; `*.example.com`
    /// serves every name one label below `example.com`.
    pub names: Vec<String>,
    /// The PEM certificate chain, the server's certificate first.
    pub chain_pem: String,
    /// The PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: String,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("names", &self.names)
            .field("chain_pem", &format_args!("{} bytes", self.chain_pem.len()))
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// Why a set of certificates was refused (the previous set stays in use).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertificateError {
    /// A certificate names no host.
    #[error("a certificate names no host")]
    NoNames,
    /// The chain holds no PEM certificate.
    #[error("certificate for {name}: no PEM certificate in the chain")]
    NoCertificate {
        /// The certificate's first name.
        name: String,
    },
    /// The chain is not valid PEM.
    #[error("certificate for {name}: the chain is not valid PEM ({reason})")]
    BadChain {
        /// The certificate's first name.
        name: String,
        /// What the PEM reader said.
        reason: String,
    },
    /// The key is not a usable PEM private key.
    #[error("certificate for {name}: unusable private key ({reason})")]
    BadKey {
        /// The certificate's first name.
        name: String,
        /// What the key reader said.
        reason: String,
    },
}

/// The certificates by name, as SNI looks them up.
#[derive(Debug, Default)]
struct Certs {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` is kept under `example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
}

/// The certificate store: swapped whole, read lock-free by every handshake.
#[derive(Debug)]
pub(crate) struct CertStore {
    provider: Arc<CryptoProvider>,
    current: ArcSwap<Certs>,
}

impl CertStore {
    /// An empty store: every handshake fails until certificates are set.
    pub(crate) fn new(provider: Arc<CryptoProvider>) -> Self {
        Self {
            provider,
            current: ArcSwap::from_pointee(Certs::default()),
        }
    }

    /// Replaces every certificate, or none when one is unusable.
    pub(crate) fn set(&self, certificates: &[Certificate]) -> Result<(), CertificateError> {
        let mut certs = Certs::default();
        for certificate in certificates {
            let key = Arc::new(self.load(certificate)?);
            for name in &certificate.names {
                let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
                match name.strip_prefix("*.") {
                    Some(parent) => certs.wildcard.insert(parent.to_owned(), Arc::clone(&key)),
                    None => certs.exact.insert(name, Arc::clone(&key)),
                };
            }
        }
        self.current.store(Arc::new(certs));
        Ok(())
    }

    fn load(&self, certificate: &Certificate) -> Result<CertifiedKey, CertificateError> {
        let name = certificate
            .names
            .first()
            .ok_or(CertificateError::NoNames)?
            .clone();
        let chain = CertificateDer::pem_slice_iter(certificate.chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CertificateError::BadChain {
                name: name.clone(),
                reason: e.to_string(),
            })?;
        if chain.is_empty() {
            return Err(CertificateError::NoCertificate { name });
        }
        let key = PrivateKeyDer::from_pem_slice(certificate.key_pem.as_bytes()).map_err(|e| {
            CertificateError::BadKey {
                name: name.clone(),
                reason: e.to_string(),
            }
        })?;
        CertifiedKey::from_der(chain, key, &self.provider).map_err(|e| CertificateError::BadKey {
            name,
            reason: e.to_string(),
        })
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let sni = hello.server_name()?;
        let name = sni.trim_end_matches('.').to_ascii_lowercase();
        let certs = self.current.load();
        certs
            .exact
            .get(&name)
            .or_else(|| {
                name.split_once('.')
                    .and_then(|(_, parent)| certs.wildcard.get(parent))
            })
            .cloned()
    }
}
