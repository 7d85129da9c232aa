//! Add-ons and their attachments in the ledger. An add-on belongs to its
//! billing app and may be attached to several apps; each attach and detach
//! is one transaction with the release it makes, so the ledger never shows an
//! attachment without its config vars or the other way round.

use super::releases::{Release, ReleaseStatus, insert_release, release_in};
use super::{App, Result, State, StateError, new_id, now, text};
use crate::addons::{AddonGrant, Resource};
use sqlx::{AssertSqlSafe, Row};
use std::collections::BTreeMap;

/// Where an add-on stands, as Heroku names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddonState {
    Provisioning,
    Provisioned,
    Deprovisioned,
}

impl AddonState {
    pub fn as_str(self) -> &'static str {
        match self {
            AddonState::Provisioning => "provisioning",
            AddonState::Provisioned => "provisioned",
            AddonState::Deprovisioned => "deprovisioned",
        }
    }
}

/// An add-on as the ledger holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addon {
    pub id: String,
    pub name: String,
    /// The billing app.
    pub app_id: String,
    pub app_name: String,
    /// The service as it was asked for (`heroku-postgresql` stays so).
    pub service: String,
    /// The plan's own name: `essential-0`.
    pub plan: String,
    pub state: String,
    /// `None` while provisioning.
    pub resource: Option<Resource>,
    pub created_at: String,
    pub updated_at: String,
}

/// One attachment of an add-on to an app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub id: String,
    /// `DATABASE`.
    pub name: String,
    pub addon_id: String,
    pub addon_name: String,
    /// The add-on's billing app.
    pub addon_app_id: String,
    pub addon_app_name: String,
    /// The add-on's service as asked for, and its plan: `heroku-postgresql`, `essential-0`.
    pub addon_service: String,
    pub addon_plan: String,
    pub app_id: String,
    pub app_name: String,
    pub created_at: String,
}

const ADDON_COLUMNS: &str = "d.id, d.name, d.app_id, a.name AS app_name, d.service, d.plan, d.state, d.resource, d.created_at, d.updated_at";

const ATTACHMENT_SELECT: &str = "SELECT t.id, t.name, t.addon_id, d.name AS addon_name, d.app_id AS addon_app_id, b.name AS addon_app_name, d.service AS addon_service, d.plan AS addon_plan, t.app_id, a.name AS app_name, t.created_at FROM addon_attachments t JOIN addons d ON d.id = t.addon_id JOIN apps a ON a.id = t.app_id JOIN apps b ON b.id = d.app_id";

fn addon_from_row(row: &sqlx::any::AnyRow) -> Result<Addon> {
    let resource = row
        .try_get::<Option<String>, _>("resource")?
        .map(|json| serde_json::from_str(&json))
        .transpose()
        .map_err(|e| StateError::Database(e.into()))?;
    Ok(Addon {
        id: text(row, "id")?,
        name: text(row, "name")?,
        app_id: text(row, "app_id")?,
        app_name: text(row, "app_name")?,
        service: text(row, "service")?,
        plan: text(row, "plan")?,
        state: text(row, "state")?,
        resource,
        created_at: text(row, "created_at")?,
        updated_at: text(row, "updated_at")?,
    })
}

fn attachment_from_row(row: &sqlx::any::AnyRow) -> Result<Attachment> {
    Ok(Attachment {
        id: text(row, "id")?,
        name: text(row, "name")?,
        addon_id: text(row, "addon_id")?,
        addon_name: text(row, "addon_name")?,
        addon_app_id: text(row, "addon_app_id")?,
        addon_app_name: text(row, "addon_app_name")?,
        addon_service: text(row, "addon_service")?,
        addon_plan: text(row, "addon_plan")?,
        app_id: text(row, "app_id")?,
        app_name: text(row, "app_name")?,
        created_at: text(row, "created_at")?,
    })
}

/// What an attach adds to a release: the grant, and its config vars' values.
pub struct NewAttachment<'a> {
    pub app: &'a App,
    pub name: &'a str,
    pub grant: AddonGrant,
    pub vars: BTreeMap<String, String>,
    pub user_email: &'a str,
    pub status: ReleaseStatus,
}

impl State {
    /// Records a new add-on of `app` as `provisioning`: its name is taken from
    /// now on, and a server that stops before it is provisioned leaves a row
    /// [`State::stale_provisioning`] finds.
    pub async fn begin_addon(
        &self,
        app: &App,
        name: &str,
        service: &str,
        plan: &str,
    ) -> Result<Addon> {
        let mut tx = self.pool().begin().await?;
        let taken = sqlx::query("SELECT id FROM addons WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StateError::Invalid(format!(
                "Name {name} is already taken by another add-on: choose another with `--name`, or leave it out for a generated one"
            )));
        }
        let (id, at) = (new_id(), now());
        sqlx::query(
            "INSERT INTO addons (id, name, app_id, service, plan, state, resource, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 'provisioning', NULL, $6, $6)",
        )
        .bind(&id)
        .bind(name)
        .bind(&app.id)
        .bind(service)
        .bind(plan)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.addon(&id)
            .await?
            .ok_or_else(|| StateError::Database(anyhow::anyhow!("add-on {id} vanished")))
    }

    /// An add-on by id or name.
    pub async fn addon(&self, id_or_name: &str) -> Result<Option<Addon>> {
        let sql = format!(
            "SELECT {ADDON_COLUMNS} FROM addons d JOIN apps a ON a.id = d.app_id WHERE d.id = $1 OR d.name = $1"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id_or_name)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(addon_from_row).transpose()
    }

    /// Every add-on, oldest first.
    pub async fn all_addons(&self) -> Result<Vec<Addon>> {
        self.addons_where("TRUE", None).await
    }

    /// The add-ons billed to `app`, oldest first.
    pub async fn addons_billed_to(&self, app: &App) -> Result<Vec<Addon>> {
        self.addons_where("d.app_id = $1", Some(&app.id)).await
    }

    /// The add-on whose resource holds the bucket access key `key`, if any:
    /// one row, found in SQL, since every S3 request asks.
    pub async fn addon_with_bucket_key(&self, key: &str) -> Result<Option<Addon>> {
        let pattern = format!("%\"access_key_id\":{}%", serde_json::json!(key));
        let found = self
            .addons_where("d.resource LIKE $1", Some(&pattern))
            .await?;
        // The pattern narrows the rows; the parsed resource decides.
        Ok(found.into_iter().find(|a| {
            matches!(&a.resource, Some(Resource::Bucket { access_key_id, .. }) if access_key_id == key)
        }))
    }

    /// Add-ons left `provisioning` for over `secs` seconds: their server
    /// stopped while it provisioned them.
    pub async fn stale_provisioning(&self, secs: i64) -> Result<Vec<Addon>> {
        let cutoff =
            super::format_time(time::OffsetDateTime::now_utc() - time::Duration::seconds(secs));
        let sql = format!(
            "SELECT {ADDON_COLUMNS} FROM addons d JOIN apps a ON a.id = d.app_id
             WHERE d.state = 'provisioning' AND d.updated_at < $1 ORDER BY d.created_at, d.name"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(cutoff)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(addon_from_row).collect()
    }

    /// The add-ons matching `filter` (on `addons d`, with `$1` bound to `arg`).
    async fn addons_where(&self, filter: &str, arg: Option<&str>) -> Result<Vec<Addon>> {
        let sql = format!(
            "SELECT {ADDON_COLUMNS} FROM addons d JOIN apps a ON a.id = d.app_id WHERE {filter} ORDER BY d.created_at, d.name"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        if let Some(arg) = arg {
            query = query.bind(arg);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(addon_from_row).collect()
    }

    /// Removes an add-on's row (after its resource is gone, or when its
    /// provisioning failed); its attachments must be gone already.
    pub async fn delete_addon(&self, addon: &Addon) -> Result<()> {
        sqlx::query("DELETE FROM addons WHERE id = $1")
            .bind(&addon.id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The attachments of `app`, oldest first.
    pub async fn attachments_of_app(&self, app: &App) -> Result<Vec<Attachment>> {
        let sql = format!("{ATTACHMENT_SELECT} WHERE t.app_id = $1 ORDER BY t.created_at, t.name");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(&app.id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(attachment_from_row).collect()
    }

    /// The attachments of `addon`, oldest first.
    pub async fn attachments_of_addon(&self, addon: &Addon) -> Result<Vec<Attachment>> {
        let sql =
            format!("{ATTACHMENT_SELECT} WHERE t.addon_id = $1 ORDER BY t.created_at, t.name");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(&addon.id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(attachment_from_row).collect()
    }

    /// Every attachment, oldest first.
    pub async fn all_attachments(&self) -> Result<Vec<Attachment>> {
        let sql = format!("{ATTACHMENT_SELECT} ORDER BY t.created_at, t.name");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(attachment_from_row).collect()
    }

    /// An attachment by id.
    pub async fn attachment(&self, id: &str) -> Result<Option<Attachment>> {
        let sql = format!("{ATTACHMENT_SELECT} WHERE t.id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(attachment_from_row).transpose()
    }

    /// Attaches `addon` as `new.name` to `new.app` in one transaction with the
    /// release that sets its config vars and grants it (`Attach DATABASE
    /// (@ref:postgresql-curved-12345)`). A `provisioning` add-on becomes
    /// `provisioned` with `resource` in the same transaction.
    pub async fn attach(
        &self,
        addon: &Addon,
        resource: &Resource,
        new: NewAttachment<'_>,
    ) -> Result<(Attachment, Release)> {
        let mut tx = self.pool().begin().await?;
        let at = now();
        if addon.state == AddonState::Provisioning.as_str() {
            let json =
                serde_json::to_string(resource).map_err(|e| StateError::Database(e.into()))?;
            sqlx::query(
                "UPDATE addons SET state = 'provisioned', resource = $1, updated_at = $2 WHERE id = $3",
            )
            .bind(json)
            .bind(&at)
            .bind(&addon.id)
            .execute(&mut *tx)
            .await?;
        }
        let taken = sqlx::query("SELECT id FROM addon_attachments WHERE app_id = $1 AND name = $2")
            .bind(&new.app.id)
            .bind(new.name)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StateError::Invalid(format!(
                "{} already has an attachment named {}: choose another with `--as`",
                new.app.name, new.name
            )));
        }
        let current = release_in(&mut tx, new.app).await?;
        let (slug, mut config, mut addons) = match current {
            Some(r) => (r.slug_digest, r.config, r.addons),
            None => Default::default(),
        };
        if let Some(var) = new.vars.keys().find(|k| config.contains_key(*k)) {
            return Err(StateError::Invalid(format!(
                "config var {var} of {} is already set: unset it (`kumo config:unset {var}`) or attach under another name with `--as`",
                new.app.name
            )));
        }
        config.extend(new.vars);
        let description = format!("Attach {} (@ref:{})", new.name, addon.name);
        addons.push(new.grant);
        let id = new_id();
        sqlx::query(
            "INSERT INTO addon_attachments (id, addon_id, app_id, name, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(&addon.id)
        .bind(&new.app.id)
        .bind(new.name)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        let release = insert_release(
            &mut tx,
            new.app,
            slug,
            config,
            addons,
            &description,
            new.user_email,
            new.status,
            &self.node,
        )
        .await?;
        tx.commit().await?;
        let attachment = self
            .attachment(&id)
            .await?
            .ok_or_else(|| StateError::Database(anyhow::anyhow!("attachment {id} vanished")))?;
        Ok((attachment, release))
    }

    /// Removes `attachment` from `app` in one transaction with the release
    /// that drops its config vars and its grant (`Detach DATABASE (@ref:…)`).
    pub async fn detach(
        &self,
        attachment: &Attachment,
        app: &App,
        user_email: &str,
        status: ReleaseStatus,
    ) -> Result<Release> {
        let mut tx = self.pool().begin().await?;
        let gone = sqlx::query("DELETE FROM addon_attachments WHERE id = $1")
            .bind(&attachment.id)
            .execute(&mut *tx)
            .await?;
        if gone.rows_affected() == 0 {
            return Err(StateError::NotFound(format!(
                "Couldn't find that add-on attachment: {} was detached already",
                attachment.name
            )));
        }
        let current = release_in(&mut tx, app).await?;
        let (slug, mut config, mut addons) = match current {
            Some(r) => (r.slug_digest, r.config, r.addons),
            None => Default::default(),
        };
        addons.retain(|grant| {
            let this = grant.attachment == attachment.name && grant.addon_id == attachment.addon_id;
            if this {
                for var in &grant.config_vars {
                    config.remove(var);
                }
            }
            !this
        });
        let description = format!(
            "Detach {} (@ref:{})",
            attachment.name, attachment.addon_name
        );
        let release = insert_release(
            &mut tx,
            app,
            slug,
            config,
            addons,
            &description,
            user_email,
            status,
            &self.node,
        )
        .await?;
        tx.commit().await?;
        Ok(release)
    }

    /// Records `addon`'s new plan, and on each app it is attached to a release
    /// whose grant names it (`addon_plan_names`), all in one transaction.
    pub async fn change_addon_plan(
        &self,
        addon: &Addon,
        service: &str,
        plan: &str,
        user_email: &str,
    ) -> Result<Vec<(App, Release)>> {
        let attachments = self.attachments_of_addon(addon).await?;
        let mut apps = Vec::new();
        for attachment in &attachments {
            if let Some(app) = self.app(&attachment.app_id).await? {
                apps.push(app);
            }
        }
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE addons SET plan = $1, updated_at = $2 WHERE id = $3")
            .bind(plan)
            .bind(now())
            .bind(&addon.id)
            .execute(&mut *tx)
            .await?;
        let full = format!("{service}:{plan}");
        let mut releases = Vec::new();
        for app in apps {
            let Some(current) = release_in(&mut tx, &app).await? else {
                continue;
            };
            let mut addons = current.addons;
            for grant in addons.iter_mut().filter(|g| g.addon_id == addon.id) {
                grant.plan = full.clone();
            }
            let status = ReleaseStatus::Succeeded;
            let description = format!("Change {} to {full}", addon.name);
            let release = insert_release(
                &mut tx,
                &app,
                current.slug_digest,
                current.config,
                addons,
                &description,
                user_email,
                status,
                &self.node,
            )
            .await?;
            releases.push((app, release));
        }
        tx.commit().await?;
        Ok(releases)
    }
}
