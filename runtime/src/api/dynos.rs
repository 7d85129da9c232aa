//! `GET /apps/{app}/dynos` and `DELETE /apps/{app}/dynos[/{dyno}]` (restart).

use super::{ApiError, Caller, Platform};
use crate::manager::DynoStatus;
use crate::state::App;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

/// A dyno's UUID: named by its app, its name and its release, so it is the
/// same on every request and every node while the dyno runs that release,
/// and a new one when a new release replaces it. (Kumo keeps no row per dyno:
/// the manager runs them from the formation.)
pub fn dyno_id(app: &App, name: &str, release: u64) -> String {
    crate::state::stable_id(&["dyno", &app.id, name, &release.to_string()])
}

/// Release ids by version, for the dynos' `release.id`.
async fn release_ids(
    platform: &Platform,
    app: &App,
) -> Result<std::collections::HashMap<u64, String>, ApiError> {
    let releases = platform.state.releases(app).await?;
    Ok(releases
        .into_iter()
        .map(|r| (r.version as u64, r.id))
        .collect())
}

fn dyno_json(
    app: &App,
    dyno: &DynoStatus,
    releases: &std::collections::HashMap<u64, String>,
) -> Value {
    json!({
        "id": dyno_id(app, &dyno.name, dyno.release),
        "name": dyno.name,
        "type": dyno.process_type,
        "state": dyno.state.as_str(),
        "size": dyno.size.name(),
        "command": dyno.command,
        "release": { "id": releases.get(&dyno.release), "version": dyno.release },
        "app": { "id": app.id, "name": app.name },
        "attach_url": null,
        "created_at": crate::state::format_time(dyno.since),
        "updated_at": crate::state::format_time(dyno.since),
    })
}

pub async fn list(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let releases = release_ids(&platform, &app).await?;
    let mut dynos: Vec<(DynoStatus, Option<String>)> = platform
        .manager
        .dynos(&app.name)
        .into_iter()
        .map(|d| (d, platform.manager.node().map(str::to_string)))
        .collect();
    // With nodes sharing the ledger, the dynos the others run too, each
    // with its node (a Kumo extension field).
    for (dyno, node) in platform.manager.dynos_elsewhere(&app.name).await {
        if !dynos.iter().any(|(d, _)| d.name == dyno.name) {
            dynos.push((dyno, Some(node)));
        }
    }
    // One-off dynos run on the node whose API started them: each other node
    // lists its own.
    for answer in
        super::collate::ask_nodes(&platform, &format!("/node-one-offs/{}", app.name)).await
    {
        for one_off in answer.as_array().map(Vec::as_slice).unwrap_or_default() {
            let (Some(name), Some(status), Some(node)) = (
                one_off["name"].as_str(),
                one_off["status"].as_str(),
                one_off["node"].as_str(),
            ) else {
                continue;
            };
            if let Some(dyno) = crate::manager::parse_status(name, status) {
                dynos.push((dyno, Some(node.to_string())));
            }
        }
    }
    let items = dynos
        .iter()
        .map(|(d, node)| {
            let mut json = dyno_json(&app, d, &releases);
            if let Some(node) = node {
                json["node"] = json!(node);
            }
            json
        })
        .collect();
    Ok(super::paging::page(&headers, items, &["name", "id"]))
}

pub async fn restart_all(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    restart(&platform, &app, None).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({}))))
}

pub async fn restart_one(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, dyno)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let dyno = by_id(&platform, &app, dyno);
    if !exists(&platform, &app, &dyno).await? {
        return Err(ApiError::not_found(format!(
            "Couldn't find dyno {dyno} on {name}."
        )));
    }
    restart(&platform, &app, Some(dyno)).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({}))))
}

/// The name of the running dyno whose id is `dyno`, or `dyno` as it is (a
/// name or process type).
fn by_id(platform: &Platform, app: &App, dyno: String) -> String {
    platform
        .manager
        .dynos(&app.name)
        .into_iter()
        .find(|d| dyno_id(app, &d.name, d.release) == dyno)
        .map_or(dyno, |d| d.name)
}

/// Whether `dyno` (`web.2`, or a process type) names dynos of the app: running
/// ones, or the formation's (which a sleeping app's are).
async fn exists(platform: &Platform, app: &App, dyno: &str) -> Result<bool, ApiError> {
    if platform
        .manager
        .dynos(&app.name)
        .iter()
        .any(|d| d.name == dyno || d.process_type == dyno)
    {
        return Ok(true);
    }
    let (process_type, index) = match dyno.rsplit_once('.') {
        Some((t, n)) => (t, n.parse::<i64>().ok()),
        None => (dyno, None),
    };
    let formation = platform.state.formation(app).await?;
    Ok(formation.iter().any(|line| {
        line.process_type == process_type
            && line.quantity > 0
            && index.is_none_or(|n| (1..=line.quantity).contains(&n))
    }))
}

/// `POST /apps/{app}/dynos/{dyno}/actions/stop`. As on Heroku's common runtime, a
/// dyno of the formation is started again right away; `ps:scale` removes dynos for good.
pub async fn stop(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, dyno)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let dyno = by_id(&platform, &app, dyno);
    if dyno.starts_with("run.") {
        let elsewhere = || async {
            let path = format!("/node-one-offs/{}/{dyno}/stop", app.name);
            let answers =
                super::collate::ask_nodes_with(&platform, reqwest::Method::POST, &path).await;
            answers.iter().any(|a| a["stopped"] == true)
        };
        if !platform.manager.stop_one_off(&app.name, &dyno) && !elsewhere().await {
            return Err(ApiError::not_found(format!(
                "Couldn't find dyno {dyno} on {name}."
            )));
        }
        return Ok((StatusCode::ACCEPTED, Json(json!({}))));
    }
    if !exists(&platform, &app, &dyno).await? {
        return Err(ApiError::not_found(format!(
            "Couldn't find dyno {dyno} on {name}."
        )));
    }
    restart(&platform, &app, Some(dyno)).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({}))))
}

/// Counts the restart in the ledger, where every node's manager reads it,
/// then converges the app here and on the other nodes.
async fn restart(platform: &Platform, app: &App, which: Option<String>) -> Result<(), ApiError> {
    platform
        .state
        .bump_restart(app, which.as_deref().unwrap_or(""))
        .await?;
    let (manager, app) = (platform.manager.clone(), app.name.clone());
    tokio::spawn(async move { manager.converge(&app).await });
    Ok(())
}

/// `GET /node-one-offs/{app}`: the one-off dynos of `app` this node runs, for
/// another node's `ps`.
pub async fn node_one_offs(
    State(platform): State<Arc<Platform>>,
    headers: axum::http::HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    super::collate::from_a_node(&platform, &headers)?;
    let node = platform
        .manager
        .node()
        .unwrap_or(&platform.node)
        .to_string();
    let one_offs = platform
        .manager
        .dynos(&name)
        .into_iter()
        .filter(|d| d.name.starts_with("run."))
        .map(|d| json!({"name": d.name, "node": node, "status": crate::manager::status_json(&d)}))
        .collect();
    Ok(Json(Value::Array(one_offs)))
}

/// `POST /node-one-offs/{app}/{dyno}/stop`: stops a one-off dyno this node
/// runs, for another node's `ps:stop`.
pub async fn node_stop_one_off(
    State(platform): State<Arc<Platform>>,
    headers: axum::http::HeaderMap,
    Path((name, dyno)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    super::collate::from_a_node(&platform, &headers)?;
    let stopped = platform.manager.stop_one_off(&name, &dyno);
    Ok(Json(json!({ "stopped": stopped })))
}
