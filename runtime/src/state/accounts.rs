//! Accounts and their API tokens. Each token is an authorization (Heroku's
//! OAuth authorization): an id, a description and an optional expiry. The
//! token itself is stored only as its SHA-256 hash and shown once, when made.

use super::{Result, State, StateError, format_time, new_id, now, text};
use sha2::Digest as _;
use sqlx::{AssertSqlSafe, Row};
use time::OffsetDateTime;

/// The longest an authorization may last: one year, in seconds.
pub const MAX_EXPIRES_IN: i64 = 365 * 24 * 60 * 60;

/// The longest description an authorization may have, in characters.
const MAX_DESCRIPTION: usize = 255;

/// The description of the token an account is created with.
const ACCOUNT_TOKEN: &str = "Kumo API key";

/// A user of the platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub admin: bool,
    pub created_at: String,
}

/// One API token of an account, without the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    pub id: String,
    pub account_id: String,
    pub description: String,
    /// When its token stops working, in Unix seconds; `None` for never.
    pub expires_at: Option<i64>,
    pub created_at: String,
}

impl Authorization {
    /// Whole seconds until its token stops working (0 once less than one is
    /// left); `None` if it never does.
    pub fn expires_in(&self) -> Option<i64> {
        self.expires_at
            .map(|at| (at - ceil_seconds(OffsetDateTime::now_utc())).max(0))
    }
}

/// What a presented token turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenCheck {
    /// A live token of this account, and the authorization it belongs to.
    Valid(Account, Authorization),
    /// A token that stopped working at this time (RFC 3339).
    Expired(String),
    /// No token Kumo issued, or one that was revoked.
    Unknown,
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

    /// Creates an account with a fresh token that does not expire.
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
        let (_, token) = insert_token(&mut tx, &account, ACCOUNT_TOKEN, None).await?;
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

    /// Whose a bearer token is, and whether it still works: the expiry is
    /// checked in the same query that finds the account.
    pub async fn check_token(&self, token: &str) -> Result<TokenCheck> {
        let row = sqlx::query(
            "SELECT a.id, a.email, a.admin, a.created_at, t.expires_at,
                    t.id AS token_id, t.description, t.created_at AS token_created_at,
                    CAST(CASE WHEN t.expires_at IS NOT NULL AND t.expires_at <= $2 THEN 1 ELSE 0 END AS BIGINT) AS expired
             FROM tokens t JOIN accounts a ON a.id = t.account_id
             WHERE t.token_hash = $1",
        )
        .bind(hash_token(token))
        .bind(OffsetDateTime::now_utc().unix_timestamp())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(TokenCheck::Unknown);
        };
        if row.try_get::<i64, _>("expired")? != 0 {
            let at = row.try_get::<Option<i64>, _>("expires_at")?.unwrap_or(0);
            return Ok(TokenCheck::Expired(unix_time(at)));
        }
        let account = account_from_row(&row)?;
        let authorization = Authorization {
            id: text(&row, "token_id")?,
            account_id: account.id.clone(),
            description: text(&row, "description")?,
            expires_at: row.try_get::<Option<i64>, _>("expires_at")?,
            created_at: text(&row, "token_created_at")?,
        };
        Ok(TokenCheck::Valid(account, authorization))
    }

    /// Whether the authorization `id` still works: it was not revoked and has
    /// not expired. What a token opened (log sessions, attach URLs) asks this
    /// before it is used.
    pub async fn authorization_works(&self, id: &str) -> Result<bool> {
        let row = sqlx::query("SELECT expires_at FROM tokens WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let expires_at = row.try_get::<Option<i64>, _>("expires_at")?;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        Ok(expires_at.is_none_or(|at| at > now))
    }

    /// Makes a new token for `account`, valid for `expires_in` seconds (1 to
    /// [`MAX_EXPIRES_IN`]) or for good; returns it with its token, shown this once.
    ///
    /// A token never outlasts the one that made it (`made_with`): if that one
    /// expires, a new one must expire no later, or it is refused, naming the
    /// most `expires_in` may be. So expiry bounds what a leaked token can do.
    pub async fn create_authorization(
        &self,
        account: &Account,
        description: &str,
        expires_in: Option<i64>,
        made_with: &Authorization,
    ) -> Result<(Authorization, String)> {
        check_description(description)?;
        let expires_at = match expires_in {
            None => None,
            Some(seconds @ 1..=MAX_EXPIRES_IN) => {
                // From now rounded up to a whole second, so it lasts at least `seconds`.
                Some(ceil_seconds(OffsetDateTime::now_utc()) + seconds)
            }
            Some(seconds) => {
                return Err(StateError::Invalid(format!(
                    "invalid expires_in `{seconds}`: use 1 to {MAX_EXPIRES_IN} seconds (one year), or leave it out for a token that does not expire"
                )));
            }
        };
        if let Some(limit) = made_with.expires_at
            && expires_at.is_none_or(|at| at > limit)
        {
            return Err(outlasts(expires_in, limit));
        }
        let mut tx = self.pool().begin().await?;
        let made = insert_token(&mut tx, account, description, expires_at).await?;
        tx.commit().await?;
        Ok(made)
    }

    /// Every authorization of `account`, oldest first, expired ones included.
    pub async fn authorizations(&self, account: &Account) -> Result<Vec<Authorization>> {
        let rows = sqlx::query(
            "SELECT id, account_id, description, expires_at, created_at FROM tokens
             WHERE account_id = $1 ORDER BY created_at, id",
        )
        .bind(&account.id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(authorization_from_row).collect()
    }

    /// The authorization `id` of `account`; another account's is not found.
    pub async fn authorization(&self, account: &Account, id: &str) -> Result<Authorization> {
        let row = sqlx::query(
            "SELECT id, account_id, description, expires_at, created_at FROM tokens
             WHERE id = $1 AND account_id = $2",
        )
        .bind(id)
        .bind(&account.id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref()
            .map(authorization_from_row)
            .transpose()?
            .ok_or_else(no_authorization)
    }

    /// Deletes the authorization `id` of `account`, so its token stops working
    /// with the next request, and returns what it was.
    pub async fn revoke_authorization(&self, account: &Account, id: &str) -> Result<Authorization> {
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query(
            "SELECT id, account_id, description, expires_at, created_at FROM tokens
             WHERE id = $1 AND account_id = $2",
        )
        .bind(id)
        .bind(&account.id)
        .fetch_optional(&mut *tx)
        .await?;
        let authorization = row
            .as_ref()
            .map(authorization_from_row)
            .transpose()?
            .ok_or_else(no_authorization)?;
        sqlx::query("DELETE FROM tokens WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(&account.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(authorization)
    }
}

impl State {
    /// Sets the description of the authorization `id` of `account`.
    pub async fn describe_authorization(
        &self,
        account: &Account,
        id: &str,
        description: &str,
    ) -> Result<Authorization> {
        check_description(description)?;
        self.set_token_column(account, id, "description", description)
            .await?;
        self.authorization(account, id).await
    }

    /// Gives the authorization `id` of `account` a new token and returns it,
    /// shown this once; the old token stops working with the next request.
    /// Its id, description and expiry stay.
    pub async fn regenerate_token(
        &self,
        account: &Account,
        id: &str,
    ) -> Result<(Authorization, String)> {
        let token = new_token();
        self.set_token_column(account, id, "token_hash", &hash_token(&token))
            .await?;
        Ok((self.authorization(account, id).await?, token))
    }

    /// Sets `column` of `account`'s authorization `id`; not found if it has none.
    async fn set_token_column(
        &self,
        account: &Account,
        id: &str,
        column: &str,
        value: &str,
    ) -> Result<()> {
        let changed = sqlx::query(AssertSqlSafe(format!(
            "UPDATE tokens SET {column} = $1 WHERE id = $2 AND account_id = $3"
        )))
        .bind(value)
        .bind(id)
        .bind(&account.id)
        .execute(self.pool())
        .await?;
        if changed.rows_affected() == 0 {
            return Err(no_authorization());
        }
        Ok(())
    }
}

fn check_description(description: &str) -> Result<()> {
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(StateError::Invalid(format!(
            "the description is over {MAX_DESCRIPTION} characters: use a shorter one"
        )));
    }
    Ok(())
}

/// A fresh token; the ledger keeps only its hash.
fn new_token() -> String {
    format!("kumo_{}", uuid::Uuid::new_v4().simple())
}

pub(super) fn account_from_row(row: &sqlx::any::AnyRow) -> Result<Account> {
    Ok(Account {
        id: text(row, "id")?,
        email: text(row, "email")?,
        admin: row.try_get::<i64, _>("admin")? != 0,
        created_at: text(row, "created_at")?,
    })
}

/// Stores a fresh token's hash for `account` and returns the record and the token.
async fn insert_token(
    conn: &mut sqlx::AnyConnection,
    account: &Account,
    description: &str,
    expires_at: Option<i64>,
) -> Result<(Authorization, String)> {
    let token = new_token();
    let authorization = Authorization {
        id: new_id(),
        account_id: account.id.clone(),
        description: description.to_string(),
        expires_at,
        created_at: now(),
    };
    sqlx::query(
        "INSERT INTO tokens (token_hash, account_id, created_at, id, description, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(hash_token(&token))
    .bind(&authorization.account_id)
    .bind(&authorization.created_at)
    .bind(&authorization.id)
    .bind(&authorization.description)
    .bind(authorization.expires_at)
    .execute(&mut *conn)
    .await?;
    Ok((authorization, token))
}

fn authorization_from_row(row: &sqlx::any::AnyRow) -> Result<Authorization> {
    Ok(Authorization {
        id: text(row, "id")?,
        account_id: text(row, "account_id")?,
        description: text(row, "description")?,
        expires_at: row.try_get::<Option<i64>, _>("expires_at")?,
        created_at: text(row, "created_at")?,
    })
}

/// Refuses a token that would outlast the one making it, which expires at `limit`.
fn outlasts(expires_in: Option<i64>, limit: i64) -> StateError {
    let most = (limit - ceil_seconds(OffsetDateTime::now_utc())).max(0);
    let asked = match expires_in {
        Some(seconds) => format!("invalid expires_in `{seconds}`"),
        None => "a token that does not expire cannot be made here".to_string(),
    };
    StateError::Invalid(format!(
        "{asked}: the token you are signed in with expires at {}, and a token it makes may not outlast it; use expires_in of at most {most} seconds, or create it signed in with a token that lasts longer",
        unix_time(limit)
    ))
}

fn no_authorization() -> StateError {
    StateError::NotFound(
        "Couldn't find that authorization: `kumo authorizations` lists yours.".to_string(),
    )
}

/// `t` in Unix seconds, rounded up.
fn ceil_seconds(t: OffsetDateTime) -> i64 {
    t.unix_timestamp() + i64::from(t.nanosecond() > 0)
}

/// Unix seconds as the API writes times.
fn unix_time(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .map(format_time)
        .unwrap_or_default()
}

fn hash_token(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ledger made before tokens had ids: its tokens keep working, get an
    /// id and the account key's description, and never expire.
    #[tokio::test]
    async fn tokens_made_before_authorizations_migrate() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/kumo.db?mode=rwc", dir.path().display());
        sqlx::any::install_default_drivers();
        let old = sqlx::AnyPool::connect(&url).await.unwrap();
        let first_new = super::super::MIGRATIONS
            .iter()
            .position(|m| m.contains("ALTER TABLE tokens ADD COLUMN id"))
            .unwrap();
        sqlx::query("CREATE TABLE kumo_migrations (version BIGINT PRIMARY KEY)")
            .execute(&old)
            .await
            .unwrap();
        for (index, sql) in super::super::MIGRATIONS[..first_new].iter().enumerate() {
            sqlx::query(*sql).execute(&old).await.unwrap();
            sqlx::query("INSERT INTO kumo_migrations (version) VALUES ($1)")
                .bind(index as i64 + 1)
                .execute(&old)
                .await
                .unwrap();
        }
        let token = "kumo_0123456789abcdef0123456789abcdef";
        sqlx::query("INSERT INTO accounts (id, email, admin, created_at) VALUES ('a1', 'old@example.com', 1, '2024-01-01T00:00:00Z')")
            .execute(&old)
            .await
            .unwrap();
        sqlx::query("INSERT INTO tokens (token_hash, account_id, created_at) VALUES ($1, 'a1', '2024-01-01T00:00:00Z')")
            .bind(hash_token(token))
            .execute(&old)
            .await
            .unwrap();
        old.close().await;

        let state = State::open(&url).await.unwrap();
        let TokenCheck::Valid(account, key) = state.check_token(token).await.unwrap() else {
            panic!("the old token stopped working");
        };
        assert_eq!(account.email, "old@example.com");
        let listed = state.authorizations(&account).await.unwrap();
        assert_eq!(listed.len(), 1);
        let hash = hash_token(token);
        let id = format!(
            "{}-{}-{}-{}-{}",
            &hash[..8],
            &hash[8..12],
            &hash[12..16],
            &hash[16..20],
            &hash[20..32]
        );
        assert_eq!(
            listed[0],
            Authorization {
                id: id.clone(),
                account_id: "a1".to_string(),
                description: ACCOUNT_TOKEN.to_string(),
                expires_at: None,
                created_at: "2024-01-01T00:00:00Z".to_string(),
            }
        );
        // A new token for the same account gets a fresh id; revoking the old one ends it.
        let (made, _) = state
            .create_authorization(&account, "ci", Some(60), &key)
            .await
            .unwrap();
        assert_ne!(made.id, id);
        state.revoke_authorization(&account, &id).await.unwrap();
        assert_eq!(state.check_token(token).await.unwrap(), TokenCheck::Unknown);
    }

    /// A token that expires makes only tokens that expire no later; a token
    /// that does not expire makes any.
    #[tokio::test]
    async fn a_token_never_outlasts_the_one_that_made_it() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/kumo.db?mode=rwc", dir.path().display());
        let state = State::open(&url).await.unwrap();
        let (account, token) = state.create_account("a@example.com", false).await.unwrap();
        let TokenCheck::Valid(_, key) = state.check_token(&token).await.unwrap() else {
            panic!("a new account's token does not work");
        };
        assert_eq!(key.expires_at, None);
        let (brief, _) = state
            .create_authorization(&account, "brief", Some(60), &key)
            .await
            .unwrap();
        let (forever, _) = state
            .create_authorization(&account, "forever", None, &key)
            .await
            .unwrap();
        assert_eq!(forever.expires_at, None);
        let limit = brief.expires_at.unwrap();
        for asked in [None, Some(61), Some(MAX_EXPIRES_IN)] {
            let refused = state
                .create_authorization(&account, "longer", asked, &brief)
                .await
                .unwrap_err();
            let StateError::Invalid(message) = refused else {
                panic!("{asked:?}: {refused:?}");
            };
            assert!(
                message.contains(&format!("expires at {}", unix_time(limit))),
                "{message}"
            );
            assert!(message.contains("use expires_in of at most"), "{message}");
        }
        let (shorter, _) = state
            .create_authorization(&account, "shorter", Some(30), &brief)
            .await
            .unwrap();
        assert!(shorter.expires_at.unwrap() <= limit);
        assert_eq!(state.authorizations(&account).await.unwrap().len(), 4);

        // Revoked or expired, an authorization no longer works.
        assert!(state.authorization_works(&brief.id).await.unwrap());
        state
            .revoke_authorization(&account, &brief.id)
            .await
            .unwrap();
        assert!(!state.authorization_works(&brief.id).await.unwrap());
        sqlx::query("UPDATE tokens SET expires_at = 1 WHERE id = $1")
            .bind(&shorter.id)
            .execute(state.pool())
            .await
            .unwrap();
        assert!(!state.authorization_works(&shorter.id).await.unwrap());
        assert!(state.authorization_works(&key.id).await.unwrap());
        assert!(!state.authorization_works("no-such-id").await.unwrap());
    }
}
