//! The key-value add-on's connections of one server, kept in [`Backends`]
//! and shared by every dyno: the embedded store's SQLite pool, opened on first
//! use, and one multiplexed connection per Redis URL (each add-on's ACL user,
//! and the administrator's).
//!
//! [`Backends`]: crate::addons::Backends

use super::embedded;
use anyhow::Context as _;
use redis::aio::MultiplexedConnection;
use sqlx::sqlite::SqlitePool;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;

/// How long connecting to a Redis server may take before it counts as down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one Redis command may take (a `SCAN` page, a `MEMORY USAGE` batch).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

type Slot = Arc<OnceCell<MultiplexedConnection>>;

/// The key-value connections of one server.
#[derive(Default)]
pub struct Connections {
    embedded: OnceCell<SqlitePool>,
    redis: Mutex<HashMap<String, Slot>>,
    /// The administrator's URL of each Redis server a provider administers,
    /// by `host:port`: listing keys needs `SCAN`, which add-on users may not
    /// run (it would show every add-on's key names).
    admins: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("embedded", &self.embedded.initialized())
            .field("redis", &self.lock_redis().len())
            .finish()
    }
}

impl Connections {
    /// The embedded store under `dir`, opened (and its tables made) once.
    pub async fn embedded(&self, dir: &Path) -> anyhow::Result<SqlitePool> {
        self.embedded
            .get_or_try_init(|| embedded::open(dir))
            .await
            .cloned()
    }

    /// The multiplexed connection to `url`, connected once; a connection
    /// that broke is made again by the next call after [`Self::forget`].
    pub async fn redis(&self, url: &str) -> anyhow::Result<MultiplexedConnection> {
        let slot = self
            .lock_redis()
            .entry(url.to_string())
            .or_default()
            .clone();
        slot.get_or_try_init(|| connect(url)).await.cloned()
    }

    /// Drops the connection to `url`, after it failed.
    pub fn forget(&self, url: &str) {
        self.lock_redis().remove(url);
    }

    /// Records `admin_url` as the administrator of its server.
    pub fn set_admin(&self, admin_url: &str) -> anyhow::Result<()> {
        let server = server_of(admin_url)?;
        self.lock_admins().insert(server, admin_url.to_string());
        Ok(())
    }

    /// The administrator's URL of the server `url` points at, if a provider
    /// administers it.
    pub fn admin_for(&self, url: &str) -> Option<String> {
        let server = server_of(url).ok()?;
        self.lock_admins().get(&server).cloned()
    }

    fn lock_redis(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.redis.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_admins(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.admins.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn connect(url: &str) -> anyhow::Result<MultiplexedConnection> {
    let client =
        redis::Client::open(url).with_context(|| format!("invalid Redis URL `{}`", redact(url)))?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .with_context(|| format!("connecting to the Redis server at {}", redact(url)))
}

/// `host:port` of a Redis URL.
pub fn server_of(url: &str) -> anyhow::Result<String> {
    let parsed = url::Url::parse(url).with_context(|| {
        format!(
            "invalid Redis URL `{}`: give `redis://USER:PASSWORD@HOST:PORT`",
            redact(url)
        )
    })?;
    if !matches!(parsed.scheme(), "redis" | "rediss") {
        anyhow::bail!(
            "invalid Redis URL `{}`: it must start with `redis://` or `rediss://`",
            redact(url)
        );
    }
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .with_context(|| format!("invalid Redis URL `{}`: it names no host", redact(url)))?;
    Ok(format!(
        "{}:{}",
        host.to_ascii_lowercase(),
        parsed.port().unwrap_or(6379)
    ))
}

/// `url` with its password hidden, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "(unparsable)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            server_of("redis://default:pw@127.0.0.1:6380").unwrap(),
            "127.0.0.1:6380"
        );
        assert_eq!(
            server_of("redis://Cache.internal").unwrap(),
            "cache.internal:6379"
        );
        assert!(server_of("postgres://x@y").is_err());
        assert_eq!(
            redact("redis://default:secret@127.0.0.1:6380"),
            "redis://default:***@127.0.0.1:6380"
        );
    }
}
