//! TLS in the ledger: the platform's local CA (one, made by whichever server
//! starts first, so every server that shares the ledger serves certificates
//! from the same root) and the apps' own certificates (`sni-endpoints`), each
//! attached to the custom domains it serves.

use super::{App, Result, State, StateError, new_id, now, text};

/// The local CA as PEM text.
#[derive(Clone, Debug)]
pub struct LocalCaPem {
    pub certificate: String,
    pub private_key: String,
}

/// A certificate an app's owner added (`heroku certs:add`).
#[derive(Clone, Debug)]
pub struct SniEndpoint {
    pub id: String,
    pub app_id: String,
    pub name: String,
    pub certificate_chain: String,
    pub private_key: String,
    pub created_at: String,
    pub updated_at: String,
}

const SNI_COLUMNS: &str =
    "id, app_id, name, certificate_chain, private_key, created_at, updated_at";

impl State {
    /// The local CA, made with `make` if the ledger has none yet. Two servers
    /// starting at once both make one; the first to commit wins and both use it.
    pub async fn local_ca(
        &self,
        make: impl FnOnce() -> anyhow::Result<LocalCaPem>,
    ) -> Result<LocalCaPem> {
        if let Some(ca) = self.stored_ca().await? {
            return Ok(ca);
        }
        let made = make()?;
        sqlx::query(
            "INSERT INTO local_ca (id, certificate, private_key, created_at) VALUES (1, $1, $2, $3)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&made.certificate)
        .bind(&made.private_key)
        .bind(now())
        .execute(self.pool())
        .await?;
        self.stored_ca()
            .await?
            .ok_or_else(|| StateError::Database(anyhow::anyhow!("the local CA was not stored")))
    }

    async fn stored_ca(&self) -> Result<Option<LocalCaPem>> {
        let row = sqlx::query("SELECT certificate, private_key FROM local_ca WHERE id = 1")
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| {
            Ok(LocalCaPem {
                certificate: text(&row, "certificate")?,
                private_key: text(&row, "private_key")?,
            })
        })
        .transpose()
    }

    /// Stores a checked certificate for `app` under a new name (`tokyo-12345`-like, as Heroku's).
    pub async fn add_sni_endpoint(
        &self,
        app: &App,
        certificate_chain: &str,
        private_key: &str,
    ) -> Result<SniEndpoint> {
        // A name clashes with one of the app's others once in 800 000: pick again.
        let mut id = new_id();
        while sqlx::query("SELECT id FROM sni_endpoints WHERE app_id = $1 AND name = $2")
            .bind(&app.id)
            .bind(endpoint_name(&id))
            .fetch_optional(self.pool())
            .await?
            .is_some()
        {
            id = new_id();
        }
        let name = endpoint_name(&id);
        let at = now();
        sqlx::query(
            "INSERT INTO sni_endpoints (id, app_id, name, certificate_chain, private_key, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(&id)
        .bind(&app.id)
        .bind(&name)
        .bind(certificate_chain)
        .bind(private_key)
        .bind(&at)
        .execute(self.pool())
        .await?;
        self.sni_endpoint(app, &id).await
    }

    pub async fn sni_endpoints(&self, app: &App) -> Result<Vec<SniEndpoint>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {SNI_COLUMNS} FROM sni_endpoints WHERE app_id = $1 ORDER BY created_at, name"
        )))
        .bind(&app.id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(sni_row).collect()
    }

    /// One of the app's certificates, by id or name.
    pub async fn sni_endpoint(&self, app: &App, id_or_name: &str) -> Result<SniEndpoint> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {SNI_COLUMNS} FROM sni_endpoints WHERE app_id = $1 AND (id = $2 OR name = $2)"
        )))
        .bind(&app.id)
        .bind(id_or_name)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| {
            StateError::NotFound(format!(
                "Couldn't find the certificate {id_or_name} on {}: `heroku certs -a {}` lists them.",
                app.name, app.name
            ))
        })?;
        sni_row(&row)
    }

    /// Replaces a certificate's chain and key (`certs:update`), keeping its domains.
    pub async fn update_sni_endpoint(
        &self,
        app: &App,
        id_or_name: &str,
        certificate_chain: &str,
        private_key: &str,
    ) -> Result<SniEndpoint> {
        let endpoint = self.sni_endpoint(app, id_or_name).await?;
        sqlx::query(
            "UPDATE sni_endpoints SET certificate_chain = $1, private_key = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(certificate_chain)
        .bind(private_key)
        .bind(now())
        .bind(&endpoint.id)
        .execute(self.pool())
        .await?;
        self.sni_endpoint(app, &endpoint.id).await
    }

    /// Removes a certificate; its domains go back to the platform's own.
    pub async fn remove_sni_endpoint(&self, app: &App, id_or_name: &str) -> Result<SniEndpoint> {
        let endpoint = self.sni_endpoint(app, id_or_name).await?;
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE domains SET sni_endpoint_id = NULL WHERE sni_endpoint_id = $1")
            .bind(&endpoint.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sni_endpoints WHERE id = $1")
            .bind(&endpoint.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(endpoint)
    }

    /// Serves the custom domain `hostname` with the certificate `endpoint`
    /// (or the platform's own with `None`).
    pub async fn set_domain_endpoint(
        &self,
        app: &App,
        hostname: &str,
        endpoint: Option<&SniEndpoint>,
    ) -> Result<()> {
        let changed = sqlx::query(
            "UPDATE domains SET sni_endpoint_id = $1 WHERE app_id = $2 AND hostname = $3",
        )
        .bind(endpoint.map(|e| e.id.clone()))
        .bind(&app.id)
        .bind(hostname)
        .execute(self.pool())
        .await?;
        if changed.rows_affected() == 0 {
            return Err(StateError::NotFound(format!(
                "Couldn't find domain {hostname} on {}.",
                app.name
            )));
        }
        Ok(())
    }

    /// The custom domains each of the app's certificates serves, by endpoint id.
    pub async fn domain_endpoints(&self, app: &App) -> Result<Vec<(String, Option<String>)>> {
        let rows = sqlx::query(
            "SELECT hostname, sni_endpoint_id FROM domains WHERE app_id = $1 ORDER BY hostname",
        )
        .bind(&app.id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    text(row, "hostname")?,
                    row.try_get::<Option<String>, _>("sni_endpoint_id")?,
                ))
            })
            .collect()
    }

    /// The certificate chain and key a custom domain is served with: the one
    /// its app gave it, else its automated one, if any.
    pub async fn certificate_for_domain(&self, hostname: &str) -> Result<Option<(String, String)>> {
        match self.added_certificate(hostname).await? {
            Some(found) => Ok(Some(found)),
            None => self.acm_certificate(hostname).await,
        }
    }

    async fn added_certificate(&self, hostname: &str) -> Result<Option<(String, String)>> {
        let row = sqlx::query(
            "SELECT s.certificate_chain, s.private_key FROM domains d
             JOIN sni_endpoints s ON s.id = d.sni_endpoint_id WHERE d.hostname = $1",
        )
        .bind(hostname)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| Ok((text(&row, "certificate_chain")?, text(&row, "private_key")?)))
            .transpose()
    }
}

use sqlx::{AssertSqlSafe, Row as _};

fn sni_row(row: &sqlx::any::AnyRow) -> Result<SniEndpoint> {
    Ok(SniEndpoint {
        id: text(row, "id")?,
        app_id: text(row, "app_id")?,
        name: text(row, "name")?,
        certificate_chain: text(row, "certificate_chain")?,
        private_key: text(row, "private_key")?,
        created_at: text(row, "created_at")?,
        updated_at: text(row, "updated_at")?,
    })
}

/// A certificate's name, from its id: a word and five digits, as Heroku names
/// them (`tokyo-93357`).
fn endpoint_name(id: &str) -> String {
    const WORDS: [&str; 8] = [
        "akita", "kyoto", "nara", "osaka", "sapporo", "sendai", "tokyo", "yokohama",
    ];
    let digest = sha2_u64(id);
    format!(
        "{}-{:05}",
        WORDS[(digest % WORDS.len() as u64) as usize],
        (digest >> 8) % 100_000
    )
}

fn sha2_u64(text: &str) -> u64 {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(text.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    u64::from_be_bytes(first)
}
