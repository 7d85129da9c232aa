//! Log drains, as Logplex's: each of an app's drains gets every line of its
//! stream written on this server, over syslog (`syslog://`, `syslog+tls://`:
//! RFC 5424 over TCP, octet counted) or HTTPS (`https://`: batches of
//! `application/logplex-1`).
//!
//! A drain reads its own queue of [`SUBSCRIBER_QUEUE`](crate::logplex::SUBSCRIBER_QUEUE)
//! lines from Logplex, which never waits for it: a drain that is down or slow
//! loses lines past its queue (and says so with L10), never slows a dyno, the
//! router or another drain. While its endpoint is unreachable it holds the
//! line or frame in hand and reconnects with backoff, so nothing is skipped
//! or sent twice, except an HTTPS frame retried after a failed answer (same
//! `Logplex-Frame-Id`).
//!
//! A drain wakes for a line, then waits [`LINGER`] for the lines that follow
//! it and sends them together ([`gather`]): one write (or `POST`) and one wake
//! of the receiver for a busy app's many lines rather than one per line. The
//! wait is short beside the queue: at [`SUBSCRIBER_QUEUE`](crate::logplex::SUBSCRIBER_QUEUE)
//! lines in [`LINGER`] an app writes faster than a drain could send anyway.
//! The line itself is shared with the history and the app's other drains;
//! each drain writes its own frame of it (the frame holds the drain's token).

pub mod frame;
mod https;
mod syslog;

use crate::logplex::{LogLine, Logplex};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Drains an app may have, as on Heroku.
pub const MAX_DRAINS_PER_APP: usize = 5;
/// The longest wait between two attempts to reach a drain.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How long a drain woken by a line waits for more before sending.
const LINGER: Duration = Duration::from_millis(5);

/// Where a drain sends lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Syslog { host: String, port: u16, tls: bool },
    Https { url: String },
}

/// Reads a drain URL; the error says what URLs are taken.
pub fn parse_url(text: &str) -> Result<Target, String> {
    let refuse = |why: &str| {
        Err(format!(
            "invalid drain URL `{text}`: {why}. Use syslog://HOST:PORT, syslog+tls://HOST:PORT or https://HOST/PATH"
        ))
    };
    let Ok(url) = url::Url::parse(text) else {
        return refuse("it is not a URL");
    };
    let host = match url.host_str() {
        Some(host) if !host.is_empty() => host.trim_matches(['[', ']']).to_string(),
        _ => return refuse("it names no host"),
    };
    match url.scheme() {
        "syslog" | "syslog+tls" => match url.port() {
            Some(port) => Ok(Target::Syslog {
                host,
                port,
                tls: url.scheme() == "syslog+tls",
            }),
            None => refuse("a syslog drain needs a port"),
        },
        "https" => Ok(Target::Https {
            url: text.to_string(),
        }),
        "http" => refuse("drains send logs only over HTTPS, not plain HTTP"),
        other => refuse(&format!("`{other}` is not a drain scheme")),
    }
}

/// One drain as the ledger holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrainSpec {
    pub id: String,
    pub app: String,
    pub url: String,
    /// `d.<uuid>`, in every message the drain gets.
    pub token: String,
}

/// The drains this server runs.
pub struct Drains {
    logplex: Arc<Logplex>,
    tls: Arc<rustls::ClientConfig>,
    running: Mutex<HashMap<String, Running>>,
}

struct Running {
    spec: DrainSpec,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Drains {
    /// `roots`: certificates TLS drains are checked against besides the
    /// public roots (a private CA's).
    pub fn new(
        logplex: Arc<Logplex>,
        roots: &[rustls_pki_types::CertificateDer<'static>],
    ) -> Arc<Drains> {
        let mut store = rustls::RootCertStore::empty();
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for root in roots {
            if let Err(e) = store.add(root.clone()) {
                tracing::warn!(error = %e, "a drain root certificate was not usable");
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3")
            .with_root_certificates(store)
            .with_no_client_auth();
        Arc::new(Drains {
            logplex,
            tls: Arc::new(tls),
            running: Mutex::new(HashMap::new()),
        })
    }

    /// Runs exactly the drains in `wanted`: new ones start with the next line,
    /// removed ones stop, unchanged ones go on.
    pub fn set(&self, wanted: Vec<DrainSpec>) {
        let mut running = self.running.lock().expect("drains lock poisoned");
        running.retain(|id, r| wanted.iter().any(|w| &w.id == id && *w == r.spec));
        for spec in wanted {
            if running.contains_key(&spec.id) {
                continue;
            }
            let Ok(target) = parse_url(&spec.url) else {
                continue;
            };
            let lines = self.logplex.app(&spec.app).drain();
            let task = match target {
                Target::Syslog { host, port, tls } => {
                    let tls = tls.then(|| self.tls.clone());
                    tokio::spawn(syslog::deliver(lines, host, port, tls, spec.token.clone()))
                }
                Target::Https { url } => tokio::spawn(https::deliver(
                    lines,
                    url,
                    self.tls.clone(),
                    spec.token.clone(),
                )),
            };
            running.insert(spec.id.clone(), Running { spec, task });
        }
    }
}

/// Waits for the next line, then appends to `out` its frame (written by
/// `frame`) and those of the lines queued within [`LINGER`] after it, in
/// order, until `out` holds `limit` bytes. Returns how many lines it took, or
/// `None` once the drain's queue has closed.
async fn gather(
    lines: &mut mpsc::Receiver<Arc<LogLine>>,
    out: &mut Vec<u8>,
    limit: usize,
    mut frame: impl FnMut(&mut Vec<u8>, &LogLine),
) -> Option<usize> {
    let first = lines.recv().await?;
    frame(out, &first);
    let mut count = 1;
    let mut lingered = false;
    loop {
        while out.len() < limit {
            let Ok(line) = lines.try_recv() else {
                break;
            };
            frame(out, &line);
            count += 1;
        }
        if lingered || out.len() >= limit {
            return Some(count);
        }
        // While it sleeps the drain is not waiting on its queue, so the lines
        // written meanwhile wake nothing.
        tokio::time::sleep(LINGER).await;
        lingered = true;
    }
}

/// The wait before attempt `n` (from 0) to reach a drain: 100 ms doubling to [`MAX_BACKOFF`].
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100)
        .saturating_mul(1 << attempt.min(7))
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_urls() {
        assert_eq!(
            parse_url("syslog+tls://logs.example.com:6514"),
            Ok(Target::Syslog {
                host: "logs.example.com".into(),
                port: 6514,
                tls: true
            })
        );
        assert_eq!(
            parse_url("https://user:pass@logs.example.com/drain?x=1"),
            Ok(Target::Https {
                url: "https://user:pass@logs.example.com/drain?x=1".into()
            })
        );
        for bad in [
            "syslog://host",
            "http://host/x",
            "ftp://host:21",
            "nonsense",
        ] {
            let error = parse_url(bad).unwrap_err();
            assert!(error.contains("syslog://HOST:PORT"), "{error}");
        }
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(20), MAX_BACKOFF);
    }
}
