//! Dyno leases in the ledger (`crate::placement`): which node runs each
//! formation dyno, until when, and what it last said of it; and the
//! `kumo_apps` channel (Postgres `LISTEN`/`NOTIFY`) on which a node tells the
//! others that an app changed. Only a Postgres ledger, which several nodes
//! share, has them.

use super::{State, text};
use crate::placement::{Capacity, Lease, LeaseLedger, LiveNode};
use anyhow::Context as _;
use sqlx::Row as _;

/// The Postgres channel of app changes; a payload is `NODE\nAPP`.
const CHANNEL: &str = "kumo_apps";

/// The ledger's [`LeaseLedger`].
pub struct LedgerLeases {
    state: State,
    url: std::sync::Arc<str>,
}

impl State {
    /// The ledger's leases, if it is one several nodes can share (Postgres).
    pub fn lease_ledger(&self) -> Option<LedgerLeases> {
        self.postgres_url.clone().map(|url| LedgerLeases {
            state: self.clone(),
            url,
        })
    }
}

#[async_trait::async_trait]
impl LeaseLedger for LedgerLeases {
    async fn leases(&self, app: Option<&str>) -> anyhow::Result<Vec<Lease>> {
        let rows =
            match app {
                Some(app) => sqlx::query(
                    "SELECT app, dyno, node, expires_ms, status FROM dyno_leases WHERE app = $1",
                )
                .bind(app)
                .fetch_all(self.state.pool())
                .await?,
                None => {
                    sqlx::query("SELECT app, dyno, node, expires_ms, status FROM dyno_leases")
                        .fetch_all(self.state.pool())
                        .await?
                }
            };
        rows.iter()
            .map(|row| {
                Ok(Lease {
                    app: text(row, "app")?,
                    dyno: text(row, "dyno")?,
                    node: text(row, "node")?,
                    expires_ms: row.try_get("expires_ms")?,
                    status: text(row, "status")?,
                })
            })
            .collect()
    }

    async fn claim(
        &self,
        app: &str,
        dyno: &str,
        node: &str,
        until_ms: i64,
        now_ms: i64,
    ) -> anyhow::Result<bool> {
        let claimed = sqlx::query(
            "INSERT INTO dyno_leases (app, dyno, node, expires_ms, status) VALUES ($1, $2, $3, $4, '{}')
             ON CONFLICT (app, dyno) DO UPDATE SET node = $3, expires_ms = $4,
                 status = CASE WHEN dyno_leases.node = $3 THEN dyno_leases.status ELSE '{}' END
             WHERE dyno_leases.node = $3 OR dyno_leases.expires_ms < $5",
        )
        .bind(app)
        .bind(dyno)
        .bind(node)
        .bind(until_ms)
        .bind(now_ms)
        .execute(self.state.pool())
        .await?;
        Ok(claimed.rows_affected() == 1)
    }

    async fn renew(&self, node: &str, until_ms: i64) -> anyhow::Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "UPDATE dyno_leases SET expires_ms = $1 WHERE node = $2 RETURNING app, dyno",
        )
        .bind(until_ms)
        .bind(node)
        .fetch_all(self.state.pool())
        .await?;
        rows.iter()
            .map(|row| Ok((text(row, "app")?, text(row, "dyno")?)))
            .collect()
    }

    async fn release(&self, app: &str, dyno: &str, node: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM dyno_leases WHERE app = $1 AND dyno = $2 AND node = $3")
            .bind(app)
            .bind(dyno)
            .bind(node)
            .execute(self.state.pool())
            .await?;
        Ok(())
    }

    async fn set_status(
        &self,
        app: &str,
        dyno: &str,
        node: &str,
        status: &str,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE dyno_leases SET status = $1 WHERE app = $2 AND dyno = $3 AND node = $4",
        )
        .bind(status)
        .bind(app)
        .bind(dyno)
        .bind(node)
        .execute(self.state.pool())
        .await?;
        Ok(())
    }

    async fn live_nodes(&self, now_ms: i64) -> anyhow::Result<Vec<LiveNode>> {
        Ok(self
            .state
            .nodes()
            .await?
            .into_iter()
            .filter(|n| n.is_up(now_ms))
            .map(|n| LiveNode {
                capacity: Capacity {
                    dynos: n.dynos,
                    slots: n.instance_slots,
                },
                seen_at_ms: n.seen_at_ms,
                name: n.name,
                router: n.router,
            })
            .collect())
    }

    async fn announce(&self, node: &str, app: &str) -> anyhow::Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("{node}\n{app}"))
            .execute(self.state.pool())
            .await?;
        Ok(())
    }

    async fn announcements(
        &self,
        node: &str,
    ) -> anyhow::Result<tokio::sync::mpsc::UnboundedReceiver<String>> {
        let mut listener = sqlx::postgres::PgListener::connect(&self.url)
            .await
            .context("connecting to the ledger to listen for app changes")?;
        listener.listen(CHANNEL).await?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let node = node.to_string();
        tokio::spawn(async move {
            loop {
                // `recv` reconnects after a lost connection (announcements
                // sent meanwhile are missed; the placement sweep catches up).
                match listener.recv().await {
                    Ok(note) => {
                        if let Some((from, app)) = note.payload().split_once('\n')
                            && from != node
                            && tx.send(app.to_string()).is_err()
                        {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "listening for app changes failed");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(rx)
    }
}
