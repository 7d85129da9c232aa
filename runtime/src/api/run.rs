//! One-off dynos over the API: `POST /apps/{app}/dynos` starts one. Detached
//! (`attach: false`), its output goes to the logs as `run.N`. Attached, the
//! answer's `attach_url` is opened with an HTTP upgrade to the
//! [`attach`](crate::dynos::attach) protocol, and the dyno starts then, with the
//! client's stream as its stdin, stdout and stderr. An attach URL works only
//! while the token that made it does; a dyno already attached runs on.

use super::{ApiError, Caller, Platform};
use crate::dynos::attach::{AttachOutput, Frame, PROTOCOL};
use crate::dynos::command::{Exit, Stdio};
use crate::manager::{MAX_TIME_TO_LIVE, OneOffRequest};
use crate::sizes::DynoSize;
use crate::state::{App, Authorization};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

/// What Heroku's `run --exit-code` appends to the command.
const EXIT_STATUS_ECHO: &str = "; echo \"\u{FFFF} heroku-command-exit-status: $?\"";
/// The line that then carries the status, as the shell would have written it.
const EXIT_STATUS: &str = "\u{FFFF} heroku-command-exit-status: ";
/// What a rendezvous session says first, before any of the dyno's output.
const RENDEZVOUS_HELLO: &[u8] = b"rendezvous\r\n";
/// The byte a rendezvous client sends for the end of its input (a terminal's ^D).
const END_OF_INPUT: u8 = 0x04;

/// How long a rendezvous stays open after the dyno ends, for the client's ^D.
const INPUT_END_GRACE: Duration = Duration::from_secs(2);

/// How long an `attach_url` may be opened after it was made.
const ATTACH_TTL: Duration = Duration::from_secs(60);

/// One-offs waiting for their client to attach, by secret.
#[derive(Default)]
pub struct AttachSessions {
    pending: Mutex<HashMap<String, Pending>>,
}

struct Pending {
    app: String,
    name: String,
    request: Parsed,
    created: Instant,
    /// The authorization whose token made it; the URL ends with it.
    made_with: Authorization,
}

#[derive(Deserialize)]
pub struct CreateDyno {
    command: String,
    attach: Option<bool>,
    env: Option<BTreeMap<String, String>>,
    size: Option<String>,
    time_to_live: Option<u64>,
}

/// A create request, checked.
struct Parsed {
    argv: Vec<String>,
    /// Heroku's `run --exit-code` asks for the status as a last line (`EXIT_STATUS`).
    report_exit: bool,
    env: BTreeMap<String, String>,
    size: DynoSize,
    time_to_live: Duration,
}

fn parse(body: CreateDyno) -> Result<(Parsed, bool), ApiError> {
    // Heroku's CLI asks for the exit status by running the command in a shell
    // with an `echo` after it; Kumo has no shell, so it writes that line itself.
    let (command, report_exit) = match body.command.strip_suffix(EXIT_STATUS_ECHO) {
        Some(command) => (command.to_string(), true),
        None => (body.command.clone(), false),
    };
    let argv = shell_words::split(&command).map_err(|e| {
        ApiError::invalid(format!("cannot read the command `{}`: {e}", body.command))
    })?;
    if argv.is_empty() {
        return Err(ApiError::invalid(
            "no command given: name a process type or a .wasm component of the slug",
        ));
    }
    let size = match body.size.as_deref() {
        None | Some("") => DynoSize::default(),
        Some(s) => s
            .parse()
            .map_err(|e: <DynoSize as std::str::FromStr>::Err| ApiError::invalid(e.to_string()))?,
    };
    let env = body.env.unwrap_or_default();
    if let Err(e) = crate::state::check_config(&env) {
        return Err(ApiError::invalid(e.to_string()));
    }
    // What the app's dynos may reach changes only with a release, so the ledger
    // records every opening of the network.
    if env.contains_key(crate::dynos::outbound::ALLOWED_HOSTS) {
        return Err(ApiError::invalid(format!(
            "{} cannot be set for one dyno: it decides what the app's dynos may reach, so it changes only with a release (`kumo config:set {}=…`)",
            crate::dynos::outbound::ALLOWED_HOSTS,
            crate::dynos::outbound::ALLOWED_HOSTS
        )));
    }
    let ttl = body.time_to_live.unwrap_or(MAX_TIME_TO_LIVE.as_secs());
    if ttl == 0 || ttl > MAX_TIME_TO_LIVE.as_secs() {
        return Err(ApiError::invalid(format!(
            "time_to_live must be between 1 and {} seconds",
            MAX_TIME_TO_LIVE.as_secs()
        )));
    }
    Ok((
        Parsed {
            argv,
            report_exit,
            env,
            size,
            time_to_live: Duration::from_secs(ttl),
        },
        body.attach.unwrap_or(false),
    ))
}

/// A one-off's JSON; `release` is its release's id and version.
fn dyno_json(
    app: &App,
    name: &str,
    command: &str,
    size: DynoSize,
    release: (&str, u64),
    attach_url: Option<String>,
) -> Value {
    let now = crate::state::format_time(time::OffsetDateTime::now_utc());
    let (release_id, release) = release;
    json!({
        "id": super::dynos::dyno_id(app, name, release),
        "name": name,
        "type": "run",
        "state": if attach_url.is_some() { "starting" } else { "up" },
        "size": size.name(),
        "command": command,
        "release": { "id": release_id, "version": release },
        "app": { "id": app.id, "name": app.name },
        "attach_url": attach_url,
        "created_at": now,
        "updated_at": now,
    })
}

pub async fn create(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Json<CreateDyno>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    let app = platform.app_for(&caller, &name).await?;
    let (request, attach) = parse(body)?;
    let release = platform
        .state
        .current_release(&app)
        .await?
        .filter(|r| r.slug_digest.is_some())
        .ok_or_else(|| {
            ApiError::invalid(format!("{} has no release yet: deploy it first", app.name))
        })?;
    let command = request.argv.join(" ");
    let size = request.size;
    // Numbered in the ledger, so one-offs started through different nodes
    // never share a name.
    let dyno = format!("run.{}", platform.state.next_one_off(&app).await?);
    if attach {
        let secret = uuid::Uuid::new_v4().simple().to_string();
        // Heroku's rendezvous URL: TLS to the API's port, the secret as the
        // first line. Kumo's own CLI opens `/attach/{secret}` there instead.
        let authority = platform
            .api_url
            .split_once("://")
            .map_or(platform.api_url.as_str(), |(_, rest)| rest)
            .trim_end_matches('/');
        let url = format!("rendezvous://{authority}/{secret}");
        platform.attach_sessions.insert(
            secret,
            Pending {
                app: app.name.clone(),
                name: dyno.clone(),
                request,
                created: Instant::now(),
                made_with: caller.1.clone(),
            },
        );
        let body = dyno_json(
            &app,
            &dyno,
            &command,
            size,
            (&release.id, release.version as u64),
            Some(url),
        );
        return Ok((StatusCode::CREATED, Json(body)));
    }
    let started = platform
        .manager
        .run_one_off(
            &app.name,
            OneOffRequest {
                name: Some(dyno),
                argv: request.argv,
                env: request.env,
                size,
                stdio: Stdio::Logs,
                time_to_live: request.time_to_live,
                release: None,
            },
        )
        .await
        .map_err(ApiError::invalid)?;
    let body = dyno_json(
        &app,
        &started.name,
        &started.command,
        size,
        (&release.id, started.release),
        None,
    );
    Ok((StatusCode::CREATED, Json(body)))
}

/// `POST /apps/{app}/dynos/{dyno}` (`heroku run:inside DYNO COMMAND`): on
/// Heroku the command runs in the named dyno's container. A Kumo dyno has no
/// shell or process table to join (each is sandboxed Wasm instances), so the
/// command runs as an attached one-off of the same release and size beside the
/// running dyno it names, which must exist.
pub async fn inside(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, dyno)): Path<(String, String)>,
    body: Result<Json<CreateDyno>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(mut body) = body?;
    let app = platform.app_for(&caller, &name).await?;
    let mut dynos = platform.manager.dynos(&app.name);
    // A dyno another node runs counts too: the one-off runs on this node.
    dynos.extend(
        platform
            .manager
            .dynos_elsewhere(&app.name)
            .await
            .into_iter()
            .map(|(d, _)| d),
    );
    let running = dynos
        .into_iter()
        .find(|d| d.name == dyno || super::dynos::dyno_id(&app, &d.name, d.release) == dyno)
        .ok_or_else(|| ApiError::not_found(format!("Couldn't find dyno {dyno} on {name}.")))?;
    body.size = Some(running.size.name().to_string());
    body.attach = Some(true);
    create(State(platform), caller, Path(name), Ok(Json(body))).await
}

impl AttachSessions {
    fn insert(&self, secret: String, pending: Pending) {
        let mut map = self.pending.lock().expect("attach lock poisoned");
        map.retain(|_, p| p.created.elapsed() < ATTACH_TTL);
        map.insert(secret, pending);
    }

    /// Forgets the attach URLs the authorization `id` made.
    pub(super) fn revoked(&self, id: &str) {
        self.pending
            .lock()
            .expect("attach lock poisoned")
            .retain(|_, p| p.made_with.id != id);
    }

    fn take(&self, secret: &str) -> Option<Pending> {
        let mut map = self.pending.lock().expect("attach lock poisoned");
        map.remove(secret)
            .filter(|p| p.created.elapsed() < ATTACH_TTL)
    }
}

/// `GET /attach/{secret}` with `Upgrade: kumo-attach`: starts the dyno and
/// connects it to the client's stream. The secret is the credential, once.
pub async fn attach(
    State(platform): State<Arc<Platform>>,
    Path(secret): Path<String>,
    mut request: axum::extract::Request,
) -> Response {
    let wants_upgrade = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case(PROTOCOL));
    if !wants_upgrade {
        return ApiError::bad_request(format!(
            "an attach URL is opened with `Connection: upgrade` and `Upgrade: {PROTOCOL}`, as `kumo run` does"
        ))
        .into_response();
    }
    let unknown = || {
        ApiError::not_found(
            "This attach URL is unknown, used or expired, or the token that made it no longer works: run the command again.",
        )
        .into_response()
    };
    let Some(pending) = platform.attach_sessions.take(&secret) else {
        return unknown();
    };
    match platform
        .state
        .authorization_works(&pending.made_with.id)
        .await
    {
        Ok(true) => {}
        Ok(false) => return unknown(),
        Err(e) => return ApiError::from(e).into_response(),
    }
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                serve_attached(platform, pending, TokioIo::new(upgraded), Speech::Kumo).await
            }
            Err(e) => tracing::warn!(error = %e, "attach upgrade failed"),
        }
    });
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    response
        .headers_mut()
        .insert(header::UPGRADE, HeaderValue::from_static(PROTOCOL));
    response
}

/// Heroku's rendezvous on the API's TLS port: the client sent `secret` as its
/// first line; it gets `rendezvous` back, then the dyno's output, raw.
pub(super) async fn rendezvous<S>(platform: Arc<Platform>, secret: &str, mut stream: S)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let Some(pending) = platform.attach_sessions.take(secret) else {
        let _ = stream.write_all(RENDEZVOUS_HELLO).await;
        let _ = stream
            .write_all(b"This attach URL is unknown, used or expired: run the command again.\r\n")
            .await;
        let _ = stream.shutdown().await;
        return;
    };
    if !platform
        .state
        .authorization_works(&pending.made_with.id)
        .await
        .unwrap_or(false)
    {
        let _ = stream.shutdown().await;
        return;
    }
    // Its own write, so the client (which drops its first piece of data) drops only this.
    if stream.write_all(RENDEZVOUS_HELLO).await.is_err() || stream.flush().await.is_err() {
        return;
    }
    let speech = Speech::Rendezvous {
        report_exit: pending.request.report_exit,
    };
    serve_attached(platform, pending, stream, speech).await;
}

/// How an attached client's stream is spoken.
#[derive(Clone, Copy)]
enum Speech {
    /// Kumo's frames ([`Frame`]): stdout and stderr apart, then the status.
    Kumo,
    /// Heroku's: stdout and stderr as they come, the input ends at ^D, and
    /// the status as a last line if the client asked for it.
    Rendezvous { report_exit: bool },
}

impl Speech {
    fn encode(self, frame: &Frame) -> Bytes {
        let Speech::Rendezvous { report_exit } = self else {
            return frame.encode();
        };
        match frame {
            Frame::Stdout(bytes) | Frame::Stderr(bytes) => bytes.clone(),
            Frame::Exit(code) if report_exit => format!("{EXIT_STATUS}{code}\n").into(),
            Frame::Exit(_) => Bytes::new(),
            Frame::Error(why) if report_exit => format!("{why}\r\n{EXIT_STATUS}1\n").into(),
            Frame::Error(why) => format!("{why}\r\n").into(),
        }
    }
}

async fn serve_attached<S>(platform: Arc<Platform>, pending: Pending, stream: S, speech: Speech)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    // The guest's stdin must be shareable between threads, which the client's
    // connection is not: its bytes go through a pipe. The client's half-close
    // (or, in a rendezvous, its ^D) ends the pipe, and the guest reads EOF.
    let (mut pipe_in, stdin) = tokio::io::duplex(64 * 1024);
    let (input_ended, mut input_end) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        match speech {
            Speech::Kumo => {
                let _ = tokio::io::copy(&mut reader, &mut pipe_in).await;
            }
            Speech::Rendezvous { .. } => {
                let _ = copy_until_end_of_input(&mut reader, &mut pipe_in).await;
            }
        }
        let _ = pipe_in.shutdown().await;
        let _ = input_ended.send(());
    });
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Frame>(64);
    let stdio = Stdio::Attached {
        stdin: wasmtime_wasi::cli::AsyncStdinStream::new(stdin),
        stdout: AttachOutput::stdout(tx.clone()),
        stderr: AttachOutput::stderr(tx),
    };
    let started = platform
        .manager
        .run_one_off(
            &pending.app,
            OneOffRequest {
                name: Some(pending.name.clone()),
                argv: pending.request.argv,
                env: pending.request.env,
                size: pending.request.size,
                stdio,
                time_to_live: pending.request.time_to_live,
                release: None,
            },
        )
        .await;
    let mut started = match started {
        Ok(started) => started,
        Err(e) => {
            let _ = writer.write_all(&speech.encode(&Frame::Error(e))).await;
            let _ = writer.shutdown().await;
            return;
        }
    };
    let last = loop {
        tokio::select! {
            frame = rx.recv() => {
                let Some(frame) = frame else { continue };
                if writer.write_all(&speech.encode(&frame)).await.is_err() {
                    // The client left: the dyno goes too, as Heroku hangs up on it.
                    platform.manager.stop_one_off(&pending.app, &pending.name);
                    return;
                }
            }
            exit = &mut started.exit => {
                while let Ok(frame) = rx.try_recv() {
                    if writer.write_all(&speech.encode(&frame)).await.is_err() {
                        return;
                    }
                }
                break match exit {
                    Ok(Exit::Status(code)) => Frame::Exit(code),
                    Ok(Exit::Stopped) => Frame::Exit(143),
                    Ok(Exit::Killed) => Frame::Exit(137),
                    Ok(Exit::Crashed(why)) => Frame::Error(why),
                    Err(_) => Frame::Error("the dyno ended without a status".into()),
                };
            }
        }
    };
    let _ = writer.write_all(&speech.encode(&last)).await;
    if let Speech::Rendezvous { .. } = speech {
        // Heroku's CLI sends its ^D when its stdin ends, even after the dyno
        // has: hanging up first would fail that write and crash the client.
        let _ = writer.flush().await;
        let _ = tokio::time::timeout(INPUT_END_GRACE, &mut input_end).await;
    }
    let _ = writer.shutdown().await;
}

/// Copies a rendezvous client's input up to its ^D.
async fn copy_until_end_of_input<R, W>(reader: &mut R, writer: &mut W) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        if let Some(end) = buf[..n].iter().position(|&b| b == END_OF_INPUT) {
            return writer.write_all(&buf[..end]).await;
        }
        writer.write_all(&buf[..n]).await?;
    }
}
