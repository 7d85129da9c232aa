//! `/apps/{app}/domains`: custom hostnames the router sends to the app.

use super::{ApiError, Caller, Platform};
use crate::state::App;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// What the domain's JSON says about its automated certificate.
type AcmStatus = (Value, Value);

fn domain_json(
    platform: &Platform,
    app: &App,
    hostname: &str,
    kind: &str,
    sni: Value,
    acm: AcmStatus,
) -> Value {
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
        "acm_status": acm.0,
        "acm_status_reason": acm.1,
        "sni_endpoint": sni,
        "created_at": app.created_at,
        "updated_at": app.updated_at,
    })
}

const NO_ACM: AcmStatus = (Value::Null, Value::Null);

fn acm_of(statuses: &[(String, Value, Value)], hostname: &str) -> AcmStatus {
    statuses
        .iter()
        .find(|(h, _, _)| h == hostname)
        .map_or(NO_ACM, |(_, status, reason)| {
            (status.clone(), reason.clone())
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
    let mut domains = vec![domain_json(
        &platform,
        &app,
        &own,
        "heroku",
        Value::Null,
        NO_ACM,
    )];
    let endpoints = platform.state.sni_endpoints(&app).await?;
    let acm_statuses = super::acm::domain_status(&platform, &app).await?;
    for (hostname, endpoint) in platform.state.domain_endpoints(&app).await? {
        let sni = endpoints
            .iter()
            .find(|e| Some(&e.id) == endpoint.as_ref())
            .map_or(Value::Null, |e| json!({ "id": e.id, "name": e.name }));
        let acm = acm_of(&acm_statuses, &hostname);
        domains.push(domain_json(&platform, &app, &hostname, "custom", sni, acm));
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
        return Ok(Json(domain_json(
            &platform,
            &app,
            &own,
            "heroku",
            Value::Null,
            NO_ACM,
        )));
    }
    if platform.state.domains(&app).await?.contains(&hostname) {
        return Ok(Json(custom_json(&platform, &app, &hostname).await?));
    }
    Err(ApiError::not_found(format!(
        "Couldn't find that domain: {hostname} is not a domain of {}; `kumo domains -a {}` lists them.",
        app.name, app.name
    )))
}

#[derive(Deserialize)]
pub struct AddDomain {
    hostname: String,
    /// The name or id of one of the app's certificates to serve it with.
    sni_endpoint: Option<String>,
}

#[derive(Deserialize)]
pub struct UpdateDomain {
    /// The certificate to serve the domain with; `null` for the platform's own.
    sni_endpoint: Option<String>,
}

pub async fn add(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Json<AddDomain>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    let app = platform.app_for(&caller, &name).await?;
    // The certificate is checked before the domain is added, so a wrong name adds nothing.
    let endpoint = named_endpoint(&platform, &app, body.sni_endpoint.as_deref()).await?;
    let hostname = platform.state.add_domain(&app, &body.hostname).await?;
    if let Some(endpoint) = &endpoint {
        platform
            .state
            .set_domain_endpoint(&app, &hostname, Some(endpoint))
            .await?;
    }
    platform.converge(&app.name);
    Ok((
        StatusCode::CREATED,
        Json(custom_json(&platform, &app, &hostname).await?),
    ))
}

/// `PATCH /apps/{app}/domains/{hostname}` (`domains:update --cert`, `certs:add`):
/// which certificate serves the domain.
pub async fn update(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, hostname)): Path<(String, String)>,
    body: Result<Json<UpdateDomain>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let app = platform.app_for(&caller, &name).await?;
    let hostname = hostname.to_ascii_lowercase();
    let endpoint = named_endpoint(&platform, &app, body.sni_endpoint.as_deref()).await?;
    platform
        .state
        .set_domain_endpoint(&app, &hostname, endpoint.as_ref())
        .await?;
    Ok(Json(custom_json(&platform, &app, &hostname).await?))
}

/// A custom domain's JSON, with the certificate that serves it and its ACM status.
async fn custom_json(platform: &Platform, app: &App, hostname: &str) -> Result<Value, ApiError> {
    let sni = super::sni_endpoints::of_domain(platform, app, hostname).await?;
    let acm = acm_of(&super::acm::domain_status(platform, app).await?, hostname);
    Ok(domain_json(platform, app, hostname, "custom", sni, acm))
}

/// The app's certificate a request names (by name or id), if it names one.
async fn named_endpoint(
    platform: &Platform,
    app: &App,
    id: Option<&str>,
) -> Result<Option<crate::state::SniEndpoint>, ApiError> {
    match id {
        Some(id) => Ok(Some(platform.state.sni_endpoint(app, id).await?)),
        None => Ok(None),
    }
}

pub async fn remove(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, hostname)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    platform.state.remove_domain(&app, &hostname).await?;
    platform.converge(&app.name);
    Ok(Json(domain_json(
        &platform,
        &app,
        &hostname,
        "custom",
        Value::Null,
        NO_ACM,
    )))
}
