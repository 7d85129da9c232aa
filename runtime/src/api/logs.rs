//! Log sessions, as Heroku's: `POST /apps/{app}/log-sessions` returns a
//! `logplex_url`; a `GET` on it streams the app's recent lines and, with
//! `tail`, every new line as it comes. A session works only while the token
//! that made it does: revoked or expired, its URL is not found and a running
//! tail ends.

use super::{ApiError, Caller, Platform};
use crate::logplex::{Backlog, Filter, HISTORY, LogLine, Source};
use crate::state::Authorization;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a `logplex_url` stays valid after it was made or last opened.
const SESSION_TTL: Duration = Duration::from_secs(300);
/// How often a quiet event stream gets a comment, so no proxy or client
/// closes it as idle.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// How often a running tail asks the ledger whether the token that made its
/// session still works, which finds a revoke made by another server over the
/// same ledger. A revoke on this server ends the tail at once, an expiry at
/// its time.
const RECHECK: Duration = Duration::from_secs(5);

/// Open log sessions by id.
#[derive(Default)]
pub struct LogSessions {
    sessions: Mutex<HashMap<String, Session>>,
    /// Woken by every revoke, so running tails check their maker at once.
    revoked: tokio::sync::Notify,
}

impl LogSessions {
    /// Forgets the sessions the authorization `id` made, and has every running
    /// tail check whether its own maker still works.
    pub(super) fn revoked(&self, id: &str) {
        self.sessions
            .lock()
            .expect("log sessions lock poisoned")
            .retain(|_, s| s.made_with.id != id);
        self.revoked.notify_waiters();
    }

    fn forget(&self, id: &str) {
        self.sessions
            .lock()
            .expect("log sessions lock poisoned")
            .remove(id);
    }
}

#[derive(Clone)]
struct Session {
    app: String,
    lines: usize,
    tail: bool,
    filter: Filter,
    used: Instant,
    /// The authorization whose token made it; the session ends with it.
    made_with: Authorization,
}

#[derive(Deserialize, Default)]
pub struct CreateSession {
    lines: Option<usize>,
    tail: Option<bool>,
    source: Option<String>,
    dyno: Option<String>,
    dyno_name: Option<String>,
}

pub async fn create(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Option<Json<CreateSession>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    let request = body.map(|Json(b)| b).unwrap_or_default();
    let source = match request.source.as_deref() {
        None | Some("") => None,
        Some("app") => Some(Source::App),
        Some("kumo") | Some("heroku") => Some(Source::Kumo),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "unknown log source `{other}`: use app or kumo"
            )));
        }
    };
    let session = Session {
        app: app.name.clone(),
        lines: request.lines.unwrap_or(100).min(HISTORY),
        tail: request.tail.unwrap_or(false),
        filter: Filter {
            source,
            dyno: request.dyno_name.or(request.dyno).filter(|d| !d.is_empty()),
        },
        used: Instant::now(),
        made_with: caller.1.clone(),
    };
    let id = uuid::Uuid::new_v4().to_string();
    {
        let mut sessions = platform
            .log_sessions
            .sessions
            .lock()
            .expect("log sessions lock poisoned");
        sessions.retain(|_, s| s.used.elapsed() < SESSION_TTL);
        sessions.insert(id.clone(), session);
    }
    let now = crate::state::format_time(time::OffsetDateTime::now_utc());
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": id,
            "logplex_url": format!("{}/log-sessions/{id}", platform.api_url),
            "created_at": now,
            "updated_at": now,
        })),
    ))
}

/// Streams a session's lines. The session id in the URL is its credential, as
/// on Heroku; it may be opened again until it expires, so a tailing client
/// that reconnects (with `Last-Event-ID`) resumes where it left off. Once the
/// token that made it is revoked or expires, it is not found, and a running
/// tail ends.
///
/// A client that accepts `text/event-stream` (Heroku's CLI) gets Server-Sent
/// Events, one `data:` event per line with its number as `id`, and comment
/// keep-alives while a tail is quiet; any other client gets plain lines.
pub async fn stream(
    State(platform): State<Arc<Platform>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let session = {
        let mut sessions = platform
            .log_sessions
            .sessions
            .lock()
            .expect("log sessions lock poisoned");
        sessions.retain(|_, s| s.used.elapsed() < SESSION_TTL);
        let session = sessions.get_mut(&id).ok_or_else(no_session)?;
        session.used = Instant::now();
        session.clone()
    };
    if !platform
        .state
        .authorization_works(&session.made_with.id)
        .await?
    {
        platform.log_sessions.forget(&id);
        return Err(no_session());
    }
    let sse = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    // Read once: with other nodes up, the session collates their lines.
    let others = super::collate::other_nodes(&platform).await;
    let several = !others.is_empty();
    let last_event = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    // Collated from several nodes, a stream's event ids are the lines' times.
    let backlog = match last_event {
        Some(us) if several => Backlog::Since(super::collate::from_micros(us as i64)),
        Some(seq) => Backlog::After(seq),
        None => Backlog::Last(session.lines),
    };
    let render = move |line: LogLine| {
        let mut line = line;
        if several {
            line.seq = super::collate::micros(line.at).max(1) as u64;
        }
        if sse {
            sse_event(&line)
        } else {
            plain_line(&line)
        }
    };
    let body = if session.tail {
        use futures::StreamExt as _;
        let (recent, rx) = if several {
            (
                Vec::new(),
                super::collate::tail(
                    platform.clone(),
                    others,
                    session.app.clone(),
                    backlog,
                    session.filter,
                ),
            )
        } else {
            platform
                .manager
                .logplex()
                .app(&session.app)
                .tail(backlog, session.filter)
        };
        let head = futures::stream::iter(recent.into_iter().map(move |l| Ok(render(l))));
        let tail = futures::stream::unfold(rx, move |mut rx| async move {
            let next = if sse {
                tokio::select! {
                    line = rx.recv() => line.map(render),
                    () = tokio::time::sleep(KEEPALIVE) => Some(Bytes::from_static(b": keepalive\n\n")),
                }
            } else {
                rx.recv().await.map(render)
            };
            next.map(|bytes| (Ok::<_, std::convert::Infallible>(bytes), rx))
        });
        let ended = until_unauthorized(platform.clone(), session.made_with);
        Body::from_stream(head.chain(tail).take_until(Box::pin(ended)))
    } else {
        let lines = if several {
            super::collate::backlog(&platform, others, &session.app, backlog, &session.filter).await
        } else {
            platform
                .manager
                .logplex()
                .app(&session.app)
                .lines(backlog, &session.filter)
        };
        let text: Vec<u8> = lines.into_iter().flat_map(|l| render(l).to_vec()).collect();
        Body::from(text)
    };
    let content_type = if sse {
        "text/event-stream"
    } else {
        "text/plain; charset=utf-8"
    };
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// The same answer for a session that never was, lapsed, or whose maker's
/// token no longer works.
fn no_session() -> ApiError {
    ApiError::not_found(
        "Couldn't find that log session: it lapsed, or the token that made it was revoked or expired; make a new one.",
    )
}

/// Resolves once the authorization that made a session stops working: at once
/// when it is revoked on this server, within [`RECHECK`] when on another, and
/// at its expiry. A ledger that cannot be asked ends the tail too.
async fn until_unauthorized(platform: Arc<Platform>, made_with: Authorization) {
    loop {
        // Made before the check, so a revoke during it still wakes this.
        let revoked = platform.log_sessions.revoked.notified();
        match platform.state.authorization_works(&made_with.id).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot check a log session's token; ending its tail");
                return;
            }
        }
        let wait = made_with
            .expires_at
            .map_or(RECHECK, |at| until_unix(at).min(RECHECK));
        tokio::select! {
            () = revoked => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// The time left until the Unix second `at`; zero once it has passed.
fn until_unix(at: i64) -> Duration {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|at| Duration::try_from(at - time::OffsetDateTime::now_utc()).ok())
        .unwrap_or(Duration::ZERO)
}

fn plain_line(line: &LogLine) -> Bytes {
    Bytes::from(format!("{line}\n"))
}

/// One Server-Sent Event: `id: <seq>` (none for a notice), then the line.
fn sse_event(line: &LogLine) -> Bytes {
    let mut event = String::new();
    if line.seq > 0 {
        event.push_str(&format!("id: {}\n", line.seq));
    }
    for piece in line.to_string().split('\n') {
        event.push_str("data: ");
        event.push_str(piece.trim_end_matches('\r'));
        event.push('\n');
    }
    event.push('\n');
    Bytes::from(event)
}
