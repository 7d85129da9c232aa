//! The platform's state: accounts, apps, the release ledger, formations and
//! domains, in SQLite (the embedded default) or Postgres, through sqlx.
//!
//! Every change is one transaction, so a server killed at any moment restarts
//! into exactly the last committed state. The same SQL runs on both databases.

mod accounts;
mod acm;
mod addons;
mod apps;
mod builds;
mod certificates;
mod collaborators;
mod drains;
mod leases;
mod nodes;
mod pipelines;
mod releases;
mod source;

pub use accounts::{Account, Authorization, MAX_EXPIRES_IN, TokenCheck};
pub use acm::{ACM_ATTEMPTS, AcmDomain};
pub use addons::{Addon, AddonState, Attachment, NewAttachment};
pub use apps::{App, FormationLine};
pub use apps::{MAX_DYNOS_PER_APP, check_app_name};
pub use builds::{Build, BuildOutcome};
pub use certificates::{LocalCaPem, SniEndpoint};
pub use collaborators::Collaborator;
pub use drains::Drain;
pub use leases::LedgerLeases;
pub use nodes::Node;
pub use pipelines::{Coupling, Pipeline, Promotion, PromotionTarget};
pub use releases::{MAX_CONFIG_BYTES, Release, ReleaseStatus, check_config};
pub use source::LedgerSource;

use anyhow::Context as _;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};
use std::str::FromStr;
use time::OffsetDateTime;

/// Why a state change was refused.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Database(#[from] anyhow::Error),
}

impl From<sqlx::Error> for StateError {
    fn from(e: sqlx::Error) -> Self {
        StateError::Database(e.into())
    }
}

pub type Result<T, E = StateError> = std::result::Result<T, E>;

/// The database behind the platform.
#[derive(Clone)]
pub struct State {
    pool: AnyPool,
    /// The database's URL when it is Postgres, which several nodes share
    /// (`LISTEN` needs a connection of its own).
    postgres_url: Option<std::sync::Arc<str>>,
    /// The node this server is (`--node`), written on the builds and release
    /// phases it runs, so a node's restart fails only its own cut-short work.
    node: std::sync::Arc<str>,
}

/// Schema changes, applied in order, each once.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        admin BIGINT NOT NULL,
        created_at TEXT NOT NULL
    )",
    "CREATE TABLE tokens (
        token_hash TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        created_at TEXT NOT NULL
    )",
    "CREATE TABLE apps (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        owner_id TEXT NOT NULL REFERENCES accounts(id),
        maintenance BIGINT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )",
    "CREATE TABLE releases (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        version BIGINT NOT NULL,
        slug_digest TEXT,
        config TEXT NOT NULL,
        status TEXT NOT NULL,
        description TEXT NOT NULL,
        user_email TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (app_id, version)
    )",
    "CREATE TABLE formation (
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        process_type TEXT NOT NULL,
        quantity BIGINT NOT NULL,
        size TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (app_id, process_type)
    )",
    "CREATE TABLE domains (
        hostname TEXT PRIMARY KEY,
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        created_at TEXT NOT NULL
    )",
    "CREATE TABLE collaborators (
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        created_at TEXT NOT NULL,
        PRIMARY KEY (app_id, account_id)
    )",
    "CREATE TABLE release_outputs (
        release_id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        output TEXT NOT NULL
    )",
    "CREATE TABLE builds (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        status TEXT NOT NULL,
        source_url TEXT NOT NULL,
        source_version TEXT,
        buildpack TEXT,
        slug_digest TEXT,
        release_id TEXT,
        output TEXT NOT NULL,
        user_email TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )",
    "CREATE TABLE app_buildpacks (
        app_id TEXT PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
        buildpack TEXT NOT NULL
    )",
    // Tokens become authorizations (Heroku's OAuth authorizations): an id to
    // name them by, a description, and an optional expiry in Unix seconds
    // (compared and subtracted, so a number rather than text).
    "ALTER TABLE tokens ADD COLUMN id TEXT",
    "ALTER TABLE tokens ADD COLUMN description TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE tokens ADD COLUMN expires_at BIGINT",
    // Tokens made before this get a UUID-shaped id from their hash (SQL has no
    // portable random UUID); the hash only ever reaches its own account.
    "UPDATE tokens SET description = 'Kumo API key',
        id = substr(token_hash, 1, 8) || '-' || substr(token_hash, 9, 4) || '-' ||
             substr(token_hash, 13, 4) || '-' || substr(token_hash, 17, 4) || '-' ||
             substr(token_hash, 21, 12)
     WHERE id IS NULL",
    "CREATE UNIQUE INDEX tokens_id ON tokens (id)",
    // Add-ons: `app_id` is the billing app, whose destruction deprovisions
    // them first; `service` is the name it was asked by (an alias shows as
    // asked); `resource` is the provisioned resource as JSON, null while
    // provisioning.
    "CREATE TABLE addons (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        app_id TEXT NOT NULL REFERENCES apps(id),
        service TEXT NOT NULL,
        plan TEXT NOT NULL,
        state TEXT NOT NULL,
        resource TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )",
    "CREATE TABLE addon_attachments (
        id TEXT PRIMARY KEY,
        addon_id TEXT NOT NULL REFERENCES addons(id) ON DELETE CASCADE,
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (app_id, name)
    )",
    "ALTER TABLE releases ADD COLUMN addons TEXT NOT NULL DEFAULT '[]'",
    "CREATE TABLE local_ca (
        id BIGINT PRIMARY KEY,
        certificate TEXT NOT NULL,
        private_key TEXT NOT NULL,
        created_at TEXT NOT NULL
    )",
    "CREATE TABLE sni_endpoints (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        certificate_chain TEXT NOT NULL,
        private_key TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (app_id, name)
    )",
    "ALTER TABLE domains ADD COLUMN sni_endpoint_id TEXT",
    "CREATE TABLE acm_apps (
        app_id TEXT PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
        enabled_at TEXT NOT NULL
    )",
    "CREATE TABLE acm_certificates (
        hostname TEXT PRIMARY KEY,
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        status TEXT NOT NULL,
        reason TEXT,
        certificate_chain TEXT,
        private_key TEXT,
        expires_at TEXT,
        attempts BIGINT NOT NULL,
        claimed_until TEXT,
        updated_at TEXT NOT NULL
    )",
    "CREATE TABLE acme_challenges (
        token TEXT PRIMARY KEY,
        key_authorization TEXT NOT NULL,
        created_at TEXT NOT NULL
    )",
    "CREATE TABLE log_drains (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        url TEXT NOT NULL,
        token TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (app_id, url)
    )",
    "CREATE TABLE acme_accounts (
        directory TEXT PRIMARY KEY,
        credentials TEXT NOT NULL,
        created_at TEXT NOT NULL
    )",
    // Pipelines: apps coupled at a stage each (an app in one pipeline at
    // most), and the promotions that released one app's slug on others. A
    // promotion target's status is read from its release, not stored.
    "CREATE TABLE pipelines (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        owner_id TEXT NOT NULL REFERENCES accounts(id),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )",
    "CREATE TABLE pipeline_couplings (
        id TEXT PRIMARY KEY,
        pipeline_id TEXT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
        app_id TEXT NOT NULL UNIQUE REFERENCES apps(id) ON DELETE CASCADE,
        stage TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )",
    "CREATE TABLE pipeline_promotions (
        id TEXT PRIMARY KEY,
        pipeline_id TEXT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
        source_app_id TEXT NOT NULL,
        source_release_id TEXT NOT NULL,
        created_at TEXT NOT NULL
    )",
    "CREATE TABLE promotion_targets (
        id TEXT PRIMARY KEY,
        promotion_id TEXT NOT NULL REFERENCES pipeline_promotions(id) ON DELETE CASCADE,
        app_id TEXT NOT NULL,
        release_id TEXT,
        error_message TEXT,
        created_at TEXT NOT NULL
    )",
    // The servers sharing this ledger, each writing its own row every few
    // seconds (`nodes::HEARTBEAT`): a node is up while its row is fresh.
    "CREATE TABLE nodes (
        name TEXT PRIMARY KEY,
        instance TEXT NOT NULL,
        advertise TEXT NOT NULL,
        instance_slots BIGINT NOT NULL,
        memory_bytes BIGINT NOT NULL,
        dynos BIGINT NOT NULL,
        started_at TEXT NOT NULL,
        seen_at_ms BIGINT NOT NULL
    )",
    // Which node runs each formation dyno: a lease its holder renews every
    // second, taken over by another node once it expires (`placement.rs`).
    "CREATE TABLE dyno_leases (
        app TEXT NOT NULL,
        dyno TEXT NOT NULL,
        node TEXT NOT NULL,
        expires_ms BIGINT NOT NULL,
        status TEXT NOT NULL,
        PRIMARY KEY (app, dyno)
    )",
    // Where other nodes' routers forward requests for this node's dynos.
    "ALTER TABLE nodes ADD COLUMN router TEXT NOT NULL DEFAULT ''",
    // Secrets the nodes share, made once by whichever node comes first: the
    // token of the internal channel between nodes (`crate::hop`).
    "ALTER TABLE builds ADD COLUMN node TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE releases ADD COLUMN node TEXT NOT NULL DEFAULT ''",
    // `ps:restart` counts, read by every node's dyno manager as desired state.
    "CREATE TABLE dyno_restarts (
        app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        which TEXT NOT NULL,
        count BIGINT NOT NULL,
        PRIMARY KEY (app_id, which)
    )",
    // The last one-off dyno number of each app (`run.N`), shared by the nodes.
    "CREATE TABLE one_off_numbers (
        app_id TEXT PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
        last BIGINT NOT NULL
    )",
    "CREATE TABLE platform_secrets (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        created_at TEXT NOT NULL
    )",
];

impl State {
    /// This ledger as node `name` writes it: the builds and release phases it
    /// starts name it.
    pub fn for_node(mut self, name: &str) -> State {
        self.node = name.into();
        self
    }

    /// Opens (creating if needed) the database at `url`: `sqlite:///path/kumo.db` or `postgres://…`.
    pub async fn open(url: &str) -> anyhow::Result<State> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let url = if sqlite && !url.contains('?') {
            format!("{url}?mode=rwc")
        } else {
            url.to_string()
        };
        let options = AnyConnectOptions::from_str(&url)
            .with_context(|| format!("invalid database URL `{url}`"))?;
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 1 } else { 8 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        use sqlx::Executor as _;
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .with_context(|| format!("opening the database {}", redact(&url)))?;
        let state = State {
            pool,
            postgres_url: (!sqlite).then(|| url.as_str().into()),
            node: "".into(),
        };
        state.migrate().await?;
        Ok(state)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        sqlx::query("CREATE TABLE IF NOT EXISTS kumo_migrations (version BIGINT PRIMARY KEY)")
            .execute(&self.pool)
            .await
            .context("creating the migrations table")?;
        for (index, sql) in MIGRATIONS.iter().enumerate() {
            let version = index as i64 + 1;
            let mut tx = self.pool.begin().await?;
            let done = sqlx::query("SELECT version FROM kumo_migrations WHERE version = $1")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
            if done.is_none() {
                sqlx::query(*sql)
                    .execute(&mut *tx)
                    .await
                    .with_context(|| format!("migration {version}"))?;
                sqlx::query("INSERT INTO kumo_migrations (version) VALUES ($1)")
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// Timestamps are stored as RFC 3339 text, the same on both databases.
pub(crate) fn now() -> String {
    format_time(OffsetDateTime::now_utc())
}

pub fn format_time(t: OffsetDateTime) -> String {
    // Heroku's API writes `2012-01-01T12:00:00Z`: seconds, UTC.
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A UUID named by `parts` (joined by NUL), the same on every node and every
/// request, for objects Heroku gives UUIDs that Kumo names otherwise (a dyno
/// of a release, an account known only by its email). Name-based, built as
/// version 8 ("custom") from the first 16 bytes of the parts' SHA-256.
pub fn stable_id(parts: &[&str]) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(parts.join("\0").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

pub(crate) fn text(row: &sqlx::any::AnyRow, column: &str) -> Result<String> {
    Ok(row.try_get::<String, _>(column)?)
}

fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((before, after)) => match before.rsplit_once(':') {
            Some((user, _)) if user.contains("//") => format!("{user}:****@{after}"),
            _ => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::stable_id;

    #[test]
    fn stable_ids_are_uuids_named_by_their_parts() {
        let id = stable_id(&["app-id", "web.1", "3"]);
        assert_eq!(id, stable_id(&["app-id", "web.1", "3"]));
        let parsed = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 8);
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
        assert_ne!(id, stable_id(&["app-id", "web.1", "4"]));
        // Parts are separated, so moving a character between them changes the id.
        assert_ne!(stable_id(&["ab", "c"]), stable_id(&["a", "bc"]));
    }
}
