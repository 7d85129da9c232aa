//! `/addon-attachments`: an add-on attached to a second app, and detached.

use super::{ApiError, Caller, Platform, attachment_json, service_of};
use crate::addons::{AddonGrant, provider};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize)]
pub struct CreateAttachment {
    addon: String,
    app: String,
    name: Option<String>,
}

/// `POST /addon-attachments`: attaches an existing add-on to an app.
pub async fn create(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    body: Result<Json<CreateAttachment>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    let app = platform.app_for(&caller, &body.app).await?;
    let (addon, _) = platform.addon_for(&caller, &body.addon).await?;
    let Some(resource) = addon.resource.clone() else {
        return Err(ApiError::invalid(format!(
            "{} is still provisioning: attach it once it is ready",
            addon.name
        )));
    };
    let service = service_of(&addon)?;
    let name = platform
        .attachment_name(&app, service, body.name.as_deref())
        .await?;
    let grant = AddonGrant {
        attachment: name.clone(),
        addon_id: addon.id.clone(),
        addon: addon.name.clone(),
        plan: format!("{}:{}", addon.service, addon.plan),
        config_vars: service.var_names(&name),
        resource: resource.clone(),
    };
    let vars = provider::config_vars(&name, &resource);
    let attachment = platform
        .attach_release(&app, &addon, grant, vars, &name, &caller)
        .await?;
    Ok((StatusCode::CREATED, Json(attachment_json(&attachment))))
}

/// `GET /addon-attachments`: the attachments of the apps the caller can see.
pub async fn list(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let mut items = Vec::new();
    for attachment in platform.state.all_attachments().await? {
        if platform.may_see(&caller, &attachment.app_name).await? {
            items.push(attachment_json(&attachment));
        }
    }
    Ok(super::super::paging::page(&headers, items, &["name", "id"]))
}

/// `GET /apps/{app}/addon-attachments`.
pub async fn list_for_app(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let items = platform
        .state
        .attachments_of_app(&app)
        .await?
        .iter()
        .map(attachment_json)
        .collect();
    Ok(super::super::paging::page(&headers, items, &["name", "id"]))
}

/// The attachment `id` (or, with `app`, `app`'s attachment of that name) as
/// `caller` may see it.
async fn find(
    platform: &Platform,
    caller: &Caller,
    app: Option<&str>,
    id: &str,
) -> Result<crate::state::Attachment, ApiError> {
    let missing = || ApiError::not_found(format!("Couldn't find that add-on attachment: {id}."));
    let found = match app {
        Some(app) => {
            let app = platform.app_for(caller, app).await?;
            platform
                .state
                .attachments_of_app(&app)
                .await?
                .into_iter()
                .find(|a| a.id == id || a.name == id)
        }
        None => platform.state.attachment(id).await?,
    };
    let attachment = found.ok_or_else(missing)?;
    if !platform.may_see(caller, &attachment.app_name).await? {
        return Err(missing());
    }
    Ok(attachment)
}

/// `GET /addon-attachments/{id}`.
pub async fn info(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(attachment_json(
        &find(&platform, &caller, None, &id).await?,
    )))
}

/// `GET /apps/{app}/addon-attachments/{id-or-name}`.
pub async fn info_for_app(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((app, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(attachment_json(
        &find(&platform, &caller, Some(&app), &id).await?,
    )))
}

/// `DELETE /addon-attachments/{id}`: detaches, with a release of the app. The
/// last attachment of an add-on stays: that is `addons:destroy`.
pub async fn destroy(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let attachment = find(&platform, &caller, None, &id).await?;
    let Some(addon) = platform.state.addon(&attachment.addon_id).await? else {
        return Err(ApiError::not_found(format!(
            "Couldn't find that add-on attachment: {id}."
        )));
    };
    let all = platform.state.attachments_of_addon(&addon).await?;
    if all.len() <= 1 {
        return Err(ApiError::invalid(format!(
            "{} is the only attachment of {}: detaching it would leave the add-on reachable by no app; destroy it with `kumo addons:destroy {} -a {}`",
            attachment.name, addon.name, addon.name, addon.app_name
        )));
    }
    platform
        .detach_release(&attachment, &caller.0.email)
        .await?;
    Ok(Json(attachment_json(&attachment)))
}

#[derive(Deserialize)]
pub struct Resolve {
    addon_attachment: String,
    app: Option<String>,
}

/// `POST /actions/addon-attachments/resolve`: `DATABASE`, `app::DATABASE` or an id.
pub async fn resolve(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    body: Result<Json<Resolve>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let (app, name) = super::scoped(&body.addon_attachment, body.app.as_deref());
    let mut found = Vec::new();
    if let Some(app) = &app {
        let app = platform.app_for(&caller, app).await?;
        let attachments = platform.state.attachments_of_app(&app).await?;
        let named = |a: &crate::state::Attachment, name: &str| {
            a.name == name || a.id == name || a.addon_name == name || a.addon_id == name
        };
        // Heroku's `pg` commands ask by config var: `DATABASE_URL` is `DATABASE`.
        let by_var = name
            .strip_suffix("_URL")
            .filter(|_| !attachments.iter().any(|a| named(a, &name)));
        for attachment in &attachments {
            if named(attachment, &name) || by_var.is_some_and(|n| attachment.name == n) {
                found.push(attachment_json(attachment));
            }
        }
    } else {
        found.push(attachment_json(
            &find(&platform, &caller, None, &name).await?,
        ));
    }
    if found.is_empty() {
        return Err(ApiError::not_found(format!(
            "Couldn't find that add-on attachment: {name}."
        )));
    }
    Ok(Json(json!(found)))
}
