//! Collaborators: other accounts that may act on an app (all but destroying it).

use super::{Account, App, Result, State, StateError, now, text};

/// An account that collaborates on an app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collaborator {
    pub account_id: String,
    pub email: String,
    pub created_at: String,
}

impl State {
    /// Whether `account` collaborates on `app`.
    pub async fn collaborates(&self, app: &App, account: &Account) -> Result<bool> {
        let row = sqlx::query(
            "SELECT account_id FROM collaborators WHERE app_id = $1 AND account_id = $2",
        )
        .bind(&app.id)
        .bind(&account.id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.is_some())
    }

    pub async fn collaborators(&self, app: &App) -> Result<Vec<Collaborator>> {
        let rows = sqlx::query(
            "SELECT c.account_id, a.email, c.created_at FROM collaborators c JOIN accounts a ON a.id = c.account_id
             WHERE c.app_id = $1 ORDER BY a.email",
        )
        .bind(&app.id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Collaborator {
                    account_id: text(row, "account_id")?,
                    email: text(row, "email")?,
                    created_at: text(row, "created_at")?,
                })
            })
            .collect()
    }

    /// Adds the account with `email` as a collaborator, in one transaction.
    pub async fn add_collaborator(&self, app: &App, email: &str) -> Result<Collaborator> {
        let email = email.trim().to_ascii_lowercase();
        let mut tx = self.pool().begin().await?;
        let account = sqlx::query("SELECT id FROM accounts WHERE email = $1 OR id = $1")
            .bind(&email)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| {
                StateError::NotFound(format!(
                    "Couldn't find the account {email}: an admin creates it with `kumo accounts:create {email}`."
                ))
            })?;
        let account_id = text(&account, "id")?;
        if account_id == app.owner_id {
            return Err(StateError::Invalid(format!(
                "{email} owns {} already.",
                app.name
            )));
        }
        let existing = sqlx::query(
            "SELECT account_id FROM collaborators WHERE app_id = $1 AND account_id = $2",
        )
        .bind(&app.id)
        .bind(&account_id)
        .fetch_optional(&mut *tx)
        .await?;
        if existing.is_some() {
            return Err(StateError::Conflict(format!(
                "{email} is already a collaborator on {}.",
                app.name
            )));
        }
        let created_at = now();
        sqlx::query(
            "INSERT INTO collaborators (app_id, account_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(&app.id)
        .bind(&account_id)
        .bind(&created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Collaborator {
            account_id,
            email,
            created_at,
        })
    }

    pub async fn remove_collaborator(&self, app: &App, email_or_id: &str) -> Result<()> {
        let key = email_or_id.trim().to_ascii_lowercase();
        let removed = sqlx::query(
            "DELETE FROM collaborators WHERE app_id = $1 AND account_id IN (SELECT id FROM accounts WHERE email = $2 OR id = $2)",
        )
        .bind(&app.id)
        .bind(&key)
        .execute(self.pool())
        .await?;
        if removed.rows_affected() == 0 {
            return Err(StateError::NotFound(format!(
                "{key} is not a collaborator on {}.",
                app.name
            )));
        }
        Ok(())
    }

    /// Every account, for the admin.
    pub async fn accounts(&self) -> Result<Vec<Account>> {
        let rows = sqlx::query("SELECT id, email, admin, created_at FROM accounts ORDER BY email")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(super::accounts::account_from_row).collect()
    }
}
