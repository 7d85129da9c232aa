//! `/pipeline-promotions`: the source app's current slug released on each
//! target app of its pipeline, through the normal release path (each
//! target's own config vars and add-ons, its release phase, then its dynos
//! converge), described as Heroku does: "Promote APP vN".

use super::{ApiError, Caller, Platform};
use crate::state::{App, Promotion, PromotionTarget};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize)]
pub struct Ref {
    id: String,
}

#[derive(Deserialize)]
pub struct AppRef {
    app: Ref,
}

#[derive(Deserialize)]
pub struct CreatePromotion {
    pipeline: Ref,
    source: AppRef,
    targets: Vec<AppRef>,
}

fn promotion_json(promotion: &Promotion, targets: &[PromotionTarget]) -> Value {
    let pending = targets.iter().any(|t| t.status == "pending");
    json!({
        "id": promotion.id,
        "pipeline": { "id": promotion.pipeline_id },
        "source": {
            "app": { "id": promotion.source_app_id },
            "release": { "id": promotion.source_release_id },
        },
        "status": if pending { "pending" } else { "completed" },
        "created_at": promotion.created_at,
        "updated_at": promotion.created_at,
    })
}

fn target_json(target: &PromotionTarget) -> Value {
    json!({
        "id": target.id,
        "app": { "id": target.app_id },
        "pipeline_promotion": { "id": target.promotion_id },
        "release": target.release_id.as_ref().map(|id| json!({ "id": id })),
        "status": target.status,
        "error_message": target.error_message,
    })
}

/// `POST /pipeline-promotions`. Every app named must be one the caller may
/// use and in the pipeline, checked before anything is released; a target
/// whose release cannot be made is a failed target, the others go on.
pub async fn create(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    body: Result<Json<CreatePromotion>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    let pipeline = platform
        .state
        .pipeline_for(&caller.0, &body.pipeline.id)
        .await?;
    let in_pipeline = |app: &App, coupling: Option<crate::state::Coupling>| {
        if coupling.is_some_and(|c| c.pipeline_id == pipeline.id) {
            Ok(())
        } else {
            Err(ApiError::invalid(format!(
                "{} is not in the pipeline {}: add it with `heroku pipelines:add {} -a {}`",
                app.name, pipeline.name, pipeline.name, app.name
            )))
        }
    };
    let source = platform.app_for(&caller, &body.source.app.id).await?;
    in_pipeline(&source, platform.state.coupling_of(&source).await?)?;
    let mut targets = Vec::new();
    for target in &body.targets {
        let app = platform.app_for(&caller, &target.app.id).await?;
        in_pipeline(&app, platform.state.coupling_of(&app).await?)?;
        if app.id == source.id {
            return Err(ApiError::invalid(format!(
                "cannot promote {} to itself: name other apps of the pipeline",
                app.name
            )));
        }
        targets.push(app);
    }
    if targets.is_empty() {
        return Err(ApiError::invalid(
            "no targets: name at least one app of the pipeline to promote to",
        ));
    }
    let release = platform.state.current_release(&source).await?;
    let Some((release, digest)) = release.and_then(|r| {
        let digest = r.slug_digest.clone()?;
        Some((r, digest))
    }) else {
        return Err(ApiError::invalid(format!(
            "{} has no release with a slug to promote: deploy it first",
            source.name
        )));
    };
    let digest = kumo_slug::Digest::parse(&digest)
        .map_err(|e| crate::state::StateError::Database(e.into()))?;
    let description = format!("Promote {} v{}", source.name, release.version);
    let mut outcomes = Vec::new();
    for app in targets {
        let outcome = match platform
            .release_slug(&app, &digest, &description, &caller.0.email)
            .await
        {
            Ok(made) => {
                platform.go_live(&app, &made);
                Ok(made.id)
            }
            Err(e) => Err(e.message),
        };
        outcomes.push((app, outcome));
    }
    let promotion = platform
        .state
        .record_promotion(&pipeline, &source, &release.id, &outcomes)
        .await?;
    let targets = platform.state.promotion_targets(&promotion).await?;
    Ok((
        StatusCode::CREATED,
        Json(promotion_json(&promotion, &targets)),
    ))
}

/// `GET /pipeline-promotions/{id}`.
pub async fn info(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (promotion, targets) = promotion_for(&platform, &caller, &id).await?;
    Ok(Json(promotion_json(&promotion, &targets)))
}

/// `GET /pipeline-promotions/{id}/promotion-targets`: each target's status
/// is its release's (`pending` while its release phase runs).
pub async fn targets(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (_, targets) = promotion_for(&platform, &caller, &id).await?;
    Ok(Json(targets.iter().map(target_json).collect()))
}

/// A promotion of a pipeline the caller may see, with its targets.
async fn promotion_for(
    platform: &Platform,
    caller: &Caller,
    id: &str,
) -> Result<(Promotion, Vec<PromotionTarget>), ApiError> {
    let not_found = || ApiError::not_found("Couldn't find that pipeline promotion.");
    let promotion = platform.state.promotion(id).await?.ok_or_else(not_found)?;
    platform
        .state
        .pipeline_for(&caller.0, &promotion.pipeline_id)
        .await
        .map_err(|_| not_found())?;
    let targets = platform.state.promotion_targets(&promotion).await?;
    Ok((promotion, targets))
}
