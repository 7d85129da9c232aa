//! What Heroku's clients read about the platform itself: its one region and
//! one stack, and the lists Kumo keeps none of (account features, teams,
//! spaces, SSH keys). Each answers as Heroku does, so a client that
//! lists them on its way to something else (`heroku apps:create`,
//! `heroku3`'s `regions()`) finds a real answer instead of a 404.

use super::{ApiError, Caller};
use axum::Json;
use axum::extract::Path;
use serde_json::{Value, json};

/// The id and name of Kumo's region and stack (also in `apps::app_json`).
pub const REGION: (&str, &str) = ("00000000-0000-0000-0000-000000000001", "local");
pub const STACK: (&str, &str) = ("00000000-0000-0000-0000-000000000002", "kumo-1");
/// When Kumo's region and stack came to be, for their timestamps.
const SINCE: &str = "2026-01-01T00:00:00Z";

fn region() -> Value {
    json!({
        "id": REGION.0,
        "name": REGION.1,
        "description": "This Kumo platform's machines",
        "country": "",
        "locale": "",
        "private_capable": false,
        "provider": { "name": "kumo", "region": REGION.1 },
        "created_at": SINCE,
        "updated_at": SINCE,
    })
}

fn stack() -> Value {
    json!({
        "id": STACK.0,
        "name": STACK.1,
        "state": "public",
        "default": true,
        "created_at": SINCE,
        "updated_at": SINCE,
    })
}

/// `GET /regions`.
pub async fn regions(_caller: Caller) -> Json<Value> {
    Json(json!([region()]))
}

/// `GET /regions/{id or name}`.
pub async fn region_info(
    _caller: Caller,
    Path(which): Path<String>,
) -> Result<Json<Value>, ApiError> {
    the_one("region", REGION, which, region)
}

/// `GET /stacks`.
pub async fn stacks(_caller: Caller) -> Json<Value> {
    Json(json!([stack()]))
}

/// `GET /stacks/{id or name}`.
pub async fn stack_info(
    _caller: Caller,
    Path(which): Path<String>,
) -> Result<Json<Value>, ApiError> {
    the_one("stack", STACK, which, stack)
}

/// Kumo's one `what` (id, name), if `which` names it.
fn the_one(
    what: &str,
    (id, name): (&str, &str),
    which: String,
    json: fn() -> Value,
) -> Result<Json<Value>, ApiError> {
    if which == id || which == name {
        return Ok(Json(json()));
    }
    Err(ApiError::not_found(format!(
        "Couldn't find that {what}: Kumo has one, `{name}`."
    )))
}

/// `GET /account/features`, `/teams`, `/spaces`, `/account/keys`:
/// Kumo has none of these, so each list is empty.
pub async fn none(_caller: Caller) -> Json<Value> {
    Json(json!([]))
}
