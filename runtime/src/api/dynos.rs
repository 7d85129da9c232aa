//! `GET /apps/{app}/dynos` and `DELETE /apps/{app}/dynos[/{dyno}]` (restart).

use super::{ApiError, Caller, Platform};
use crate::manager::DynoStatus;
use crate::state::App;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

fn dyno_json(app: &App, dyno: &DynoStatus) -> Value {
    json!({
        "id": format!("{}-{}", app.id, dyno.name),
        "name": dyno.name,
        "type": dyno.process_type,
        "state": dyno.state.as_str(),
        "size": dyno.size.name(),
        "command": dyno.command,
        "release": { "id": dyno.release.to_string(), "version": dyno.release },
        "app": { "id": app.id, "name": app.name },
        "attach_url": null,
        "created_at": crate::state::format_time(dyno.since),
        "updated_at": crate::state::format_time(dyno.since),
    })
}

pub async fn list(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let dynos = platform.manager.dynos(&app.name);
    let items = dynos.iter().map(|d| dyno_json(&app, d)).collect();
    Ok(super::paging::page(&headers, items, &["name", "id"]))
}

pub async fn restart_all(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    restart(&platform, &app.name, None);
    Ok((StatusCode::ACCEPTED, Json(json!({}))))
}

pub async fn restart_one(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, dyno)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    if !exists(&platform, &app, &dyno).await? {
        return Err(ApiError::not_found(format!(
            "Couldn't find dyno {dyno} on {name}."
        )));
    }
    restart(&platform, &app.name, Some(dyno));
    Ok((StatusCode::ACCEPTED, Json(json!({}))))
}

/// Whether `dyno` (`web.2`, or a process type) names dynos of the app: running
/// ones, or the formation's (which a sleeping app's are).
async fn exists(platform: &Platform, app: &App, dyno: &str) -> Result<bool, ApiError> {
    if platform
        .manager
        .dynos(&app.name)
        .iter()
        .any(|d| d.name == dyno || d.process_type == dyno)
    {
        return Ok(true);
    }
    let (process_type, index) = match dyno.rsplit_once('.') {
        Some((t, n)) => (t, n.parse::<i64>().ok()),
        None => (dyno, None),
    };
    let formation = platform.state.formation(app).await?;
    Ok(formation.iter().any(|line| {
        line.process_type == process_type
            && line.quantity > 0
            && index.is_none_or(|n| (1..=line.quantity).contains(&n))
    }))
}

/// `POST /apps/{app}/dynos/{dyno}/actions/stop`. As on Heroku's common runtime, a
/// dyno of the formation is started again right away; `ps:scale` removes dynos for good.
pub async fn stop(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, dyno)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    if dyno.starts_with("run.") {
        if !platform.manager.stop_one_off(&app.name, &dyno) {
            return Err(ApiError::not_found(format!(
                "Couldn't find dyno {dyno} on {name}."
            )));
        }
        return Ok((StatusCode::ACCEPTED, Json(json!({}))));
    }
    if !exists(&platform, &app, &dyno).await? {
        return Err(ApiError::not_found(format!(
            "Couldn't find dyno {dyno} on {name}."
        )));
    }
    restart(&platform, &app.name, Some(dyno));
    Ok((StatusCode::ACCEPTED, Json(json!({}))))
}

fn restart(platform: &Platform, app: &str, which: Option<String>) {
    let (manager, app) = (platform.manager.clone(), app.to_string());
    tokio::spawn(async move { manager.restart(&app, which.as_deref()).await });
}
