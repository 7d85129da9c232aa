//! `/apps/{app}/sni-endpoints`: certificates an app's owner brings for its
//! custom domains (`heroku certs:add`, `certs`, `certs:info`, `certs:update`,
//! `certs:remove`), and the lookup the TLS listeners make per server name.

use super::{ApiError, Caller, Platform};
use crate::state::{App, SniEndpoint, State as Ledger};
use crate::tls::user;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize)]
pub struct CertificateBody {
    certificate_chain: String,
    private_key: String,
}

pub async fn list(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let domains = platform.state.domain_endpoints(&app).await?;
    let endpoints = platform.state.sni_endpoints(&app).await?;
    Ok(Json(Value::Array(
        endpoints
            .iter()
            .map(|e| endpoint_json(&platform, &app, e, &domains))
            .collect(),
    )))
}

pub async fn info(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let endpoint = platform.state.sni_endpoint(&app, &id).await?;
    let domains = platform.state.domain_endpoints(&app).await?;
    Ok(Json(endpoint_json(&platform, &app, &endpoint, &domains)))
}

pub async fn add(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Json<CertificateBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    let app = platform.app_for(&caller, &name).await?;
    check(&platform, &body)?;
    let endpoint = platform
        .state
        .add_sni_endpoint(&app, &body.certificate_chain, &body.private_key)
        .await?;
    let domains = platform.state.domain_endpoints(&app).await?;
    Ok((
        StatusCode::CREATED,
        Json(endpoint_json(&platform, &app, &endpoint, &domains)),
    ))
}

pub async fn update(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
    body: Result<Json<CertificateBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let app = platform.app_for(&caller, &name).await?;
    check(&platform, &body)?;
    let endpoint = platform
        .state
        .update_sni_endpoint(&app, &id, &body.certificate_chain, &body.private_key)
        .await?;
    let domains = platform.state.domain_endpoints(&app).await?;
    Ok(Json(endpoint_json(&platform, &app, &endpoint, &domains)))
}

pub async fn remove(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let domains = platform.state.domain_endpoints(&app).await?;
    let endpoint = platform.state.remove_sni_endpoint(&app, &id).await?;
    Ok(Json(endpoint_json(&platform, &app, &endpoint, &domains)))
}

/// The certificate a domain is served with, as the domain's JSON names it.
pub async fn of_domain(platform: &Platform, app: &App, hostname: &str) -> Result<Value, ApiError> {
    let domains = platform.state.domain_endpoints(app).await?;
    let Some((_, Some(id))) = domains.iter().find(|(h, _)| h == hostname) else {
        return Ok(Value::Null);
    };
    let endpoint = platform.state.sni_endpoint(app, id).await?;
    Ok(json!({ "id": endpoint.id, "name": endpoint.name }))
}

fn check(platform: &Platform, body: &CertificateBody) -> Result<user::Described, ApiError> {
    user::check(
        &body.certificate_chain,
        &body.private_key,
        &platform.local_ca_pem,
    )
    .map_err(ApiError::invalid)
}

fn endpoint_json(
    platform: &Platform,
    app: &App,
    endpoint: &SniEndpoint,
    domains: &[(String, Option<String>)],
) -> Value {
    // An expired certificate still shows what it was.
    let described = user::check(
        &endpoint.certificate_chain,
        &endpoint.private_key,
        &platform.local_ca_pem,
    )
    .ok()
    .or_else(|| {
        crate::tls::ca::pem::parse_first(&endpoint.certificate_chain)
            .and_then(|der| user::describe(&der))
            .ok()
    });
    let ssl_cert = described.map_or(Value::Null, |d| {
        json!({
            "id": endpoint.id,
            "ca_signed?": d.ca_signed,
            "self_signed?": d.subject == d.issuer,
            "cert_domains": d.domains,
            "subject": d.subject,
            "issuer": d.issuer,
            "starts_at": crate::state::format_time(d.starts_at),
            "expires_at": crate::state::format_time(d.expires_at),
            "acm": false,
        })
    });
    let served: Vec<&str> = domains
        .iter()
        .filter(|(_, id)| id.as_deref() == Some(endpoint.id.as_str()))
        .map(|(hostname, _)| hostname.as_str())
        .collect();
    json!({
        "id": endpoint.id,
        "name": endpoint.name,
        "display_name": null,
        "certificate_chain": endpoint.certificate_chain,
        "app": { "id": app.id, "name": app.name },
        "domains": served,
        "ssl_cert": ssl_cert,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
    })
}

/// The certificates the TLS listeners serve: an app's own for its custom
/// domains, else the local CA's for the names Kumo serves.
pub struct LedgerCertificates {
    pub state: Ledger,
    pub manager: Arc<crate::manager::DynoManager>,
    /// The platform's domain: every `<app>.<domain>` is Kumo's.
    pub domain: String,
}

#[async_trait::async_trait]
impl crate::tls::Certificates for LedgerCertificates {
    async fn certificate(&self, hostname: &str) -> Option<(String, String)> {
        match self.state.certificate_for_domain(hostname).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(host = %hostname, error = %e, "looking up a domain's certificate");
                None
            }
        }
    }

    fn serves(&self, hostname: &str) -> bool {
        hostname == "localhost"
            || hostname == self.domain
            || hostname
                .strip_suffix(&self.domain)
                .is_some_and(|app| app.ends_with('.'))
            || self.manager.app_for_host(hostname).is_some()
    }
}
