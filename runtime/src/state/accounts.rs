//! Accounts and their API tokens. Tokens are stored only as SHA-256 hashes.

use super::{Result, State, StateError, new_id, now, text};
use sha2::Digest as _;
use sqlx::Row;

/// A user of the platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub admin: bool,
    pub created_at: String,
}

impl State {
    /// Creates the admin account on first start and returns its token, once; `None` if it exists.
    pub async fn ensure_admin(&self, email: &str) -> Result<Option<String>> {
        let exists = sqlx::query("SELECT id FROM accounts WHERE admin = 1")
            .fetch_optional(self.pool())
            .await?;
        if exists.is_some() {
            return Ok(None);
        }
        let (_, token) = self.create_account(email, true).await?;
        Ok(Some(token))
    }

    /// Creates an account with a fresh token.
    pub async fn create_account(&self, email: &str, admin: bool) -> Result<(Account, String)> {
        if !email.contains('@') || email.len() > 254 || email.contains(char::is_whitespace) {
            return Err(StateError::Invalid(format!(
                "invalid email `{email}`: use an address like you@example.com"
            )));
        }
        let account = Account {
            id: new_id(),
            email: email.to_ascii_lowercase(),
            admin,
            created_at: now(),
        };
        let token = format!("kumo_{}", uuid::Uuid::new_v4().simple());
        let mut tx = self.pool().begin().await?;
        let taken = sqlx::query("SELECT id FROM accounts WHERE email = $1")
            .bind(&account.email)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StateError::Conflict(format!(
                "an account with email `{}` already exists",
                account.email
            )));
        }
        sqlx::query("INSERT INTO accounts (id, email, admin, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&account.id)
            .bind(&account.email)
            .bind(i64::from(admin))
            .bind(&account.created_at)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO tokens (token_hash, account_id, created_at) VALUES ($1, $2, $3)")
            .bind(hash_token(&token))
            .bind(&account.id)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((account, token))
    }

    /// The first admin account.
    pub async fn admin(&self) -> Result<Option<Account>> {
        let row = sqlx::query("SELECT id, email, admin, created_at FROM accounts WHERE admin = 1 ORDER BY created_at LIMIT 1")
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// The account a bearer token belongs to.
    pub async fn account_for_token(&self, token: &str) -> Result<Option<Account>> {
        let row = sqlx::query(
            "SELECT a.id, a.email, a.admin, a.created_at FROM tokens t JOIN accounts a ON a.id = t.account_id
             WHERE t.token_hash = $1",
        )
        .bind(hash_token(token))
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(account_from_row).transpose()
    }
}

pub(super) fn account_from_row(row: &sqlx::any::AnyRow) -> Result<Account> {
    Ok(Account {
        id: text(row, "id")?,
        email: text(row, "email")?,
        admin: row.try_get::<i64, _>("admin")? != 0,
        created_at: text(row, "created_at")?,
    })
}

fn hash_token(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}
