//! Builds, in the shape of Heroku's Build API, and source uploads.
//!
//! `POST /apps/{app}/sources` stores a source archive and hands back its
//! `source_blob` URL; `POST /apps/{app}/builds` with a `source_blob.url` (that
//! URL, any http(s) tarball, or a git repository) queues a build and returns
//! its `output_stream_url` at once. The build runs the builder (buildpacks,
//! Procfile) in the build queue, stores the slug, compiles it, and releases it
//! like any deploy; its output is kept with the build.

use super::output::{LiveOutput, text_response};
use super::{ApiError, Caller, Platform};
use crate::state::{App, Build, BuildOutcome};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Source archives over this size are refused.
pub const MAX_SOURCE_BYTES: usize = 500 << 20;
/// Uploaded sources are removed once used, or after this long.
const SOURCE_TTL: Duration = Duration::from_secs(3600);

fn build_json(platform: &Platform, app: &App, build: &Build) -> Value {
    json!({
        "id": build.id,
        "app": { "id": app.id, "name": app.name },
        "status": build.status,
        "buildpacks": build.buildpack.as_ref().map(|b| vec![json!({ "url": b, "name": b })]),
        "source_blob": {
            "url": build.source_url,
            "version": build.source_version,
            "checksum": null,
            "version_description": null,
        },
        "slug": build.slug_digest.as_ref().map(|d| json!({ "id": d })),
        "release": build.release_id.as_ref().map(|r| json!({ "id": r })),
        "output_stream_url": format!("{}/build-output/{}", platform.api_url, build.id),
        "stack": "kumo-1",
        "user": { "id": build.user_email, "email": build.user_email },
        "created_at": build.created_at,
        "updated_at": build.updated_at,
    })
}

fn sources_dir(platform: &Platform) -> PathBuf {
    platform.data_dir.join("sources")
}

/// `POST /apps/{app}/sources`: the request body is the source archive (tar,
/// .tar.gz or .tar.zst). Kumo takes it directly where Heroku hands out an
/// upload URL; the answer has Heroku's `source_blob` shape.
pub async fn upload_source(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    platform.app_for(&caller, &name).await?;
    let body = super::body::read_limited(
        &headers,
        body,
        MAX_SOURCE_BYTES,
        "the source archive is too large; leave dependencies and build output out (.gitignore, .slugignore)",
    )
    .await?;
    if body.is_empty() {
        return Err(ApiError::invalid(
            "the request body is empty: send the source archive (tar, .tar.gz or .tar.zst)",
        ));
    }
    let dir = sources_dir(&platform);
    let id = uuid::Uuid::new_v4().to_string();
    let file = dir.join(format!("{id}.tar"));
    let result = async {
        tokio::fs::create_dir_all(&dir).await?;
        remove_old_sources(&dir).await;
        let partial = dir.join(format!("{id}.partial"));
        tokio::fs::write(&partial, &body).await?;
        tokio::fs::rename(&partial, &file).await
    }
    .await;
    result.map_err(|e| ApiError::bad_request(format!("storing the source failed: {e}")))?;
    let url = format!("{}/sources/{id}", platform.api_url);
    Ok((
        StatusCode::CREATED,
        Json(json!({ "source_blob": { "get_url": url, "put_url": null } })),
    ))
}

async fn remove_old_sources(dir: &std::path::Path) {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let old = entry
            .metadata()
            .await
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > SOURCE_TTL);
        if old {
            let _ = tokio::fs::remove_file(entry.path()).await;
        }
    }
}

#[derive(Deserialize)]
pub struct SourceBlob {
    url: Option<String>,
    version: Option<String>,
}

#[derive(Deserialize)]
pub struct BuildpackRef {
    url: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
pub struct CreateBuild {
    source_blob: SourceBlob,
    buildpacks: Option<Vec<BuildpackRef>>,
}

/// Where a build's source comes from.
enum Source {
    /// An archive uploaded with `POST /apps/{app}/sources`.
    Uploaded(PathBuf),
    /// An archive at an http(s) URL.
    Url(String),
    /// A git repository, at a branch, tag or commit.
    Git {
        url: String,
        reference: Option<String>,
    },
}

fn buildpack_name(reference: &BuildpackRef) -> Option<String> {
    let raw = reference.name.as_deref().or(reference.url.as_deref())?;
    // `heroku/rust` and `https://…/rust.tgz` name the same buildpack as `rust`.
    let name = raw
        .rsplit('/')
        .next()
        .unwrap_or(raw)
        .trim_end_matches(".tgz")
        .trim_end_matches(".git");
    Some(name.to_ascii_lowercase())
}

/// A 422 naming the buildpacks Kumo has, unless it has `name`.
fn known_buildpack(name: &str) -> Result<(), ApiError> {
    match kumo_builder::buildpack::find(name) {
        Some(_) => Ok(()),
        None => Err(ApiError::invalid(format!(
            "unknown buildpack `{name}`: Kumo has {}",
            kumo_builder::buildpack::names()
        ))),
    }
}

/// `POST /apps/{app}/builds`.
pub async fn create(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Json<CreateBuild>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    let app = platform.app_for(&caller, &name).await?;
    let url = body
        .source_blob
        .url
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                "source_blob.url is required: upload the source with POST /apps/{app}/sources, or give a tarball or git URL",
            )
        })?;
    let own = format!("{}/sources/", platform.api_url);
    let source = if let Some(id) = url.strip_prefix(&own) {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(ApiError::invalid(format!("invalid source URL `{url}`")));
        }
        let file = sources_dir(&platform).join(format!("{id}.tar"));
        if !file.is_file() {
            return Err(ApiError::invalid(format!(
                "the source {url} is gone (sources are kept for an hour and used once): upload it again"
            )));
        }
        Source::Uploaded(file)
    } else if url.starts_with("git://")
        || url.starts_with("git+")
        || (url.starts_with("http") && url.trim_end_matches('/').ends_with(".git"))
    {
        Source::Git {
            url: url.trim_start_matches("git+").to_string(),
            reference: body.source_blob.version.clone(),
        }
    } else if url.starts_with("http://") || url.starts_with("https://") {
        Source::Url(url.clone())
    } else {
        return Err(ApiError::invalid(format!(
            "source_blob.url `{url}` is neither an http(s) tarball URL nor a git repository"
        )));
    };
    let pinned = match body.buildpacks.as_deref() {
        Some([first, ..]) => buildpack_name(first),
        _ => platform.state.pinned_buildpack(&app).await?,
    };
    if let Some(name) = &pinned {
        known_buildpack(name)?;
    }
    let build = platform
        .state
        .create_build(
            &app,
            &url,
            body.source_blob.version.as_deref(),
            &caller.0.email,
        )
        .await?;
    let output = platform.builds_output.start(&build.id);
    let (runner, job) = (platform.clone(), (app.clone(), build.clone()));
    tokio::spawn(async move {
        let (app, build) = job;
        runner.run_build(app, build, source, pinned, output).await;
    });
    Ok((
        StatusCode::CREATED,
        Json(build_json(&platform, &app, &build)),
    ))
}

pub async fn list(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let items = platform
        .state
        .builds(&app)
        .await?
        .iter()
        .map(|b| build_json(&platform, &app, b))
        .collect();
    Ok(super::paging::page(&headers, items, &["created_at", "id"]))
}

pub async fn info(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let build = platform
        .state
        .build(&app, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Couldn't find build {id} of {name}.")))?;
    Ok(Json(build_json(&platform, &app, &build)))
}

/// `GET /build-output/{build}`: the build's output, streamed while it runs
/// and whole afterwards. The build's unguessable id is the credential.
pub async fn output(
    State(platform): State<Arc<Platform>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let body = match platform.builds_output.stream(&id) {
        Some(body) => body,
        None => Body::from(
            platform
                .state
                .build_output(&id)
                .await?
                .ok_or_else(|| ApiError::not_found("Couldn't find that build."))?,
        ),
    };
    text_response(body)
}

/// `GET /apps/{app}/buildpack-installations`: the pinned buildpack, if any.
pub async fn installations(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let pinned = platform.state.pinned_buildpack(&app).await?;
    Ok(Json(Value::Array(
        pinned
            .into_iter()
            .map(|b| json!({ "ordinal": 0, "buildpack": { "url": b, "name": b } }))
            .collect(),
    )))
}

#[derive(Deserialize)]
pub struct InstallationUpdate {
    buildpack: String,
}

#[derive(Deserialize)]
pub struct Installations {
    updates: Vec<InstallationUpdate>,
}

/// `PUT /apps/{app}/buildpack-installations` `{updates: [{buildpack}]}`: pins
/// the app's builds to one buildpack (an empty list clears it).
pub async fn set_installations(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Json<Installations>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let app = platform.app_for(&caller, &name).await?;
    let name = match body.updates.as_slice() {
        [] => None,
        [one] => buildpack_name(&BuildpackRef {
            url: Some(one.buildpack.clone()),
            name: None,
        }),
        _ => {
            return Err(ApiError::invalid(
                "Kumo builds with one buildpack per app: give one",
            ));
        }
    };
    if let Some(name) = &name {
        known_buildpack(name)?;
    }
    platform.state.pin_buildpack(&app, name.as_deref()).await?;
    Ok(Json(Value::Array(
        name.into_iter()
            .map(|b| json!({ "ordinal": 0, "buildpack": { "url": b, "name": b } }))
            .collect(),
    )))
}

impl Platform {
    /// Runs a build in the build queue, then records how it ended.
    async fn run_build(
        self: Arc<Self>,
        app: App,
        build: Build,
        source: Source,
        pinned: Option<String>,
        output: Arc<LiveOutput>,
    ) {
        let permit = match self.build_queue.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                output.push("-----> Waiting for another build to finish");
                match self.build_queue.acquire().await {
                    Ok(permit) => permit,
                    Err(_) => return,
                }
            }
        };
        let work = self.data_dir.join("builds").join(&build.id);
        let started = Instant::now();
        let deadline = started + self.build_timeout;
        // The toolchains are killed at the deadline (their error says so);
        // this outer limit catches a step that is no toolchain, a little later.
        let result = tokio::time::timeout(
            self.build_timeout + Duration::from_secs(10),
            self.build_and_release(
                &app,
                &build,
                source,
                pinned,
                Run {
                    work: &work,
                    output: &output,
                    deadline,
                },
            ),
        )
        .await;
        drop(permit);
        let (succeeded, buildpack, slug, release) = match result {
            Ok(Ok(done)) => (true, Some(done.0), Some(done.1), Some(done.2)),
            Ok(Err(e)) => {
                output.push(&format!(" !     {e:#}"));
                output.push(" !     Push rejected, failed to compile the app.");
                (false, None, None, None)
            }
            Err(_) => {
                output.push(&format!(
                    " !     The build ran past its time limit of {} s and was stopped.",
                    self.build_timeout.as_secs()
                ));
                (false, None, None, None)
            }
        };
        crate::metrics::global()
            .builds
            .with_label_values(&[if succeeded { "succeeded" } else { "failed" }])
            .observe(started.elapsed().as_secs_f64());
        let outcome = BuildOutcome {
            succeeded,
            buildpack: buildpack.as_deref(),
            slug_digest: slug.as_deref(),
            release_id: release.as_deref(),
            output: &output.text(),
        };
        if let Err(e) = self.state.finish_build(&build, outcome).await {
            output.push(&format!(" !     The build could not be recorded: {e}"));
        }
        self.builds_output.finish(&build.id);
        let _ = tokio::fs::remove_dir_all(&work).await;
    }

    /// Fetches and unpacks the source, builds the slug, stores it, compiles
    /// it and releases it. Returns (buildpack, slug id, release id).
    async fn build_and_release(
        self: &Arc<Self>,
        app: &App,
        build: &Build,
        source: Source,
        pinned: Option<String>,
        run: Run<'_>,
    ) -> anyhow::Result<(String, String, String)> {
        let Run {
            work,
            output,
            deadline,
        } = run;
        use anyhow::Context as _;
        let _ = tokio::fs::remove_dir_all(work).await;
        tokio::fs::create_dir_all(work).await?;
        let src_dir = work.join("src");
        let mut commit = None;
        let archive = match source {
            Source::Uploaded(file) => {
                let bytes = tokio::fs::read(&file).await.context("reading the source")?;
                let _ = tokio::fs::remove_file(&file).await;
                Some(bytes)
            }
            Source::Url(url) => {
                output.push(&format!("-----> Fetching {url}"));
                Some(fetch(&url).await?)
            }
            Source::Git { url, reference } => {
                output.push(&format!(
                    "-----> Cloning {url}{}",
                    reference
                        .as_deref()
                        .map(|r| format!(" at {r}"))
                        .unwrap_or_default()
                ));
                commit = Some(clone(&url, reference.as_deref(), &src_dir, output).await?);
                None
            }
        };
        let env = self
            .state
            .current_release(app)
            .await?
            .map(|r| r.config)
            .unwrap_or_default();
        let cache_dir = self.data_dir.join("build-cache").join(&app.id);
        let tools_dir = self.data_dir.join("build-tools");
        let (work_dir, log) = (work.to_path_buf(), output.clone());
        let built = tokio::task::spawn_blocking(move || {
            let root = match archive {
                Some(bytes) => kumo_builder::source::unpack(
                    &bytes,
                    &src_dir,
                    kumo_builder::source::SourceLimits::default(),
                )?,
                None => src_dir,
            };
            kumo_builder::buildpack::build(
                &kumo_builder::buildpack::BuildRequest {
                    src: &root,
                    work_dir: &work_dir,
                    cache_dir: &cache_dir,
                    buildpack: pinned.as_deref(),
                    env: &env,
                    deadline: Some(deadline),
                    tools_dir: &tools_dir,
                },
                &mut |line| log.push(line),
            )
        })
        .await
        .context("the build stopped")??;

        let digest = built.slug.digest.clone();
        let manifest = kumo_slug::Manifest::new(built.process_types.clone());
        let unpacked = crate::slugs::UnpackedSlug::at(digest.clone(), manifest, work.to_path_buf());
        self.check_unpacked(&unpacked)
            .await
            .map_err(|e| anyhow::anyhow!("the slug cannot run: {e}"))?;
        let archive = tokio::fs::read(&built.slug.path).await?;
        self.slugs.put(&digest, archive.into()).await?;
        output.push("-----> Compiling components for this machine...");
        let compile_started = Instant::now();
        self.manager
            .check_slug(&digest)
            .await
            .map_err(|e| anyhow::anyhow!("the slug cannot run: {e}"))?;
        output.push(&format!(
            "       Done in {:.1} s",
            compile_started.elapsed().as_secs_f64()
        ));
        output.push("-----> Launching...");
        let description = match commit.as_ref().or(build.source_version.as_ref()) {
            Some(v) if !v.is_empty() => format!("Deploy {}", &v[..v.len().min(7)]),
            _ => format!("Deploy {}", digest.short()),
        };
        let release = self
            .release_slug(app, &digest, &description, &build.user_email)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        self.go_live(app, &release);
        output.push(&format!("       Released v{}", release.version));
        if release.status == crate::state::ReleaseStatus::Pending.as_str() {
            output.push(&format!(
                "       Running the release command first: kumo releases:output v{} -a {}",
                release.version, app.name
            ));
        }
        output.push(&format!(
            "       {} deployed to Kumo",
            self.web_url(&app.name)
        ));
        Ok((built.buildpack, digest.to_string(), release.id))
    }
}

/// Where and until when a build runs, and where its output goes.
struct Run<'a> {
    work: &'a std::path::Path,
    output: &'a Arc<LiveOutput>,
    deadline: Instant,
}

/// GETs a source archive over http(s), at most [`MAX_SOURCE_BYTES`].
async fn fetch(url: &str) -> anyhow::Result<Vec<u8>> {
    use futures::StreamExt as _;
    let response = reqwest::get(url)
        .await
        .map_err(|e| anyhow::anyhow!("fetching the source from {url} failed: {e}"))?;
    if !response.status().is_success() {
        anyhow::bail!(
            "fetching the source from {url} failed: it answered {}",
            response.status()
        );
    }
    let mut bytes = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| anyhow::anyhow!("fetching the source from {url}: {e}"))?;
        if bytes.len() + chunk.len() > MAX_SOURCE_BYTES {
            anyhow::bail!("the source at {url} is over {} MB", MAX_SOURCE_BYTES >> 20);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Clones `url` (at `reference`, a branch, tag or commit) into `dest` with the
/// machine's git, without its `.git` folder; returns the commit's id.
async fn clone(
    url: &str,
    reference: Option<&str>,
    dest: &std::path::Path,
    output: &LiveOutput,
) -> anyhow::Result<String> {
    let git = |args: &[&str], dir: Option<&std::path::Path>| {
        let mut command = tokio::process::Command::new("git");
        command.args(args).env("GIT_TERMINAL_PROMPT", "0");
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        command
    };
    let run = |mut command: tokio::process::Command| async move {
        let out = command
            .output()
            .await
            .map_err(|e| anyhow::anyhow!("running git failed ({e}): install git on the server"))?;
        if !out.status.success() {
            anyhow::bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    };
    let dest_str = dest.to_string_lossy().into_owned();
    run(git(
        &["clone", "--quiet", "--no-checkout", url, &dest_str],
        None,
    ))
    .await
    .map_err(|e| anyhow::anyhow!("cloning {url} failed: {e}"))?;
    let reference = reference.unwrap_or("HEAD");
    run(git(
        &["checkout", "--quiet", "--detach", reference],
        Some(dest),
    ))
    .await
    .map_err(|e| anyhow::anyhow!("{url} has no branch, tag or commit `{reference}`: {e}"))?;
    let head = git(&["rev-parse", "HEAD"], Some(dest))
        .output()
        .await
        .map_err(|e| anyhow::anyhow!("running git failed: {e}"))?;
    let commit = String::from_utf8_lossy(&head.stdout).trim().to_string();
    output.push(&format!("       Checked out {reference} ({commit})"));
    let _ = tokio::fs::remove_dir_all(dest.join(".git")).await;
    Ok(commit)
}
