//! This server as one node of the platform: its name (`--node`), the address
//! other nodes reach it at (`--advertise`), and the heartbeat that keeps its
//! row in the ledger fresh with its capacity and dynos (`kumo nodes`,
//! `GET /nodes`). A node is up while its row is younger than [`NODE_TTL`].
//!
//! Nodes coordinate only through the ledger they share; a node holds no
//! state of the platform's, so one that dies takes nothing with it.

use crate::manager::DynoManager;
use crate::state::{Node, State};
use anyhow::Context as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often a node writes its row.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long after its last heartbeat a node counts as down.
pub const NODE_TTL: Duration = Duration::from_secs(10);

/// Who this server is among the nodes.
#[derive(Clone, Debug)]
pub struct NodeIdentity {
    pub name: String,
    pub advertise: String,
}

/// Milliseconds since the Unix epoch on this node's clock.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Whether `node` wrote its row within [`NODE_TTL`] of `now_ms`.
pub fn is_up(node: &Node, now_ms: i64) -> bool {
    now_ms - node.seen_at_ms < i64::try_from(NODE_TTL.as_millis()).unwrap_or(i64::MAX)
}

/// Checks that a node name is one the operator can type and read.
pub fn check_node_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid node name `{name}`: use up to 63 lowercase letters, digits, dots and dashes, starting with a letter or digit"
        ))
    }
}

/// Joins the platform as `identity`: refuses a name a running node holds
/// elsewhere, writes the first heartbeat, and keeps writing one every
/// [`HEARTBEAT`] while the manager lives.
pub async fn join(
    state: &State,
    identity: NodeIdentity,
    manager: &Arc<DynoManager>,
) -> anyhow::Result<()> {
    let now = now_ms();
    let nodes = state.nodes().await.context("reading the ledger's nodes")?;
    if let Some(other) = nodes.iter().find(|n| n.name == identity.name)
        && is_up(other, now)
        && other.advertise != identity.advertise
    {
        // The same address is this node restarting: the old process no
        // longer holds its port.
        anyhow::bail!(
            "node `{}` is already running at {} (seen {} s ago): give this server its own --node name, or stop that one",
            identity.name,
            other.advertise,
            (now - other.seen_at_ms) / 1000
        );
    }
    let started_at = crate::state::format_time(time::OffsetDateTime::now_utc());
    state
        .node_heartbeat(&report(&identity, &started_at, manager))
        .await
        .context("writing this node's row in the ledger")?;
    let (state, manager) = (state.clone(), Arc::downgrade(manager));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(HEARTBEAT).await;
            let Some(manager) = manager.upgrade() else {
                return;
            };
            if let Err(e) = state
                .node_heartbeat(&report(&identity, &started_at, &manager))
                .await
            {
                tracing::warn!(node = %identity.name, error = %e, "writing the node's heartbeat failed");
            }
        }
    });
    Ok(())
}

/// This node's row now.
fn report(identity: &NodeIdentity, started_at: &str, manager: &DynoManager) -> Node {
    let dynos = manager
        .dyno_states()
        .iter()
        .filter(|(state, _)| matches!(*state, "up" | "starting"))
        .map(|(_, count)| count)
        .sum();
    Node {
        name: identity.name.clone(),
        advertise: identity.advertise.clone(),
        instance_slots: i64::from(manager.engine().max_instances()),
        memory_bytes: machine_memory().unwrap_or(0),
        dynos,
        started_at: started_at.to_string(),
        seen_at_ms: now_ms(),
    }
}

/// The machine's memory, from `/proc/meminfo` (`None` where there is none).
fn machine_memory() -> Option<i64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names() {
        for good in ["a", "node-1", "kumo.eu-2", "9"] {
            assert_eq!(check_node_name(good), Ok(()), "{good}");
        }
        for bad in ["", "Node", "-a", "a b", "a_b", &"x".repeat(64)] {
            assert!(check_node_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn up_while_fresh() {
        let node = |seen_at_ms| Node {
            name: "a".into(),
            advertise: "http://127.0.0.1:5000".into(),
            instance_slots: 1000,
            memory_bytes: 0,
            dynos: 0,
            started_at: String::new(),
            seen_at_ms,
        };
        assert!(is_up(&node(1_000_000), 1_000_000 + 9_999));
        assert!(!is_up(&node(1_000_000), 1_000_000 + 10_000));
    }
}
