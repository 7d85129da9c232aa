//! `git push kumo main`: git's smart HTTP protocol at `/<app>.git`, served by
//! the machine's `git http-backend` as a CGI program over one bare repository
//! per app. Pushes need the app's token (Basic auth, as git sends from
//! `~/.netrc`). The repository's `pre-receive` hook runs `kumo git-hook`,
//! which refuses branches other than `main` (or `master`), and builds the
//! pushed commit through the Build API with its output streamed back to the
//! pusher as `remote:` lines; a failed build rejects the push.

use super::{ApiError, Caller, Platform};
use crate::state::TokenCheck;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// The most a push may send.
const MAX_PUSH_BYTES: usize = 1 << 30;

/// The hook every app repository runs before it accepts a push.
const PRE_RECEIVE: &str = "#!/bin/sh\n# Installed by Kumo: builds the pushed commit, or refuses the push.\nexec \"$KUMO_EXE\" git-hook pre-receive\n";

/// A 401 that makes git send its credentials.
fn ask_for_credentials(error: ApiError) -> Response {
    let mut response = error.into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Kumo\""),
    );
    response
}

/// `/{repo}/{*rest}`: git's requests for `<app>.git`.
pub async fn serve(
    State(platform): State<Arc<Platform>>,
    Path((repo, rest)): Path<(String, String)>,
    request: Request,
) -> Response {
    match handle(platform, repo, rest, request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn handle(
    platform: Arc<Platform>,
    repo: String,
    rest: String,
    request: Request,
) -> Result<Response, ApiError> {
    let Some(name) = repo.strip_suffix(".git") else {
        return Err(ApiError::not_found(
            "The requested API endpoint was not found.",
        ));
    };
    let (parts, body) = request.into_parts();
    let Some(token) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(super::auth::token_from)
    else {
        return Ok(ask_for_credentials(ApiError::unauthorized()));
    };
    let (account, authorization) = match platform.state.check_token(&token).await? {
        TokenCheck::Valid(account, authorization) => (account, authorization),
        TokenCheck::Expired(at) => return Ok(ask_for_credentials(super::auth::expired(&at))),
        TokenCheck::Unknown => return Ok(ask_for_credentials(ApiError::unauthorized())),
    };
    // Not counted against the API rate limit: git's transport is Heroku's git
    // service, not its Platform API. The build a push starts is counted, since
    // the hook makes it through `/sources` and `/builds`.
    let caller = Caller(account, authorization);
    let app = platform.app_for(&caller, name).await?;
    if !matches!(
        rest.as_str(),
        "info/refs" | "git-upload-pack" | "git-receive-pack" | "HEAD"
    ) {
        return Err(ApiError::not_found(format!(
            "{name}.git has no `{rest}`: Kumo speaks git's smart HTTP protocol"
        )));
    }
    let root = platform.data_dir.join("repos");
    let dir = root.join(format!("{}.git", app.id));
    ensure_repository(&dir).await?;

    let body = axum::body::to_bytes(body, MAX_PUSH_BYTES)
        .await
        .map_err(|_| ApiError::invalid("the push is over 1 GB"))?;
    let exe = std::env::current_exe()
        .map_err(|e| ApiError::bad_request(format!("cannot find the kumo program: {e}")))?;
    let mut command = tokio::process::Command::new("git");
    command
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", &root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", format!("/{}.git/{rest}", app.id))
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_USER", &caller.0.email)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("KUMO_EXE", exe)
        .env("KUMO_API_URL", &platform.api_url)
        .env("KUMO_APP", &app.name)
        .env("KUMO_PUSH_TOKEN", token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, var) in [
        (header::CONTENT_TYPE, "CONTENT_TYPE"),
        (header::CONTENT_ENCODING, "HTTP_CONTENT_ENCODING"),
        (
            header::HeaderName::from_static("git-protocol"),
            "GIT_PROTOCOL",
        ),
    ] {
        if let Some(value) = parts.headers.get(&name).and_then(|v| v.to_str().ok()) {
            command.env(var, value);
        }
    }
    let mut child = command
        .spawn()
        .map_err(|e| ApiError::bad_request(format!("git is not installed on the server ({e})")))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let mut stderr = child.stderr.take().expect("piped stderr");
    tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        if !text.trim().is_empty() {
            tracing::warn!("git http-backend: {}", text.trim());
        }
    });
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));

    // The CGI response: header lines, a blank line, then the body, streamed.
    let mut status = StatusCode::OK;
    let mut headers = HeaderMap::new();
    loop {
        let mut line = String::new();
        let read = stdout
            .read_line(&mut line)
            .await
            .map_err(|e| ApiError::bad_request(format!("git http-backend failed: {e}")))?;
        let line = line.trim_end();
        if read == 0 || line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            status = value
                .split(' ')
                .next()
                .and_then(|code| code.parse().ok())
                .unwrap_or(StatusCode::BAD_GATEWAY);
        } else if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    let stream = futures::stream::unfold((stdout, child), |(mut stdout, child)| async move {
        let mut buf = vec![0u8; 16 * 1024];
        match stdout.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), (stdout, child)))
            }
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    if parts.method == Method::GET {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    Ok(response)
}

/// Creates the app's bare repository with Kumo's hook, once.
async fn ensure_repository(dir: &std::path::Path) -> Result<(), ApiError> {
    let hook = dir.join("hooks/pre-receive");
    if hook.is_file() {
        return Ok(());
    }
    let failed =
        |e: String| ApiError::bad_request(format!("creating the app's git repository failed: {e}"));
    let out = tokio::process::Command::new("git")
        .args(["init", "--quiet", "--bare", "--initial-branch", "main"])
        .arg(dir)
        .output()
        .await
        .map_err(|e| failed(format!("{e}: is git installed?")))?;
    if !out.status.success() {
        return Err(failed(String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    tokio::fs::create_dir_all(dir.join("hooks"))
        .await
        .map_err(|e| failed(e.to_string()))?;
    let partial = dir.join("hooks/pre-receive.partial");
    tokio::fs::write(&partial, PRE_RECEIVE)
        .await
        .map_err(|e| failed(e.to_string()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tokio::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755))
            .await
            .map_err(|e| failed(e.to_string()))?;
    }
    tokio::fs::rename(&partial, &hook)
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(())
}
