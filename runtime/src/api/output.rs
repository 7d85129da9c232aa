//! Live text outputs (a release phase's, a build's): readable while they are
//! written, by any number of readers, each getting everything from the start;
//! once finished, the caller serves the copy it keeps in the ledger.

use super::ApiError;
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::Response;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The outputs being written, by id.
#[derive(Default)]
pub struct LiveOutputs {
    running: Mutex<HashMap<String, Arc<LiveOutput>>>,
}

/// One output being written.
pub struct LiveOutput {
    text: Mutex<String>,
    done: watch::Sender<bool>,
}

impl LiveOutput {
    /// Appends a line.
    pub fn push(&self, line: &str) {
        {
            let mut text = self.text.lock().expect("output lock poisoned");
            text.push_str(line);
            text.push('\n');
        }
        self.done.send_modify(|_| {});
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        self.text.lock().expect("output lock poisoned").clone()
    }
}

impl LiveOutputs {
    /// Starts the output `id`.
    pub fn start(&self, id: &str) -> Arc<LiveOutput> {
        let (done, _) = watch::channel(false);
        let output = Arc::new(LiveOutput {
            text: Mutex::new(String::new()),
            done,
        });
        self.running
            .lock()
            .expect("outputs lock poisoned")
            .insert(id.to_string(), output.clone());
        output
    }

    /// Ends the output `id`: its readers get the rest and their stream ends.
    /// Call it once the output is kept elsewhere.
    pub fn finish(&self, id: &str) {
        let output = self
            .running
            .lock()
            .expect("outputs lock poisoned")
            .remove(id);
        if let Some(output) = output {
            output.done.send_replace(true);
        }
    }

    /// A body streaming the output `id` from its start until it finishes, if it is running.
    pub fn stream(&self, id: &str) -> Option<Body> {
        let output = self
            .running
            .lock()
            .expect("outputs lock poisoned")
            .get(id)
            .cloned()?;
        let done = output.done.subscribe();
        Some(Body::from_stream(futures::stream::unfold(
            (output, done, 0usize),
            |(output, mut done, sent)| async move {
                loop {
                    let finished = *done.borrow_and_update();
                    let chunk =
                        output.text.lock().expect("output lock poisoned")[sent..].to_string();
                    if !chunk.is_empty() {
                        let sent = sent + chunk.len();
                        return Some((
                            Ok::<_, std::convert::Infallible>(Bytes::from(chunk)),
                            (output, done, sent),
                        ));
                    }
                    if finished || done.changed().await.is_err() {
                        return None;
                    }
                }
            },
        )))
    }
}

/// A plain-text response.
pub fn text_response(body: Body) -> Result<Response, ApiError> {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(body)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}
