//! The add-on resources of the Platform API in Heroku's shapes:
//! `/addon-services` ([`services`]), `/apps/{app}/addons` and `/addons`
//! (this file and [`provision`]), `/addon-attachments` ([`attachments`]).
//!
//! Provisioning and destroying talk to a backend that may be slow or down,
//! so they run outside any transaction, bracketed by ledger rows: a name is
//! taken (`provisioning`) before the backend makes anything, and the
//! attachment and its release are one transaction after.

pub mod attachments;
pub mod data;
pub mod provision;
pub mod services;

use super::{ApiError, Caller, Platform};
use crate::addons::catalog::{self, Service};
use crate::state::{Addon, App, Attachment};
use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// The catalog entry of an add-on's service.
pub(super) fn service_of(addon: &Addon) -> Result<&'static Service, ApiError> {
    catalog::service(&addon.service).ok_or_else(|| {
        ApiError::invalid(format!(
            "add-on {} is of the service `{}`, which this server does not offer",
            addon.name, addon.service
        ))
    })
}

/// An add-on in Heroku's shape.
pub(super) fn addon_json(addon: &Addon, attachments: &[Attachment]) -> Value {
    let service = catalog::service(&addon.service);
    let plan = service.and_then(|s| s.plans.iter().find(|p| p.name == addon.plan));
    let billing = attachments
        .iter()
        .find(|a| a.app_id == addon.app_id)
        .or(attachments.first());
    let config_vars = match (service, billing) {
        (Some(service), Some(attachment)) => service.var_names(&attachment.name),
        _ => Vec::new(),
    };
    json!({
        "id": addon.id,
        "name": addon.name,
        "actions": [],
        "addon_service": {
            "id": service.map(|s| s.id),
            "name": addon.service,
        },
        "app": { "id": addon.app_id, "name": addon.app_name },
        "billing_entity": { "id": addon.app_id, "name": addon.app_name, "type": "app" },
        "billed_price": { "cents": 0, "contract": false, "unit": "month" },
        "config_vars": config_vars,
        "plan": {
            "id": plan.map(|p| p.id),
            "name": format!("{}:{}", addon.service, addon.plan),
            "price": { "cents": 0, "unit": "month", "contract": false },
        },
        "provider_id": crate::addons::names::resource_id(&addon.name),
        "state": addon.state,
        "web_url": Value::Null,
        "attachments": attachments.iter().map(attachment_ref).collect::<Vec<_>>(),
        "created_at": addon.created_at,
        "updated_at": addon.updated_at,
    })
}

fn attachment_ref(attachment: &Attachment) -> Value {
    json!({
        "id": attachment.id,
        "name": attachment.name,
        "app": { "id": attachment.app_id, "name": attachment.app_name },
    })
}

/// An attachment in Heroku's shape, with the add-on's plan and the config
/// vars it sets (what Heroku sends for `Accept-Inclusion: addon:plan,config_vars`,
/// and what Heroku's `pg` commands read).
pub(super) fn attachment_json(attachment: &Attachment) -> Value {
    let service = catalog::service(&attachment.addon_service);
    let plan = service.and_then(|s| s.plans.iter().find(|p| p.name == attachment.addon_plan));
    json!({
        "id": attachment.id,
        "name": attachment.name,
        "addon": {
            "id": attachment.addon_id,
            "name": attachment.addon_name,
            "app": { "id": attachment.addon_app_id, "name": attachment.addon_app_name },
            "plan": {
                "id": plan.map(|p| p.id),
                "name": format!("{}:{}", attachment.addon_service, attachment.addon_plan),
            },
        },
        "config_vars": service.map(|s| s.var_names(&attachment.name)).unwrap_or_default(),
        "app": { "id": attachment.app_id, "name": attachment.app_name },
        "namespace": Value::Null,
        "web_url": Value::Null,
        "log_input_url": Value::Null,
        "created_at": attachment.created_at,
        "updated_at": attachment.created_at,
    })
}

impl Platform {
    /// Whether `caller` may see `app_name` (owner, collaborator or admin).
    pub(super) async fn may_see(&self, caller: &Caller, app_name: &str) -> Result<bool, ApiError> {
        match self.app_for(caller, app_name).await {
            Ok(_) => Ok(true),
            Err(e) if e.status.is_client_error() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The add-on `id_or_name` as `caller` may see it: attached to or billed
    /// to one of their apps; 404 otherwise, as for an add-on that does not exist.
    pub(super) async fn addon_for(
        &self,
        caller: &Caller,
        id_or_name: &str,
    ) -> Result<(Addon, Vec<Attachment>), ApiError> {
        let missing = || ApiError::not_found(format!("Couldn't find that add-on: {id_or_name}."));
        let addon = self.state.addon(id_or_name).await?.ok_or_else(missing)?;
        let attachments = self.state.attachments_of_addon(&addon).await?;
        if self.may_see(caller, &addon.app_name).await? {
            return Ok((addon, attachments));
        }
        for attachment in &attachments {
            if self.may_see(caller, &attachment.app_name).await? {
                return Ok((addon, attachments));
            }
        }
        Err(missing())
    }

    /// An add-on of `app` by id, name, or the name of one of `app`'s attachments.
    pub(super) async fn addon_of_app(
        &self,
        app: &App,
        id_or_name: &str,
    ) -> Result<(Addon, Vec<Attachment>), ApiError> {
        let mine = self.state.attachments_of_app(app).await?;
        let attached = mine.iter().find(|a| {
            a.addon_id == id_or_name || a.addon_name == id_or_name || a.name == id_or_name
        });
        let addon = match attached {
            Some(attachment) => self.state.addon(&attachment.addon_id).await?,
            None => self
                .state
                .addon(id_or_name)
                .await?
                .filter(|addon| addon.app_id == app.id),
        };
        let addon = addon.ok_or_else(|| {
            ApiError::not_found(format!(
                "Couldn't find that add-on: {id_or_name} is not an add-on of {} (see `kumo addons -a {}`).",
                app.name, app.name
            ))
        })?;
        let attachments = self.state.attachments_of_addon(&addon).await?;
        Ok((addon, attachments))
    }
}

/// What a user typed to name an add-on or attachment: `app::NAME` scopes it
/// to that app, else it is `NAME` in `app`, if given.
pub(super) fn scoped(typed: &str, app: Option<&str>) -> (Option<String>, String) {
    match typed.split_once("::") {
        Some((app, name)) => (Some(app.to_string()), name.to_string()),
        None => (app.map(str::to_string), typed.to_string()),
    }
}

/// `GET /apps/{app}/addons`: the add-ons attached to the app.
pub async fn list_for_app(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let mut items = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for attachment in platform.state.attachments_of_app(&app).await? {
        if !seen.insert(attachment.addon_id.clone()) {
            continue;
        }
        if let Some(addon) = platform.state.addon(&attachment.addon_id).await? {
            let attachments = platform.state.attachments_of_addon(&addon).await?;
            items.push(addon_json(&addon, &attachments));
        }
    }
    Ok(super::paging::page(&headers, items, &["name", "id"]))
}

/// `GET /addons`: every add-on the caller can see.
pub async fn list(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let mut items = Vec::new();
    for addon in platform.state.all_addons().await? {
        if let Ok((addon, attachments)) = platform.addon_for(&caller, &addon.id).await {
            items.push(addon_json(&addon, &attachments));
        }
    }
    Ok(super::paging::page(&headers, items, &["name", "id"]))
}

/// `GET /addons/{addon}`.
pub async fn info(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (addon, attachments) = platform.addon_for(&caller, &id).await?;
    Ok(Json(addon_json(&addon, &attachments)))
}

/// `GET /apps/{app}/addons/{addon}`.
pub async fn info_for_app(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let (addon, attachments) = platform.addon_of_app(&app, &id).await?;
    Ok(Json(addon_json(&addon, &attachments)))
}

/// `GET /addons/{addon}/config`: the add-on's config, unprefixed (`URL`).
pub async fn config(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (addon, _) = platform.addon_for(&caller, &id).await?;
    let items: Vec<Value> = match &addon.resource {
        Some(resource) => crate::addons::provider::config_vars("", resource)
            .into_iter()
            .map(|(name, value)| json!({ "name": name.trim_start_matches('_'), "value": value }))
            .collect(),
        None => Vec::new(),
    };
    Ok(Json(Value::Array(items)))
}

/// `GET /addons/{addon}/addon-attachments`.
pub async fn attachments_of_addon(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (_, attachments) = platform.addon_for(&caller, &id).await?;
    Ok(Json(attachments.iter().map(attachment_json).collect()))
}

#[derive(Deserialize)]
pub struct Resolve {
    addon: String,
    app: Option<String>,
    addon_service: Option<String>,
}

/// `POST /actions/addons/resolve`: what a user typed (an add-on's name or id,
/// an attachment name of `app`, or `app::ATTACHMENT`) → the add-ons it names.
pub async fn resolve(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    body: Result<Json<Resolve>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let (app, name) = scoped(&body.addon, body.app.as_deref());
    let found = match &app {
        Some(app) => {
            let app = platform.app_for(&caller, app).await?;
            platform.addon_of_app(&app, &name).await.ok()
        }
        None => None,
    };
    let found = match found {
        Some(found) => found,
        None => platform.addon_for(&caller, &name).await?,
    };
    if let Some(wanted) = &body.addon_service {
        let matches = catalog::service(wanted)
            .zip(catalog::service(&found.0.service))
            .is_some_and(|(a, b)| a.id == b.id);
        if !matches {
            return Err(ApiError::not_found(format!(
                "Couldn't find that add-on: {} is not a {wanted} add-on.",
                found.0.name
            )));
        }
    }
    Ok(Json(json!([addon_json(&found.0, &found.1)])))
}
