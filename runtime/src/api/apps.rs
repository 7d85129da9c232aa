//! `/account` and `/apps`.

use super::{ApiError, Caller, Platform};
use crate::state::App;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

pub async fn account(Caller(account, _): Caller) -> Json<Value> {
    Json(account_json(&account))
}

/// `GET /users/{user}` (`~` for the caller): the caller's own account, or
/// any for an admin (`pipelines:create` reads the owner from it).
pub async fn user(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(user): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let account = user_for(&platform, &caller, &user, || {
        format!("You cannot see the account {user}: ask for your own with /users/~.")
    })
    .await?;
    Ok(Json(account_json(&account)))
}

fn account_json(account: &crate::state::Account) -> Value {
    json!({
        "id": account.id,
        "email": account.email,
        "name": account.email,
        "allow_tracking": false,
        "beta": false,
        "verified": true,
        "two_factor_authentication": false,
        "created_at": account.created_at,
        "updated_at": account.created_at,
        "last_login": null,
        "default_organization": null,
        "default_team": null,
        "sms_number": null,
        "suspended_at": null,
        "delinquent_at": null,
        "identity_provider": null,
        "federated": false,
    })
}

/// `GET /apps/{app}/features` and `/webhooks`: Kumo has no app features or
/// webhooks yet, so each app's list is empty; the routes exist because
/// Heroku's clients read them (`apps:info`, `labs`).
pub async fn no_items(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    platform.app_for(&caller, &name).await?;
    Ok(Json(json!([])))
}

/// What an app's JSON says beyond its ledger row: when it was last released
/// and how large its current slug and its git repository are, in bytes.
#[derive(Default)]
pub struct Extent {
    released_at: Option<String>,
    slug_size: Option<u64>,
    repo_size: u64,
}

/// An app in Heroku's JSON shape.
pub fn app_json(platform: &Platform, app: &App, extent: Extent) -> Value {
    json!({
        "id": app.id,
        "name": app.name,
        "web_url": platform.web_url(&app.name),
        "git_url": platform.git_url(&app.name),
        "maintenance": app.maintenance,
        "owner": { "id": app.owner_id, "email": app.owner_email },
        "organization": null,
        "team": null,
        "space": null,
        "region": { "id": super::catalog::REGION.0, "name": super::catalog::REGION.1 },
        "stack": { "id": super::catalog::STACK.0, "name": super::catalog::STACK.1 },
        "build_stack": { "id": super::catalog::STACK.0, "name": super::catalog::STACK.1 },
        "buildpack_provided_description": null,
        "acm": false,
        "create_status": "complete",
        "generation": { "name": "cedar" },
        "archived_at": null,
        "internal_routing": null,
        "repo_size": extent.repo_size,
        "slug_size": extent.slug_size,
        "created_at": app.created_at,
        "updated_at": app.updated_at,
        "released_at": extent.released_at,
    })
}

/// An app's JSON, with its current release's time and slug size, and the
/// size of its git repository (0 before its first push).
pub(super) async fn app_body(platform: &Platform, app: &App) -> Result<Json<Value>, ApiError> {
    let release = platform.state.current_release(app).await?;
    let slug_size = match release.as_ref().and_then(|r| r.slug_digest.as_deref()) {
        Some(digest) => {
            let digest = kumo_slug::Digest::parse(digest)
                .map_err(|e| crate::state::StateError::Database(e.into()))?;
            platform
                .slugs
                .size(&digest)
                .await
                .map_err(crate::state::StateError::Database)?
        }
        None => None,
    };
    let repo = platform
        .data_dir
        .join("repos")
        .join(format!("{}.git", app.id));
    let repo_size = tokio::task::spawn_blocking(move || folder_size(&repo))
        .await
        .unwrap_or(0);
    let extent = Extent {
        released_at: release.map(|r| r.created_at),
        slug_size,
        repo_size,
    };
    let mut body = app_json(platform, app, extent);
    body["acm"] = json!(platform.state.acm_enabled(app).await?);
    Ok(Json(body))
}

/// The bytes of the files under `dir` (0 if it does not exist), links not followed.
fn folder_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => folder_size(&entry.path()),
            Ok(t) if t.is_file() => entry.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// `GET /users/{user}/apps`: the apps `user` (`~` for the caller) owns or
/// collaborates on. Only the user themself, or an admin, may ask.
pub async fn list_for_user(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(user): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let account = user_for(&platform, &caller, &user, || {
        format!("You cannot list the apps of {user}: ask for your own with /users/~/apps.")
    })
    .await?;
    list(State(platform), Caller(account, caller.1), headers).await
}

/// The account `user` names (`~`, an id or an email): the caller's own, or
/// any for an admin; anyone else's is 403 with `denied`'s message.
async fn user_for(
    platform: &Platform,
    caller: &Caller,
    user: &str,
    denied: impl FnOnce() -> String,
) -> Result<crate::state::Account, ApiError> {
    if user == "~" || user == caller.0.id || user == caller.0.email {
        Ok(caller.0.clone())
    } else if caller.0.admin {
        platform
            .state
            .accounts()
            .await?
            .into_iter()
            .find(|a| a.id == user || a.email == user)
            .ok_or_else(|| ApiError::not_found(format!("Couldn't find the account {user}.")))
    } else {
        Err(ApiError::forbidden(denied()))
    }
}

pub async fn list(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let mut apps = Vec::new();
    for app in platform.state.apps_for(&caller.0).await? {
        apps.push(app_body(&platform, &app).await?.0);
    }
    Ok(super::paging::page(&headers, apps, &["name", "id"]))
}

#[derive(Deserialize)]
pub struct CreateApp {
    name: Option<String>,
}

pub async fn create(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // No body at all asks for a generated name; a body must be valid JSON.
    let body = body?;
    let name = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        super::error::parse_json::<CreateApp>(&body)?.name
    };
    let name = name.unwrap_or_else(generated_name);
    let app = platform.state.create_app(&caller.0, &name).await?;
    platform.converge(&app.name);
    Ok((
        StatusCode::CREATED,
        Json(app_json(&platform, &app, Extent::default())),
    ))
}

pub async fn info(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    app_body(&platform, &app).await
}

#[derive(Deserialize)]
pub struct UpdateApp {
    #[serde(default, deserialize_with = "flag")]
    maintenance: Option<bool>,
    name: Option<String>,
    build_stack: Option<String>,
    /// Fields Kumo does not change, named in the 422 rather than ignored.
    #[serde(flatten)]
    other: std::collections::BTreeMap<String, Value>,
}

/// `true`/`false`, or `1`/`0` as heroku3 sends them.
fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(Value::Number(n)) if n.as_u64() == Some(0) => Ok(Some(false)),
        Some(Value::Number(n)) if n.as_u64() == Some(1) => Ok(Some(true)),
        Some(other) => Err(serde::de::Error::custom(format!(
            "maintenance must be true or false (or 1 or 0), not {other}"
        ))),
    }
}

pub async fn update(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Json<UpdateApp>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let mut app = platform.app_for(&caller, &name).await?;
    if let Some(stack) = body.build_stack.filter(|s| s != "kumo-1") {
        return Err(ApiError::invalid(format!(
            "Kumo has one stack, kumo-1: `{stack}` is not one (apps need no stack change to run here)"
        )));
    }
    if let Some(field) = body.other.keys().next() {
        return Err(ApiError::invalid(format!(
            "`{field}` cannot be changed on Kumo: PATCH /apps/{{app}} takes maintenance, name and build_stack"
        )));
    }
    if let Some(new_name) = body.name.filter(|n| *n != app.name) {
        let renamed = platform.state.rename_app(&app, &new_name).await?;
        platform.converge_renamed(&app.name, &renamed.name);
        app = renamed;
    }
    if let Some(on) = body.maintenance {
        app = platform.state.set_maintenance(&app, on).await?;
        platform.converge(&app.name);
    }
    app_body(&platform, &app).await
}

pub async fn destroy(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    if app.owner_id != caller.0.id && !caller.0.admin {
        return Err(ApiError::forbidden(format!(
            "Only the owner of {name}, {}, can destroy it.",
            app.owner_email
        )));
    }
    let body = app_body(&platform, &app).await?;
    // Its add-ons go first, data and credentials: an app's database does not
    // outlive the app (the add-ons of others it used are only detached).
    platform.destroy_addons_of(&app, &caller.0.email).await?;
    platform.state.delete_app(&app).await?;
    platform.converge(&app.name);
    Ok(body)
}

/// A name like Heroku's `sharp-rain-4821`.
fn generated_name() -> String {
    const ADJECTIVES: &[&str] = &[
        "calm", "sharp", "quiet", "bold", "brisk", "gentle", "lucky", "misty", "rapid", "sunny",
    ];
    const NOUNS: &[&str] = &[
        "rain", "cloud", "river", "forest", "meadow", "harbor", "summit", "breeze", "canyon",
        "dawn",
    ];
    format!(
        "{}-{}-{}",
        ADJECTIVES[rand::random_range(0..ADJECTIVES.len())],
        NOUNS[rand::random_range(0..NOUNS.len())],
        rand::random_range(1000..10000)
    )
}
