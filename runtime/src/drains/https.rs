//! HTTPS drains: the lines waiting are `POST`ed as one frame
//! (`application/logplex-1`, up to [`FRAME_BYTES`]). A frame the endpoint
//! answers with an error is sent again with the same `Logplex-Frame-Id` up to
//! [`RETRIES`] times, then dropped, as Logplex does; while the endpoint cannot
//! be reached at all the frame is held and sent when it can.

use super::{backoff, frame, gather};
use crate::logplex::LogLine;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A frame's size target, as Logplex's.
const FRAME_BYTES: usize = 100 * 1024;
/// Times a frame answered with an error is sent again.
const RETRIES: u32 = 2;
/// How long a `POST` may take.
const POST_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `lines` to `url` until the drain is removed.
pub async fn deliver(
    mut lines: mpsc::Receiver<Arc<LogLine>>,
    url: String,
    tls: Arc<rustls::ClientConfig>,
    token: String,
) {
    let Ok(mut target) = url::Url::parse(&url) else {
        return;
    };
    let user = target.username().to_string();
    let password = target.password().map(str::to_string);
    let _ = target.set_username("");
    let _ = target.set_password(None);
    let client = match reqwest::Client::builder()
        .use_preconfigured_tls((*tls).clone())
        .timeout(POST_TIMEOUT)
        .user_agent("Logplex/kumo")
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(error = %e, "an HTTPS drain's client could not be made");
            return;
        }
    };
    loop {
        let mut body = Vec::new();
        let Some(count) = gather(&mut lines, &mut body, FRAME_BYTES, frame::https).await else {
            return;
        };
        // Shared by the frame's retries, not copied for each.
        let body = bytes::Bytes::from(body);
        let frame_id = uuid::Uuid::new_v4().simple().to_string();
        let mut refused = 0;
        let mut unreachable = 0;
        loop {
            let mut request = client
                .post(target.clone())
                .header("content-type", "application/logplex-1")
                .header("logplex-msg-count", count)
                .header("logplex-frame-id", &frame_id)
                .header("logplex-drain-token", &token)
                .body(body.clone());
            if !user.is_empty() || password.is_some() {
                request = request.basic_auth(&user, password.as_deref());
            }
            match request.send().await {
                Ok(response) if response.status().is_success() => break,
                Ok(response) => {
                    refused += 1;
                    if refused > RETRIES {
                        tracing::warn!(status = %response.status(), "an HTTPS drain refused a frame; it is dropped");
                        break;
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "HTTPS drain unreachable");
                    tokio::time::sleep(backoff(unreachable)).await;
                    unreachable += 1;
                }
            }
        }
    }
}
