//! The servers sharing this ledger (`kumo nodes`): each writes its own row —
//! its address, capacity and how many dynos it runs — on every heartbeat, and
//! a node is up while its row is fresh. Times are the writing node's clock in
//! milliseconds since the Unix epoch, so nodes' clocks must agree to well
//! within `crate::nodes::NODE_TTL`, as NTP keeps them.

use super::{Result, State, text};
use sqlx::Row as _;

/// One node's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    /// The server behind the name: an id kept in its data folder, the same
    /// across its restarts.
    pub instance: String,
    /// Where other nodes reach its API (`--advertise`).
    pub advertise: String,
    /// Where other nodes' routers forward requests for its dynos (`--advertise-router`).
    pub router: String,
    /// The engine's instance slots (`--max-instances`).
    pub instance_slots: i64,
    /// The machine's memory.
    pub memory_bytes: i64,
    /// The dynos it runs (formation dynos and one-offs).
    pub dynos: i64,
    /// When its process started (RFC 3339).
    pub started_at: String,
    pub seen_at_ms: i64,
}

impl Node {
    /// Whether the node is up at `now_ms` (its row is fresh).
    pub fn is_up(&self, now_ms: i64) -> bool {
        crate::nodes::is_up(self.seen_at_ms, now_ms)
    }
}

impl State {
    /// Writes `node`'s row, made or refreshed.
    pub async fn node_heartbeat(&self, node: &Node) -> Result<()> {
        sqlx::query(
            "INSERT INTO nodes (name, advertise, instance_slots, memory_bytes, dynos, started_at, seen_at_ms, instance, router)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (name) DO UPDATE SET advertise = $2, instance_slots = $3, memory_bytes = $4,
                 dynos = $5, started_at = $6, seen_at_ms = $7, instance = $8, router = $9",
        )
        .bind(&node.name)
        .bind(&node.advertise)
        .bind(node.instance_slots)
        .bind(node.memory_bytes)
        .bind(node.dynos)
        .bind(&node.started_at)
        .bind(node.seen_at_ms)
        .bind(&node.instance)
        .bind(&node.router)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every node the ledger has seen, by name.
    pub async fn nodes(&self) -> Result<Vec<Node>> {
        let rows = sqlx::query(
            "SELECT name, instance, advertise, router, instance_slots, memory_bytes, dynos, started_at, seen_at_ms
             FROM nodes ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Node {
                    name: text(row, "name")?,
                    instance: text(row, "instance")?,
                    advertise: text(row, "advertise")?,
                    router: text(row, "router")?,
                    instance_slots: row.try_get("instance_slots")?,
                    memory_bytes: row.try_get("memory_bytes")?,
                    dynos: row.try_get("dynos")?,
                    started_at: text(row, "started_at")?,
                    seen_at_ms: row.try_get("seen_at_ms")?,
                })
            })
            .collect()
    }

    /// Removes a node's row, if it was last seen before `seen_before_ms`
    /// (a node that is up keeps its row).
    pub async fn forget_node(&self, name: &str, seen_before_ms: i64) -> Result<bool> {
        let removed = sqlx::query("DELETE FROM nodes WHERE name = $1 AND seen_at_ms < $2")
            .bind(name)
            .bind(seen_before_ms)
            .execute(self.pool())
            .await?;
        Ok(removed.rows_affected() == 1)
    }
}

impl State {
    /// The shared secret `name`, made of 32 random bytes (hex) by the first
    /// node that asks; every node gets the same.
    pub async fn platform_secret(&self, name: &str) -> Result<String> {
        let fresh = hex::encode(rand::random::<[u8; 32]>());
        sqlx::query(
            "INSERT INTO platform_secrets (name, value, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(&fresh)
        .bind(super::format_time(time::OffsetDateTime::now_utc()))
        .execute(self.pool())
        .await?;
        let row = sqlx::query("SELECT value FROM platform_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(self.pool())
            .await?;
        text(&row, "value")
    }
}
