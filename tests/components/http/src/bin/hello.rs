//! The general-purpose test app.
//!
//! - any path: 200 `hello from kumo\n`
//! - `/echo`: the request body, streamed back
//! - `/headers`: the request headers as sorted `name: value\n` lines
//! - `/big?n=N`: N bytes of `x`, streamed in 64 KiB chunks
//! - `/slow?ms=N`: sleeps N ms, then `slept N\n`
//! - `/status?code=N`: status N with body `status N\n`

use futures_lite::stream;
use http_guests::{path, query_param, text};
use wstd::http::body::Bytes;
use wstd::http::{Body, Error, Request, Response};
use wstd::time::Duration;

const CHUNK: usize = 64 * 1024;
static XS: [u8; CHUNK] = [b'x'; CHUNK];

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    match path(&request) {
        "/echo" => Ok(Response::builder().status(200).body(request.into_body())?),
        "/headers" => {
            let mut lines: Vec<(String, String)> = request
                .headers()
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_ascii_lowercase(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect();
            lines.sort_by(|a, b| a.0.cmp(&b.0));
            let body: String = lines
                .iter()
                .map(|(name, value)| format!("{name}: {value}\n"))
                .collect();
            text(200, body)
        }
        "/big" => {
            let Some(n) = query_param(&request, "n").and_then(|n| n.parse::<u64>().ok()) else {
                return text(400, "bad n\n");
            };
            // Each chunk is produced only when the previous one has been
            // written, so the body really is streamed.
            let chunks = stream::unfold(n, |left| async move {
                if left == 0 {
                    return None;
                }
                let len = left.min(CHUNK as u64);
                Some((Bytes::from_static(&XS[..len as usize]), left - len))
            });
            Ok(Response::builder()
                .status(200)
                .header("content-type", "application/octet-stream")
                .body(Body::from_stream(chunks))?)
        }
        "/slow" => {
            let Some(ms) = query_param(&request, "ms").and_then(|ms| ms.parse::<u64>().ok()) else {
                return text(400, "bad ms\n");
            };
            wstd::task::sleep(Duration::from_millis(ms)).await;
            text(200, format!("slept {ms}\n"))
        }
        "/status" => match query_param(&request, "code").and_then(|c| c.parse::<u16>().ok()) {
            Some(code) if (100..=999).contains(&code) => text(code, format!("status {code}\n")),
            _ => text(400, "bad code\n"),
        },
        _ => text(200, "hello from kumo\n"),
    }
}
