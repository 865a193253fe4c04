//! Certificates: stored through the API with their private keys sealed, handed to the router
//! (the `Routing` port) whenever they change and on every reconcile.

use super::*;
use crate::certificate::{self, Certificate, NewCertificate, TlsCertificate};

/// What a certificate request carries.
#[derive(Clone)]
pub struct CertInput {
    /// PEM certificate chain, end-entity certificate first.
    pub certificate: String,
    /// PEM private key of the end-entity certificate.
    pub key: String,
    /// The host name to serve it for; the certificate's common name when absent.
    pub common_name: Option<String>,
}

impl std::fmt::Debug for CertInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertInput")
            .field("common_name", &self.common_name)
            .finish_non_exhaustive()
    }
}

impl CertInput {
    /// Validates a certificate request body (`certificate`, `key`, optional `common_name`).
    pub fn parse(body: &JsonMap) -> Result<Self, Error> {
        let mut errors = Collector::default();
        let text = |name: &str| match body.get(name) {
            None | Some(Value::Null) => Err(REQUIRED.to_owned()),
            Some(Value::String(s)) if s.trim().is_empty() => Err(REQUIRED.to_owned()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err("Not a valid string.".to_owned()),
        };
        let certificate = errors.check("certificate", text("certificate"));
        let key = errors.check("key", text("key"));
        let common_name = match body.get("common_name") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => {
                let name = s.trim().to_ascii_lowercase();
                errors.check("common_name", validate::common_name(&name).map(|()| name))
            }
            Some(_) => errors.check("common_name", Err("Not a valid string.".to_owned())),
        };
        errors.finish()?;
        match (certificate, key) {
            (Some(certificate), Some(key)) => Ok(Self {
                certificate,
                key,
                common_name,
            }),
            _ => Err(Error::field("certificate", REQUIRED)),
        }
    }
}

impl Platform {
    /// Stores a certificate after checking that certificate and key parse and belong together
    /// and that the certificate is valid for the common name; the key is sealed.
    pub async fn add_certificate(
        &self,
        user: &User,
        input: CertInput,
    ) -> Result<Certificate, Error> {
        let inspected = certificate::inspect(&input.certificate, &input.key)?;
        let Some(common_name) = input.common_name.or_else(|| inspected.subject_cn.clone()) else {
            return Err(Error::field(
                "common_name",
                "The certificate has no common name: name the host it is for",
            ));
        };
        validate::common_name(&common_name).map_err(|m| Error::field("common_name", m))?;
        if !certificate::covers(&inspected.names, &common_name) {
            return Err(Error::field(
                "common_name",
                format!(
                    "The certificate is not valid for {common_name} (it is for {})",
                    inspected.names.join(", ")
                ),
            ));
        }
        let sealed_key = self
            .settings
            .sealing_key
            .seal(&common_name, &inspected.key_pem)
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        let new = NewCertificate {
            common_name: common_name.clone(),
            owner: user.username.clone(),
            chain: inspected.chain_pem,
            sealed_key,
            expires: inspected.expires,
            created: timefmt::now(),
        };
        let cert = match self.store.add_cert(new).await {
            Err(StoreError::Conflict(_)) => {
                return Err(Error::Conflict(format!(
                    "A certificate for {common_name} already exists"
                )));
            }
            other => other?,
        };
        self.push_certificates().await;
        Ok(cert)
    }

    /// Certificates the user may see: all of them for administrators, else their own.
    pub async fn list_certificates(
        &self,
        user: &User,
        page: PageSel,
    ) -> Result<Page<Certificate>, Error> {
        let owner = (!user.is_superuser).then_some(user.username.as_str());
        Ok(self.store.list_certs(owner, page).await?)
    }

    /// One certificate, for its owner or an administrator (404 for anyone else).
    pub async fn certificate(&self, user: &User, common_name: &str) -> Result<Certificate, Error> {
        let cert = self.store.cert(&common_name.to_ascii_lowercase()).await?;
        if user.is_superuser || cert.owner == user.username {
            Ok(cert)
        } else {
            Err(Error::NotFound)
        }
    }

    /// Removes a certificate (its owner or an administrator).
    pub async fn remove_certificate(&self, user: &User, common_name: &str) -> Result<(), Error> {
        let cert = self.certificate(user, common_name).await?;
        self.store.remove_cert(&cert.common_name).await?;
        self.push_certificates().await;
        Ok(())
    }

    /// Hands the router every stored certificate (after a change here, and on every
    /// reconcile, which also carries other replicas' changes). Best effort: a failure is
    /// logged and the next reconcile repeats it.
    pub async fn push_certificates(&self) {
        match self.tls_certificates().await {
            Ok(certificates) => self.routing.set_certificates(certificates).await,
            Err(e) => tracing::warn!(error = %e, "could not read the certificates for the router"),
        }
    }

    /// Every stored certificate with its private key opened, for the router's HTTPS listener.
    /// A key that does not open (the sealing secret changed) is left out with a warning.
    pub async fn tls_certificates(&self) -> Result<Vec<TlsCertificate>, Error> {
        let certs = self.store.all_certs().await?;
        Ok(certs
            .into_iter()
            .filter_map(|cert| {
                match self
                    .settings
                    .sealing_key
                    .open(&cert.common_name, &cert.sealed_key)
                {
                    Ok(key_pem) => Some(TlsCertificate {
                        names: vec![cert.common_name],
                        chain_pem: cert.chain,
                        key_pem,
                    }),
                    Err(e) => {
                        tracing::warn!(common_name = %cert.common_name, error = %e, "certificate left out");
                        None
                    }
                }
            })
            .collect())
    }
}
