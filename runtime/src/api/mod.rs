//! The Platform API in Heroku's v3 shapes: paths, JSON fields, status codes,
//! `{id, message}` errors, bearer tokens and a `Request-Id` on every response.
//!
//! Handlers change the ledger in one transaction each, then ask the dyno manager
//! to converge the app; they never touch dynos directly.

mod access;
mod acm;
mod addons;
mod apps;
mod auth;
mod authorizations;
mod body;
mod builds;
mod catalog;
mod collate;
mod domains;
mod drains;
mod dynos;
mod error;
mod formation;
mod git;
mod listen;
mod logs;
mod metrics;
mod nodes;
mod output;
mod paging;
mod pipelines;
mod promotions;
mod rate_limit;
mod release_phase;
mod releases;
mod run;
mod slugs;
mod sni_endpoints;

pub use acm::{AcmeSettings, LedgerAnswers, spawn_issuer};
pub use auth::Caller;
pub use drains::keep_drains;
pub use error::ApiError;
pub use listen::{ApiListener, listen};
pub use logs::LogSessions;
pub use nodes::join_platform;
pub use output::LiveOutputs;
pub use rate_limit::RateLimit;
pub use run::AttachSessions;
pub use sni_endpoints::LedgerCertificates;

use crate::manager::DynoManager;
use crate::slugs::SlugStore;
use crate::state::{App, State};
use axum::Router;
use axum::http::{HeaderValue, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use std::sync::Arc;

/// What the API works on.
pub struct Platform {
    /// This server's name among the nodes sharing the ledger (`--node`).
    pub node: String,
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
    pub attach_sessions: AttachSessions,
    /// Release-phase outputs being written, by release id.
    pub release_phases: LiveOutputs,
    /// Build outputs being written, by build id.
    pub builds_output: LiveOutputs,
    /// Builds run one at a time; the others wait their turn.
    pub build_queue: tokio::sync::Semaphore,
    /// How long a build may run before it is stopped (15 minutes by default).
    pub build_timeout: std::time::Duration,
    /// Where uploaded sources, build folders and build caches live.
    pub data_dir: std::path::PathBuf,
    /// Each account's request tokens (`--api-rate-limit`, 4500 an hour by default).
    pub rate_limit: RateLimit,
    /// The backends that provision add-ons.
    pub addon_providers: Arc<crate::addons::Providers>,
    /// The local CA's certificate (PEM), which added certificates may chain to.
    pub local_ca_pem: String,
    /// The log drains this server delivers.
    pub drains: Arc<crate::drains::Drains>,
    /// The channel between nodes, when several share the ledger: it
    /// authenticates the lines one node reads from another (`collate`).
    pub node_channel: Option<Arc<crate::router::hop::NodeChannel>>,
}

impl Platform {
    /// The app `name` if `caller` owns it, collaborates on it or is an admin:
    /// 404 if there is no such app, 403 if it is someone else's.
    pub async fn app_for(&self, caller: &Caller, name: &str) -> Result<App, ApiError> {
        let app = self.state.app(name).await?.ok_or_else(ApiError::no_app)?;
        if app.owner_id != caller.0.id
            && !caller.0.admin
            && !self.state.collaborates(&app, &caller.0).await?
        {
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

    /// Moves a renamed app's dynos, routes and log stream from `old` to
    /// `new`, in the background: the new name's dynos start first, then the
    /// old name's stop, so requests to the new name wait at most a boot.
    pub fn converge_renamed(&self, old: &str, new: &str) {
        let (manager, old, new) = (self.manager.clone(), old.to_string(), new.to_string());
        tokio::spawn(async move { manager.renamed(&old, &new).await });
    }

    pub fn web_url(&self, app: &str) -> String {
        format!("http://{app}.{}:{}/", self.domain, self.router_port)
    }

    /// Where `git push` reaches the app: its repository on this API (`git.rs`).
    pub fn git_url(&self, app: &str) -> String {
        format!("{}/{app}.git", self.api_url.trim_end_matches('/'))
    }
}

/// The API's routes.
pub fn router(platform: Arc<Platform>) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/account", get(apps::account))
        .route(rate_limit::RATE_LIMITS_PATH, get(rate_limit::info))
        .route(
            "/accounts",
            get(access::accounts).post(access::create_account),
        )
        .route(
            "/oauth/authorizations",
            get(authorizations::list).post(authorizations::create),
        )
        .route(
            "/oauth/authorizations/{id}",
            get(authorizations::info).delete(authorizations::revoke),
        )
        .route(
            "/apps/{app}/collaborators",
            get(access::collaborators).post(access::add_collaborator),
        )
        .route(
            "/apps/{app}/collaborators/{who}",
            get(access::collaborator).delete(access::remove_collaborator),
        )
        .route("/apps/{app}/domains", get(domains::list).post(domains::add))
        .route(
            "/apps/{app}/dynos/{dyno}/actions/stop",
            axum::routing::post(dynos::stop),
        )
        .route(
            "/apps/{app}/domains/{hostname}",
            get(domains::info)
                .patch(domains::update)
                .delete(domains::remove),
        )
        .route("/apps/{app}/metrics", get(metrics::app_metrics))
        .route(
            "/apps/{app}/log-drains",
            get(drains::list).post(drains::add),
        )
        .route(
            "/apps/{app}/log-drains/{drain}",
            get(drains::info).delete(drains::remove),
        )
        .route(
            "/apps/{app}/acm",
            axum::routing::post(acm::enable)
                .patch(acm::refresh)
                .delete(acm::disable),
        )
        .route(
            "/apps/{app}/sni-endpoints",
            get(sni_endpoints::list).post(sni_endpoints::add),
        )
        .route(
            "/apps/{app}/sni-endpoints/{id}",
            get(sni_endpoints::info)
                .patch(sni_endpoints::update)
                .delete(sni_endpoints::remove),
        )
        .route(
            "/apps/{app}/log-sessions",
            axum::routing::post(logs::create),
        )
        .route("/log-sessions/{id}", get(logs::stream))
        .route("/node-logs/{app}", get(collate::serve))
        .route("/node-metrics/{app}", get(metrics::node_minutes))
        .route("/node-one-offs/{app}", get(dynos::node_one_offs))
        .route(
            "/node-one-offs/{app}/{dyno}/stop",
            axum::routing::post(dynos::node_stop_one_off),
        )
        .route("/attach/{secret}", get(run::attach))
        .route("/release-output/{release}", get(release_phase::stream))
        .route("/build-output/{build}", get(builds::output))
        .route(
            "/apps/{app}/sources",
            // Its limit is checked by the handler (`body::read_limited`).
            axum::routing::post(builds::upload_source),
        )
        .route("/apps/{app}/builds", get(builds::list).post(builds::create))
        .route("/apps/{app}/builds/{build}", get(builds::info))
        .route(
            "/apps/{app}/buildpack-installations",
            get(builds::installations).put(builds::set_installations),
        )
        .route("/apps", get(apps::list).post(apps::create))
        .route("/users/{user}/apps", get(apps::list_for_user))
        .route("/addon-services", get(addons::services::list))
        .route("/addon-services/{service}", get(addons::services::info))
        .route(
            "/addon-services/{service}/plans",
            get(addons::services::plans),
        )
        .route(
            "/addon-services/{service}/plans/{plan}",
            get(addons::services::plan),
        )
        .route(
            "/apps/{app}/addons",
            get(addons::list_for_app).post(addons::provision::create),
        )
        .route(
            "/apps/{app}/addons/{addon}",
            get(addons::info_for_app)
                .patch(addons::provision::update)
                .delete(addons::provision::destroy),
        )
        .route(
            "/apps/{app}/addons/{addon}/info",
            get(addons::data::details),
        )
        .route(
            "/apps/{app}/addons/{addon}/actions/reset",
            axum::routing::post(addons::data::reset),
        )
        .route("/client/v11/databases/{addon}", get(addons::data::database))
        .route("/addons", get(addons::list))
        .route("/addons/{addon}", get(addons::info))
        .route("/addons/{addon}/config", get(addons::config))
        .route(
            "/addons/{addon}/addon-attachments",
            get(addons::attachments_of_addon),
        )
        .route(
            "/actions/addons/resolve",
            axum::routing::post(addons::resolve),
        )
        .route(
            "/addon-attachments",
            get(addons::attachments::list).post(addons::attachments::create),
        )
        .route(
            "/addon-attachments/{id}",
            get(addons::attachments::info).delete(addons::attachments::destroy),
        )
        .route(
            "/apps/{app}/addon-attachments",
            get(addons::attachments::list_for_app),
        )
        .route(
            "/apps/{app}/addon-attachments/{id}",
            get(addons::attachments::info_for_app),
        )
        .route(
            "/actions/addon-attachments/resolve",
            axum::routing::post(addons::attachments::resolve),
        )
        .route("/apps/{app}/features", get(apps::no_items))
        .route("/apps/{app}/webhooks", get(apps::no_items))
        .route("/regions", get(catalog::regions))
        .route("/regions/{region}", get(catalog::region_info))
        .route("/stacks", get(catalog::stacks))
        .route("/stacks/{stack}", get(catalog::stack_info))
        .route("/account/features", get(catalog::none))
        .route("/account/keys", get(catalog::none))
        .route("/teams", get(catalog::none))
        .route("/spaces", get(catalog::none))
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
            get(dynos::list)
                .delete(dynos::restart_all)
                .post(run::create),
        )
        .route(
            "/apps/{app}/dynos/{dyno}",
            axum::routing::delete(dynos::restart_one).post(run::inside),
        )
        .route(
            "/apps/{app}/formations/{dyno}",
            axum::routing::delete(dynos::restart_one),
        )
        .route("/apps/{app}/slugs", axum::routing::post(slugs::create))
        .route("/apps/{app}/slugs/{slug}", get(slugs::info))
        .route(
            "/apps/{app}/formation",
            get(formation::list).patch(formation::batch_update),
        )
        .route(
            "/apps/{app}/formation/{type}",
            get(formation::info).patch(formation::update),
        )
        .route("/{repo}/{*rest}", get(git::serve).post(git::serve))
        .route(
            "/oauth/authorizations/{id}",
            axum::routing::patch(authorizations::update),
        )
        .route(
            "/oauth/authorizations/{id}/actions/regenerate-tokens",
            axum::routing::post(authorizations::regenerate),
        )
        .route("/users/{user}", get(apps::user))
        .route("/pipelines", get(pipelines::list).post(pipelines::create))
        .route(
            "/pipelines/{pipeline}",
            get(pipelines::info)
                .patch(pipelines::update)
                .delete(pipelines::destroy),
        )
        .route(
            "/pipelines/{pipeline}/pipeline-couplings",
            get(pipelines::couplings),
        )
        .route(
            "/pipeline-couplings",
            axum::routing::post(pipelines::couple),
        )
        .route(
            "/pipeline-couplings/{id}",
            get(pipelines::coupling)
                .patch(pipelines::update_coupling)
                .delete(pipelines::uncouple),
        )
        .route(
            "/apps/{app}/pipeline-couplings",
            get(pipelines::coupling_of_app),
        )
        .route(
            "/pipeline-promotions",
            axum::routing::post(promotions::create),
        )
        .route("/pipeline-promotions/{id}", get(promotions::info))
        .route(
            "/pipeline-promotions/{id}/promotion-targets",
            get(promotions::targets),
        )
        .route("/filters/apps", axum::routing::post(pipelines::filter_apps))
        .route("/nodes", get(nodes::list))
        .route("/nodes/{node}", get(nodes::info).delete(nodes::forget))
        .merge(crate::dashboard::routes())
        .fallback(|| async { ApiError::not_found("The requested API endpoint was not found.") })
        .layer(middleware::from_fn(rate_limit::headers))
        .layer(middleware::from_fn(method_not_allowed))
        .layer(middleware::from_fn(check_accept))
        .layer(middleware::from_fn(request_id))
        .with_state(platform)
}

/// Gives the router's bare 405 (a method the endpoint does not take) Heroku's
/// error body, keeping its `Allow` header.
async fn method_not_allowed(request: Request<axum::body::Body>, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    if response.status() != axum::http::StatusCode::METHOD_NOT_ALLOWED
        || response
            .headers()
            .contains_key(axum::http::header::CONTENT_TYPE)
    {
        return response;
    }
    let allow = response.headers().get(axum::http::header::ALLOW).cloned();
    let mut error = ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{method} is not allowed on {path}: use {}",
            allow
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .unwrap_or("another method")
        ),
    )
    .into_response();
    if let Some(allow) = allow {
        error.headers_mut().insert(axum::http::header::ALLOW, allow);
    }
    error
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

/// Refuses a request whose `Accept` names no version 3 of the API, as Heroku
/// does. The health check, the dashboard's files and the log, attach,
/// release-output and build-output streams, which clients fetch as they are,
/// are exempt.
async fn check_accept(request: Request<axum::body::Body>, next: Next) -> Response {
    let path = request.uri().path();
    let git = path
        .split('/')
        .nth(1)
        .is_some_and(|repo| repo.ends_with(".git"));
    if git
        || path == "/health"
        || crate::dashboard::serves(path)
        || path.starts_with("/log-sessions/")
        || path.starts_with("/node-logs/")
        || path.starts_with("/node-metrics/")
        || path.starts_with("/node-one-offs/")
        || path.starts_with("/attach/")
        || path.starts_with("/release-output/")
        || path.starts_with("/build-output/")
    {
        return next.run(request).await;
    }
    let accept = request
        .headers()
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accepts_v3(accept) {
        return next.run(request).await;
    }
    ApiError::new(
        axum::http::StatusCode::NOT_ACCEPTABLE,
        "not_acceptable",
        format!(
            "Accept `{accept}` names no API version Kumo serves: send `Accept: application/vnd.heroku+json; version=3`."
        ),
    )
    .into_response()
}

/// Whether an `Accept` value asks for `application/vnd.heroku+json; version=3`
/// or one of its variants (`version=3.sdk`, …).
fn accepts_v3(accept: &str) -> bool {
    accept.split(',').any(|media| {
        let mut parts = media.split(';').map(str::trim);
        parts
            .next()
            .is_some_and(|t| t.eq_ignore_ascii_case("application/vnd.heroku+json"))
            && parts.any(|p| {
                p.strip_prefix("version=")
                    .is_some_and(|v| v == "3" || v.starts_with("3."))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::accepts_v3;

    #[test]
    fn accept_header() {
        assert!(accepts_v3("application/vnd.heroku+json; version=3"));
        assert!(accepts_v3("application/vnd.heroku+json; version=3.sdk"));
        assert!(accepts_v3(
            "text/plain, application/vnd.heroku+json;version=3"
        ));
        assert!(!accepts_v3(""));
        assert!(!accepts_v3("application/json"));
        assert!(!accepts_v3("application/vnd.heroku+json; version=2"));
        assert!(!accepts_v3("application/vnd.heroku+json; version=30"));
    }
}
