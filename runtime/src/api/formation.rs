//! `/apps/{app}/formation`: how many dynos of which size per process type.

use super::{ApiError, Caller, Platform};
use crate::sizes::DynoSize;
use crate::state::{App, FormationLine};
use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

fn line_json(app: &App, line: &FormationLine) -> Value {
    json!({
        "id": format!("{}-{}", app.id, line.process_type),
        "type": line.process_type,
        "quantity": line.quantity,
        "size": line.size.name(),
        "command": line.process_type,
        "app": { "id": app.id, "name": app.name },
        "created_at": line.updated_at,
        "updated_at": line.updated_at,
    })
}

pub async fn list(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let lines = platform.state.formation(&app).await?;
    let items = lines.iter().map(|l| line_json(&app, l)).collect();
    Ok(super::paging::page(&headers, items, &["type", "id"]))
}

pub async fn info(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, process_type)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let lines = platform.state.formation(&app).await?;
    let line = lines
        .iter()
        .find(|l| l.process_type == process_type)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Couldn't find that formation: no `{process_type}` process type."
            ))
        })?;
    Ok(Json(line_json(&app, line)))
}

#[derive(Deserialize)]
pub struct Update {
    #[serde(rename = "type")]
    process_type: Option<String>,
    quantity: Option<i64>,
    size: Option<String>,
}

#[derive(Deserialize)]
pub struct Batch {
    updates: Vec<Update>,
}

fn parse(
    update: Update,
    process_type: Option<String>,
) -> Result<(String, Option<i64>, Option<DynoSize>), ApiError> {
    let process_type = process_type
        .or(update.process_type)
        .ok_or_else(|| ApiError::invalid("each update needs a `type`"))?;
    if process_type.is_empty()
        || process_type.len() > 128
        || !process_type
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(ApiError::invalid(format!(
            "invalid process type `{process_type}`"
        )));
    }
    let size = update
        .size
        .map(|s| s.parse::<DynoSize>())
        .transpose()
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok((process_type, update.quantity, size))
}

async fn apply(
    platform: &Platform,
    app: &App,
    updates: Vec<(String, Option<i64>, Option<DynoSize>)>,
) -> Result<Vec<FormationLine>, ApiError> {
    let types: Vec<String> = updates.iter().map(|u| u.0.clone()).collect();
    let lines = platform.state.scale(app, &updates).await?;
    platform.converge(&app.name);
    Ok(lines
        .into_iter()
        .filter(|l| types.contains(&l.process_type))
        .collect())
}

pub async fn batch_update(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Json<Batch>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let app = platform.app_for(&caller, &name).await?;
    let updates = body
        .updates
        .into_iter()
        .map(|u| parse(u, None))
        .collect::<Result<Vec<_>, _>>()?;
    let lines = apply(&platform, &app, updates).await?;
    Ok(Json(Value::Array(
        lines.iter().map(|l| line_json(&app, l)).collect(),
    )))
}

pub async fn update(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, process_type)): Path<(String, String)>,
    body: Result<Json<Update>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let app = platform.app_for(&caller, &name).await?;
    let update = parse(body, Some(process_type))?;
    let lines = apply(&platform, &app, vec![update]).await?;
    let line = lines
        .first()
        .ok_or_else(|| ApiError::not_found("Couldn't find that formation."))?;
    Ok(Json(line_json(&app, line)))
}
