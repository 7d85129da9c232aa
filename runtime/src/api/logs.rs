//! Log sessions, as Heroku's: `POST /apps/{app}/log-sessions` returns a
//! `logplex_url`; a `GET` on it streams the app's recent lines and, with
//! `tail`, every new line as it comes.

use super::{ApiError, Caller, Platform};
use crate::logplex::{Filter, HISTORY, Source};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a `logplex_url` may be opened after it was made.
const SESSION_TTL: Duration = Duration::from_secs(300);

/// Open log sessions by id.
#[derive(Default)]
pub struct LogSessions {
    sessions: Mutex<HashMap<String, Session>>,
}

struct Session {
    app: String,
    lines: usize,
    tail: bool,
    filter: Filter,
    created: Instant,
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
        created: Instant::now(),
    };
    let id = uuid::Uuid::new_v4().to_string();
    {
        let mut sessions = platform
            .log_sessions
            .sessions
            .lock()
            .expect("log sessions lock poisoned");
        sessions.retain(|_, s| s.created.elapsed() < SESSION_TTL);
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

/// Streams a session's lines. The session id in the URL is its credential, as on Heroku.
pub async fn stream(
    State(platform): State<Arc<Platform>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let session = platform
        .log_sessions
        .sessions
        .lock()
        .expect("log sessions lock poisoned")
        .remove(&id)
        .filter(|s| s.created.elapsed() < SESSION_TTL)
        .ok_or_else(|| ApiError::not_found("Couldn't find that log session: make a new one."))?;
    let log = platform.manager.logplex().app(&session.app);
    let body = if session.tail {
        use futures::StreamExt as _;
        let (recent, rx) = log.tail(session.lines, session.filter);
        let head = futures::stream::iter(recent.into_iter().map(line_bytes));
        let tail = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|l| (line_bytes(l), rx))
        });
        Body::from_stream(head.chain(tail))
    } else {
        let text: String = log
            .recent(session.lines, &session.filter)
            .iter()
            .map(|l| format!("{l}\n"))
            .collect();
        Body::from(text)
    };
    Response::builder()
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(body)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

fn line_bytes(line: crate::logplex::LogLine) -> Result<Bytes, std::convert::Infallible> {
    Ok(Bytes::from(format!("{line}\n")))
}
