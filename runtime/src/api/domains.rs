//! `/apps/{app}/domains`: custom hostnames the router sends to the app.

use super::{ApiError, Caller, Platform};
use crate::state::App;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

fn domain_json(platform: &Platform, app: &App, hostname: &str, kind: &str) -> Value {
    json!({
        "id": hostname,
        "hostname": hostname,
        "kind": kind,
        // Point the name at the router; on one machine that is the router's own host name.
        "cname": if kind == "custom" { Value::String(format!("{}.{}", app.name, platform.domain)) } else { Value::Null },
        // Kumo routes a custom domain from the moment it is added and checks no
        // DNS record, so there is nothing to wait for: `none`, which Heroku's
        // CLI reads as such (any other status makes `domains:add` say the
        // domain was "enqueued for addition"). The app's own host is served.
        "status": if kind == "custom" { "none" } else { "succeeded" },
        "app": { "id": app.id, "name": app.name },
        "acm_status": null,
        "sni_endpoint": null,
        "created_at": app.created_at,
        "updated_at": app.updated_at,
    })
}

pub async fn list(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let own = format!("{}.{}", app.name, platform.domain);
    let mut domains = vec![domain_json(&platform, &app, &own, "heroku")];
    for hostname in platform.state.domains(&app).await? {
        domains.push(domain_json(&platform, &app, &hostname, "custom"));
    }
    Ok(super::paging::page(&headers, domains, &["hostname", "id"]))
}

/// `GET /apps/{app}/domains/{hostname}` (`domains:info`, `domains:wait`): the
/// app's own hostname or one of its custom domains, by hostname or id (the
/// same here).
pub async fn info(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, hostname)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let hostname = hostname.to_ascii_lowercase();
    let own = format!("{}.{}", app.name, platform.domain);
    if hostname == own {
        return Ok(Json(domain_json(&platform, &app, &own, "heroku")));
    }
    if platform.state.domains(&app).await?.contains(&hostname) {
        return Ok(Json(domain_json(&platform, &app, &hostname, "custom")));
    }
    Err(ApiError::not_found(format!(
        "Couldn't find that domain: {hostname} is not a domain of {}; `kumo domains -a {}` lists them.",
        app.name, app.name
    )))
}

#[derive(Deserialize)]
pub struct AddDomain {
    hostname: String,
}

pub async fn add(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Json<AddDomain>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    let app = platform.app_for(&caller, &name).await?;
    let hostname = platform.state.add_domain(&app, &body.hostname).await?;
    platform.converge(&app.name);
    Ok((
        StatusCode::CREATED,
        Json(domain_json(&platform, &app, &hostname, "custom")),
    ))
}

pub async fn remove(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, hostname)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    platform.state.remove_domain(&app, &hostname).await?;
    platform.converge(&app.name);
    Ok(Json(domain_json(&platform, &app, &hostname, "custom")))
}
