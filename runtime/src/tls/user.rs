//! Certificates an app's owner brings (`heroku certs:add CRT KEY`): checked
//! before the ledger takes them, and described as Heroku's `ssl_cert` is.

use super::ca::pem;
use anyhow::Context as _;
use rustls::client::danger::ServerCertVerifier as _;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;
use x509_parser::prelude::{FromDer as _, GeneralName, X509Certificate};

/// What a certificate says, in the API's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Described {
    /// The names it covers (its DNS subject alternative names, else its common name).
    pub domains: Vec<String>,
    pub subject: String,
    pub issuer: String,
    pub starts_at: time::OffsetDateTime,
    pub expires_at: time::OffsetDateTime,
    /// Whether it chains to a public root or to the platform's CA.
    pub ca_signed: bool,
}

/// Reads a chain and key as the ledger holds them, for serving.
pub fn certified_key(chain: &str, key: &str) -> anyhow::Result<Arc<CertifiedKey>> {
    let certificates = pem::certificates(chain)?;
    if certificates.is_empty() {
        anyhow::bail!("no certificate in the chain");
    }
    let key = pem::private_key(key)?;
    let signer =
        rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| anyhow::anyhow!("{e}"))?;
    let certified = CertifiedKey::new(certificates, signer);
    certified
        .keys_match()
        .map_err(|_| anyhow::anyhow!("the private key does not belong to the certificate"))?;
    Ok(Arc::new(certified))
}

/// Checks a certificate an owner adds and describes it; the error says what
/// is wrong with the files and how to make them right.
pub fn check(chain: &str, key: &str, local_ca: &str) -> Result<Described, String> {
    let certified = certified_key(chain, key).map_err(|e| {
        format!(
            "the certificate and key could not be used: {e:#}. Give the PEM certificate chain (the site's certificate first, then its intermediates) and its unencrypted PEM private key"
        )
    })?;
    let leaf = certified
        .cert
        .first()
        .expect("certified_key keeps one at least");
    let mut described =
        describe(leaf).map_err(|e| format!("the certificate is not valid X.509: {e:#}"))?;
    let now = time::OffsetDateTime::now_utc();
    if described.expires_at <= now {
        return Err(format!(
            "the certificate expired at {}: renew it with its issuer and add the new one",
            crate::state::format_time(described.expires_at)
        ));
    }
    if described.domains.is_empty() {
        return Err(
            "the certificate names no domain: it needs a DNS subject alternative name".into(),
        );
    }
    described.ca_signed = chains_to_a_root(&certified.cert, &described.domains[0], local_ca);
    Ok(described)
}

/// What `certificate` says about itself.
pub fn describe(certificate: &CertificateDer<'_>) -> anyhow::Result<Described> {
    let (_, x509) = X509Certificate::from_der(certificate).context("reading the certificate")?;
    let mut domains: Vec<String> = x509
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(dns) => Some(dns.to_ascii_lowercase()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if domains.is_empty() {
        domains.extend(
            x509.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok())
                .map(str::to_ascii_lowercase),
        );
    }
    let validity = x509.validity();
    Ok(Described {
        domains,
        subject: openssl_style(&x509.subject().to_string()),
        issuer: openssl_style(&x509.issuer().to_string()),
        starts_at: validity.not_before.to_datetime(),
        expires_at: validity.not_after.to_datetime(),
        ca_signed: false,
    })
}

/// Whether `hostname` is one of `domains`, a `*.` name covering one label.
pub fn covers(domains: &[String], hostname: &str) -> bool {
    domains
        .iter()
        .any(|domain| match domain.strip_prefix("*.") {
            Some(parent) => hostname
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
            None => domain == hostname,
        })
}

/// `/C=US/O=Example/CN=www.example.com`, as Heroku shows subjects and issuers.
fn openssl_style(rfc4514: &str) -> String {
    rfc4514
        .split(", ")
        .map(|part| format!("/{part}"))
        .collect::<String>()
}

fn chains_to_a_root(chain: &[CertificateDer<'static>], domain: &str, local_ca: &str) -> bool {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Ok(ca) = pem::parse_first(local_ca) {
        let _ = roots.add(ca);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let Ok(verifier) =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
    else {
        return false;
    };
    let name = domain.replace("*.", "wildcard.");
    let Ok(name) = ServerName::try_from(name) else {
        return false;
    };
    verifier
        .verify_server_cert(&chain[0], &chain[1..], &name, &[], UnixTime::now())
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        let domains = vec!["*.example.com".to_string(), "example.org".to_string()];
        assert!(covers(&domains, "www.example.com"));
        assert!(!covers(&domains, "a.b.example.com"));
        assert!(!covers(&domains, "example.com"));
        assert!(covers(&domains, "example.org"));
        assert!(!covers(&domains, "www.example.org"));
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused() {
        let ca = super::super::ca::LocalCa::make().unwrap();
        let other = super::super::ca::LocalCa::make().unwrap();
        let error = check(&ca.certificate, &other.private_key, &ca.certificate).unwrap_err();
        assert!(error.contains("does not belong"), "{error}");
        let error = check("not pem", &ca.private_key, &ca.certificate).unwrap_err();
        assert!(error.contains("PEM certificate chain"), "{error}");
    }
}
