//! Automated certificates (Heroku's ACM) in the ledger: which apps want them,
//! each custom domain's certificate and status, the HTTP-01 answers the
//! routers give while an order is validated, and the ACME account. Work is
//! claimed per domain with a lease (`claimed_until`), so with several servers
//! on one ledger each domain is ordered by one of them at a time.

use super::{App, Result, State, now, text};
use sqlx::Row as _;

/// How many failed orders make a domain `failed` (until `certs:auto:refresh`).
pub const ACM_ATTEMPTS: i64 = 3;

/// A custom domain's automated certificate, as `heroku certs:auto` shows it.
#[derive(Clone, Debug)]
pub struct AcmDomain {
    pub hostname: String,
    /// `pending`, `cert issued`, `failing` or `failed`.
    pub status: String,
    pub reason: Option<String>,
    pub expires_at: Option<String>,
    pub updated_at: String,
}

impl State {
    pub async fn acm_enabled(&self, app: &App) -> Result<bool> {
        Ok(sqlx::query("SELECT app_id FROM acm_apps WHERE app_id = $1")
            .bind(&app.id)
            .fetch_optional(self.pool())
            .await?
            .is_some())
    }

    /// Turns automated certificates on or off; off forgets the certificates.
    pub async fn set_acm(&self, app: &App, on: bool) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM acm_apps WHERE app_id = $1")
            .bind(&app.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM acm_certificates WHERE app_id = $1")
            .bind(&app.id)
            .execute(&mut *tx)
            .await?;
        if on {
            sqlx::query("INSERT INTO acm_apps (app_id, enabled_at) VALUES ($1, $2)")
                .bind(&app.id)
                .bind(now())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// `certs:auto:refresh`: failed domains are tried again from the start.
    pub async fn refresh_acm(&self, app: &App) -> Result<()> {
        sqlx::query(
            "UPDATE acm_certificates SET status = 'pending', reason = NULL, attempts = 0, claimed_until = NULL
             WHERE app_id = $1 AND status <> 'cert issued'",
        )
        .bind(&app.id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Each custom domain of an app with ACM on, with its certificate's state
    /// (`pending` before any order).
    pub async fn acm_domains(&self, app: &App) -> Result<Vec<AcmDomain>> {
        let rows = sqlx::query(
            "SELECT d.hostname, c.status, c.reason, c.expires_at, COALESCE(c.updated_at, d.created_at) AS updated_at
             FROM domains d JOIN acm_apps a ON a.app_id = d.app_id
             LEFT JOIN acm_certificates c ON c.hostname = d.hostname
             WHERE d.app_id = $1 ORDER BY d.hostname",
        )
        .bind(&app.id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AcmDomain {
                    hostname: text(row, "hostname")?,
                    status: row
                        .try_get::<Option<String>, _>("status")?
                        .unwrap_or_else(|| "pending".into()),
                    reason: row.try_get("reason")?,
                    expires_at: row.try_get("expires_at")?,
                    updated_at: text(row, "updated_at")?,
                })
            })
            .collect()
    }

    /// Domains whose certificate is due (none yet, a retry's time has come, or
    /// it expires before `renew_before`), with their app's id.
    pub async fn acm_due(&self, renew_before: &str) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT d.hostname, d.app_id FROM domains d JOIN acm_apps a ON a.app_id = d.app_id
             LEFT JOIN acm_certificates c ON c.hostname = d.hostname
             WHERE c.hostname IS NULL
                OR (c.status IN ('pending', 'failing') AND (c.claimed_until IS NULL OR c.claimed_until < $1))
                OR (c.status = 'cert issued' AND c.expires_at < $2 AND (c.claimed_until IS NULL OR c.claimed_until < $1))
             ORDER BY d.hostname",
        )
        .bind(now())
        .bind(renew_before)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| Ok((text(row, "hostname")?, text(row, "app_id")?)))
            .collect()
    }

    /// Takes the domain's order until `until`, unless another server holds it.
    pub async fn claim_acm(&self, hostname: &str, app_id: &str, until: &str) -> Result<bool> {
        let at = now();
        let claimed = sqlx::query(
            "INSERT INTO acm_certificates (hostname, app_id, status, attempts, claimed_until, updated_at)
             VALUES ($1, $2, 'pending', 0, $3, $4)
             ON CONFLICT (hostname) DO UPDATE SET claimed_until = $3
             WHERE acm_certificates.claimed_until IS NULL OR acm_certificates.claimed_until < $4",
        )
        .bind(hostname)
        .bind(app_id)
        .bind(until)
        .bind(&at)
        .execute(self.pool())
        .await?;
        Ok(claimed.rows_affected() == 1)
    }

    pub async fn acm_issued(
        &self,
        hostname: &str,
        chain: &str,
        key: &str,
        expires_at: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE acm_certificates SET status = 'cert issued', reason = NULL, attempts = 0,
             certificate_chain = $1, private_key = $2, expires_at = $3, claimed_until = NULL, updated_at = $4
             WHERE hostname = $5",
        )
        .bind(chain)
        .bind(key)
        .bind(expires_at)
        .bind(now())
        .bind(hostname)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records a failed order; the domain is tried again after `retry_at`,
    /// until [`ACM_ATTEMPTS`] failures make it `failed`.
    pub async fn acm_failed(&self, hostname: &str, reason: &str, retry_at: &str) -> Result<()> {
        sqlx::query(
            "UPDATE acm_certificates SET attempts = attempts + 1,
             status = CASE WHEN attempts + 1 >= $1 THEN 'failed' ELSE 'failing' END,
             reason = $2, claimed_until = $3, updated_at = $4 WHERE hostname = $5 AND status <> 'cert issued'",
        )
        .bind(ACM_ATTEMPTS)
        .bind(reason)
        .bind(retry_at)
        .bind(now())
        .bind(hostname)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The issued certificate of a domain, if its app still wants one.
    pub(super) async fn acm_certificate(&self, hostname: &str) -> Result<Option<(String, String)>> {
        let row = sqlx::query(
            "SELECT c.certificate_chain, c.private_key FROM acm_certificates c
             JOIN acm_apps a ON a.app_id = c.app_id
             JOIN domains d ON d.hostname = c.hostname AND d.app_id = c.app_id
             WHERE c.hostname = $1 AND c.certificate_chain IS NOT NULL",
        )
        .bind(hostname)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| Ok((text(&row, "certificate_chain")?, text(&row, "private_key")?)))
            .transpose()
    }

    /// Publishes the answer to an HTTP-01 challenge for every router.
    pub async fn put_acme_answer(&self, token: &str, key_authorization: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO acme_challenges (token, key_authorization, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (token) DO UPDATE SET key_authorization = $2",
        )
        .bind(token)
        .bind(key_authorization)
        .bind(now())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn acme_answer(&self, token: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT key_authorization FROM acme_challenges WHERE token = $1")
            .bind(token)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| text(&row, "key_authorization")).transpose()
    }

    pub async fn remove_acme_answer(&self, token: &str) -> Result<()> {
        sqlx::query("DELETE FROM acme_challenges WHERE token = $1")
            .bind(token)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The ACME account for `directory` (its credentials as JSON), if made.
    pub async fn acme_account(&self, directory: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT credentials FROM acme_accounts WHERE directory = $1")
            .bind(directory)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| text(&row, "credentials")).transpose()
    }

    pub async fn put_acme_account(&self, directory: &str, credentials: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO acme_accounts (directory, credentials, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (directory) DO NOTHING",
        )
        .bind(directory)
        .bind(credentials)
        .bind(now())
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
