//! `/apps/{app}/log-drains`: where an app's log stream is sent besides its
//! tails (`heroku drains`, `drains:add URL`, `drains:remove URL`).

use super::{ApiError, Caller, Platform};
use crate::state::Drain;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize)]
pub struct AddDrain {
    url: String,
}

fn drain_json(drain: &Drain) -> Value {
    json!({
        "id": drain.id,
        "url": drain.url,
        "token": drain.token,
        "addon": null,
        "app": { "id": drain.app_id, "name": drain.app_name },
        "created_at": drain.created_at,
        "updated_at": drain.created_at,
    })
}

pub async fn list(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let drains = platform.state.drains(&app).await?;
    Ok(Json(Value::Array(drains.iter().map(drain_json).collect())))
}

pub async fn info(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, which)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    Ok(Json(drain_json(&platform.state.drain(&app, &which).await?)))
}

pub async fn add(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Json<AddDrain>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    let app = platform.app_for(&caller, &name).await?;
    let url = body.url.trim();
    crate::drains::parse_url(url).map_err(ApiError::invalid)?;
    let drain = platform.state.add_drain(&app, url).await?;
    platform.sync_drains().await;
    Ok((StatusCode::CREATED, Json(drain_json(&drain))))
}

pub async fn remove(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, which)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let drain = platform.state.remove_drain(&app, &which).await?;
    platform.sync_drains().await;
    Ok(Json(drain_json(&drain)))
}

impl Platform {
    /// Makes this server's drains those of the ledger. Every server also does
    /// this on its own every few seconds ([`keep_drains`]), for changes made
    /// through the others.
    pub async fn sync_drains(&self) {
        match self.state.all_drains().await {
            Ok(all) => self.drains.set(
                all.into_iter()
                    .map(|d| crate::drains::DrainSpec {
                        id: d.id,
                        app: d.app_name,
                        url: d.url,
                        token: d.token,
                    })
                    .collect(),
            ),
            Err(e) => tracing::warn!(error = %e, "reading the drains"),
        }
    }
}

/// Keeps this server's drains in line with the ledger until the runtime ends.
pub fn keep_drains(platform: Arc<Platform>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            platform.sync_drains().await;
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        }
    })
}
