//! This server as one node of the platform: its name (`--node`), the address
//! other nodes reach it at (`--advertise`), and the heartbeat that keeps its
//! row in the ledger fresh with its capacity and dynos (`kumo nodes`,
//! `GET /nodes`). A node is up while its row is younger than [`NODE_TTL`].
//!
//! Nodes coordinate only through the ledger they share; a node holds no
//! state of the platform's, so one that dies takes nothing with it. The
//! heartbeat itself is `api::join_platform`'s.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often a node writes its row.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long after its last heartbeat a node counts as down.
pub const NODE_TTL: Duration = Duration::from_secs(10);

/// Who this server is among the nodes.
#[derive(Clone, Debug)]
pub struct NodeIdentity {
    pub name: String,
    /// Which server this is, whatever its name: an id kept in its data
    /// folder ([`instance_id`]), so a restart is known for one.
    pub instance: String,
    pub advertise: String,
    /// Where other nodes' routers forward requests for this node's dynos.
    pub router: String,
}

/// This server's instance id, kept in `<data_dir>/node-id` (made the first time).
pub fn instance_id(data_dir: &std::path::Path) -> std::io::Result<String> {
    let path = data_dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
        _ => {
            let id = uuid::Uuid::new_v4().to_string();
            let partial = data_dir.join("node-id.partial");
            std::fs::write(&partial, format!("{id}\n"))?;
            std::fs::rename(&partial, &path)?;
            Ok(id)
        }
    }
}

/// Milliseconds since the Unix epoch on this node's clock.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Whether a node last seen at `seen_at_ms` is up at `now_ms`: seen within [`NODE_TTL`].
pub fn is_up(seen_at_ms: i64, now_ms: i64) -> bool {
    now_ms - seen_at_ms < i64::try_from(NODE_TTL.as_millis()).unwrap_or(i64::MAX)
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
        assert!(is_up(1_000_000, 1_000_000 + 9_999));
        assert!(!is_up(1_000_000, 1_000_000 + 10_000));
    }
}
