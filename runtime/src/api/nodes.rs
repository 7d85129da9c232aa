//! `GET /nodes`, `GET /nodes/{node}` and `DELETE /nodes/{node}` (a Kumo
//! extension, operators only; `kumo nodes`): the servers sharing this ledger,
//! each with its state, address, capacity and dynos, from the rows their
//! heartbeats keep fresh; and [`join_platform`], which writes them.

use super::{ApiError, Caller, Platform};
use crate::manager::DynoManager;
use crate::nodes::{HEARTBEAT, NODE_TTL, NodeIdentity, now_ms};
use crate::state::Node;
use anyhow::Context as _;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

pub async fn list(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.admin_only(OPERATORS_ONLY)?;
    let now = now_ms();
    let nodes = platform.state.nodes().await?;
    Ok(Json(Value::Array(
        nodes.iter().map(|n| node_json(&platform, n, now)).collect(),
    )))
}

pub async fn info(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.admin_only(OPERATORS_ONLY)?;
    let node = find(&platform, &name).await?;
    Ok(Json(node_json(&platform, &node, now_ms())))
}

/// Forgets a node that is down (its row only: it holds nothing else).
pub async fn forget(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.admin_only(OPERATORS_ONLY)?;
    let node = find(&platform, &name).await?;
    let now = now_ms();
    let fresh_since = now - i64::try_from(NODE_TTL.as_millis()).unwrap_or(i64::MAX);
    if node.is_up(now) || !platform.state.forget_node(&name, fresh_since).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "node_up",
            format!(
                "node `{name}` is up (its last heartbeat was under {} s ago): stop its `kumo server` first",
                NODE_TTL.as_secs()
            ),
        ));
    }
    Ok(Json(node_json(&platform, &node, now)))
}

async fn find(platform: &Platform, name: &str) -> Result<Node, ApiError> {
    platform
        .state
        .nodes()
        .await?
        .into_iter()
        .find(|n| n.name == name)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Couldn't find that node ({name}): `kumo nodes` lists them"
            ))
        })
}

const OPERATORS_ONLY: &str = "Only an operator (an admin account) can see the platform's nodes.";

fn node_json(platform: &Platform, node: &Node, now: i64) -> Value {
    let seen = time::OffsetDateTime::from_unix_timestamp(node.seen_at_ms.div_euclid(1000))
        .map(crate::state::format_time)
        .unwrap_or_default();
    json!({
        "name": node.name,
        "state": if node.is_up(now) { "up" } else { "down" },
        "advertise": node.advertise,
        "router": node.router,
        "capacity": {
            "instance_slots": node.instance_slots,
            "memory_mb": node.memory_bytes / (1024 * 1024),
        },
        "dynos": node.dynos,
        "started_at": node.started_at,
        "seen_at": seen,
        "seen_seconds_ago": (now - node.seen_at_ms).max(0) / 1000,
        "this_node": node.name == platform.node,
    })
}

/// Joins the platform as node `identity` (see `crate::nodes`): refuses a name a running node holds
/// elsewhere, writes the first heartbeat, and keeps writing one every
/// [`HEARTBEAT`] while the manager lives.
pub async fn join_platform(
    state: &crate::state::State,
    identity: NodeIdentity,
    manager: &Arc<DynoManager>,
) -> anyhow::Result<()> {
    let now = now_ms();
    let nodes = state.nodes().await.context("reading the ledger's nodes")?;
    if let Some(other) = nodes.iter().find(|n| n.name == identity.name)
        && other.is_up(now)
        && other.instance != identity.instance
    {
        // The same instance is this server restarting, its row still fresh.
        anyhow::bail!(
            "node `{}` is already running at {} (seen {} s ago): give this server its own --node name, or stop that one",
            identity.name,
            other.advertise,
            (now - other.seen_at_ms) / 1000
        );
    }
    // What does not change while the process runs is read once.
    let mut row = Node {
        name: identity.name.clone(),
        instance: identity.instance.clone(),
        advertise: identity.advertise.clone(),
        router: identity.router.clone(),
        instance_slots: i64::from(manager.engine().max_instances()),
        memory_bytes: machine_memory().unwrap_or(0),
        dynos: 0,
        started_at: crate::state::format_time(time::OffsetDateTime::now_utc()),
        seen_at_ms: 0,
    };
    refresh(&mut row, manager);
    state
        .node_heartbeat(&row)
        .await
        .context("writing this node's row in the ledger")?;
    let (state, manager) = (state.clone(), Arc::downgrade(manager));
    tokio::spawn(async move {
        for beat in 1u64.. {
            tokio::time::sleep(HEARTBEAT).await;
            let Some(manager) = manager.upgrade() else {
                return;
            };
            refresh(&mut row, &manager);
            if let Err(e) = state.node_heartbeat(&row).await {
                tracing::warn!(node = %row.name, error = %e, "writing the node's heartbeat failed");
            }
            if beat % ORPHAN_SWEEP == 0
                && let Err(e) = fail_dead_nodes_work(&state).await
            {
                tracing::warn!(error = %format!("{e:#}"), "failing a dead node's builds failed");
            }
        }
    });
    Ok(())
}

/// Every how many heartbeats a node fails the builds and release phases of
/// nodes that are down, which no one else would finish.
const ORPHAN_SWEEP: u64 = 5;

/// Fails the pending builds and release phases of nodes that are down.
async fn fail_dead_nodes_work(state: &crate::state::State) -> anyhow::Result<()> {
    let (builds, releases) = state.fail_interrupted_work(false).await?;
    for build in builds {
        tracing::warn!(build = %build.id, "a build's node is down: marked failed");
    }
    for release in releases {
        tracing::warn!(release = %release.id, "a release phase's node is down: marked failed");
    }
    Ok(())
}

/// Sets this node's row to now: its running dynos and the time it was seen.
fn refresh(row: &mut Node, manager: &DynoManager) {
    row.dynos = manager
        .dyno_states()
        .iter()
        .filter(|(state, _)| matches!(*state, "up" | "starting"))
        .map(|(_, count)| count)
        .sum();
    row.seen_at_ms = now_ms();
}

/// The machine's memory, from `/proc/meminfo` (`None` where there is none).
fn machine_memory() -> Option<i64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
