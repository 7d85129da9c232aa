//! Who may use what: accounts (created by an admin) and an app's collaborators.

use super::{ApiError, Caller, Platform};
use crate::state::{Account, App, Collaborator};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

fn account_json(account: &Account) -> Value {
    json!({
        "id": account.id,
        "email": account.email,
        "admin": account.admin,
        "created_at": account.created_at,
        "updated_at": account.created_at,
    })
}

const ADMINS_ONLY: &str =
    "Only an admin can manage accounts: ask the admin of this Kumo to run `kumo accounts:create`.";

pub async fn accounts(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.admin_only(ADMINS_ONLY)?;
    let items = platform
        .state
        .accounts()
        .await?
        .iter()
        .map(account_json)
        .collect();
    Ok(super::paging::page(&headers, items, &["email", "id"]))
}

#[derive(Deserialize)]
pub struct CreateAccount {
    email: String,
}

/// Creates an account; the answer carries its API key, which is shown this once.
pub async fn create_account(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    body: Result<Json<CreateAccount>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.admin_only(ADMINS_ONLY)?;
    let Json(body) = body?;
    let (account, token) = platform.state.create_account(&body.email, false).await?;
    let mut json = account_json(&account);
    json["api_key"] = Value::String(token);
    Ok((StatusCode::CREATED, Json(json)))
}

fn collaborator_json(app: &App, c: &Collaborator) -> Value {
    member_json(app, &c.account_id, &c.email, "collaborator", &c.created_at)
}

/// One member of an app (its owner or a collaborator) in Heroku's shape.
fn member_json(app: &App, id: &str, email: &str, role: &str, since: &str) -> Value {
    json!({
        "id": id,
        "app": { "id": app.id, "name": app.name },
        "user": { "id": id, "email": email, "federated": false },
        "role": role,
        "permissions": [],
        "created_at": since,
        "updated_at": since,
    })
}

pub async fn collaborators(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    // The owner first, as Heroku lists it (`heroku access` shows it so).
    let mut items = vec![owner_json(&app)];
    items.extend(
        platform
            .state
            .collaborators(&app)
            .await?
            .iter()
            .map(|c| collaborator_json(&app, c)),
    );
    Ok(super::paging::page(&headers, items, &["id"]))
}

fn owner_json(app: &App) -> Value {
    member_json(
        app,
        &app.owner_id,
        &app.owner_email,
        "owner",
        &app.created_at,
    )
}

/// The collaborator of `app` with this email or account id.
async fn find_collaborator(
    platform: &Platform,
    app: &App,
    who: &str,
) -> Result<Option<Collaborator>, ApiError> {
    let who = who.to_ascii_lowercase();
    Ok(platform
        .state
        .collaborators(app)
        .await?
        .into_iter()
        .find(|c| c.email == who || c.account_id == who))
}

pub async fn collaborator(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, who)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    find_collaborator(&platform, &app, &who)
        .await?
        .map(|c| Json(collaborator_json(&app, &c)))
        .ok_or_else(|| ApiError::not_found(format!("{who} is not a collaborator on {name}.")))
}

#[derive(Deserialize)]
pub struct AddCollaborator {
    user: String,
}

pub async fn add_collaborator(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Json<AddCollaborator>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    let app = platform.app_for(&caller, &name).await?;
    let collaborator = platform.state.add_collaborator(&app, &body.user).await?;
    Ok((
        StatusCode::CREATED,
        Json(collaborator_json(&app, &collaborator)),
    ))
}

pub async fn remove_collaborator(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, who)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let found = find_collaborator(&platform, &app, &who).await?;
    platform.state.remove_collaborator(&app, &who).await?;
    Ok(Json(match found {
        Some(c) => collaborator_json(&app, &c),
        None => json!({}),
    }))
}
