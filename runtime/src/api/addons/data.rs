//! What `pg:info`, `addons:info` and `pg:reset` read and do: Kumo's
//! `/apps/{app}/addons/{addon}/info` and `…/actions/reset`, and Heroku's data
//! API `/client/v11/databases/{addon}` for Heroku's own CLI.

use super::{ApiError, Caller, Platform, addon_json, service_of};
use crate::addons::Resource;
use crate::state::{Addon, Attachment};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

/// `GET /apps/{app}/addons/{addon}/info` (Kumo's): what `pg:info` and
/// `addons:info` show, as `[{name, values}]`.
pub async fn details(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let (addon, attachments) = platform.addon_of_app(&app, &id).await?;
    Ok(Json(facts(&platform, &addon, &attachments).await?))
}

/// `GET /client/v11/databases/{addon}`: Heroku's data API as Heroku's CLI's
/// `pg:info` reads it (`HEROKU_DATA_HOST` pointing at Kumo's API).
pub async fn database(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (addon, attachments) = platform.addon_for(&caller, &id).await?;
    let Some(Resource::Postgres { url }) = &addon.resource else {
        return Err(ApiError::not_found(format!(
            "{} is not a provisioned Postgres database.",
            addon.name
        )));
    };
    Ok(Json(json!({
        "addon_id": addon.id,
        "name": addon.name,
        "resource_url": url,
        "info": facts(&platform, &addon, &attachments).await?,
    })))
}

/// What an add-on's info shows, as `[{name, values}]`: the plan, then what
/// its backend says (status, connections, size…), then its attachments.
async fn facts(
    platform: &Platform,
    addon: &Addon,
    attachments: &[Attachment],
) -> Result<Value, ApiError> {
    let service = service_of(addon)?;
    let plan = service.plans.iter().find(|p| p.name == addon.plan);
    let mut facts = vec![
        (
            "Plan".to_string(),
            plan.map_or(addon.plan.clone(), |p| p.human_name.to_string()),
        ),
        ("Add-on".to_string(), addon.name.clone()),
        ("Created".to_string(), addon.created_at.clone()),
    ];
    if let Some(resource) = &addon.resource {
        let provider = platform
            .addon_providers
            .provider_of(service.kind, Some(resource))
            .await
            .map_err(|why| {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", why)
            })?;
        match provider.info(&addon.name, resource).await {
            Ok(more) => facts.extend(more),
            Err(e) => facts.push(("Status".to_string(), format!("Unavailable: {e:#}"))),
        }
    }
    facts.push((
        "Attachments".to_string(),
        attachments
            .iter()
            .map(|a| format!("{}::{}", a.app_name, a.name))
            .collect::<Vec<_>>()
            .join(", "),
    ));
    Ok(Value::Array(
        facts
            .into_iter()
            .map(|(name, value)| json!({ "name": name, "values": [value] }))
            .collect(),
    ))
}

/// `POST /apps/{app}/addons/{addon}/actions/reset` (Kumo's, for `pg:reset`):
/// empties the resource, keeping its credentials.
pub async fn reset(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let (addon, attachments) = platform.addon_of_app(&app, &id).await?;
    let service = service_of(&addon)?;
    let resource = addon
        .resource
        .clone()
        .ok_or_else(|| ApiError::invalid(format!("{} is still provisioning", addon.name)))?;
    let fail = |why: String| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            format!("Couldn't reset {}: {why}", addon.name),
        )
    };
    let provider = platform
        .addon_providers
        .provider_of(service.kind, Some(&resource))
        .await
        .map_err(fail)?;
    provider
        .reset(&addon.name, &resource)
        .await
        .map_err(|e| fail(format!("{e:#}")))?;
    Ok(Json(addon_json(&addon, &attachments)))
}
