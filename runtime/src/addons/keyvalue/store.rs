//! A key-value add-on's namespace: the operations the guest interfaces call
//! (`wasi:keyvalue` and Spin's key-value), on either backend: the server's
//! embedded SQLite store ([`super::embedded`]) or a Redis server
//! ([`super::redis`]). Both backends run every test below.
//!
//! Counters are stored as their decimal text, as Redis's `INCRBY` keeps them,
//! so an app reading `REDIS_URL` with a Redis client sees the same values.

use super::embedded::Embedded;
use super::redis::RedisNamespace;
use crate::addons::Backends;
use crate::addons::grant::KeyValueStore;
use std::sync::Arc;

/// The keys one `list-keys` page holds: at most this many on the embedded
/// store, about this many on Redis (`SCAN`'s `COUNT`).
pub const PAGE: usize = 1000;

/// Why a key-value operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the key-value add-on is full: this write would take it past its plan's {} bytes; delete keys or change to a larger plan (`kumo addons:plans kumo-keyvalue`)",
        limit
    )]
    Full { limit: u64 },
    #[error("the value of key `{key}` is not an integer, so it cannot be incremented")]
    NotInteger { key: String },
    #[error("incrementing key `{key}` would overflow a 64-bit integer")]
    Overflow { key: String },
    #[error("the key-value add-on's namespace no longer exists: the add-on was destroyed")]
    Gone,
    /// The backend refused the operation (a Redis ACL denial).
    #[error("the key-value store denied access: {0}")]
    Denied(String),
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

/// One add-on's namespace, opened for a dyno.
#[derive(Clone, Debug)]
pub struct Namespace {
    backend: Backend,
}

#[derive(Clone, Debug)]
enum Backend {
    Embedded(Embedded),
    Redis(RedisNamespace),
}

impl Namespace {
    /// Opens the namespace `store` names, holding at most `limit` bytes (keys
    /// and values; enforced by the embedded store, where it is cheap).
    pub async fn open(
        backends: &Arc<Backends>,
        store: &KeyValueStore,
        limit: u64,
    ) -> anyhow::Result<Namespace> {
        let backend = match store {
            KeyValueStore::Embedded { namespace } => {
                let pool = backends.keyvalue.embedded(backends.dir()).await?;
                Backend::Embedded(Embedded::new(pool, namespace, limit))
            }
            KeyValueStore::Redis { url, prefix } => {
                Backend::Redis(RedisNamespace::open(backends, url, prefix).await?)
            }
        };
        Ok(Namespace { backend })
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.backend {
            Backend::Embedded(s) => s.get(key).await,
            Backend::Redis(s) => s.get(key).await,
        }
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Embedded(s) => s.set(key, value).await,
            Backend::Redis(s) => s.set(key, value).await,
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.delete_many(&[key.to_string()]).await
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Embedded(s) => s.exists(key).await,
            Backend::Redis(s) => s.exists(key).await,
        }
    }

    /// A page of keys, in no particular order, from `cursor` (`None`: the
    /// first page) and the cursor of the next page (`None`: this was the last).
    pub async fn list_keys(
        &self,
        cursor: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), StoreError> {
        match &self.backend {
            Backend::Embedded(s) => s.list_keys(cursor).await,
            Backend::Redis(s) => s.list_keys(cursor).await,
        }
    }

    /// Every key, page after page, in order (Redis's `SCAN` may name a key
    /// twice; this names it once).
    pub async fn all_keys(&self) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = self.list_keys(cursor.as_deref()).await?;
            keys.extend(page);
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// Adds `delta` to the integer at `key` (absent: 0) atomically and
    /// returns the sum.
    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        match &self.backend {
            Backend::Embedded(s) => s.increment(key, delta).await,
            Backend::Redis(s) => s.increment(key, delta).await,
        }
    }

    /// Sets `key` to `value` only if it still holds `expected` (`None`: only
    /// if it is absent), atomically; says whether it did.
    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Embedded(s) => s.compare_and_swap(key, expected, value).await,
            Backend::Redis(s) => s.compare_and_swap(key, expected, value).await,
        }
    }

    /// The values of `keys`, in their order (`None` for an absent key).
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        match &self.backend {
            Backend::Embedded(s) => s.get_many(keys).await,
            Backend::Redis(s) => s.get_many(keys).await,
        }
    }

    pub async fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        if pairs.is_empty() {
            return Ok(());
        }
        match &self.backend {
            Backend::Embedded(s) => s.set_many(pairs).await,
            Backend::Redis(s) => s.set_many(pairs).await,
        }
    }

    pub async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        match &self.backend {
            Backend::Embedded(s) => s.delete_many(keys).await,
            Backend::Redis(s) => s.delete_many(keys).await,
        }
    }
}

/// The new value of an increment of `current` (absent: 0) by `delta`.
pub(super) fn add(key: &str, current: Option<&[u8]>, delta: i64) -> Result<i64, StoreError> {
    let current = match current {
        None => 0,
        Some(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| text.parse::<i64>().ok())
            .ok_or_else(|| StoreError::NotInteger {
                key: key.to_string(),
            })?,
    };
    current
        .checked_add(delta)
        .ok_or_else(|| StoreError::Overflow {
            key: key.to_string(),
        })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::addons::Provider as _;
    use crate::addons::catalog;
    use crate::addons::grant::Resource;
    use crate::addons::keyvalue::provider::{EmbeddedProvider, RedisProvider};
    use crate::addons::keyvalue::test_redis::RedisServer;

    fn plan() -> &'static catalog::Plan {
        catalog::resolve("kumo-keyvalue:mini").unwrap().1
    }

    fn store(resource: &Resource) -> &KeyValueStore {
        match resource {
            Resource::KeyValue { store } => store,
            other => panic!("not a key-value resource: {other:?}"),
        }
    }

    /// Everything a namespace does, checked against `a`, with `b` another
    /// add-on's namespace on the same backend that must never see `a`'s keys.
    async fn exercise(a: Namespace, b: Namespace) {
        assert_eq!(a.get("missing").await.unwrap(), None);
        a.set("greeting", b"hello").await.unwrap();
        assert_eq!(
            a.get("greeting").await.unwrap().as_deref(),
            Some(&b"hello"[..])
        );
        assert!(a.exists("greeting").await.unwrap());
        assert!(!b.exists("greeting").await.unwrap());
        assert_eq!(b.get("greeting").await.unwrap(), None);
        a.set("greeting", b"hi").await.unwrap();
        assert_eq!(
            a.get("greeting").await.unwrap().as_deref(),
            Some(&b"hi"[..])
        );
        a.delete("greeting").await.unwrap();
        a.delete("greeting").await.unwrap();
        assert!(!a.exists("greeting").await.unwrap());

        assert_eq!(a.increment("hits", 1).await.unwrap(), 1);
        assert_eq!(a.increment("hits", 41).await.unwrap(), 42);
        assert_eq!(a.increment("hits", -2).await.unwrap(), 40);
        assert_eq!(a.get("hits").await.unwrap().as_deref(), Some(&b"40"[..]));
        assert_eq!(b.increment("hits", 1).await.unwrap(), 1);
        a.set("word", b"nope").await.unwrap();
        let err = a.increment("word", 1).await.unwrap_err();
        assert!(err.to_string().contains("not an integer"), "{err}");

        // Concurrent increments lose nothing.
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let a = a.clone();
                tokio::spawn(async move { a.increment("race", 1).await.unwrap() })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(a.get("race").await.unwrap().as_deref(), Some(&b"20"[..]));

        assert!(a.compare_and_swap("lock", None, b"1").await.unwrap());
        assert!(!a.compare_and_swap("lock", None, b"2").await.unwrap());
        assert!(!a.compare_and_swap("lock", Some(b"0"), b"2").await.unwrap());
        assert!(a.compare_and_swap("lock", Some(b"1"), b"2").await.unwrap());
        assert_eq!(a.get("lock").await.unwrap().as_deref(), Some(&b"2"[..]));

        let pairs: Vec<(String, Vec<u8>)> = (0..2500)
            .map(|i| (format!("k{i:04}"), i.to_string().into_bytes()))
            .collect();
        a.set_many(&pairs).await.unwrap();
        let got = a
            .get_many(&["k0001".into(), "absent".into(), "k2499".into()])
            .await
            .unwrap();
        assert_eq!(got, vec![Some(b"1".to_vec()), None, Some(b"2499".to_vec())]);
        let mut keys = a.all_keys().await.unwrap();
        keys.sort();
        let mut want: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
        want.extend(["hits", "lock", "race", "word"].map(String::from));
        want.sort();
        assert_eq!(keys, want);
        // Pages of about `PAGE` keys (`SCAN`'s count is a hint).
        let (first, cursor) = a.list_keys(None).await.unwrap();
        assert!(
            first.len() < want.len() && cursor.is_some(),
            "{}",
            first.len()
        );
        assert_eq!(b.all_keys().await.unwrap(), vec!["hits".to_string()]);

        let doomed: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
        a.delete_many(&doomed).await.unwrap();
        let mut keys = a.all_keys().await.unwrap();
        keys.sort();
        assert_eq!(keys, ["hits", "lock", "race", "word"]);
    }

    #[tokio::test]
    async fn embedded_store() {
        let dir = tempfile::tempdir().unwrap();
        let backends = Backends::new(dir.path());
        let provider = EmbeddedProvider::new(backends.clone());
        let a = provider.provision("redis-one-10001", plan()).await.unwrap();
        let b = provider.provision("redis-two-10002", plan()).await.unwrap();
        assert_ne!(a, b);
        let na = Namespace::open(&backends, store(&a), plan().limit)
            .await
            .unwrap();
        let nb = Namespace::open(&backends, store(&b), plan().limit)
            .await
            .unwrap();
        exercise(na.clone(), nb).await;

        // The plan's limit holds: a write past it is refused and changes nothing.
        let small = Namespace::open(&backends, store(&a), 4096).await.unwrap();
        let err = small.set("big", &[7; 8192]).await.unwrap_err();
        assert!(matches!(err, StoreError::Full { limit: 4096 }), "{err}");
        assert!(err.to_string().contains("is full"), "{err}");
        assert_eq!(small.get("big").await.unwrap(), None);

        let info = provider.info("redis-one-10001", &a).await.unwrap();
        assert_eq!(info[0], ("Keys".to_string(), "4".to_string()), "{info:?}");

        provider.reset("redis-one-10001", &a).await.unwrap();
        assert!(na.all_keys().await.unwrap().is_empty());
        na.set("after-reset", b"1").await.unwrap();
        provider.deprovision("redis-one-10001").await.unwrap();
        provider.deprovision("redis-one-10001").await.unwrap();
        assert_eq!(na.get("after-reset").await.unwrap(), None);
        assert!(matches!(na.set("k", b"v").await, Err(StoreError::Gone)));
    }

    #[tokio::test]
    async fn redis_store() {
        let server = RedisServer::start().await;
        let backends = Backends::new("/nonexistent");
        let provider = RedisProvider::new(&server.admin_url(), backends.clone()).unwrap();
        let a = provider.provision("redis-one-10001", plan()).await.unwrap();
        let b = provider.provision("redis-two-10002", plan()).await.unwrap();
        let na = Namespace::open(&backends, store(&a), plan().limit)
            .await
            .unwrap();
        let nb = Namespace::open(&backends, store(&b), plan().limit)
            .await
            .unwrap();
        exercise(na.clone(), nb.clone()).await;

        let info = provider.info("redis-one-10001", &a).await.unwrap();
        assert_eq!(info[0], ("Keys".to_string(), "4".to_string()), "{info:?}");
        provider.deprovision("redis-one-10001").await.unwrap();
        provider.deprovision("redis-one-10001").await.unwrap();
        // The other add-on's keys are untouched.
        assert_eq!(nb.get("hits").await.unwrap().as_deref(), Some(&b"1"[..]));
    }
}
