//! `POST /apps/{app}/slugs`: upload a slug archive. Kumo takes the archive in
//! the request body (Heroku hands out an upload URL instead); it is verified,
//! stored by digest, and every component is compiled before the slug is accepted.

use super::{ApiError, Caller, Platform};
use crate::slugs::UnpackedSlug;
use crate::state::App;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kumo_slug::{Digest, Manifest};
use serde_json::{Value, json};
use std::sync::Arc;

/// Slugs over this size are refused, as on Heroku.
pub const MAX_SLUG_BYTES: usize = 500 << 20;

pub async fn create(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let body = super::body::read_limited(
        &headers,
        body,
        MAX_SLUG_BYTES,
        "the slug is too large (max is 500 MB); leave build output and dependencies out",
    )
    .await?;
    let digest = Digest::of(&body);
    // Unpack into a scratch folder and check every component there: a slug
    // that cannot run is refused before it is stored, and leaves nothing.
    let check = body.clone();
    let expected = digest.clone();
    let (scratch, manifest) = tokio::task::spawn_blocking(move || {
        let scratch = tempfile::tempdir()?;
        let manifest = kumo_slug::unpack_bytes(
            &check,
            &expected,
            &scratch.path().join("slug"),
            Default::default(),
        )?;
        Ok::<_, anyhow::Error>((scratch, manifest))
    })
    .await
    .map_err(|e| ApiError::invalid(format!("checking the slug failed: {e}")))?
    .map_err(|e| ApiError::invalid(format!("invalid slug: {e:#}")))?;
    if manifest.process_types.is_empty() {
        return Err(ApiError::invalid(
            "the slug declares no process types: add at least `web` or `worker`",
        ));
    }
    let unpacked = UnpackedSlug::at(
        digest.clone(),
        manifest.clone(),
        scratch.path().join("slug"),
    );
    platform
        .check_unpacked(&unpacked)
        .await
        .map_err(|e| ApiError::invalid(format!("the slug cannot run: {e}")))?;
    drop(scratch);
    platform
        .slugs
        .put(&digest, body.clone())
        .await
        .map_err(crate::state::StateError::from)?;
    platform
        .manager
        .check_slug(&digest)
        .await
        .map_err(|e| ApiError::invalid(format!("the slug cannot run: {e}")))?;
    Ok((
        StatusCode::CREATED,
        Json(slug_json(&app, &digest, &manifest, body.len() as u64)),
    ))
}

/// `GET /apps/{app}/slugs/{slug}`: a stored slug by its id (`sha256:…`).
pub async fn info(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, slug)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let not_found = || ApiError::not_found(format!("Couldn't find slug {slug}."));
    let digest = Digest::parse(&slug).map_err(|_| not_found())?;
    let size = platform
        .slugs
        .size(&digest)
        .await
        .map_err(crate::state::StateError::from)?
        .ok_or_else(not_found)?;
    let manifest = platform
        .manager
        .check_slug(&digest)
        .await
        .map_err(|e| ApiError::invalid(format!("slug {slug} cannot be read: {e}")))?;
    Ok(Json(slug_json(&app, &digest, &manifest, size)))
}

fn slug_json(app: &App, digest: &Digest, manifest: &Manifest, size: u64) -> Value {
    let process_types: serde_json::Map<String, Value> = manifest
        .process_types
        .iter()
        .map(|(name, p)| {
            let command = std::iter::once(p.component.as_str())
                .chain(p.args.iter().map(String::as_str))
                .collect::<Vec<_>>();
            (name.clone(), Value::String(command.join(" ")))
        })
        .collect();
    json!({
        "id": digest.as_str(),
        "checksum": format!("SHA256:{}", digest.hex()),
        "process_types": process_types,
        "size": size,
        "stack": { "id": "00000000-0000-0000-0000-000000000002", "name": manifest.stack },
        "buildpack_provided_description": manifest.buildpack,
        "commit": null,
        "commit_description": null,
        "app": { "id": app.id, "name": app.name },
        "blob": null,
    })
}

impl Platform {
    /// Checks an unpacked slug before it is stored: what each component
    /// declares ([`crate::slugs::check_components`]), then that it compiles
    /// and links as its process kind needs. The error names the process type.
    pub(super) async fn check_unpacked(&self, slug: &UnpackedSlug) -> Result<(), String> {
        let (app_dir, manifest) = (slug.app_dir(), slug.manifest.clone());
        tokio::task::spawn_blocking(move || crate::slugs::check_components(&app_dir, &manifest))
            .await
            .map_err(|e| format!("checking the components failed: {e}"))??;
        for (name, process) in &slug.manifest.process_types {
            self.manager
                .engine()
                .prepare(slug, process)
                .await
                .map_err(|e| format!("process type `{name}`: {e}"))?;
        }
        Ok(())
    }
}
