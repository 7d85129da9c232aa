//! Log drains in the ledger: each app's endpoints (at most
//! [`MAX_DRAINS_PER_APP`](crate::drains::MAX_DRAINS_PER_APP)), each with the
//! token it is known by.

use super::{App, Result, State, StateError, new_id, now, text};

/// A drain of an app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drain {
    pub id: String,
    pub app_id: String,
    pub app_name: String,
    pub url: String,
    /// `d.<uuid>`: stable for the drain's lifetime.
    pub token: String,
    pub created_at: String,
}

const DRAIN_COLUMNS: &str = "d.id, d.app_id, a.name AS app_name, d.url, d.token, d.created_at";

impl State {
    /// Adds a drain to `app`, in one transaction with the checks.
    pub async fn add_drain(&self, app: &App, url: &str) -> Result<Drain> {
        let mut tx = self.pool().begin().await?;
        let existing = sqlx::query("SELECT url FROM log_drains WHERE app_id = $1")
            .bind(&app.id)
            .fetch_all(&mut *tx)
            .await?;
        let urls: Vec<String> = existing
            .iter()
            .map(|r| text(r, "url"))
            .collect::<Result<_>>()?;
        if urls.iter().any(|u| u == url) {
            return Err(StateError::Conflict(format!(
                "{url} is already a drain of {}.",
                app.name
            )));
        }
        if urls.len() >= crate::drains::MAX_DRAINS_PER_APP {
            return Err(StateError::Invalid(format!(
                "{} already has {} drains, the most an app may have: remove one with `drains:remove URL`",
                app.name,
                urls.len()
            )));
        }
        let id = new_id();
        sqlx::query(
            "INSERT INTO log_drains (id, app_id, url, token, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(&app.id)
        .bind(url)
        .bind(format!("d.{}", new_id()))
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.drain(app, &id).await
    }

    pub async fn drains(&self, app: &App) -> Result<Vec<Drain>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DRAIN_COLUMNS} FROM log_drains d JOIN apps a ON a.id = d.app_id
             WHERE d.app_id = $1 ORDER BY d.created_at, d.url"
        )))
        .bind(&app.id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(drain_row).collect()
    }

    /// Every app's drains, for the servers that deliver them.
    pub async fn all_drains(&self) -> Result<Vec<Drain>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DRAIN_COLUMNS} FROM log_drains d JOIN apps a ON a.id = d.app_id ORDER BY d.id"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(drain_row).collect()
    }

    /// One of the app's drains, by id, URL or token.
    pub async fn drain(&self, app: &App, which: &str) -> Result<Drain> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DRAIN_COLUMNS} FROM log_drains d JOIN apps a ON a.id = d.app_id
             WHERE d.app_id = $1 AND (d.id = $2 OR d.url = $2 OR d.token = $2)"
        )))
        .bind(&app.id)
        .bind(which)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| {
            StateError::NotFound(format!(
                "Couldn't find the drain {which} on {}: `drains -a {}` lists them.",
                app.name, app.name
            ))
        })?;
        drain_row(&row)
    }

    pub async fn remove_drain(&self, app: &App, which: &str) -> Result<Drain> {
        let drain = self.drain(app, which).await?;
        sqlx::query("DELETE FROM log_drains WHERE id = $1")
            .bind(&drain.id)
            .execute(self.pool())
            .await?;
        Ok(drain)
    }
}

fn drain_row(row: &sqlx::any::AnyRow) -> Result<Drain> {
    Ok(Drain {
        id: text(row, "id")?,
        app_id: text(row, "app_id")?,
        app_name: text(row, "app_name")?,
        url: text(row, "url")?,
        token: text(row, "token")?,
        created_at: text(row, "created_at")?,
    })
}
