//! `/apps/{app}/releases` and `/apps/{app}/config-vars`.

use super::{ApiError, Caller, Platform};
use crate::state::{App, Release, ReleaseStatus};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Account ids by email: a release names its user by email, Heroku's JSON by
/// both.
struct Users(std::collections::HashMap<String, String>);

impl Users {
    async fn load(platform: &Platform) -> Result<Users, ApiError> {
        let accounts = platform.state.accounts().await?;
        Ok(Users(
            accounts.into_iter().map(|a| (a.email, a.id)).collect(),
        ))
    }

    /// The account's id; an email no account has any more gets a UUID of its
    /// own, the same on every request.
    fn id(&self, email: &str) -> String {
        self.0
            .get(email)
            .cloned()
            .unwrap_or_else(|| crate::state::stable_id(&["account", email]))
    }
}

fn release_json(
    platform: &Platform,
    app: &App,
    release: &Release,
    current: bool,
    has_output: bool,
    users: &Users,
) -> Value {
    json!({
        "id": release.id,
        "version": release.version,
        "description": release.description,
        "status": release.status,
        "current": current,
        "slug": release.slug_digest.as_ref().map(|d| json!({ "id": d })),
        "user": { "id": users.id(&release.user_email), "email": release.user_email },
        "app": { "id": app.id, "name": app.name },
        "addon_plan_names": release.addons.iter().map(|a| a.plan.as_str()).collect::<Vec<_>>(),
        "artifacts": [],
        "eligible_for_rollback": release.status == ReleaseStatus::Succeeded.as_str(),
        "output_stream_url": platform.output_stream_url(release, has_output),
        "created_at": release.created_at,
        "updated_at": release.created_at,
    })
}

/// A release of `app` by version (`3`, `v3`) or id, or Heroku's 404.
async fn find_release(platform: &Platform, app: &App, release: &str) -> Result<Release, ApiError> {
    platform.state.release(app, release).await?.ok_or_else(|| {
        ApiError::not_found(format!("Couldn't find release {release} of {}.", app.name))
    })
}

async fn current_version(platform: &Platform, app: &App) -> Result<i64, ApiError> {
    Ok(platform
        .state
        .current_release(app)
        .await?
        .map_or(0, |r| r.version))
}

pub async fn list(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let current = current_version(&platform, &app).await?;
    let releases = platform.state.releases(&app).await?;
    let with_output = platform.state.releases_with_output(&app).await?;
    let users = Users::load(&platform).await?;
    let items = releases
        .iter()
        .map(|r| {
            let has_output = with_output.contains(&r.id);
            release_json(&platform, &app, r, r.version == current, has_output, &users)
        })
        .collect();
    Ok(super::paging::page(&headers, items, &["version", "id"]))
}

pub async fn info(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, release)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let release = find_release(&platform, &app, &release).await?;
    let current = current_version(&platform, &app).await?;
    let has_output = platform.state.release_output(&release.id).await?.is_some();
    Ok(Json(release_json(
        &platform,
        &app,
        &release,
        release.version == current,
        has_output,
        &Users::load(&platform).await?,
    )))
}

#[derive(Deserialize)]
pub struct CreateRelease {
    /// A slug digest to release.
    slug: Option<String>,
    /// A release to roll back to (id or version).
    release: Option<String>,
    description: Option<String>,
}

/// `POST /apps/{app}/releases`: `{slug}` releases a slug; `{release}` rolls back to it.
pub async fn create(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Json<CreateRelease>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    let app = platform.app_for(&caller, &name).await?;
    let release = match (body.slug, body.release) {
        (_, Some(target)) => {
            let target = find_release(&platform, &app, &target).await?;
            if target.status != ReleaseStatus::Succeeded.as_str() {
                return Err(ApiError::invalid(format!(
                    "v{} {}: roll back to a release that succeeded",
                    target.version,
                    if target.status == ReleaseStatus::Failed.as_str() {
                        "failed"
                    } else {
                        "is still in its release phase"
                    }
                )));
            }
            let status = platform
                .new_release_status(target.slug_digest.as_deref())
                .await?;
            platform
                .state
                .rollback(&app, &target, &caller.0.email, status)
                .await?
        }
        (Some(slug), None) => {
            let digest =
                kumo_slug::Digest::parse(&slug).map_err(|e| ApiError::invalid(e.to_string()))?;
            let description = body
                .description
                .unwrap_or_else(|| format!("Deploy {}", digest.short()));
            platform
                .release_slug(&app, &digest, &description, &caller.0.email)
                .await?
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "send `slug` to release a slug or `release` to roll back",
            ));
        }
    };
    platform.go_live(&app, &release);
    let current = release.status == ReleaseStatus::Succeeded.as_str();
    Ok((
        StatusCode::CREATED,
        Json(release_json(
            &platform,
            &app,
            &release,
            current,
            false,
            &Users::load(&platform).await?,
        )),
    ))
}

pub async fn config_vars(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<BTreeMap<String, String>>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    Ok(Json(
        platform
            .state
            .current_release(&app)
            .await?
            .map(|r| r.config)
            .unwrap_or_default(),
    ))
}

pub async fn release_config_vars(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, release)): Path<(String, String)>,
) -> Result<Json<BTreeMap<String, String>>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let release = find_release(&platform, &app, &release).await?;
    Ok(Json(release.config))
}

/// `PATCH /apps/{app}/config-vars`: a map of changes, `null` deletes; one release.
pub async fn update_config_vars(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Json<Map<String, Value>>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<BTreeMap<String, String>>, ApiError> {
    let Json(body) = body?;
    let app = platform.app_for(&caller, &name).await?;
    let mut changes = BTreeMap::new();
    for (key, value) in body {
        let value = match value {
            Value::Null => None,
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => {
                return Err(ApiError::invalid(format!(
                    "config var `{key}` must be a string or null"
                )));
            }
        };
        changes.insert(key, value);
    }
    let slug = platform
        .state
        .current_release(&app)
        .await?
        .and_then(|r| r.slug_digest);
    let status = platform.new_release_status(slug.as_deref()).await?;
    let release = platform
        .state
        .set_config(&app, &changes, &caller.0.email, status)
        .await?;
    platform.go_live(&app, &release);
    Ok(Json(release.config))
}

impl Platform {
    /// Appends a release of the stored slug `digest` with the current config
    /// (not yet live: see [`Platform::go_live`]). The slug's new process types
    /// join the formation: `web` with one dyno, the others with none.
    pub async fn release_slug(
        &self,
        app: &App,
        digest: &kumo_slug::Digest,
        description: &str,
        user_email: &str,
    ) -> Result<Release, ApiError> {
        if !self
            .slugs
            .contains(digest)
            .await
            .map_err(crate::state::StateError::from)?
        {
            return Err(ApiError::not_found(format!(
                "Couldn't find slug {digest}: upload it first."
            )));
        }
        let manifest = self
            .manager
            .check_slug(digest)
            .await
            .map_err(ApiError::invalid)?;
        let existing = self.state.formation(app).await?;
        let added: Vec<_> = manifest
            .process_types
            .keys()
            .filter(|t| *t != "release" && !existing.iter().any(|l| &l.process_type == *t))
            .map(|t| (t.clone(), Some(i64::from(t == "web")), None))
            .collect();
        if !added.is_empty() {
            self.state.scale(app, &added).await?;
        }
        let (config, addons) = self
            .state
            .current_release(app)
            .await?
            .map(|r| (r.config, r.addons))
            .unwrap_or_default();
        let needs = self
            .manager
            .slug_needs(digest)
            .await
            .map_err(|e| ApiError::invalid(format!("slug {digest} cannot be read: {e:#}")))?;
        for (process, kinds) in &needs {
            if let Some(why) = crate::addons::required::missing(process, kinds, &addons, &app.name)
            {
                return Err(ApiError::invalid(why));
            }
        }
        let status = self.new_release_status(Some(digest.as_str())).await?;
        Ok(self
            .state
            .append_release(
                app,
                Some(digest.to_string()),
                config,
                addons,
                description,
                user_email,
                status,
            )
            .await?)
    }
}
