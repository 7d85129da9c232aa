//! The platform's local certificate authority: made once per ledger, it signs
//! a certificate for each name Kumo serves (app hosts, custom domains without
//! a certificate of their own, the API's name or address), so HTTPS works on a
//! machine with no public CA in reach once the user trusts `ca.pem`.

use crate::state::LocalCaPem;
use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// How long a certificate the CA signs is valid; servers sign a fresh one well before.
pub const LEAF_VALIDITY: Duration = Duration::days(90);

/// The CA, ready to sign.
pub struct LocalCa {
    issuer: Issuer<'static, KeyPair>,
    certificate: CertificateDer<'static>,
    pem: String,
}

impl LocalCa {
    /// A new CA: an ECDSA P-256 key and a self-signed certificate valid for ten years.
    pub fn make() -> anyhow::Result<LocalCaPem> {
        let key = KeyPair::generate().context("making the local CA's key")?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::OrganizationName, "Kumo");
        name.push(
            DnType::CommonName,
            format!(
                "Kumo local CA {}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
        );
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(3650);
        let certificate = params
            .self_signed(&key)
            .context("signing the local CA's certificate")?;
        Ok(LocalCaPem {
            certificate: certificate.pem(),
            private_key: key.serialize_pem(),
        })
    }

    /// The CA the ledger holds.
    pub fn load(pem: &LocalCaPem) -> anyhow::Result<LocalCa> {
        let key = KeyPair::from_pem(&pem.private_key).context("reading the local CA's key")?;
        let issuer = Issuer::from_ca_cert_pem(&pem.certificate, key)
            .context("reading the local CA's certificate")?;
        let certificate = pem::parse_first(&pem.certificate)?;
        Ok(LocalCa {
            issuer,
            certificate,
            pem: pem.certificate.clone(),
        })
    }

    /// The CA's certificate as PEM, the file users trust.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// A certificate for `name` (a DNS name or an IP address), with the CA's
    /// certificate after it in the chain.
    pub fn sign(&self, name: &str) -> anyhow::Result<Arc<CertifiedKey>> {
        let key = KeyPair::generate().context("making a certificate's key")?;
        let mut params = CertificateParams::new(vec![name.to_string()])
            .with_context(|| format!("`{name}` cannot be named in a certificate"))?;
        params
            .distinguished_name
            .push(DnType::CommonName, name.to_string());
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + LEAF_VALIDITY;
        let certificate = params
            .signed_by(&key, &self.issuer)
            .with_context(|| format!("signing a certificate for {name}"))?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signer = rustls::crypto::ring::sign::any_supported_type(&der)
            .context("loading a certificate's key")?;
        Ok(Arc::new(CertifiedKey::new(
            vec![certificate.der().clone(), self.certificate.clone()],
            signer,
        )))
    }
}

/// PEM in and out.
pub(crate) mod pem {
    use anyhow::Context as _;
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    /// Every certificate in `text`, in order.
    pub fn certificates(text: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
        CertificateDer::pem_slice_iter(text.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    pub fn parse_first(text: &str) -> anyhow::Result<CertificateDer<'static>> {
        certificates(text)?
            .into_iter()
            .next()
            .context("no certificate in the PEM text")
    }

    /// The first private key in `text` (PKCS#8, PKCS#1 or SEC1).
    pub fn private_key(text: &str) -> anyhow::Result<PrivateKeyDer<'static>> {
        PrivateKeyDer::from_pem_slice(text.as_bytes()).map_err(|e| anyhow::anyhow!("{e}"))
    }
}
