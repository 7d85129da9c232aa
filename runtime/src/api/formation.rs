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
    quantity: Option<Quantity>,
    size: Option<String>,
}

/// A quantity as a number (`2`) or, as Heroku's CLI sends it, a string:
/// `"2"`, or `"+1"`/`"-1"` relative to the current quantity.
#[derive(Deserialize)]
#[serde(untagged)]
enum Quantity {
    Number(i64),
    Text(String),
}

/// A quantity change: to a number, or by a number.
#[derive(Clone, Copy)]
enum Change {
    To(i64),
    By(i64),
}

impl Quantity {
    fn change(self) -> Result<Change, ApiError> {
        match self {
            Quantity::Number(n) => Ok(Change::To(n)),
            Quantity::Text(text) => {
                let t = text.trim();
                let number = |s: &str| {
                    s.parse::<i64>().map_err(|_| {
                        ApiError::invalid(format!(
                            "invalid quantity `{text}`: use a number like 2, or +1 / -1 to change it"
                        ))
                    })
                };
                if let Some(rest) = t.strip_prefix('+') {
                    Ok(Change::By(number(rest)?))
                } else if let Some(rest) = t.strip_prefix('-') {
                    Ok(Change::By(-number(rest)?))
                } else {
                    Ok(Change::To(number(t)?))
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct Batch {
    updates: Vec<Update>,
}

type Parsed = (String, Option<Change>, Option<DynoSize>);

fn parse(update: Update, process_type: Option<String>) -> Result<Parsed, ApiError> {
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
    let quantity = update.quantity.map(Quantity::change).transpose()?;
    Ok((process_type, quantity, size))
}

async fn apply(
    platform: &Platform,
    app: &App,
    updates: Vec<Parsed>,
) -> Result<Vec<FormationLine>, ApiError> {
    let types: Vec<String> = updates.iter().map(|u| u.0.clone()).collect();
    let current = platform.state.formation(app).await?;
    // Once a slug is released, its process types are the formation's; before
    // that, sizes and quantities may be set ahead (an eco app from the start).
    let released = platform
        .state
        .current_release(app)
        .await?
        .is_some_and(|r| r.slug_digest.is_some());
    if released
        && let Some(missing) = types
            .iter()
            .find(|t| !current.iter().any(|l| &l.process_type == *t))
    {
        return Err(ApiError::not_found(format!(
            "Couldn't find that process type ({missing})."
        )));
    }
    let mut absolute = Vec::with_capacity(updates.len());
    for (process_type, change, size) in updates {
        let quantity = match change {
            None => None,
            Some(Change::To(n)) => Some(n),
            Some(Change::By(delta)) => {
                let now = current
                    .iter()
                    .find(|l| l.process_type == process_type)
                    .map_or(0, |l| l.quantity);
                let wanted = now.saturating_add(delta);
                if wanted < 0 {
                    return Err(ApiError::invalid(format!(
                        "cannot scale {process_type} by {delta}: it runs {now} dynos"
                    )));
                }
                Some(wanted)
            }
        };
        absolute.push((process_type, quantity, size));
    }
    let updates = absolute;
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
