//! Pipelines: apps coupled at stages (development, staging, production, …),
//! and promotions, which released one app's slug on the apps of a later stage.
//!
//! Who may see a pipeline: its owner, an admin, and anyone who may use one of
//! its apps. Promotion targets keep the release they made; their status is
//! that release's, read when asked, so every node answers the same.

use super::apps::{check_free, check_name};
use super::{Account, App, Result, State, StateError, new_id, now, text};
use sqlx::{AssertSqlSafe, Row};

/// The stages an app may be coupled at, in Heroku's order.
const STAGES: &[&str] = &["test", "review", "development", "staging", "production"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pipeline {
    pub id: String,
    pub name: String,
    pub owner_id: String,
    pub created_at: String,
    pub updated_at: String,
}

/// An app's place in a pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coupling {
    pub id: String,
    pub pipeline_id: String,
    pub pipeline_name: String,
    pub app_id: String,
    pub app_name: String,
    pub stage: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Promotion {
    pub id: String,
    pub pipeline_id: String,
    pub source_app_id: String,
    pub source_release_id: String,
    pub created_at: String,
}

/// One app a promotion released on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromotionTarget {
    pub id: String,
    pub promotion_id: String,
    pub app_id: String,
    /// The release the promotion made; `None` if it could not make one.
    pub release_id: Option<String>,
    /// `pending`, `succeeded` or `failed`: the release's status.
    pub status: String,
    pub error_message: Option<String>,
}

const PIPELINE_COLUMNS: &str = "p.id, p.name, p.owner_id, p.created_at, p.updated_at";

/// Pipelines `$1` (an account id) may see; `$2` is 1 for an admin.
const VISIBLE: &str = "(p.owner_id = $1 OR $2 = 1 OR EXISTS (
    SELECT 1 FROM pipeline_couplings c JOIN apps a ON a.id = c.app_id
    WHERE c.pipeline_id = p.id AND (a.owner_id = $1
        OR EXISTS (SELECT 1 FROM collaborators k WHERE k.app_id = a.id AND k.account_id = $1))))";

const COUPLING_COLUMNS: &str = "c.id, c.pipeline_id, p.name AS pipeline_name, c.app_id, a.name AS app_name, c.stage, c.created_at, c.updated_at";
const COUPLING_FROM: &str =
    "pipeline_couplings c JOIN pipelines p ON p.id = c.pipeline_id JOIN apps a ON a.id = c.app_id";

fn pipeline_from_row(row: &sqlx::any::AnyRow) -> Result<Pipeline> {
    Ok(Pipeline {
        id: text(row, "id")?,
        name: text(row, "name")?,
        owner_id: text(row, "owner_id")?,
        created_at: text(row, "created_at")?,
        updated_at: text(row, "updated_at")?,
    })
}

fn coupling_from_row(row: &sqlx::any::AnyRow) -> Result<Coupling> {
    Ok(Coupling {
        id: text(row, "id")?,
        pipeline_id: text(row, "pipeline_id")?,
        pipeline_name: text(row, "pipeline_name")?,
        app_id: text(row, "app_id")?,
        app_name: text(row, "app_name")?,
        stage: text(row, "stage")?,
        created_at: text(row, "created_at")?,
        updated_at: text(row, "updated_at")?,
    })
}

/// Refuses a stage Heroku does not have.
fn check_stage(stage: &str) -> Result<()> {
    if STAGES.contains(&stage) {
        Ok(())
    } else {
        Err(StateError::Invalid(format!(
            "invalid stage `{stage}`: use one of {}",
            STAGES.join(", ")
        )))
    }
}

impl State {
    pub async fn create_pipeline(&self, owner: &Account, name: &str) -> Result<Pipeline> {
        let (id, at) = self
            .insert_named(("pipelines", "pipeline"), name, owner, ("", ""))
            .await?;
        Ok(Pipeline {
            id,
            name: name.to_string(),
            owner_id: owner.id.clone(),
            created_at: at.clone(),
            updated_at: at,
        })
    }

    /// The pipelines `account` may see, by name; only those named `name` if given.
    pub async fn pipelines_for(
        &self,
        account: &Account,
        name: Option<&str>,
    ) -> Result<Vec<Pipeline>> {
        let sql = format!(
            "SELECT {PIPELINE_COLUMNS} FROM pipelines p WHERE {VISIBLE} AND ($3 = '' OR p.name = $3) ORDER BY p.name"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(&account.id)
            .bind(i64::from(account.admin))
            .bind(name.unwrap_or(""))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(pipeline_from_row).collect()
    }

    /// A pipeline `account` may see, by id or name.
    pub async fn pipeline_for(&self, account: &Account, id_or_name: &str) -> Result<Pipeline> {
        let sql = format!(
            "SELECT {PIPELINE_COLUMNS} FROM pipelines p WHERE {VISIBLE} AND (p.id = $3 OR p.name = $3)"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(&account.id)
            .bind(i64::from(account.admin))
            .bind(id_or_name)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref()
            .map(pipeline_from_row)
            .transpose()?
            .ok_or_else(|| {
                StateError::NotFound(format!(
                    "Couldn't find pipeline {id_or_name}: `heroku pipelines` lists yours."
                ))
            })
    }

    pub async fn rename_pipeline(&self, pipeline: &Pipeline, name: &str) -> Result<Pipeline> {
        check_name("pipeline", name)?;
        let mut tx = self.pool().begin().await?;
        check_free(&mut tx, "pipelines", name, &pipeline.id).await?;
        let at = now();
        sqlx::query("UPDATE pipelines SET name = $1, updated_at = $2 WHERE id = $3")
            .bind(name)
            .bind(&at)
            .bind(&pipeline.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Pipeline {
            name: name.to_string(),
            updated_at: at,
            ..pipeline.clone()
        })
    }

    /// Deletes a pipeline with its couplings and promotions; its apps stay.
    pub async fn delete_pipeline(&self, pipeline: &Pipeline) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "DELETE FROM promotion_targets WHERE promotion_id IN
                (SELECT id FROM pipeline_promotions WHERE pipeline_id = $1)",
        )
        .bind(&pipeline.id)
        .execute(&mut *tx)
        .await?;
        for table in ["pipeline_promotions", "pipeline_couplings"] {
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE pipeline_id = $1"
            )))
            .bind(&pipeline.id)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM pipelines WHERE id = $1")
            .bind(&pipeline.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Couples `app` to `pipeline` at `stage`; an app is in one pipeline at most.
    pub async fn couple(&self, pipeline: &Pipeline, app: &App, stage: &str) -> Result<Coupling> {
        check_stage(stage)?;
        let mut tx = self.pool().begin().await?;
        let coupled = sqlx::query(
            "SELECT p.name FROM pipeline_couplings c JOIN pipelines p ON p.id = c.pipeline_id WHERE c.app_id = $1",
        )
        .bind(&app.id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = coupled {
            return Err(StateError::Conflict(format!(
                "{} is already in the pipeline {}: remove it first with `heroku pipelines:remove -a {}`",
                app.name,
                text(&row, "name")?,
                app.name
            )));
        }
        let (id, at) = (new_id(), now());
        sqlx::query(
            "INSERT INTO pipeline_couplings (id, pipeline_id, app_id, stage, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&id)
        .bind(&pipeline.id)
        .bind(&app.id)
        .bind(stage)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Coupling {
            id,
            pipeline_id: pipeline.id.clone(),
            pipeline_name: pipeline.name.clone(),
            app_id: app.id.clone(),
            app_name: app.name.clone(),
            stage: stage.to_string(),
            created_at: at.clone(),
            updated_at: at,
        })
    }

    /// A coupling by id.
    pub async fn coupling(&self, id: &str) -> Result<Option<Coupling>> {
        self.coupling_where("c.id = $1", id).await
    }

    /// The coupling of `app`, if it is in a pipeline.
    pub async fn coupling_of(&self, app: &App) -> Result<Option<Coupling>> {
        self.coupling_where("c.app_id = $1", &app.id).await
    }

    async fn coupling_where(&self, filter: &str, value: &str) -> Result<Option<Coupling>> {
        let sql = format!("SELECT {COUPLING_COLUMNS} FROM {COUPLING_FROM} WHERE {filter}");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(value)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(coupling_from_row).transpose()
    }

    /// The couplings of `pipeline`, by app name.
    pub async fn couplings(&self, pipeline: &Pipeline) -> Result<Vec<Coupling>> {
        let sql = format!(
            "SELECT {COUPLING_COLUMNS} FROM {COUPLING_FROM} WHERE c.pipeline_id = $1 ORDER BY a.name"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(&pipeline.id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(coupling_from_row).collect()
    }

    pub async fn set_stage(&self, coupling: &Coupling, stage: &str) -> Result<Coupling> {
        check_stage(stage)?;
        let at = now();
        sqlx::query("UPDATE pipeline_couplings SET stage = $1, updated_at = $2 WHERE id = $3")
            .bind(stage)
            .bind(&at)
            .bind(&coupling.id)
            .execute(self.pool())
            .await?;
        Ok(Coupling {
            stage: stage.to_string(),
            updated_at: at,
            ..coupling.clone()
        })
    }

    pub async fn uncouple(&self, coupling: &Coupling) -> Result<()> {
        sqlx::query("DELETE FROM pipeline_couplings WHERE id = $1")
            .bind(&coupling.id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Records a promotion of `source_release` of `source` and what it did on
    /// each target app: the release it made, or why it made none.
    pub async fn record_promotion(
        &self,
        pipeline: &Pipeline,
        source: &App,
        source_release: &str,
        targets: &[(App, std::result::Result<String, String>)],
    ) -> Result<Promotion> {
        let promotion = Promotion {
            id: new_id(),
            pipeline_id: pipeline.id.clone(),
            source_app_id: source.id.clone(),
            source_release_id: source_release.to_string(),
            created_at: now(),
        };
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO pipeline_promotions (id, pipeline_id, source_app_id, source_release_id, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&promotion.id)
        .bind(&promotion.pipeline_id)
        .bind(&promotion.source_app_id)
        .bind(&promotion.source_release_id)
        .bind(&promotion.created_at)
        .execute(&mut *tx)
        .await?;
        for (app, outcome) in targets {
            let (release, error) = match outcome {
                Ok(release) => (Some(release.as_str()), None),
                Err(why) => (None, Some(why.as_str())),
            };
            sqlx::query(
                "INSERT INTO promotion_targets (id, promotion_id, app_id, release_id, error_message, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(new_id())
            .bind(&promotion.id)
            .bind(&app.id)
            .bind(release)
            .bind(error)
            .bind(&promotion.created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(promotion)
    }

    pub async fn promotion(&self, id: &str) -> Result<Option<Promotion>> {
        let row = sqlx::query(
            "SELECT id, pipeline_id, source_app_id, source_release_id, created_at FROM pipeline_promotions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref()
            .map(|row| {
                Ok(Promotion {
                    id: text(row, "id")?,
                    pipeline_id: text(row, "pipeline_id")?,
                    source_app_id: text(row, "source_app_id")?,
                    source_release_id: text(row, "source_release_id")?,
                    created_at: text(row, "created_at")?,
                })
            })
            .transpose()
    }

    /// The targets of `promotion`, each with its release's status now.
    pub async fn promotion_targets(&self, promotion: &Promotion) -> Result<Vec<PromotionTarget>> {
        let rows = sqlx::query(
            "SELECT t.id, t.app_id, t.release_id, t.error_message, r.status
             FROM promotion_targets t LEFT JOIN releases r ON r.id = t.release_id
             WHERE t.promotion_id = $1 ORDER BY t.id",
        )
        .bind(&promotion.id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let release_id = row.try_get::<Option<String>, _>("release_id")?;
                let (status, error_message) = target_status(
                    release_id.is_some(),
                    row.try_get::<Option<String>, _>("status")?.as_deref(),
                    row.try_get::<Option<String>, _>("error_message")?,
                );
                Ok(PromotionTarget {
                    id: text(row, "id")?,
                    promotion_id: promotion.id.clone(),
                    app_id: text(row, "app_id")?,
                    release_id,
                    status: status.to_string(),
                    error_message,
                })
            })
            .collect()
    }
}

/// A promotion target's status and error from what it recorded (whether it
/// made a release, and why not) and its release's status now (`None` once
/// the release is gone with its app).
fn target_status(
    made_release: bool,
    release_status: Option<&str>,
    error: Option<String>,
) -> (&'static str, Option<String>) {
    match (made_release, release_status) {
        (true, Some("pending")) => ("pending", error),
        (true, Some("succeeded")) => ("succeeded", error),
        (true, Some(_)) => (
            "failed",
            error.or_else(|| {
                Some("the release phase failed: `heroku releases:output` shows why".into())
            }),
        ),
        (true, None) => (
            "failed",
            error.or_else(|| Some("the target app no longer exists".into())),
        ),
        (false, _) => ("failed", error),
    }
}

#[cfg(test)]
mod tests {
    use super::target_status;

    #[test]
    fn a_target_is_as_its_release_is() {
        let check =
            |made, release: Option<&str>, error: Option<&str>, expected: (&str, Option<&str>)| {
                let (status, why) = target_status(made, release, error.map(str::to_string));
                assert_eq!(
                    (status, why.as_deref()),
                    expected,
                    "{made} {release:?} {error:?}"
                );
            };
        check(true, Some("pending"), None, ("pending", None));
        check(true, Some("succeeded"), None, ("succeeded", None));
        check(
            true,
            Some("failed"),
            None,
            (
                "failed",
                Some("the release phase failed: `heroku releases:output` shows why"),
            ),
        );
        check(
            true,
            None,
            None,
            ("failed", Some("the target app no longer exists")),
        );
        check(
            false,
            None,
            Some("slug too big"),
            ("failed", Some("slug too big")),
        );
    }
}
