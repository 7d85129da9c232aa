//! The release ledger: append-only, numbered v1, v2, …, each a slug, a
//! snapshot of the config vars and the attached add-ons. Config changes,
//! add-on attachments and rollbacks are new releases.

use super::{App, Result, State, StateError, new_id, now, text};
use crate::addons::AddonGrant;
use crate::dynos::outbound::{ALLOWED_HOSTS, AllowedHosts};
use sqlx::{AssertSqlSafe, Row};
use std::collections::BTreeMap;

/// Config vars may add up to this many bytes (keys and values) per app.
pub const MAX_CONFIG_BYTES: usize = 32 * 1024;

/// Where a release stands. A release whose slug has a `release` process type
/// is `pending` until that command has run; only `succeeded` releases serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseStatus {
    Pending,
    Succeeded,
    Failed,
}

impl ReleaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseStatus::Pending => "pending",
            ReleaseStatus::Succeeded => "succeeded",
            ReleaseStatus::Failed => "failed",
        }
    }
}

/// One entry of the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    pub id: String,
    pub app_id: String,
    pub version: i64,
    /// `None` for releases made before anything was deployed (config changes).
    pub slug_digest: Option<String>,
    /// Every config var its dynos see, the add-ons' included.
    pub config: BTreeMap<String, String>,
    /// The add-ons attached at this release, and what each grants.
    pub addons: Vec<AddonGrant>,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    pub description: String,
    pub user_email: String,
    pub created_at: String,
}

const COLUMNS: &str =
    "id, app_id, version, slug_digest, config, status, description, user_email, created_at, addons";

fn release_from_row(row: &sqlx::any::AnyRow) -> Result<Release> {
    let config: String = text(row, "config")?;
    let addons: String = text(row, "addons")?;
    Ok(Release {
        addons: serde_json::from_str(&addons).map_err(|e| StateError::Database(e.into()))?,
        id: text(row, "id")?,
        app_id: text(row, "app_id")?,
        version: row.try_get("version")?,
        slug_digest: row.try_get::<Option<String>, _>("slug_digest")?,
        config: serde_json::from_str(&config).map_err(|e| StateError::Database(e.into()))?,
        status: text(row, "status")?,
        description: text(row, "description")?,
        user_email: text(row, "user_email")?,
        created_at: text(row, "created_at")?,
    })
}

/// Checks config var keys (`^\w+$`, not `KUMO_…` but for `KUMO_ALLOWED_HOSTS`,
/// whose value must parse), and the 32 kB total.
pub fn check_config(config: &BTreeMap<String, String>) -> Result<()> {
    for key in config.keys() {
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(StateError::Invalid(format!(
                "invalid config var name `{key}`: use only letters, digits and underscores"
            )));
        }
        if key.starts_with("KUMO_") && key != ALLOWED_HOSTS {
            return Err(StateError::Invalid(format!(
                "config var `{key}` is reserved: names starting with KUMO_ are set by the platform"
            )));
        }
    }
    if let Some(hosts) = config.get(ALLOWED_HOSTS) {
        AllowedHosts::parse(hosts).map_err(|e| StateError::Invalid(e.to_string()))?;
    }
    let total: usize = config.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_CONFIG_BYTES {
        return Err(StateError::Invalid(format!(
            "config vars would take {total} bytes, over the limit of {MAX_CONFIG_BYTES} bytes per app: remove or shorten some"
        )));
    }
    Ok(())
}

impl State {
    /// The app's releases, oldest first.
    pub async fn releases(&self, app: &App) -> Result<Vec<Release>> {
        let sql = format!("SELECT {COLUMNS} FROM releases WHERE app_id = $1 ORDER BY version");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(&app.id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(release_from_row).collect()
    }

    /// A release by version number (`3` or `v3`) or id.
    pub async fn release(&self, app: &App, version_or_id: &str) -> Result<Option<Release>> {
        let version: i64 = version_or_id.trim_start_matches('v').parse().unwrap_or(-1);
        let sql = format!(
            "SELECT {COLUMNS} FROM releases WHERE app_id = $1 AND (version = $2 OR id = $3)"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(&app.id)
            .bind(version)
            .bind(version_or_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(release_from_row).transpose()
    }

    /// The newest succeeded release.
    pub async fn current_release(&self, app: &App) -> Result<Option<Release>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM releases WHERE app_id = $1 AND status = 'succeeded' ORDER BY version DESC LIMIT 1"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(&app.id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(release_from_row).transpose()
    }

    /// Appends a release of `slug_digest` with `config` and `addons`.
    #[allow(clippy::too_many_arguments)]
    pub async fn append_release(
        &self,
        app: &App,
        slug_digest: Option<String>,
        config: BTreeMap<String, String>,
        addons: Vec<AddonGrant>,
        description: &str,
        user_email: &str,
        status: ReleaseStatus,
    ) -> Result<Release> {
        let mut tx = self.pool().begin().await?;
        let release = insert_release(
            &mut tx,
            app,
            slug_digest,
            config,
            addons,
            description,
            user_email,
            status,
            &self.node,
        )
        .await?;
        tx.commit().await?;
        Ok(release)
    }

    /// Applies config changes (`None` deletes) as a new release with the current slug.
    pub async fn set_config(
        &self,
        app: &App,
        changes: &BTreeMap<String, Option<String>>,
        user_email: &str,
        status: ReleaseStatus,
    ) -> Result<Release> {
        let current = self.current_release(app).await?;
        let mut config = current
            .as_ref()
            .map(|r| r.config.clone())
            .unwrap_or_default();
        let addons = current
            .as_ref()
            .map(|r| r.addons.clone())
            .unwrap_or_default();
        let owned: Vec<&str> = changes
            .keys()
            .filter(|k| addons.iter().any(|a| a.config_vars.contains(k)))
            .map(String::as_str)
            .collect();
        if !owned.is_empty() {
            return Err(StateError::Invalid(format!(
                "Cannot overwrite attachment values {}: they belong to attached add-ons (see `kumo addons`); detach the add-on or attach it under another name with `--as`",
                owned.join(", ")
            )));
        }
        let (mut set, mut removed) = (Vec::new(), Vec::new());
        for (key, value) in changes {
            match value {
                Some(value) => {
                    config.insert(key.clone(), value.clone());
                    set.push(key.as_str());
                }
                None => {
                    if config.remove(key).is_some() {
                        removed.push(key.as_str());
                    }
                }
            }
        }
        let description = match (set.is_empty(), removed.is_empty()) {
            (false, true) => format!("Set {} config vars", set.join(", ")),
            (true, false) => format!("Remove {} config vars", removed.join(", ")),
            (false, false) => format!(
                "Set {} and remove {} config vars",
                set.join(", "),
                removed.join(", ")
            ),
            (true, true) => "Update config vars".to_string(),
        };
        let slug = current.and_then(|r| r.slug_digest);
        self.append_release(app, slug, config, addons, &description, user_email, status)
            .await
    }

    /// A new release copying the slug and config of `target`. Add-ons are
    /// not rolled back (as on Heroku): the add-ons attached now stay, with
    /// their config vars, and the target's add-on vars are dropped.
    pub async fn rollback(
        &self,
        app: &App,
        target: &Release,
        user_email: &str,
        status: ReleaseStatus,
    ) -> Result<Release> {
        let description = format!("Rollback to v{}", target.version);
        let current = self.current_release(app).await?;
        let addons = current
            .as_ref()
            .map(|r| r.addons.clone())
            .unwrap_or_default();
        let mut config = target.config.clone();
        for grant in &target.addons {
            for var in &grant.config_vars {
                config.remove(var);
            }
        }
        if let Some(current) = &current {
            for var in addons.iter().flat_map(|a| &a.config_vars) {
                if let Some(value) = current.config.get(var) {
                    config.insert(var.clone(), value.clone());
                }
            }
        }
        self.append_release(
            app,
            target.slug_digest.clone(),
            config,
            addons,
            &description,
            user_email,
            status,
        )
        .await
    }

    /// Ends a pending release's release phase: it becomes `succeeded` (and
    /// current) or `failed`, and its output is kept, in one transaction.
    pub async fn finish_release(
        &self,
        release: &Release,
        succeeded: bool,
        output: &str,
    ) -> Result<()> {
        let status = if succeeded {
            ReleaseStatus::Succeeded
        } else {
            ReleaseStatus::Failed
        };
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE releases SET status = $1 WHERE id = $2 AND status = 'pending'")
            .bind(status.as_str())
            .bind(&release.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM release_outputs WHERE release_id = $1")
            .bind(&release.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO release_outputs (release_id, app_id, output) VALUES ($1, $2, $3)")
            .bind(&release.id)
            .bind(&release.app_id)
            .bind(output)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The kept output of a release's release phase, once it has ended.
    pub async fn release_output(&self, release_id: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT output FROM release_outputs WHERE release_id = $1")
            .bind(release_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(|r| text(r, "output")).transpose()
    }

    /// The ids of `app`'s releases that have release-phase output.
    pub async fn releases_with_output(
        &self,
        app: &App,
    ) -> Result<std::collections::HashSet<String>> {
        let rows = sqlx::query("SELECT release_id FROM release_outputs WHERE app_id = $1")
            .bind(&app.id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| text(r, "release_id")).collect()
    }

    /// Releases whose release phase was cut short by a stop of the server: they
    /// fail, and the release before them keeps serving. Returns them.
    pub(super) async fn fail_interrupted_releases(
        &self,
        interrupted: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<Release>> {
        let sql = format!("SELECT {COLUMNS}, node FROM releases WHERE status = 'pending'");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        let mut pending = Vec::new();
        for row in &rows {
            if interrupted(&text(row, "node")?) {
                pending.push(release_from_row(row)?);
            }
        }
        for release in &pending {
            self.finish_release(
                release,
                false,
                "The release phase did not finish: the Kumo server stopped while it ran, and the release was marked failed when the server started again; the previous release keeps serving. Release again to run it.\n",
            )
            .await?;
        }
        Ok(pending)
    }
}

/// Appends a release inside `tx`: the next version of `app`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn insert_release(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    app: &App,
    slug_digest: Option<String>,
    config: BTreeMap<String, String>,
    addons: Vec<AddonGrant>,
    description: &str,
    user_email: &str,
    status: ReleaseStatus,
    node: &str,
) -> Result<Release> {
    check_config(&config)?;
    let row = sqlx::query("SELECT MAX(version) AS v FROM releases WHERE app_id = $1")
        .bind(&app.id)
        .fetch_one(&mut **tx)
        .await?;
    let version = row.try_get::<Option<i64>, _>("v")?.unwrap_or(0) + 1;
    let release = Release {
        id: new_id(),
        app_id: app.id.clone(),
        version,
        slug_digest,
        config,
        addons,
        status: status.as_str().to_string(),
        description: description.to_string(),
        user_email: user_email.to_string(),
        created_at: now(),
    };
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO releases ({COLUMNS}, node) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    )))
    .bind(&release.id)
    .bind(&release.app_id)
    .bind(release.version)
    .bind(&release.slug_digest)
    .bind(json(&release.config)?)
    .bind(&release.status)
    .bind(&release.description)
    .bind(&release.user_email)
    .bind(&release.created_at)
    .bind(json(&release.addons)?)
    .bind(node)
    .execute(&mut **tx)
    .await?;
    Ok(release)
}

/// The newest succeeded release of `app`, read inside `tx`.
pub(super) async fn release_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    app: &App,
) -> Result<Option<Release>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM releases WHERE app_id = $1 AND status = 'succeeded' ORDER BY version DESC LIMIT 1"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(&app.id)
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(release_from_row).transpose()
}

/// A value as the JSON text a column holds.
fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StateError::Database(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pairs: &[(&str, &str)], expected: Result<(), &str>) {
        let config: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match (check_config(&config), expected) {
            (Ok(()), Ok(())) => {}
            (Err(e), Err(want)) => {
                assert!(e.to_string().contains(want), "{e} should contain {want}")
            }
            (got, want) => panic!("{pairs:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn config_rules() {
        check(&[("FOO", "bar"), ("lower_case_1", "")], Ok(()));
        check(
            &[("BAD-KEY", "x")],
            Err("invalid config var name `BAD-KEY`"),
        );
        check(&[("", "x")], Err("invalid config var name"));
        check(&[("KUMO_APP_NAME", "x")], Err("reserved"));
        check(
            &[("KUMO_ALLOWED_HOSTS", "api.example.com, *.internal:5432")],
            Ok(()),
        );
        check(&[("KUMO_ALLOWED_HOSTS", "")], Ok(()));
        check(
            &[("KUMO_ALLOWED_HOSTS", "ok.example, http://x")],
            Err("invalid KUMO_ALLOWED_HOSTS entry `http://x`"),
        );
        let big = "x".repeat(MAX_CONFIG_BYTES);
        check(&[("BIG", &big)], Err("over the limit of 32768 bytes"));
    }
}
