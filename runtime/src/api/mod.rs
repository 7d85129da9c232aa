//! The Platform API in Heroku's v3 shapes: paths, JSON fields, status codes,
//! `{id, message}` errors, bearer tokens and a `Request-Id` on every response.
//!
//! Handlers change the ledger in one transaction each, then ask the dyno manager
//! to converge the app; they never touch dynos directly.

mod apps;
mod auth;
mod domains;
mod dynos;
mod error;
mod formation;
mod logs;
mod releases;
mod slugs;

pub use auth::Caller;
pub use error::ApiError;
pub use logs::LogSessions;

use crate::manager::DynoManager;
use crate::slugs::SlugStore;
use crate::state::{App, State};
use axum::Router;
use axum::http::{HeaderValue, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use std::sync::Arc;

/// What the API works on.
pub struct Platform {
    pub state: State,
    pub slugs: SlugStore,
    pub manager: Arc<DynoManager>,
    /// `localhost` in `<app>.localhost`.
    pub domain: String,
    /// The router's public port, for `web_url`.
    pub router_port: u16,
    /// This API's own URL (`http://127.0.0.1:5000`), for `logplex_url`.
    pub api_url: String,
    pub log_sessions: LogSessions,
}

impl Platform {
    /// The app `name` if `caller` may act on it: 404 if there is no such app, 403 if it is someone else's.
    pub async fn app_for(&self, caller: &Caller, name: &str) -> Result<App, ApiError> {
        let app = self.state.app(name).await?.ok_or_else(ApiError::no_app)?;
        if app.owner_id != caller.0.id && !caller.0.admin {
            return Err(ApiError::forbidden(format!(
                "You do not have access to the app {name}."
            )));
        }
        Ok(app)
    }

    /// Brings the app's dynos in line with the ledger, in the background.
    pub fn converge(&self, app: &str) {
        let (manager, app) = (self.manager.clone(), app.to_string());
        tokio::spawn(async move { manager.converge(&app).await });
    }

    pub fn web_url(&self, app: &str) -> String {
        format!("http://{app}.{}:{}/", self.domain, self.router_port)
    }
}

/// The API's routes.
pub fn router(platform: Arc<Platform>) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/account", get(apps::account))
        .route("/apps/{app}/domains", get(domains::list).post(domains::add))
        .route(
            "/apps/{app}/dynos/{dyno}/actions/stop",
            axum::routing::post(dynos::stop),
        )
        .route(
            "/apps/{app}/domains/{hostname}",
            axum::routing::delete(domains::remove),
        )
        .route(
            "/apps/{app}/log-sessions",
            axum::routing::post(logs::create),
        )
        .route("/log-sessions/{id}", get(logs::stream))
        .route("/apps", get(apps::list).post(apps::create))
        .route(
            "/apps/{app}",
            get(apps::info).patch(apps::update).delete(apps::destroy),
        )
        .route(
            "/apps/{app}/config-vars",
            get(releases::config_vars).patch(releases::update_config_vars),
        )
        .route(
            "/apps/{app}/releases",
            get(releases::list).post(releases::create),
        )
        .route("/apps/{app}/releases/{release}", get(releases::info))
        .route(
            "/apps/{app}/releases/{release}/config-vars",
            get(releases::release_config_vars),
        )
        .route(
            "/apps/{app}/dynos",
            get(dynos::list).delete(dynos::restart_all),
        )
        .route(
            "/apps/{app}/dynos/{dyno}",
            axum::routing::delete(dynos::restart_one),
        )
        .route(
            "/apps/{app}/slugs",
            axum::routing::post(slugs::create).layer(axum::extract::DefaultBodyLimit::max(
                slugs::MAX_SLUG_BYTES + 1,
            )),
        )
        .route(
            "/apps/{app}/formation",
            get(formation::list).patch(formation::batch_update),
        )
        .route(
            "/apps/{app}/formation/{type}",
            get(formation::info).patch(formation::update),
        )
        .fallback(|| async { ApiError::not_found("The requested API endpoint was not found.") })
        .layer(middleware::from_fn(request_id))
        .with_state(platform)
}

/// Gives every response a `Request-Id` (the client's, if it sent one).
async fn request_id(request: Request<axum::body::Body>, next: Next) -> Response {
    let id = request
        .headers()
        .get("request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("request-id", value);
    }
    response
}
