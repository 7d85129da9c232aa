//! `GET /apps/{app}/metrics?minutes=N` (a Kumo extension; `kumo metrics`):
//! what the routers saw of the app, minute by minute, for the last N minutes
//! (60 by default, 1440 at most), and the same summed. With several nodes,
//! each counts what its own router served; the node asked adds the others'
//! minutes (`GET /node-metrics/{app}`, with the node token).

use super::{ApiError, Caller, Platform};
use crate::metrics::{KEPT_MINUTES, Minute};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize)]
pub struct Window {
    minutes: Option<i64>,
}

pub async fn app_metrics(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    window: Result<Query<Window>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let minutes = window
        .map_err(|e| ApiError::invalid(format!("{e}: give ?minutes=N")))?
        .minutes
        .unwrap_or(60);
    if !(1..=KEPT_MINUTES).contains(&minutes) {
        return Err(ApiError::invalid(format!(
            "minutes must be between 1 and {KEPT_MINUTES} (metrics are kept for 24 hours), not {minutes}"
        )));
    }
    let mut nodes = vec![crate::metrics::global().app_minutes(&app.name, minutes)];
    let path = format!("/node-metrics/{}?minutes={minutes}", app.name);
    for answer in super::collate::ask_nodes(&platform, &path).await {
        let known = |name: &str| {
            crate::router::codes::Code::named(name).map(crate::router::codes::Code::as_str)
        };
        let minutes = answer.as_array().map(Vec::as_slice).unwrap_or_default();
        nodes.push(
            minutes
                .iter()
                .filter_map(|m| Minute::from_wire(m, &known))
                .collect(),
        );
    }
    let series = crate::metrics::merge_nodes(nodes);
    let mut summary = Minute::sum(&series).json();
    if let Some(summary) = summary.as_object_mut() {
        summary.remove("at");
        let rps = series.iter().map(|m| m.requests).sum::<u64>() as f64 / (minutes * 60) as f64;
        summary.insert(
            "throughput_rps".into(),
            json!((rps * 1000.0).round() / 1000.0),
        );
    }
    Ok(Json(json!({
        "app": { "id": app.id, "name": app.name },
        "minutes": minutes,
        "summary": summary,
        "series": series.iter().map(Minute::json).collect::<Vec<_>>(),
    })))
}

/// `GET /node-metrics/{app}?minutes=N`: this node's own minutes of `app`, for
/// the node that collates them.
pub async fn node_minutes(
    State(platform): State<Arc<Platform>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    window: Result<Query<Window>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    super::collate::from_a_node(&platform, &headers)?;
    let minutes = window.ok().and_then(|w| w.minutes).unwrap_or(60);
    let series = crate::metrics::global().app_minutes(&name, minutes.clamp(1, KEPT_MINUTES));
    Ok(Json(Value::Array(
        series.iter().map(Minute::wire).collect(),
    )))
}
