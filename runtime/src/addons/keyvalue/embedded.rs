//! The embedded key-value store of the default install: one SQLite database
//! per server, `<data dir>/addons/keyvalue.sqlite` (WAL), with one table of
//! entries keyed by (namespace, key). Triggers keep each namespace's key count
//! and bytes in `namespaces`, so the plan's limit costs one row read per write.

use super::store::{PAGE, StoreError, add};
use anyhow::Context as _;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The file under `Backends::dir()`.
pub const FILE: &str = "keyvalue.sqlite";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS namespaces (
    namespace TEXT PRIMARY KEY NOT NULL,
    addon TEXT NOT NULL,
    keys INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS namespaces_addon ON namespaces (addon);
CREATE TABLE IF NOT EXISTS entries (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    -- bytes of key and value, what the plan's limit counts
    size INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE TRIGGER IF NOT EXISTS entries_inserted AFTER INSERT ON entries BEGIN
    UPDATE namespaces SET keys = keys + 1, bytes = bytes + new.size
    WHERE namespace = new.namespace;
END;
CREATE TRIGGER IF NOT EXISTS entries_updated AFTER UPDATE ON entries BEGIN
    UPDATE namespaces SET bytes = bytes - old.size + new.size
    WHERE namespace = new.namespace;
END;
CREATE TRIGGER IF NOT EXISTS entries_deleted AFTER DELETE ON entries BEGIN
    UPDATE namespaces SET keys = keys - 1, bytes = bytes - old.size
    WHERE namespace = old.namespace;
END;
";

/// Writes `key` only if the namespace exists and stays within the limit
/// (`?5`) with it: one statement, so the check and the write are one step.
const PUT: &str = "
INSERT INTO entries (namespace, key, value, size)
SELECT ?1, ?2, ?3, ?4
WHERE (SELECT bytes FROM namespaces WHERE namespace = ?1)
    - COALESCE((SELECT size FROM entries WHERE namespace = ?1 AND key = ?2), 0) + ?4 <= ?5
ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, size = excluded.size
";

/// Opens (creating if needed) the store under `dir`.
pub async fn open(dir: &Path) -> anyhow::Result<SqlitePool> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(FILE);
    // WAL lets reads go on during a write. `NORMAL` syncs at checkpoints, not
    // at every commit: a power cut may lose the last writes (as Redis's default
    // loses the last second), never the database.
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .with_context(|| format!("opening the key-value store {}", path.display()))?;
    sqlx::raw_sql(SCHEMA)
        .execute(&pool)
        .await
        .with_context(|| format!("making the tables of {}", path.display()))?;
    Ok(pool)
}

/// One namespace of the embedded store.
#[derive(Clone, Debug)]
pub struct Embedded {
    pool: SqlitePool,
    namespace: Arc<str>,
    limit: i64,
}

impl Embedded {
    pub fn new(pool: SqlitePool, namespace: &str, limit: u64) -> Embedded {
        Embedded {
            pool,
            namespace: namespace.into(),
            limit: i64::try_from(limit).unwrap_or(i64::MAX),
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(failed)?;
        self.read(&mut conn, key).await
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(failed)?;
        self.put(&mut conn, key, value).await
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM entries WHERE namespace = ?1 AND key = ?2")
                .bind(&*self.namespace)
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(failed)?;
        Ok(found.is_some())
    }

    /// Keys in order; the cursor is the last key of the page.
    pub async fn list_keys(
        &self,
        cursor: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), StoreError> {
        let page = PAGE as i64;
        let keys: Vec<String> = match cursor {
            None => {
                sqlx::query_scalar(
                    "SELECT key FROM entries WHERE namespace = ?1 ORDER BY key LIMIT ?2",
                )
                .bind(&*self.namespace)
                .bind(page)
                .fetch_all(&self.pool)
                .await
            }
            Some(after) => sqlx::query_scalar(
                "SELECT key FROM entries WHERE namespace = ?1 AND key > ?2 ORDER BY key LIMIT ?3",
            )
            .bind(&*self.namespace)
            .bind(after)
            .bind(page)
            .fetch_all(&self.pool)
            .await,
        }
        .map_err(failed)?;
        let next = (keys.len() == PAGE).then(|| keys[PAGE - 1].clone());
        Ok((keys, next))
    }

    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        // `IMMEDIATE` takes the write lock first, so no other write comes
        // between the read and the write.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(failed)?;
        let current = self.read(&mut tx, key).await?;
        let sum = add(key, current.as_deref(), delta)?;
        self.put(&mut tx, key, sum.to_string().as_bytes()).await?;
        tx.commit().await.map_err(failed)?;
        Ok(sum)
    }

    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(failed)?;
        let current = self.read(&mut tx, key).await?;
        if current.as_deref() != expected {
            return Ok(false);
        }
        self.put(&mut tx, key, value).await?;
        tx.commit().await.map_err(failed)?;
        Ok(true)
    }

    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(failed)?;
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.read(&mut tx, key).await?);
        }
        Ok(values)
    }

    pub async fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(failed)?;
        for (key, value) in pairs {
            self.put(&mut tx, key, value).await?;
        }
        tx.commit().await.map_err(failed)
    }

    pub async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(failed)?;
        for key in keys {
            sqlx::query("DELETE FROM entries WHERE namespace = ?1 AND key = ?2")
                .bind(&*self.namespace)
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(failed)?;
        }
        tx.commit().await.map_err(failed)
    }

    async fn read(
        &self,
        conn: &mut SqliteConnection,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT value FROM entries WHERE namespace = ?1 AND key = ?2")
            .bind(&*self.namespace)
            .bind(key)
            .fetch_optional(conn)
            .await
            .map_err(failed)
    }

    async fn put(
        &self,
        conn: &mut SqliteConnection,
        key: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        let size = i64::try_from(key.len() + value.len()).unwrap_or(i64::MAX);
        let done = sqlx::query(PUT)
            .bind(&*self.namespace)
            .bind(key)
            .bind(value)
            .bind(size)
            .bind(self.limit)
            .execute(&mut *conn)
            .await
            .map_err(failed)?;
        if done.rows_affected() > 0 {
            return Ok(());
        }
        match usage(&mut *conn, &self.namespace).await? {
            None => Err(StoreError::Gone),
            Some(_) => Err(StoreError::Full {
                limit: self.limit as u64,
            }),
        }
    }
}

/// Makes the empty namespace `namespace` of add-on `addon`.
pub async fn create(pool: &SqlitePool, namespace: &str, addon: &str) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO namespaces (namespace, addon) VALUES (?1, ?2)")
        .bind(namespace)
        .bind(addon)
        .execute(pool)
        .await
        .with_context(|| format!("making the key-value namespace of {addon}"))?;
    Ok(())
}

/// Removes every namespace of add-on `addon` and their entries.
pub async fn remove(pool: &SqlitePool, addon: &str) -> anyhow::Result<()> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let namespaces: Vec<String> =
        sqlx::query_scalar("DELETE FROM namespaces WHERE addon = ?1 RETURNING namespace")
            .bind(addon)
            .fetch_all(&mut *tx)
            .await
            .with_context(|| format!("removing the key-value namespace of {addon}"))?;
    for namespace in namespaces {
        sqlx::query("DELETE FROM entries WHERE namespace = ?1")
            .bind(&namespace)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("removing the keys of {addon}"))?;
    }
    tx.commit().await?;
    Ok(())
}

/// Removes every entry of `namespace`, keeping the namespace.
pub async fn clear(pool: &SqlitePool, namespace: &str) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM entries WHERE namespace = ?1")
        .bind(namespace)
        .execute(pool)
        .await
        .with_context(|| format!("emptying the key-value namespace {namespace}"))?;
    Ok(())
}

/// The keys and bytes of `namespace`, if it exists.
pub async fn usage(
    conn: impl sqlx::SqliteExecutor<'_>,
    namespace: &str,
) -> Result<Option<(i64, i64)>, StoreError> {
    sqlx::query_as("SELECT keys, bytes FROM namespaces WHERE namespace = ?1")
        .bind(namespace)
        .fetch_optional(conn)
        .await
        .map_err(failed)
}

fn failed(e: sqlx::Error) -> StoreError {
    StoreError::Other(anyhow::Error::new(e).context("the embedded key-value store failed"))
}
