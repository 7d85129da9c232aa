//! The Postgres add-on's provider: one database and one role (with a password
//! of its own and a connection limit from the plan) per add-on, made on a
//! Postgres server Kumo administers: the operator's (`--addons-postgres-url`),
//! the server's own state database, or a private cluster ([`super::cluster`]).
//!
//! Each database has `CONNECT` revoked from `PUBLIC`, so an add-on's role can
//! reach only its own database; names come from [`super::names::resource_id`],
//! so they are plain identifiers and a stopped provisioning can be undone by name.

use super::catalog::Plan;
use super::grant::Resource;
use super::names::resource_id;
use super::provider::Provider;
use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions as _, Row as _};
use std::str::FromStr as _;
use std::time::Duration;

/// How long provisioning waits for the server before saying it is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Makes databases on one Postgres server.
pub struct PostgresProvider {
    admin: PgPool,
    options: PgConnectOptions,
    /// `host:port` written in the apps' `DATABASE_URL`s.
    public_host: String,
}

impl PostgresProvider {
    /// A provider administering the server at `admin_url` (a role that may
    /// create roles and databases). `public_host` (`host:port`) is where dynos
    /// reach it; by default the URL's own. Connects lazily, so a server that is
    /// down now fails the provisioning that needs it, not the start-up.
    pub fn new(admin_url: &str, public_host: Option<String>) -> anyhow::Result<PostgresProvider> {
        let options = PgConnectOptions::from_str(admin_url).with_context(|| {
            format!(
                "invalid add-on Postgres URL `{}`: give `postgres://USER:PASSWORD@HOST:PORT/DATABASE`",
                redact(admin_url)
            )
        })?;
        let url = url::Url::parse(admin_url).ok();
        let public_host = match public_host {
            Some(host) => host,
            None => {
                let host = url
                    .as_ref()
                    .and_then(|u| u.host_str().map(str::to_string))
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| options.get_host().to_string());
                format!("{host}:{}", options.get_port())
            }
        };
        let admin = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_lazy_with(options.clone());
        Ok(PostgresProvider {
            admin,
            options,
            public_host,
        })
    }

    /// A connection to the add-on's own database as the administrator.
    async fn connect_to(&self, database: &str) -> anyhow::Result<sqlx::PgConnection> {
        let options = self.options.clone().database(database);
        tokio::time::timeout(CONNECT_TIMEOUT, options.connect())
            .await
            .map_err(|_| anyhow::anyhow!("the add-on Postgres server gave no answer"))?
            .map_err(|e| anyhow::anyhow!(unreachable(&e)))
    }

    async fn execute(&self, sql: &str) -> anyhow::Result<()> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&self.admin)
            .await
            .map_err(|e| anyhow::anyhow!(unreachable(&e)))?;
        Ok(())
    }

    async fn make(&self, id: &str, password: &str, plan: &Plan) -> anyhow::Result<()> {
        // `id` is `[a-z0-9_]` and `password` hex (`resource_id`, `secret`).
        self.execute(&format!(
            "CREATE ROLE \"{id}\" LOGIN PASSWORD '{password}' CONNECTION LIMIT {}",
            plan.limit
        ))
        .await?;
        self.make_database(id).await
    }

    /// The database `id`, owned by the role `id`, which alone may connect.
    async fn make_database(&self, id: &str) -> anyhow::Result<()> {
        self.execute(&format!("CREATE DATABASE \"{id}\" OWNER \"{id}\""))
            .await?;
        self.execute(&format!("REVOKE ALL ON DATABASE \"{id}\" FROM PUBLIC"))
            .await?;
        self.execute(&format!("GRANT ALL ON DATABASE \"{id}\" TO \"{id}\""))
            .await
    }
}

#[async_trait]
impl Provider for PostgresProvider {
    async fn provision(&self, addon: &str, plan: &Plan) -> anyhow::Result<Resource> {
        let id = resource_id(addon);
        let password = secret();
        if let Err(e) = self.make(&id, &password, plan).await {
            if let Err(undo) = self.deprovision(addon).await {
                tracing::warn!(addon, error = %format!("{undo:#}"), "undoing a failed provisioning");
            }
            return Err(e.context("creating the database"));
        }
        Ok(Resource::Postgres {
            url: format!("postgres://{id}:{password}@{}/{id}", self.public_host),
        })
    }

    async fn deprovision(&self, addon: &str) -> anyhow::Result<()> {
        let id = resource_id(addon);
        self.execute(&format!("DROP DATABASE IF EXISTS \"{id}\" WITH (FORCE)"))
            .await?;
        self.execute(&format!("DROP ROLE IF EXISTS \"{id}\"")).await
    }

    async fn reset(&self, addon: &str, _resource: &Resource) -> anyhow::Result<()> {
        let id = resource_id(addon);
        self.execute(&format!("DROP DATABASE IF EXISTS \"{id}\" WITH (FORCE)"))
            .await?;
        self.make_database(&id).await
    }

    async fn change_plan(
        &self,
        addon: &str,
        _resource: &Resource,
        plan: &Plan,
    ) -> anyhow::Result<()> {
        let id = resource_id(addon);
        self.execute(&format!(
            "ALTER ROLE \"{id}\" CONNECTION LIMIT {}",
            plan.limit
        ))
        .await
    }

    async fn info(
        &self,
        addon: &str,
        _resource: &Resource,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let id = resource_id(addon);
        let row = sqlx::query(
            "SELECT current_setting('server_version') AS version,
                    pg_database_size($1) AS size,
                    (SELECT count(*) FROM pg_stat_activity WHERE datname = $1) AS connections,
                    (SELECT rolconnlimit FROM pg_roles WHERE rolname = $1) AS connlimit",
        )
        .bind(&id)
        .fetch_one(&self.admin)
        .await
        .map_err(|e| anyhow::anyhow!(unreachable(&e)))?;
        let version: String = row.try_get("version")?;
        let size: i64 = row.try_get("size")?;
        let connections: i64 = row.try_get("connections")?;
        let limit: i32 = row.try_get("connlimit")?;
        let mut conn = self.connect_to(&id).await?;
        let tables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables
             WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
        )
        .fetch_one(&mut conn)
        .await?;
        Ok(vec![
            ("Status".into(), "Available".into()),
            ("Connections".into(), format!("{connections}/{limit}")),
            ("PG Version".into(), version),
            ("Data Size".into(), human_size(size)),
            ("Tables".into(), tables.to_string()),
        ])
    }
}

/// A fresh password: 32 random bytes, hex.
pub(crate) fn secret() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// `7.5 MB`, as `pg:info` shows a data size.
fn human_size(bytes: i64) -> String {
    let bytes = bytes.max(0) as f64;
    if bytes >= (1u64 << 30) as f64 {
        format!("{:.1} GB", bytes / (1u64 << 30) as f64)
    } else if bytes >= (1u64 << 20) as f64 {
        format!("{:.1} MB", bytes / (1u64 << 20) as f64)
    } else {
        format!("{:.1} kB", bytes / 1024.0)
    }
}

/// Says what went wrong talking to the add-on server, plainly: a refused or
/// timed-out connection means it is down, a refusal of a statement names it.
fn unreachable(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => format!(
            "the add-on Postgres server is unreachable ({e}): check that it runs, or give another with `kumo server --addons-postgres-url`"
        ),
        sqlx::Error::Database(db) => format!(
            "the add-on Postgres server refused: {}{}",
            db.message(),
            if db.code().as_deref() == Some("42501") {
                " (the administrator role needs CREATEROLE and CREATEDB)"
            } else {
                ""
            }
        ),
        other => format!("the add-on Postgres server failed: {other}"),
    }
}

/// `postgres://user:****@host/db`.
pub(crate) fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("****"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sizes_and_redaction() {
        assert_eq!(human_size(7_900_000), "7.5 MB");
        assert_eq!(human_size(2048), "2.0 kB");
        assert_eq!(
            redact("postgres://admin:hunter2@db:5432/x"),
            "postgres://admin:****@db:5432/x"
        );
        assert_eq!(secret().len(), 64);
        let provider = PostgresProvider::new("postgres://admin:pw@10.0.0.5:6543/postgres", None)
            .expect("a lazy provider needs no server");
        assert_eq!(provider.public_host, "10.0.0.5:6543");
    }
}
