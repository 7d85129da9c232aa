//! The release phase: when a slug declares a `release` process type (database
//! migrations, asset uploads…), every new release of it runs that command as
//! the one-off dyno `release.N` before it goes live. Meanwhile the release is
//! `pending` and the one before keeps serving; if the command fails the release
//! is `failed` and nothing else changes. Its output is kept with the release and
//! streamed, live and afterwards, at the release's `output_stream_url`.

use super::output::{LiveOutput, text_response};
use super::{ApiError, Platform};
use crate::dynos::command::{Exit, Stdio};
use crate::logplex::{Backlog, Filter, Source};
use crate::manager::OneOffRequest;
use crate::sizes::DynoSize;
use crate::source::ReleaseSpec;
use crate::state::{App, Release, ReleaseStatus};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::Response;
use std::sync::Arc;
use std::time::Duration;

/// The longest a release command may run, as on Heroku: one hour.
pub const RELEASE_PHASE_TIMEOUT: Duration = Duration::from_secs(3600);

impl Platform {
    /// The status a new release of `slug` starts in: `pending` when the slug
    /// has a release phase to pass first.
    pub async fn new_release_status(&self, slug: Option<&str>) -> Result<ReleaseStatus, ApiError> {
        let Some(slug) = slug else {
            return Ok(ReleaseStatus::Succeeded);
        };
        let digest =
            kumo_slug::Digest::parse(slug).map_err(|e| ApiError::invalid(e.to_string()))?;
        match self.manager.has_release_phase(&digest).await {
            Ok(true) => Ok(ReleaseStatus::Pending),
            Ok(false) => Ok(ReleaseStatus::Succeeded),
            Err(e) => Err(ApiError::invalid(format!(
                "slug {slug} cannot be read: {e}"
            ))),
        }
    }

    /// Makes a newly appended release take effect: at once when it succeeded,
    /// after its release phase when it is pending.
    pub fn go_live(self: &Arc<Self>, app: &App, release: &Release) {
        if release.status != ReleaseStatus::Pending.as_str() {
            self.converge(&app.name);
            return;
        }
        let output = self.release_phases.start(&release.id);
        let (platform, app, release) = (self.clone(), app.clone(), release.clone());
        tokio::spawn(async move { platform.release_phase(app, release, output).await });
    }

    /// Where a release's release-phase output can be read, if it has one.
    pub fn output_stream_url(&self, release: &Release, has_output: bool) -> Option<String> {
        (has_output || release.status == ReleaseStatus::Pending.as_str())
            .then(|| format!("{}/release-output/{}", self.api_url, release.id))
    }

    async fn release_phase(self: Arc<Self>, app: App, release: Release, output: Arc<LiveOutput>) {
        let name = format!("release.{}", release.version);
        let log = self.manager.logplex().app(&app.name);
        // Listen before starting, so not a line of the command is missed.
        let (_, mut lines) = log.tail(
            Backlog::Last(0),
            Filter {
                source: None,
                dyno: Some(name.clone()),
            },
        );
        let spec = release
            .slug_digest
            .as_deref()
            .map(kumo_slug::Digest::parse)
            .transpose()
            .map_err(|e| e.to_string())
            .and_then(|slug| slug.ok_or_else(|| "the release has no slug".to_string()));
        let started = match spec {
            Ok(slug) => {
                self.manager
                    .run_one_off(
                        &app.name,
                        OneOffRequest {
                            name: Some(name.clone()),
                            argv: vec!["release".to_string()],
                            env: Default::default(),
                            size: DynoSize::Standard1X,
                            stdio: Stdio::Logs,
                            time_to_live: RELEASE_PHASE_TIMEOUT,
                            release: Some(ReleaseSpec {
                                version: release.version as u64,
                                slug,
                                config: release.config.clone(),
                                addons: release.addons.clone(),
                            }),
                        },
                    )
                    .await
            }
            Err(e) => Err(e),
        };
        let exit = match started {
            Ok(started) => {
                let mut exit = started.exit;
                let exit = loop {
                    tokio::select! {
                        line = lines.recv() => match line {
                            Some(line) if line.source == Source::App => output.push(&line.text),
                            Some(_) => {}
                            None => break (&mut exit).await.ok(),
                        },
                        exit = &mut exit => break exit.ok(),
                    }
                };
                while let Ok(line) = lines.try_recv() {
                    if line.source == Source::App {
                        output.push(&line.text);
                    }
                }
                exit
            }
            Err(e) => {
                output.push(&format!("The release command could not start: {e}"));
                None
            }
        };
        let succeeded = exit == Some(Exit::Status(0));
        let verdict = match &exit {
            Some(Exit::Status(0)) => format!("Release v{} is live", release.version),
            Some(exit) => format!(
                "Release v{} failed: the release command ended with \"{}\"; the previous release keeps serving",
                release.version,
                exit.describe(self.manager.config().shutdown_grace)
            ),
            None => format!(
                "Release v{} failed: its release command did not run; the previous release keeps serving",
                release.version
            ),
        };
        if !succeeded {
            output.push(&verdict);
        }
        log.log(Source::Kumo, "api", &verdict);
        if let Err(e) = self
            .state
            .finish_release(&release, succeeded, &output.text())
            .await
        {
            log.log(
                Source::Kumo,
                "api",
                &format!("Release v{} could not be recorded: {e}", release.version),
            );
        }
        self.release_phases.finish(&release.id);
        if succeeded {
            self.manager.converge(&app.name).await;
        }
    }
}

/// `GET /release-output/{release}`: a release phase's output, streamed while
/// it runs and whole once it has ended. As with log sessions, the release's
/// unguessable id in the URL is the credential.
pub async fn stream(
    State(platform): State<Arc<Platform>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let body = match platform.release_phases.stream(&id) {
        Some(body) => body,
        None => Body::from(platform.state.release_output(&id).await?.ok_or_else(|| {
            ApiError::not_found("Couldn't find output for that release: it has no release phase.")
        })?),
    };
    text_response(body)
}
