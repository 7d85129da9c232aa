//! HTTPS on Kumo's own ports: the API's and the router's listeners take TLS
//! and plain HTTP alike (a connection whose first byte starts a TLS handshake
//! is TLS), so `https://app.localhost:8080` and `http://…` reach the same app.
//!
//! Each handshake's server name picks the certificate: one the app's owner
//! added for that custom domain (`sni-endpoints`), else one the platform's
//! local CA ([`ca`]) signs for a name Kumo serves. A connection without a name
//! (to an IP address) gets one for the address it reached.

pub mod ca;
mod stream;
pub mod user;

pub use ca::LocalCa;
pub use stream::{Conn, Rewound};

use async_trait::async_trait;
use rustls::ServerConfig;
use rustls::sign::CertifiedKey;
use sha2::Digest as _;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::LazyConfigAcceptor;

/// How long a name's certificate is used before the ledger is asked again, so
/// a certificate added on any server is served everywhere within this.
const RECHECK: Duration = Duration::from_secs(10);
/// Certificates kept ready at most; past it the oldest half is dropped.
const CACHED_NAMES: usize = 4096;
/// A signed certificate is replaced once this old (it is valid for 90 days).
const RESIGN_AFTER: Duration = Duration::from_secs(30 * 24 * 3600);

/// Where certificates for names come from, besides the local CA.
#[async_trait]
pub trait Certificates: Send + Sync {
    /// The PEM chain and key the platform serves `hostname` with, if one was
    /// added or issued for it.
    async fn certificate(&self, hostname: &str) -> Option<(String, String)>;
    /// Whether the local CA may sign for `hostname`: a name Kumo serves.
    fn serves(&self, hostname: &str) -> bool;
}

/// The TLS side of a server's listeners.
pub struct Tls {
    ca: LocalCa,
    certificates: Arc<dyn Certificates>,
    ready: Mutex<HashMap<String, Ready>>,
    /// How long a client may take to send its first byte.
    first_byte: Duration,
}

struct Ready {
    config: Arc<ServerConfig>,
    /// The SHA-256 of the added certificate's chain, or `None` for the CA's own.
    added: Option<[u8; 32]>,
    checked: Instant,
    made: Instant,
}

impl Tls {
    pub fn new(ca: LocalCa, certificates: Arc<dyn Certificates>, first_byte: Duration) -> Tls {
        Tls {
            ca,
            certificates,
            ready: Mutex::new(HashMap::new()),
            first_byte,
        }
    }

    /// The local CA's certificate, the file clients trust.
    pub fn ca_pem(&self) -> &str {
        self.ca.pem()
    }

    /// Takes a new connection as TLS or plain HTTP, by its first byte.
    pub async fn accept(&self, stream: TcpStream) -> std::io::Result<Conn> {
        let mut first = [0u8; 1];
        let peeked = tokio::time::timeout(self.first_byte, stream.peek(&mut first)).await;
        // A handshake record starts with 0x16; anything else (or nothing) is HTTP's to judge.
        if !matches!(peeked, Ok(Ok(1))) || first[0] != 0x16 {
            return Ok(Conn::Plain(stream));
        }
        let local = stream.local_addr()?.ip();
        let acceptor = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
        let start = tokio::time::timeout(self.first_byte, acceptor)
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS hello timed out")
            })??;
        let name = start
            .client_hello()
            .server_name()
            .map(str::to_ascii_lowercase);
        let config = self
            .config_for(name.as_deref(), local)
            .await
            .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
        let stream = tokio::time::timeout(self.first_byte, start.into_stream(config))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
            })??;
        Ok(Conn::Tls(Box::new(stream)))
    }

    /// The configuration a handshake for `name` (or, without one, to `local`) gets.
    async fn config_for(
        &self,
        name: Option<&str>,
        local: IpAddr,
    ) -> anyhow::Result<Arc<ServerConfig>> {
        let name = match name {
            Some(name) => name.to_string(),
            None => local.to_string(),
        };
        if let Some(config) = self.cached(&name) {
            return Ok(config);
        }
        let added = if name.parse::<IpAddr>().is_ok() {
            None
        } else {
            self.certificates.certificate(&name).await
        };
        let added_hash = added
            .as_ref()
            .map(|(chain, _)| <[u8; 32]>::from(sha2::Sha256::digest(chain.as_bytes())));
        // Unchanged since it was made: keep it, checked again later.
        {
            let mut ready = self.ready.lock().expect("tls cache lock poisoned");
            if let Some(entry) = ready.get_mut(&name)
                && entry.added == added_hash
                && (added_hash.is_some() || entry.made.elapsed() < RESIGN_AFTER)
            {
                entry.checked = Instant::now();
                return Ok(entry.config.clone());
            }
        }
        let key = match &added {
            Some((chain, key)) => match user::certified_key(chain, key) {
                Ok(key) => key,
                Err(e) => {
                    tracing::warn!(host = %name, error = %e, "an added certificate could not be used; serving the local CA's");
                    self.sign(&name, local)?
                }
            },
            None => self.sign(&name, local)?,
        };
        let config = server_config(key);
        let mut ready = self.ready.lock().expect("tls cache lock poisoned");
        if ready.len() >= CACHED_NAMES {
            let mut ages: Vec<Instant> = ready.values().map(|r| r.checked).collect();
            ages.sort();
            let cutoff = ages[ages.len() / 2];
            ready.retain(|_, r| r.checked > cutoff);
        }
        ready.insert(
            name,
            Ready {
                config: config.clone(),
                added: added_hash,
                checked: Instant::now(),
                made: Instant::now(),
            },
        );
        Ok(config)
    }

    fn cached(&self, name: &str) -> Option<Arc<ServerConfig>> {
        let ready = self.ready.lock().expect("tls cache lock poisoned");
        ready
            .get(name)
            .filter(|r| r.checked.elapsed() < RECHECK)
            .map(|r| r.config.clone())
    }

    /// A certificate from the local CA for `name`, if Kumo serves it; for any
    /// other name, the one for the address the client reached.
    fn sign(&self, name: &str, local: IpAddr) -> anyhow::Result<Arc<CertifiedKey>> {
        if name.parse::<IpAddr>().is_ok() || self.certificates.serves(name) {
            self.ca.sign(name)
        } else {
            self.ca.sign(&local.to_string())
        }
    }
}

fn server_config(key: Arc<CertifiedKey>) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(One(key)));
    Arc::new(config)
}

/// The certificate chosen for the connection before its handshake went on.
#[derive(Debug)]
struct One(Arc<CertifiedKey>);

impl rustls::server::ResolvesServerCert for One {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}
