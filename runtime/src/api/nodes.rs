//! `GET /nodes`, `GET /nodes/{node}` and `DELETE /nodes/{node}` (a Kumo
//! extension, operators only; `kumo nodes`): the servers sharing this ledger,
//! each with its state, address, capacity and dynos, from the rows their
//! heartbeats keep fresh.

use super::{ApiError, Caller, Platform};
use crate::nodes::{NODE_TTL, is_up, now_ms};
use crate::state::Node;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

pub async fn list(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    operators_only(&caller)?;
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
    operators_only(&caller)?;
    let node = find(&platform, &name).await?;
    Ok(Json(node_json(&platform, &node, now_ms())))
}

/// Forgets a node that is down (its row only: it holds nothing else).
pub async fn forget(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    operators_only(&caller)?;
    let node = find(&platform, &name).await?;
    let now = now_ms();
    let fresh_since = now - i64::try_from(NODE_TTL.as_millis()).unwrap_or(i64::MAX);
    if is_up(&node, now) || !platform.state.forget_node(&name, fresh_since).await? {
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

fn operators_only(caller: &Caller) -> Result<(), ApiError> {
    if caller.0.admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "Only an operator (an admin account) can see the platform's nodes.",
        ))
    }
}

fn node_json(platform: &Platform, node: &Node, now: i64) -> Value {
    let seen = time::OffsetDateTime::from_unix_timestamp(node.seen_at_ms.div_euclid(1000))
        .map(crate::state::format_time)
        .unwrap_or_default();
    json!({
        "name": node.name,
        "state": if is_up(node, now) { "up" } else { "down" },
        "advertise": node.advertise,
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
