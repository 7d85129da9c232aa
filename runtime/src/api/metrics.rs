//! `GET /apps/{app}/metrics?minutes=N` (a Kumo extension; `kumo metrics`):
//! what this server's router saw of the app, minute by minute, for the last
//! N minutes (60 by default, 1440 at most), and the same summed.

use super::{ApiError, Caller, Platform};
use crate::metrics::{KEPT_MINUTES, Minute};
use axum::Json;
use axum::extract::{Path, Query, State};
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
    let series = crate::metrics::global().app_minutes(&app.name, minutes);
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
