//! `/pipelines` and `/pipeline-couplings`: apps grouped by stage so a slug
//! moves from one stage's apps to the next (`promotions.rs`); and
//! `POST /filters/apps`, with which Heroku's CLI reads a pipeline's apps.
//!
//! A user sees a pipeline they own or one holding an app they may use, and
//! couples, moves or removes only apps they may use.

use super::{ApiError, Caller, Platform};
use crate::state::{Coupling, Pipeline};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

pub(super) fn pipeline_json(pipeline: &Pipeline) -> Value {
    json!({
        "id": pipeline.id,
        "name": pipeline.name,
        "owner": { "id": pipeline.owner_id, "type": "user" },
        "generation": { "name": "cedar" },
        "created_at": pipeline.created_at,
        "updated_at": pipeline.updated_at,
    })
}

fn coupling_json(coupling: &Coupling) -> Value {
    json!({
        "id": coupling.id,
        "app": { "id": coupling.app_id, "name": coupling.app_name },
        "pipeline": { "id": coupling.pipeline_id, "name": coupling.pipeline_name },
        "stage": coupling.stage,
        "created_at": coupling.created_at,
        "updated_at": coupling.updated_at,
    })
}

/// `GET /pipelines`, and `?eq[name]=NAME` as Heroku's CLI finds one by name.
pub async fn list(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let name = query.get("eq[name]").map(String::as_str);
    let pipelines = platform.state.pipelines_for(&caller.0, name).await?;
    Ok(Json(pipelines.iter().map(pipeline_json).collect()))
}

#[derive(Deserialize)]
pub struct CreatePipeline {
    name: String,
    owner: Option<Owner>,
}

#[derive(Deserialize)]
pub struct Owner {
    id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// `POST /pipelines`: owned by the caller (Kumo has no teams).
pub async fn create(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    body: Result<Json<CreatePipeline>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    if let Some(owner) = &body.owner {
        if owner.kind.as_deref().is_some_and(|k| k != "user") {
            return Err(ApiError::invalid(
                "Kumo has no teams: a pipeline is owned by the user who creates it; leave owner out",
            ));
        }
        if owner.id.as_deref().is_some_and(|id| id != caller.0.id) {
            return Err(ApiError::invalid(
                "a pipeline is owned by the user who creates it: leave owner out or name yourself",
            ));
        }
    }
    let pipeline = platform
        .state
        .create_pipeline(&caller.0, &body.name)
        .await?;
    Ok((StatusCode::CREATED, Json(pipeline_json(&pipeline))))
}

/// `GET /pipelines/{pipeline}`, by id or name.
pub async fn info(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(pipeline): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let pipeline = platform.state.pipeline_for(&caller.0, &pipeline).await?;
    Ok(Json(pipeline_json(&pipeline)))
}

#[derive(Deserialize)]
pub struct UpdatePipeline {
    name: String,
}

/// `PATCH /pipelines/{pipeline}` (`pipelines:rename`): its owner or an admin.
pub async fn update(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(pipeline): Path<String>,
    body: Result<Json<UpdatePipeline>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let pipeline = owned_pipeline(&platform, &caller, &pipeline).await?;
    let pipeline = platform
        .state
        .rename_pipeline(&pipeline, &body.name)
        .await?;
    Ok(Json(pipeline_json(&pipeline)))
}

/// `DELETE /pipelines/{pipeline}`: its owner or an admin. Its apps stay.
pub async fn destroy(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(pipeline): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let pipeline = owned_pipeline(&platform, &caller, &pipeline).await?;
    platform.state.delete_pipeline(&pipeline).await?;
    Ok(Json(pipeline_json(&pipeline)))
}

/// A pipeline the caller may change: theirs, or any for an admin.
async fn owned_pipeline(
    platform: &Platform,
    caller: &Caller,
    pipeline: &str,
) -> Result<Pipeline, ApiError> {
    let pipeline = platform.state.pipeline_for(&caller.0, pipeline).await?;
    if pipeline.owner_id != caller.0.id && !caller.0.admin {
        return Err(ApiError::forbidden(format!(
            "Only the owner of the pipeline {} can change or destroy it.",
            pipeline.name
        )));
    }
    Ok(pipeline)
}

/// `GET /pipelines/{pipeline}/pipeline-couplings`.
pub async fn couplings(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(pipeline): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let pipeline = platform.state.pipeline_for(&caller.0, &pipeline).await?;
    let couplings = platform.state.couplings(&pipeline).await?;
    Ok(Json(couplings.iter().map(coupling_json).collect()))
}

#[derive(Deserialize)]
pub struct CreateCoupling {
    app: String,
    pipeline: String,
    stage: String,
}

/// `POST /pipeline-couplings`: puts an app the caller may use into a pipeline.
pub async fn couple(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    body: Result<Json<CreateCoupling>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    let app = platform.app_for(&caller, &body.app).await?;
    let pipeline = platform
        .state
        .pipeline_for(&caller.0, &body.pipeline)
        .await?;
    let coupling = platform.state.couple(&pipeline, &app, &body.stage).await?;
    Ok((StatusCode::CREATED, Json(coupling_json(&coupling))))
}

/// `GET /apps/{app}/pipeline-couplings`: the app's coupling, or 404.
pub async fn coupling_of_app(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let coupling = platform.state.coupling_of(&app).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "{} is not in a pipeline: add it with `heroku pipelines:add PIPELINE -a {}`.",
            app.name, app.name
        ))
    })?;
    Ok(Json(coupling_json(&coupling)))
}

/// `GET /pipeline-couplings/{id}`.
pub async fn coupling(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let coupling = coupling_for(&platform, &caller, &id).await?;
    Ok(Json(coupling_json(&coupling)))
}

#[derive(Deserialize)]
pub struct UpdateCoupling {
    stage: String,
}

/// `PATCH /pipeline-couplings/{id}` (`pipelines:update`): a new stage.
pub async fn update_coupling(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<UpdateCoupling>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let coupling = coupling_for(&platform, &caller, &id).await?;
    let coupling = platform.state.set_stage(&coupling, &body.stage).await?;
    Ok(Json(coupling_json(&coupling)))
}

/// `DELETE /pipeline-couplings/{id}` (`pipelines:remove`): the app leaves the pipeline.
pub async fn uncouple(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let coupling = coupling_for(&platform, &caller, &id).await?;
    platform.state.uncouple(&coupling).await?;
    Ok(Json(coupling_json(&coupling)))
}

/// A coupling of an app the caller may use (403 otherwise, 404 if none).
async fn coupling_for(
    platform: &Platform,
    caller: &Caller,
    id: &str,
) -> Result<Coupling, ApiError> {
    let coupling = platform
        .state
        .coupling(id)
        .await?
        .ok_or_else(|| ApiError::not_found("Couldn't find that pipeline coupling."))?;
    platform.app_for(caller, &coupling.app_id).await?;
    Ok(coupling)
}

#[derive(Deserialize)]
pub struct AppFilter {
    #[serde(rename = "in")]
    within: IdList,
}

#[derive(Deserialize)]
pub struct IdList {
    id: Vec<String>,
}

/// `POST /filters/apps` with `{"in": {"id": [...]}}`: those of the apps the
/// caller may use, in Heroku's app shape.
pub async fn filter_apps(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    body: Result<Json<AppFilter>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let mut apps = Vec::new();
    for id in &body.within.id {
        match platform.app_for(&caller, id).await {
            Ok(app) => apps.push(super::apps::app_body(&platform, &app).await?.0),
            Err(e) if e.status.is_client_error() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Json(Value::Array(apps)))
}
