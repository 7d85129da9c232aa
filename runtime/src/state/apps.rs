//! Apps, who may act on them, their formation and their custom domains,
//! their restart counts and one-off numbers.

use super::{Account, Result, State, StateError, new_id, now, text};
use crate::sizes::DynoSize;
use sqlx::{AssertSqlSafe, Row};

/// At most this many dynos per app, as on Heroku.
pub const MAX_DYNOS_PER_APP: i64 = 100;

/// An app as the ledger holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct App {
    pub id: String,
    pub name: String,
    pub owner_id: String,
    pub owner_email: String,
    pub maintenance: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// One process type's line of the formation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormationLine {
    pub process_type: String,
    pub quantity: i64,
    pub size: DynoSize,
    pub updated_at: String,
}

/// Checks an app name against Heroku's rule: `^[a-z][a-z0-9-]{1,28}[a-z0-9]$`.
pub fn check_app_name(name: &str) -> Result<()> {
    check_name("app", name)
}

/// Checks the name of an app or pipeline (`kind`) against Heroku's app name rule.
pub(super) fn check_name(kind: &str, name: &str) -> Result<()> {
    let bytes = name.as_bytes();
    let ok = (3..=30).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[bytes.len() - 1] != b'-';
    if ok {
        Ok(())
    } else {
        Err(StateError::Invalid(format!(
            "invalid {kind} name `{name}`: use 3 to 30 lowercase letters, digits and dashes, starting with a letter and not ending with a dash"
        )))
    }
}

impl State {
    /// Inserts a row named `name` and owned by `owner` into `table` (`apps`,
    /// `pipelines`), the name checked as a `kind`'s and free; `more` are
    /// further columns and their SQL values. Returns its id and creation time.
    pub(super) async fn insert_named(
        &self,
        (table, kind): (&str, &str),
        name: &str,
        owner: &Account,
        more: (&str, &str),
    ) -> Result<(String, String)> {
        check_name(kind, name)?;
        let mut tx = self.pool().begin().await?;
        check_free(&mut tx, table, name, "").await?;
        let (id, at) = (new_id(), now());
        let (columns, values) = more;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {table} (id, name, owner_id, created_at, updated_at{columns}) VALUES ($1, $2, $3, $4, $4{values})"
        )))
        .bind(&id)
        .bind(name)
        .bind(&owner.id)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((id, at))
    }
}

/// Refuses `name` if a row of `table` (`apps`, `pipelines`) other than
/// `except` has it: names are unique, as Heroku's are.
pub(super) async fn check_free(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: &str,
    name: &str,
    except: &str,
) -> Result<()> {
    let taken = sqlx::query(AssertSqlSafe(format!(
        "SELECT id FROM {table} WHERE name = $1 AND id <> $2"
    )))
    .bind(name)
    .bind(except)
    .fetch_optional(&mut **tx)
    .await?;
    match taken {
        Some(_) => Err(StateError::Conflict(format!(
            "Name {name} is already taken"
        ))),
        None => Ok(()),
    }
}

const APP_COLUMNS: &str =
    "a.id, a.name, a.owner_id, o.email AS owner_email, a.maintenance, a.created_at, a.updated_at";

fn app_from_row(row: &sqlx::any::AnyRow) -> Result<App> {
    Ok(App {
        id: text(row, "id")?,
        name: text(row, "name")?,
        owner_id: text(row, "owner_id")?,
        owner_email: text(row, "owner_email")?,
        maintenance: row.try_get::<i64, _>("maintenance")? != 0,
        created_at: text(row, "created_at")?,
        updated_at: text(row, "updated_at")?,
    })
}

impl State {
    pub async fn create_app(&self, owner: &Account, name: &str) -> Result<App> {
        let (id, at) = self
            .insert_named(("apps", "app"), name, owner, (", maintenance", ", 0"))
            .await?;
        Ok(App {
            id,
            name: name.to_string(),
            owner_id: owner.id.clone(),
            owner_email: owner.email.clone(),
            maintenance: false,
            created_at: at.clone(),
            updated_at: at,
        })
    }

    /// The apps `account` may see: its own and those it collaborates on, or all of them for an admin.
    pub async fn apps_for(&self, account: &Account) -> Result<Vec<App>> {
        let sql = format!(
            "SELECT {APP_COLUMNS} FROM apps a JOIN accounts o ON o.id = a.owner_id
             WHERE a.owner_id = $1 OR $2 = 1
                OR EXISTS (SELECT 1 FROM collaborators c WHERE c.app_id = a.id AND c.account_id = $1)
             ORDER BY a.name"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(&account.id)
            .bind(i64::from(account.admin))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(app_from_row).collect()
    }

    /// Every app, for the data plane's start-up.
    pub async fn all_apps(&self) -> Result<Vec<App>> {
        let sql = format!(
            "SELECT {APP_COLUMNS} FROM apps a JOIN accounts o ON o.id = a.owner_id ORDER BY a.name"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(app_from_row).collect()
    }

    /// An app by name or id.
    pub async fn app(&self, name_or_id: &str) -> Result<Option<App>> {
        let sql = format!(
            "SELECT {APP_COLUMNS} FROM apps a JOIN accounts o ON o.id = a.owner_id WHERE a.name = $1 OR a.id = $1"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(name_or_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(app_from_row).transpose()
    }

    /// Renames `app` to `name`, checked as a new app's name and free. Every
    /// row keyed by the app's id (releases, formation, domains, add-ons,
    /// builds, its git repository) follows it unchanged.
    pub async fn rename_app(&self, app: &App, name: &str) -> Result<App> {
        check_app_name(name)?;
        let mut tx = self.pool().begin().await?;
        check_free(&mut tx, "apps", name, &app.id).await?;
        sqlx::query("UPDATE apps SET name = $1, updated_at = $2 WHERE id = $3")
            .bind(name)
            .bind(now())
            .bind(&app.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.app(&app.id)
            .await?
            .ok_or_else(|| StateError::NotFound("Couldn't find that app.".to_string()))
    }

    pub async fn set_maintenance(&self, app: &App, on: bool) -> Result<App> {
        sqlx::query("UPDATE apps SET maintenance = $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(on))
            .bind(now())
            .bind(&app.id)
            .execute(self.pool())
            .await?;
        self.app(&app.id)
            .await?
            .ok_or_else(|| StateError::NotFound("Couldn't find that app.".to_string()))
    }

    /// Deletes an app with its releases, formation and domains, in one transaction.
    pub async fn delete_app(&self, app: &App) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        for table in [
            "app_buildpacks",
            "builds",
            "collaborators",
            "domains",
            "formation",
            "pipeline_couplings",
            "release_outputs",
            "releases",
            "sni_endpoints",
            "acm_apps",
            "acm_certificates",
            "log_drains",
            "dyno_restarts",
            "one_off_numbers",
        ] {
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE app_id = $1"
            )))
            .bind(&app.id)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM apps WHERE id = $1")
            .bind(&app.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn formation(&self, app: &App) -> Result<Vec<FormationLine>> {
        let rows = sqlx::query(
            "SELECT process_type, quantity, size, updated_at FROM formation WHERE app_id = $1 ORDER BY process_type",
        )
        .bind(&app.id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let size: String = text(row, "size")?;
                Ok(FormationLine {
                    process_type: text(row, "process_type")?,
                    quantity: row.try_get("quantity")?,
                    size: size.parse().unwrap_or_default(),
                    updated_at: text(row, "updated_at")?,
                })
            })
            .collect()
    }

    /// Applies formation updates (`type`, optional quantity, optional size) in one transaction.
    /// Keeps the total at most [`MAX_DYNOS_PER_APP`].
    pub async fn scale(
        &self,
        app: &App,
        updates: &[(String, Option<i64>, Option<DynoSize>)],
    ) -> Result<Vec<FormationLine>> {
        let mut lines = self.formation(app).await?;
        for (process_type, quantity, size) in updates {
            if quantity.is_some_and(|q| q < 0) {
                return Err(StateError::Invalid(format!(
                    "invalid quantity for `{process_type}`: use 0 or more"
                )));
            }
            match lines.iter_mut().find(|l| &l.process_type == process_type) {
                Some(line) => {
                    if let Some(q) = quantity {
                        line.quantity = *q;
                    }
                    if let Some(s) = size {
                        line.size = *s;
                    }
                }
                None => lines.push(FormationLine {
                    process_type: process_type.clone(),
                    quantity: quantity.unwrap_or(0),
                    size: size.unwrap_or_default(),
                    updated_at: now(),
                }),
            }
        }
        // Heroku runs eco and basic dynos one per process type.
        if let Some(line) = lines
            .iter()
            .find(|l| matches!(l.size, DynoSize::Eco | DynoSize::Basic) && l.quantity > 1)
        {
            return Err(StateError::Invalid(format!(
                "`{}` can run at most 1 {} dyno per process type, not {}: scale it to 1 or use standard-1X or larger",
                line.process_type, line.size, line.quantity
            )));
        }
        // Saturating: a quantity near i64::MAX must be refused, not wrap or panic.
        let total = lines
            .iter()
            .fold(0i64, |sum, l| sum.saturating_add(l.quantity));
        if total > MAX_DYNOS_PER_APP {
            return Err(StateError::Invalid(format!(
                "Cannot run more than {MAX_DYNOS_PER_APP} dynos per app: the formation would have {total}"
            )));
        }
        let mut tx = self.pool().begin().await?;
        for line in &lines {
            sqlx::query("DELETE FROM formation WHERE app_id = $1 AND process_type = $2")
                .bind(&app.id)
                .bind(&line.process_type)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO formation (app_id, process_type, quantity, size, updated_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&app.id)
            .bind(&line.process_type)
            .bind(line.quantity)
            .bind(line.size.name())
            .bind(now())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.formation(app).await
    }

    /// Adds a custom domain; a hostname belongs to one app only.
    pub async fn add_domain(&self, app: &App, hostname: &str) -> Result<String> {
        let hostname = hostname.trim().trim_end_matches('.').to_ascii_lowercase();
        let valid = !hostname.is_empty()
            && hostname.len() <= 253
            && hostname.contains('.')
            && hostname.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !valid {
            return Err(StateError::Invalid(format!(
                "invalid hostname `{hostname}`: use a domain name like www.example.com"
            )));
        }
        let mut tx = self.pool().begin().await?;
        let taken = sqlx::query("SELECT app_id FROM domains WHERE hostname = $1")
            .bind(&hostname)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StateError::Conflict(format!(
                "{hostname} is already in use by an app"
            )));
        }
        sqlx::query("INSERT INTO domains (hostname, app_id, created_at) VALUES ($1, $2, $3)")
            .bind(&hostname)
            .bind(&app.id)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(hostname)
    }

    pub async fn remove_domain(&self, app: &App, hostname: &str) -> Result<()> {
        let removed = sqlx::query("DELETE FROM domains WHERE app_id = $1 AND hostname = $2")
            .bind(&app.id)
            .bind(hostname.trim().trim_end_matches('.').to_ascii_lowercase())
            .execute(self.pool())
            .await?;
        if removed.rows_affected() == 0 {
            return Err(StateError::NotFound(format!(
                "Couldn't find domain {hostname} on {}.",
                app.name
            )));
        }
        Ok(())
    }

    pub async fn domains(&self, app: &App) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT hostname FROM domains WHERE app_id = $1 ORDER BY hostname")
            .bind(&app.id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|row| text(row, "hostname")).collect()
    }
}

impl State {
    /// Counts a restart of `app`'s dynos: all (`""`), a process type or one dyno.
    pub async fn bump_restart(&self, app: &App, which: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO dyno_restarts (app_id, which, count) VALUES ($1, $2, 1)
             ON CONFLICT (app_id, which) DO UPDATE SET count = dyno_restarts.count + 1",
        )
        .bind(&app.id)
        .bind(which)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// `app`'s restart counts, by what was restarted.
    pub async fn restarts(&self, app: &App) -> Result<std::collections::BTreeMap<String, u64>> {
        let rows = sqlx::query("SELECT which, count FROM dyno_restarts WHERE app_id = $1")
            .bind(&app.id)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                let count: i64 = row.try_get("count")?;
                Ok((text(row, "which")?, count.max(0) as u64))
            })
            .collect()
    }

    /// The number of `app`'s next one-off dyno (`run.N`), unique across nodes.
    pub async fn next_one_off(&self, app: &App) -> Result<u64> {
        let row = sqlx::query(
            "INSERT INTO one_off_numbers (app_id, last) VALUES ($1, 1)
             ON CONFLICT (app_id) DO UPDATE SET last = one_off_numbers.last + 1
             RETURNING last",
        )
        .bind(&app.id)
        .fetch_one(self.pool())
        .await?;
        let last: i64 = row.try_get("last")?;
        Ok(last.max(1) as u64)
    }
}
