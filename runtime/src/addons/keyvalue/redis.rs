//! A key-value namespace on a Redis server: every key the guest names is
//! prefixed on the host with the add-on's `prefix`, and the commands run as the
//! add-on's own ACL user (whose keys are limited to that prefix), so neither a
//! guest nor the app's `REDIS_URL` reaches another add-on's keys.
//!
//! Counters use `INCRBY`, compare-and-swap a Lua script (one atomic step on
//! the server); listing keys needs `SCAN`, which add-on users may not run (it
//! ignores key permissions), so it runs as the administrator, matching the prefix.

use super::store::{PAGE, StoreError};
use crate::addons::Backends;
use redis::aio::MultiplexedConnection;
use redis::{FromRedisValue, RedisError};
use std::sync::Arc;

/// Sets `KEYS[1]` to `ARGV[3]` if it holds `ARGV[2]` (`ARGV[1]` = `1`) or is
/// absent (`ARGV[1]` = `0`); answers 1 if it did.
const COMPARE_AND_SWAP: &str = r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
";

/// `SCAN` pages one listing reads at most before answering with what it has
/// (possibly nothing, with a cursor to go on), so a call stays short.
const SCANS_PER_PAGE: usize = 16;

/// One add-on's namespace on a Redis server.
#[derive(Clone)]
pub struct RedisNamespace {
    backends: Arc<Backends>,
    /// The add-on user's URL, which holds its password.
    url: Arc<str>,
    prefix: Arc<str>,
    conn: MultiplexedConnection,
}

impl std::fmt::Debug for RedisNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisNamespace")
            .field("url", &super::connections::redact(&self.url))
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisNamespace {
    pub async fn open(
        backends: &Arc<Backends>,
        url: &str,
        prefix: &str,
    ) -> anyhow::Result<RedisNamespace> {
        let conn = backends.keyvalue.redis(url).await?;
        Ok(RedisNamespace {
            backends: backends.clone(),
            url: url.into(),
            prefix: prefix.into(),
            conn,
        })
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.run(redis::cmd("GET").arg(self.key(key))).await
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.run(redis::cmd("SET").arg(self.key(key)).arg(value))
            .await
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        let n: i64 = self.run(redis::cmd("EXISTS").arg(self.key(key))).await?;
        Ok(n > 0)
    }

    /// The cursor is `SCAN`'s.
    pub async fn list_keys(
        &self,
        cursor: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), StoreError> {
        let Some(admin) = self.backends.keyvalue.admin_for(&self.url) else {
            return Err(StoreError::Other(anyhow::anyhow!(
                "listing keys needs the Redis server's administrator (`SCAN` would show add-on users every add-on's key names), and this server was not started with its `--addons-redis-url`"
            )));
        };
        let mut cursor: u64 = match cursor {
            None => 0,
            Some(text) => text.parse().map_err(|_| {
                StoreError::Other(anyhow::anyhow!(
                    "invalid cursor `{text}`: give the cursor the last page answered"
                ))
            })?,
        };
        let mut conn = self
            .backends
            .keyvalue
            .redis(&admin)
            .await
            .map_err(StoreError::Other)?;
        let mut keys = Vec::new();
        for _ in 0..SCANS_PER_PAGE {
            let (next, page) = scan(&mut conn, &self.prefix, cursor).await.map_err(|e| {
                self.backends.keyvalue.forget(&admin);
                StoreError::Other(anyhow::Error::new(e).context("listing keys"))
            })?;
            keys.extend(
                page.into_iter()
                    .filter_map(|key| key.strip_prefix(&*self.prefix).map(str::to_string)),
            );
            cursor = next;
            if cursor == 0 || !keys.is_empty() {
                break;
            }
        }
        Ok((keys, (cursor != 0).then(|| cursor.to_string())))
    }

    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("INCRBY")
            .arg(self.key(key))
            .arg(delta)
            .query_async(&mut conn)
            .await
            .map_err(|e| {
                let text = e.to_string();
                if text.contains("not an integer") {
                    StoreError::NotInteger {
                        key: key.to_string(),
                    }
                } else if text.contains("overflow") {
                    StoreError::Overflow {
                        key: key.to_string(),
                    }
                } else {
                    self.failed(e)
                }
            })
    }

    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, StoreError> {
        let swapped: i64 = self
            .run(
                redis::cmd("EVAL")
                    .arg(COMPARE_AND_SWAP)
                    .arg(1)
                    .arg(self.key(key))
                    .arg(if expected.is_some() { "1" } else { "0" })
                    .arg(expected.unwrap_or_default())
                    .arg(value),
            )
            .await?;
        Ok(swapped == 1)
    }

    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut cmd = redis::cmd("MGET");
        for key in keys {
            cmd.arg(self.key(key));
        }
        self.run(&cmd).await
    }

    pub async fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("MSET");
        for (key, value) in pairs {
            cmd.arg(self.key(key)).arg(value.as_slice());
        }
        self.run(&cmd).await
    }

    pub async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("UNLINK");
        for key in keys {
            cmd.arg(self.key(key));
        }
        let _: i64 = self.run(&cmd).await?;
        Ok(())
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    async fn run<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        cmd.query_async(&mut conn).await.map_err(|e| self.failed(e))
    }

    fn failed(&self, e: RedisError) -> StoreError {
        if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
            // Made again by the next open.
            self.backends.keyvalue.forget(&self.url);
        }
        if e.code() == Some("NOPERM") || e.kind() == redis::ErrorKind::AuthenticationFailed {
            return StoreError::Denied(e.to_string());
        }
        StoreError::Other(anyhow::Error::new(e).context("the Redis key-value store failed"))
    }
}

/// One `SCAN` step over the keys starting with `prefix`: the next cursor
/// (0 at the end) and the keys found.
pub async fn scan(
    conn: &mut MultiplexedConnection,
    prefix: &str,
    cursor: u64,
) -> Result<(u64, Vec<String>), RedisError> {
    redis::cmd("SCAN")
        .arg(cursor)
        .arg("MATCH")
        .arg(format!("{}*", glob_escape(prefix)))
        .arg("COUNT")
        .arg(PAGE)
        .query_async(conn)
        .await
}

/// Deletes every key starting with `prefix`; answers how many.
pub async fn unlink_all(conn: &mut MultiplexedConnection, prefix: &str) -> Result<u64, RedisError> {
    let mut cursor = 0;
    let mut removed = 0;
    loop {
        let (next, keys) = scan(conn, prefix, cursor).await?;
        if !keys.is_empty() {
            let n: u64 = redis::cmd("UNLINK").arg(&keys).query_async(conn).await?;
            removed += n;
        }
        cursor = next;
        if cursor == 0 {
            return Ok(removed);
        }
    }
}

/// The number of keys starting with `prefix` and the bytes Redis holds for them.
pub async fn usage(
    conn: &mut MultiplexedConnection,
    prefix: &str,
) -> Result<(u64, u64), RedisError> {
    let mut cursor = 0;
    let (mut keys, mut bytes) = (0u64, 0u64);
    loop {
        let (next, page) = scan(conn, prefix, cursor).await?;
        if !page.is_empty() {
            let mut pipe = redis::pipe();
            for key in &page {
                pipe.cmd("MEMORY").arg("USAGE").arg(key);
            }
            let sizes: Vec<Option<u64>> = pipe.query_async(conn).await?;
            keys += page.len() as u64;
            bytes += sizes.into_iter().flatten().sum::<u64>();
        }
        cursor = next;
        if cursor == 0 {
            return Ok((keys, bytes));
        }
    }
}

/// `text` as a glob that matches only itself.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert_eq!(glob_escape("kumo_redis_a_1:"), "kumo_redis_a_1:");
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
