//! `/oauth/authorizations`: an account's API tokens, as Heroku's OAuth
//! authorizations. Every token is one, the key an account was created with
//! included; a new one may expire, and its token is in the create answer only.
//! Only the `global` scope exists and there are no OAuth clients.

use super::{ApiError, Caller, Platform};
use crate::state::{Account, Authorization, MAX_EXPIRES_IN};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize)]
pub struct CreateAuthorization {
    description: Option<String>,
    /// Seconds, as a number or (as Heroku's CLI sends it) a string of digits.
    expires_in: Option<Value>,
    scope: Option<Vec<String>>,
    client: Option<Value>,
}

/// `POST /oauth/authorizations`: a new token for the caller, shown this once.
pub async fn create(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // No body at all asks for a token that does not expire.
    let body = body?;
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        CreateAuthorization {
            description: None,
            expires_in: None,
            scope: None,
            client: None,
        }
    } else {
        super::error::parse_json::<CreateAuthorization>(&body)?
    };
    if request.client.as_ref().is_some_and(|c| !c.is_null()) {
        return Err(ApiError::invalid(
            "OAuth clients are not supported: Kumo has none to authorize; leave `client` out to make a token for your own use",
        ));
    }
    check_scope(request.scope.as_deref())?;
    let expires_in = expires_in(request.expires_in.as_ref())?;
    let (authorization, token) = platform
        .state
        .create_authorization(
            &caller.0,
            request.description.as_deref().unwrap_or(""),
            expires_in,
            &caller.1,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(authorization_json(&authorization, &caller.0, Some(&token))),
    ))
}

/// `GET /oauth/authorizations`: the caller's own, oldest first.
pub async fn list(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let items = platform
        .state
        .authorizations(&caller.0)
        .await?
        .iter()
        .map(|a| authorization_json(a, &caller.0, None))
        .collect();
    Ok(super::paging::page(&headers, items, &["created_at", "id"]))
}

/// `GET /oauth/authorizations/{id}`: one of the caller's; another account's is 404.
pub async fn info(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let authorization = platform.state.authorization(&caller.0, &id).await?;
    Ok(Json(authorization_json(&authorization, &caller.0, None)))
}

/// `DELETE /oauth/authorizations/{id}`: its token stops working at once, and
/// so do the log sessions and attach URLs it made (a running tail ends).
pub async fn revoke(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let authorization = platform.state.revoke_authorization(&caller.0, &id).await?;
    platform.log_sessions.revoked(&authorization.id);
    platform.attach_sessions.revoked(&authorization.id);
    Ok(Json(authorization_json(&authorization, &caller.0, None)))
}

#[derive(Deserialize)]
pub struct UpdateAuthorization {
    description: Option<String>,
    client: Option<Value>,
}

/// `PATCH /oauth/authorizations/{id}` (`authorizations:update`): a new
/// description. The token is not in the answer.
pub async fn update(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<UpdateAuthorization>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    if body.client.as_ref().is_some_and(|c| !c.is_null()) {
        return Err(ApiError::invalid(
            "OAuth clients are not supported: Kumo has none to authorize; send only a description",
        ));
    }
    let authorization = match body.description {
        Some(description) => {
            platform
                .state
                .describe_authorization(&caller.0, &id, &description)
                .await?
        }
        None => platform.state.authorization(&caller.0, &id).await?,
    };
    Ok(Json(authorization_json(&authorization, &caller.0, None)))
}

/// `POST /oauth/authorizations/{id}/actions/regenerate-tokens`
/// (`authorizations:rotate`): a new token, shown this once; the old one stops
/// working. What the authorization opened (log sessions, attach URLs) is
/// tied to the authorization, not the token, so it keeps working.
pub async fn regenerate(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (authorization, token) = platform.state.regenerate_token(&caller.0, &id).await?;
    Ok(Json(authorization_json(
        &authorization,
        &caller.0,
        Some(&token),
    )))
}

/// Heroku's oauth-authorization; `token` only in the answer that made it.
fn authorization_json(a: &Authorization, account: &Account, token: Option<&str>) -> Value {
    json!({
        "id": a.id,
        // One token per authorization, so it shares the authorization's id.
        "access_token": { "expires_in": a.expires_in(), "id": a.id, "token": token },
        "client": null,
        "created_at": a.created_at,
        "description": a.description,
        "grant": null,
        "refresh_token": null,
        "scope": ["global"],
        "session": null,
        "updated_at": a.created_at,
        "user": { "id": account.id, "email": account.email, "full_name": null },
    })
}

/// Accepts no scope or `["global"]`, the only one Kumo has.
fn check_scope(scope: Option<&[String]>) -> Result<(), ApiError> {
    let Some(scope) = scope else {
        return Ok(());
    };
    if scope.is_empty() {
        return Err(ApiError::invalid(
            "scope is empty: send [\"global\"], the scope Kumo supports, or leave it out",
        ));
    }
    match scope.iter().find(|s| s.as_str() != "global") {
        Some(other) => Err(ApiError::invalid(format!(
            "scope `{other}` is not supported: Kumo supports only `global` (everything the account may do); send [\"global\"] or leave scope out"
        ))),
        None => Ok(()),
    }
}

/// `expires_in` as seconds: a whole number, or a string of one; null is never.
/// The state checks the range.
fn expires_in(value: Option<&Value>) -> Result<Option<i64>, ApiError> {
    let seconds = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    };
    seconds.map(Some).ok_or_else(|| {
        let shown = match value {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        ApiError::invalid(format!(
            "invalid expires_in `{shown}`: use 1 to {MAX_EXPIRES_IN} seconds (one year), or leave it out for a token that does not expire"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_values() {
        let check = |value: Value, expected: Option<Option<i64>>| {
            assert_eq!(expires_in(Some(&value)).ok(), expected, "{value}");
        };
        check(json!(60), Some(Some(60)));
        check(json!("60"), Some(Some(60)));
        check(json!(" 3600 "), Some(Some(3600)));
        check(json!(null), Some(None));
        // Out of range is the state's to refuse; these are not numbers of seconds.
        check(json!(-5), Some(Some(-5)));
        check(json!(1.5), None);
        check(json!("soon"), None);
        check(json!(true), None);
        check(json!([60]), None);
        assert_eq!(expires_in(None).ok(), Some(None));
    }

    #[test]
    fn scopes() {
        let check = |scope: Option<&[&str]>, ok: bool| {
            let owned: Option<Vec<String>> =
                scope.map(|s| s.iter().map(|s| s.to_string()).collect());
            assert_eq!(check_scope(owned.as_deref()).is_ok(), ok, "{scope:?}");
        };
        check(None, true);
        check(Some(&["global"]), true);
        check(Some(&["global", "global"]), true);
        check(Some(&[]), false);
        check(Some(&["read"]), false);
        check(Some(&["global", "write-protected"]), false);
    }
}
