//! Builds: a source archive turned into a slug by the builder, then released.
//! Each build's status and output are kept with the app; an app may pin the
//! buildpack its builds use.

use super::{App, Result, State, new_id, now, text};
use sqlx::{AssertSqlSafe, Row};

/// One build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Build {
    pub id: String,
    pub app_id: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    /// Where the source came from (`source_blob.url`).
    pub source_url: String,
    /// The source's version (a commit), if the client said.
    pub source_version: Option<String>,
    /// The buildpack that built it, once known.
    pub buildpack: Option<String>,
    pub slug_digest: Option<String>,
    pub release_id: Option<String>,
    pub user_email: String,
    pub created_at: String,
    pub updated_at: String,
}

const COLUMNS: &str = "id, app_id, status, source_url, source_version, buildpack, slug_digest, release_id, user_email, created_at, updated_at";

fn build_from_row(row: &sqlx::any::AnyRow) -> Result<Build> {
    Ok(Build {
        id: text(row, "id")?,
        app_id: text(row, "app_id")?,
        status: text(row, "status")?,
        source_url: text(row, "source_url")?,
        source_version: row.try_get("source_version")?,
        buildpack: row.try_get("buildpack")?,
        slug_digest: row.try_get("slug_digest")?,
        release_id: row.try_get("release_id")?,
        user_email: text(row, "user_email")?,
        created_at: text(row, "created_at")?,
        updated_at: text(row, "updated_at")?,
    })
}

/// How a build ended.
pub struct BuildOutcome<'a> {
    pub succeeded: bool,
    pub buildpack: Option<&'a str>,
    pub slug_digest: Option<&'a str>,
    pub release_id: Option<&'a str>,
    pub output: &'a str,
}

/// The output of a build the server stopped during: what it had printed was
/// in the stopped server's memory only.
const INTERRUPTED_BUILD: &str = " !     The build did not finish: the Kumo server stopped while it ran, and it was marked failed when the server started again. Deploy again.\n !     Push rejected, failed to compile the app.\n";

impl State {
    /// Records a new, pending build.
    pub async fn create_build(
        &self,
        app: &App,
        source_url: &str,
        source_version: Option<&str>,
        user_email: &str,
    ) -> Result<Build> {
        let at = now();
        let build = Build {
            id: new_id(),
            app_id: app.id.clone(),
            status: "pending".to_string(),
            source_url: source_url.to_string(),
            source_version: source_version.map(str::to_string),
            buildpack: None,
            slug_digest: None,
            release_id: None,
            user_email: user_email.to_string(),
            created_at: at.clone(),
            updated_at: at,
        };
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO builds ({COLUMNS}, output, node) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, '', $12)"
        )))
        .bind(&build.id)
        .bind(&build.app_id)
        .bind(&build.status)
        .bind(&build.source_url)
        .bind(&build.source_version)
        .bind(&build.buildpack)
        .bind(&build.slug_digest)
        .bind(&build.release_id)
        .bind(&build.user_email)
        .bind(&build.created_at)
        .bind(&build.updated_at)
        .bind(&*self.node)
        .execute(self.pool())
        .await?;
        Ok(build)
    }

    /// Ends a pending build with its outcome and output, in one statement.
    pub async fn finish_build(&self, build: &Build, outcome: BuildOutcome<'_>) -> Result<()> {
        sqlx::query(
            "UPDATE builds SET status = $1, buildpack = $2, slug_digest = $3, release_id = $4, output = $5, updated_at = $6
             WHERE id = $7 AND status = 'pending'",
        )
        .bind(if outcome.succeeded { "succeeded" } else { "failed" })
        .bind(outcome.buildpack)
        .bind(outcome.slug_digest)
        .bind(outcome.release_id)
        .bind(outcome.output)
        .bind(now())
        .bind(&build.id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The app's builds, oldest first.
    pub async fn builds(&self, app: &App) -> Result<Vec<Build>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM builds WHERE app_id = $1 ORDER BY created_at, id"
        )))
        .bind(&app.id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(build_from_row).collect()
    }

    /// A build of `app` by id.
    pub async fn build(&self, app: &App, id: &str) -> Result<Option<Build>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM builds WHERE app_id = $1 AND id = $2"
        )))
        .bind(&app.id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(build_from_row).transpose()
    }

    /// A finished build's output, by build id alone (its URL is the credential).
    pub async fn build_output(&self, id: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT output FROM builds WHERE id = $1 AND status <> 'pending'")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(|r| text(r, "output")).transpose()
    }

    /// Pending builds and release phases a stop of their node cut short fail:
    /// at this node's start (`starting`) its own and those of nodes that are
    /// down; later only those of nodes that are down (this one's run).
    /// Returns them.
    pub async fn fail_interrupted_work(
        &self,
        starting: bool,
    ) -> Result<(Vec<Build>, Vec<super::Release>)> {
        let now = crate::nodes::now_ms();
        let up: Vec<String> = self
            .nodes()
            .await?
            .into_iter()
            .filter(|n| n.is_up(now))
            .map(|n| n.name)
            .collect();
        let interrupted = |node: &str| {
            if node == &*self.node || node.is_empty() {
                return starting;
            }
            !up.iter().any(|n| n == node)
        };
        let builds = self.fail_interrupted_builds(&interrupted).await?;
        let releases = self.fail_interrupted_releases(&interrupted).await?;
        Ok((builds, releases))
    }

    /// Pending builds whose node `interrupted` names fail. Returns them.
    async fn fail_interrupted_builds(
        &self,
        interrupted: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<Build>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS}, node FROM builds WHERE status = 'pending'"
        )))
        .fetch_all(self.pool())
        .await?;
        let mut pending = Vec::new();
        for row in &rows {
            if interrupted(&text(row, "node")?) {
                pending.push(build_from_row(row)?);
            }
        }
        for build in &pending {
            self.finish_build(
                build,
                BuildOutcome {
                    succeeded: false,
                    buildpack: None,
                    slug_digest: None,
                    release_id: None,
                    output: INTERRUPTED_BUILD,
                },
            )
            .await?;
        }
        Ok(pending)
    }

    /// The buildpack `app` is pinned to, if any.
    pub async fn pinned_buildpack(&self, app: &App) -> Result<Option<String>> {
        let row = sqlx::query("SELECT buildpack FROM app_buildpacks WHERE app_id = $1")
            .bind(&app.id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(|r| text(r, "buildpack")).transpose()
    }

    /// Pins `app` to `buildpack`, or clears the pin with `None`.
    pub async fn pin_buildpack(&self, app: &App, buildpack: Option<&str>) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM app_buildpacks WHERE app_id = $1")
            .bind(&app.id)
            .execute(&mut *tx)
            .await?;
        if let Some(buildpack) = buildpack {
            sqlx::query("INSERT INTO app_buildpacks (app_id, buildpack) VALUES ($1, $2)")
                .bind(&app.id)
                .bind(buildpack)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
