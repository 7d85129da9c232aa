//! The key-value add-on's providers: [`EmbeddedProvider`] makes a namespace
//! in the server's embedded store; [`RedisProvider`] makes an ACL user of its
//! own on the operator's Redis server (`--addons-redis-url`), whose keys and
//! channels are limited to the add-on's prefix, so the app's `REDIS_URL` can
//! touch only its own keys.
//!
//! Both name what they make after the add-on ([`resource_id`]), so a
//! deprovision given only the add-on's name removes everything it left.

use super::connections::{redact, server_of};
use super::{embedded, redis as kv_redis};
use crate::addons::Backends;
use crate::addons::catalog::Plan;
use crate::addons::grant::{KeyValueStore, Resource};
use crate::addons::names::resource_id;
use crate::addons::provider::Provider;
use anyhow::Context as _;
use async_trait::async_trait;
use rand::Rng as _;
use std::sync::Arc;

/// Namespaces in the server's embedded store (`<data dir>/addons/keyvalue.sqlite`).
pub struct EmbeddedProvider {
    backends: Arc<Backends>,
}

impl EmbeddedProvider {
    pub fn new(backends: Arc<Backends>) -> EmbeddedProvider {
        EmbeddedProvider { backends }
    }

    async fn pool(&self) -> anyhow::Result<sqlx::SqlitePool> {
        self.backends.keyvalue.embedded(self.backends.dir()).await
    }
}

#[async_trait]
impl Provider for EmbeddedProvider {
    async fn provision(&self, addon: &str, _plan: &Plan) -> anyhow::Result<Resource> {
        // Fresh for every provisioning, so no key of an earlier add-on of the
        // same name can show through.
        let namespace = format!("{}_{}", resource_id(addon), random_hex(8));
        embedded::create(&self.pool().await?, &namespace, addon).await?;
        Ok(Resource::KeyValue {
            store: KeyValueStore::Embedded { namespace },
        })
    }

    async fn deprovision(&self, addon: &str) -> anyhow::Result<()> {
        embedded::remove(&self.pool().await?, addon).await
    }

    async fn reset(&self, _addon: &str, resource: &Resource) -> anyhow::Result<()> {
        let namespace = embedded_namespace(resource)?;
        embedded::clear(&self.pool().await?, namespace).await
    }

    async fn change_plan(
        &self,
        addon: &str,
        resource: &Resource,
        plan: &Plan,
    ) -> anyhow::Result<()> {
        // The limit is read from the release's grant; a smaller plan must
        // still hold what the add-on keeps.
        let namespace = embedded_namespace(resource)?;
        let (_, bytes) = embedded::usage(&self.pool().await?, namespace)
            .await?
            .with_context(|| format!("the key-value namespace of {addon} does not exist"))?;
        let bytes = u64::try_from(bytes).unwrap_or_default();
        if bytes > plan.limit {
            anyhow::bail!(
                "{addon} holds {}, more than the {} plan's {}: delete keys first",
                human_bytes(bytes),
                plan.name,
                human_bytes(plan.limit)
            );
        }
        Ok(())
    }

    async fn info(
        &self,
        addon: &str,
        resource: &Resource,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let namespace = embedded_namespace(resource)?;
        let (keys, bytes) = embedded::usage(&self.pool().await?, namespace)
            .await?
            .with_context(|| format!("the key-value namespace of {addon} does not exist"))?;
        Ok(vec![
            ("Keys".to_string(), keys.to_string()),
            (
                "Size".to_string(),
                human_bytes(u64::try_from(bytes).unwrap_or_default()),
            ),
            ("Store".to_string(), "embedded".to_string()),
        ])
    }
}

/// ACL users and key prefixes on one Redis server.
pub struct RedisProvider {
    /// The administrator's URL: `redis://default:PASSWORD@HOST:PORT`.
    admin_url: String,
    backends: Arc<Backends>,
}

impl RedisProvider {
    /// A provider administering the server at `admin_url` (a user that may
    /// run `ACL`, `SCAN` and `UNLINK`). Connects lazily, so a server that is
    /// down fails the provisioning that needs it, not the start-up.
    pub fn new(admin_url: &str, backends: Arc<Backends>) -> anyhow::Result<RedisProvider> {
        server_of(admin_url)?;
        backends.keyvalue.set_admin(admin_url)?;
        Ok(RedisProvider {
            admin_url: admin_url.to_string(),
            backends,
        })
    }

    async fn admin(&self) -> anyhow::Result<redis::aio::MultiplexedConnection> {
        self.backends
            .keyvalue
            .redis(&self.admin_url)
            .await
            .with_context(|| {
                format!(
                    "the add-on Redis server at {} is unreachable: check that it runs and that `--addons-redis-url` is right",
                    redact(&self.admin_url)
                )
            })
    }

    /// Runs an administrator's command; a broken connection is made again next time.
    async fn run<T: redis::FromRedisValue>(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        cmd: &redis::Cmd,
    ) -> anyhow::Result<T> {
        cmd.query_async(conn).await.map_err(|e| {
            if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
                self.backends.keyvalue.forget(&self.admin_url);
            }
            anyhow::Error::new(e)
        })
    }

    /// Writes the users to the server's ACL file, when it has one (without
    /// one, users live until the Redis server restarts).
    async fn save_acl(&self, conn: &mut redis::aio::MultiplexedConnection) {
        if let Err(e) = self.run::<()>(conn, redis::cmd("ACL").arg("SAVE")).await {
            tracing::debug!(error = %e, "ACL SAVE failed; the Redis server has no ACL file");
        }
    }

    /// Whether the server's `default` user is on with no password: dynos
    /// given the server's address could then skip their add-on's user.
    async fn default_user_is_open(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
    ) -> anyhow::Result<bool> {
        let user: redis::Value = self
            .run(conn, redis::cmd("ACL").arg("GETUSER").arg("default"))
            .await
            .with_context(|| {
                format!(
                    "reading the users of {} (the administrator needs the ACL command)",
                    redact(&self.admin_url)
                )
            })?;
        if user == redis::Value::Nil {
            return Ok(false);
        }
        let fields: std::collections::HashMap<String, redis::Value> =
            redis::from_redis_value(user).context("reading ACL GETUSER default")?;
        let flags: Vec<String> = match fields.get("flags") {
            Some(flags) => redis::from_redis_value(flags.clone()).context("reading its flags")?,
            None => Vec::new(),
        };
        Ok(flags.iter().any(|f| f == "on") && flags.iter().any(|f| f == "nopass"))
    }

    /// The user's URL: the administrator's with the user's name and password.
    fn user_url(&self, user: &str, password: &str) -> anyhow::Result<String> {
        let mut url = url::Url::parse(&self.admin_url)
            .with_context(|| format!("invalid Redis URL `{}`", redact(&self.admin_url)))?;
        url.set_username(user)
            .and_then(|()| url.set_password(Some(password)))
            .map_err(|()| anyhow::anyhow!("`{}` cannot hold a user", redact(&self.admin_url)))?;
        Ok(url.to_string())
    }
}

/// The ACL rules of an add-on's user: on, its password, keys and channels
/// under its prefix only, every command but the administrator's and the
/// dangerous ones, and none of those that act on keys they do not name
/// (`SCAN`, `KEYS` and `RANDOMKEY` would show other add-ons' key names,
/// `FLUSHDB` and `FLUSHALL` would delete them).
pub fn acl_rules(prefix: &str, password: &str) -> Vec<String> {
    [
        "reset".to_string(),
        "on".to_string(),
        format!(">{password}"),
        format!("~{prefix}*"),
        format!("&{prefix}*"),
        "+@all".to_string(),
        "-@admin".to_string(),
        "-@dangerous".to_string(),
    ]
    .into_iter()
    .chain(["scan", "keys", "randomkey", "flushdb", "flushall", "swapdb"].map(|c| format!("-{c}")))
    .collect()
}

/// The key prefix of add-on `addon`'s keys on a shared Redis server.
pub fn prefix(addon: &str) -> String {
    format!("{}:", resource_id(addon))
}

#[async_trait]
impl Provider for RedisProvider {
    async fn provision(&self, addon: &str, _plan: &Plan) -> anyhow::Result<Resource> {
        let user = resource_id(addon);
        let prefix = prefix(addon);
        let password = random_hex(24);
        let url = self.user_url(&user, &password)?;
        let mut admin = self.admin().await?;
        if self.default_user_is_open(&mut admin).await? {
            anyhow::bail!(
                "the add-on Redis server at {} lets anyone in as `default` with no password, so any app given a Redis add-on could read every add-on's keys: give it a password (`requirepass`) and put it in `--addons-redis-url`",
                redact(&self.admin_url)
            );
        }
        self.run::<()>(
            &mut admin,
            redis::cmd("ACL")
                .arg("SETUSER")
                .arg(&user)
                .arg(acl_rules(&prefix, &password)),
        )
        .await
        .with_context(|| {
            format!(
                "making the Redis user of {addon} on {} (the administrator needs the ACL command)",
                redact(&self.admin_url)
            )
        })?;
        // The user works before the add-on is handed out; if not, it is
        // removed, so a failed provisioning leaves nothing.
        let check = async {
            let mut conn = self.backends.keyvalue.redis(&url).await?;
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .context("the new user's PING failed")
        };
        if let Err(e) = check.await {
            self.backends.keyvalue.forget(&url);
            let _: anyhow::Result<i64> = self
                .run(&mut admin, redis::cmd("ACL").arg("DELUSER").arg(&user))
                .await;
            return Err(e.context(format!("checking the Redis user of {addon}")));
        }
        self.save_acl(&mut admin).await;
        Ok(Resource::KeyValue {
            store: KeyValueStore::Redis { url, prefix },
        })
    }

    async fn deprovision(&self, addon: &str) -> anyhow::Result<()> {
        let user = resource_id(addon);
        let mut admin = self.admin().await?;
        // The user goes first (which disconnects its clients), so nothing
        // writes keys while they are removed.
        let _: i64 = self
            .run(&mut admin, redis::cmd("ACL").arg("DELUSER").arg(&user))
            .await
            .with_context(|| format!("removing the Redis user of {addon}"))?;
        kv_redis::unlink_all(&mut admin, &prefix(addon))
            .await
            .with_context(|| format!("removing the keys of {addon}"))?;
        self.save_acl(&mut admin).await;
        Ok(())
    }

    async fn reset(&self, addon: &str, resource: &Resource) -> anyhow::Result<()> {
        let prefix = redis_prefix(resource)?;
        let mut admin = self.admin().await?;
        kv_redis::unlink_all(&mut admin, prefix)
            .await
            .with_context(|| format!("removing the keys of {addon}"))?;
        Ok(())
    }

    async fn change_plan(
        &self,
        _addon: &str,
        _resource: &Resource,
        _plan: &Plan,
    ) -> anyhow::Result<()> {
        // Redis has no per-prefix memory limit to change.
        Ok(())
    }

    async fn info(
        &self,
        addon: &str,
        resource: &Resource,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let prefix = redis_prefix(resource)?;
        let mut admin = self.admin().await?;
        let (keys, bytes) = kv_redis::usage(&mut admin, prefix)
            .await
            .with_context(|| format!("measuring the keys of {addon}"))?;
        Ok(vec![
            ("Keys".to_string(), keys.to_string()),
            ("Memory".to_string(), human_bytes(bytes)),
            (
                "Store".to_string(),
                format!("Redis at {}", server_of(&self.admin_url)?),
            ),
        ])
    }
}

fn embedded_namespace(resource: &Resource) -> anyhow::Result<&str> {
    match resource {
        Resource::KeyValue {
            store: KeyValueStore::Embedded { namespace },
        } => Ok(namespace),
        other => anyhow::bail!("not an embedded key-value namespace: {other:?}"),
    }
}

fn redis_prefix(resource: &Resource) -> anyhow::Result<&str> {
    match resource {
        Resource::KeyValue {
            store: KeyValueStore::Redis { prefix, .. },
        } => Ok(prefix),
        _ => anyhow::bail!("not a Redis key-value namespace"),
    }
}

fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    let raw: Vec<u8> = (0..bytes).map(|_| rng.random()).collect();
    hex::encode(raw)
}

/// `1.5 MB`, as `addons:info` shows sizes.
fn human_bytes(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} kB", bytes as f64 / 1e3),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addons::catalog;
    use crate::addons::keyvalue::test_redis::RedisServer;

    #[test]
    fn sizes_and_rules() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(25 << 20), "26.2 MB");
        assert_eq!(prefix("redis-curved-12345"), "kumo_redis_curved_12345:");
        let rules = acl_rules("p:", "pw");
        assert_eq!(rules[..5], ["reset", "on", ">pw", "~p:*", "&p:*"]);
        assert!(rules.contains(&"-scan".to_string()));
    }

    /// One add-on's `REDIS_URL` reaches its own keys and nothing of another's.
    #[tokio::test]
    async fn redis_users_are_isolated() {
        let server = RedisServer::start().await;
        let backends = Backends::new("/nonexistent");
        let provider = RedisProvider::new(&server.admin_url(), backends).unwrap();
        let plan = catalog::resolve("kumo-keyvalue").unwrap().1;
        let url_of = |resource: &Resource| match resource {
            Resource::KeyValue {
                store: KeyValueStore::Redis { url, prefix },
            } => (url.clone(), prefix.clone()),
            other => panic!("{other:?}"),
        };
        let (a_url, a_prefix) = url_of(&provider.provision("redis-a-10001", plan).await.unwrap());
        let (b_url, b_prefix) = url_of(&provider.provision("redis-b-10002", plan).await.unwrap());
        assert!(a_url.starts_with("redis://kumo_redis_a_10001:"), "{a_url}");

        let mut a = server.connect(&a_url).await;
        let mut b = server.connect(&b_url).await;
        let set = |key: &str| redis::cmd("SET").arg(key).arg("secret").clone();
        let get = |key: &str| redis::cmd("GET").arg(key).clone();
        let ok: String = set(&format!("{a_prefix}k"))
            .query_async(&mut a)
            .await
            .unwrap();
        assert_eq!(ok, "OK");
        let own: Option<String> = get(&format!("{a_prefix}k"))
            .query_async(&mut a)
            .await
            .unwrap();
        assert_eq!(own.as_deref(), Some("secret"));

        // B may not read, write or list A's keys, nor reach keys outside its prefix.
        for cmd in [
            get(&format!("{a_prefix}k")),
            set(&format!("{a_prefix}k")),
            set("unprefixed"),
            redis::cmd("SCAN").arg(0).clone(),
            redis::cmd("KEYS").arg("*").clone(),
            redis::cmd("RANDOMKEY").clone(),
            redis::cmd("FLUSHALL").clone(),
            redis::cmd("CONFIG").arg("GET").arg("*").clone(),
            redis::cmd("ACL").arg("LIST").clone(),
        ] {
            let result: redis::RedisResult<redis::Value> = cmd.query_async(&mut b).await;
            let e = result.expect_err("denied");
            assert_eq!(e.code(), Some("NOPERM"), "{e}");
        }
        let ok: String = set(&format!("{b_prefix}k"))
            .query_async(&mut b)
            .await
            .unwrap();
        assert_eq!(ok, "OK");

        // Destroying A removes its user (its clients are cut off) and its keys only.
        provider.deprovision("redis-a-10001").await.unwrap();
        let mut admin = server.connect(&server.admin_url()).await;
        let left: Vec<String> = redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut admin)
            .await
            .unwrap();
        assert_eq!(left, [format!("{b_prefix}k")]);
        assert!(
            redis::Client::open(a_url.as_str())
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .is_err()
        );
    }

    /// A server whose `default` user needs no password is refused: its
    /// add-on users would protect nothing.
    #[tokio::test]
    async fn redis_without_a_password() {
        let server = RedisServer::start().await;
        let mut admin = server.connect(&server.admin_url()).await;
        let _: () = redis::cmd("ACL")
            .arg("SETUSER")
            .arg("default")
            .arg("nopass")
            .query_async(&mut admin)
            .await
            .unwrap();
        let backends = Backends::new("/nonexistent");
        let provider = RedisProvider::new(&server.admin_url(), backends).unwrap();
        let plan = catalog::resolve("kumo-keyvalue").unwrap().1;
        let e = provider.provision("redis-a-10001", plan).await.unwrap_err();
        assert!(format!("{e:#}").contains("with no password"), "{e:#}");
        let users: Vec<String> = redis::cmd("ACL")
            .arg("USERS")
            .query_async(&mut admin)
            .await
            .unwrap();
        assert_eq!(users, ["default"]);
    }

    /// A server that is down fails the provisioning with a message naming
    /// it, and leaves nothing.
    #[tokio::test]
    async fn redis_down() {
        let backends = Backends::new("/nonexistent");
        let provider = RedisProvider::new("redis://default:pw@127.0.0.1:1", backends).unwrap();
        let plan = catalog::resolve("kumo-keyvalue").unwrap().1;
        let e = provider.provision("redis-a-10001", plan).await.unwrap_err();
        let text = format!("{e:#}");
        assert!(text.contains("127.0.0.1:1 is unreachable"), "{text}");
        assert!(!text.contains(":pw@"), "{text}");
    }
}
