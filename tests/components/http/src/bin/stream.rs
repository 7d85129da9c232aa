//! A guest that streams, written against `wasi:http` directly so it controls
//! exactly when its response head, body and end go out; for the router's
//! slow-client, deadline and idle-window tests.
//!
//! - `/echo`: streams the request body back as it arrives
//! - `/big?mb=N`: writes N MiB (default 16) in 64 KiB steps
//! - `/stall-mid-body?secs=S`: sends the head and `first part\n`, sleeps S seconds
//!   (default 5), then sends `second part\n`
//! - `/unfinished`: sends the head and `some of it\n`, then returns without finishing the body
//! - `/no-response`: returns without setting a response
//! - `/whoami`: `authority=A path=P`, as the request reached the guest
//! - any other path: `alive\n`

use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasip2::io::streams::{OutputStream, StreamError};

struct Stream;

wasip2::http::proxy::export!(Stream);

impl Guest for Stream {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let target = request.path_with_query().unwrap_or_default();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let param = |name: &str| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
                .and_then(|v| v.parse::<u64>().ok())
        };
        match path {
            "/no-response" => {}
            "/echo" => echo(request, out),
            "/big" => {
                let (body, stream) = start(out);
                let chunk = vec![b'x'; 64 << 10];
                for _ in 0..param("mb").unwrap_or(16) * 16 {
                    if write_all(&stream, &chunk).is_err() {
                        return;
                    }
                }
                finish(body, stream);
            }
            "/stall-mid-body" => {
                let (body, stream) = start(out);
                if write_all(&stream, b"first part\n").is_err() {
                    return;
                }
                let secs = param("secs").unwrap_or(5);
                wasip2::clocks::monotonic_clock::subscribe_duration(secs * 1_000_000_000).block();
                if write_all(&stream, b"second part\n").is_err() {
                    return;
                }
                finish(body, stream);
            }
            "/unfinished" => {
                let (body, stream) = start(out);
                let _ = write_all(&stream, b"some of it\n");
                drop(stream);
                // Neither finished nor dropped: the handler just returns.
                std::mem::forget(body);
            }
            "/whoami" => {
                let text = format!(
                    "authority={} path={target}\n",
                    request.authority().unwrap_or_default()
                );
                let (body, stream) = start(out);
                if write_all(&stream, text.as_bytes()).is_ok() {
                    finish(body, stream);
                }
            }
            _ => {
                let (body, stream) = start(out);
                if write_all(&stream, b"alive\n").is_ok() {
                    finish(body, stream);
                }
            }
        }
    }
}

/// Sets a 200 response and returns its body and the body's stream.
fn start(out: ResponseOutparam) -> (OutgoingBody, OutputStream) {
    let response = OutgoingResponse::new(Fields::new());
    let body = response.body().expect("the response body");
    ResponseOutparam::set(out, Ok(response));
    let stream = body.write().expect("the body's stream");
    (body, stream)
}

fn write_all(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), StreamError> {
    while !bytes.is_empty() {
        let room = stream.check_write()? as usize;
        if room == 0 {
            stream.subscribe().block();
            continue;
        }
        let (now, rest) = bytes.split_at(room.min(bytes.len()));
        stream.write(now)?;
        bytes = rest;
    }
    stream.blocking_flush()
}

fn finish(body: OutgoingBody, stream: OutputStream) {
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}

/// Writes the request body back as it arrives; if the client's body breaks, the
/// response is dropped unfinished.
fn echo(request: IncomingRequest, out: ResponseOutparam) {
    let Ok(incoming) = request.consume() else {
        return;
    };
    let Ok(input) = incoming.stream() else {
        return;
    };
    let (body, stream) = start(out);
    loop {
        match input.blocking_read(64 << 10) {
            Ok(bytes) => {
                if write_all(&stream, &bytes).is_err() {
                    return;
                }
            }
            Err(StreamError::Closed) => break,
            Err(_) => return,
        }
    }
    finish(body, stream);
}

/// Never called: the component serves `wasi:http/incoming-handler`.
fn main() {
    unreachable!("served through wasi:http/incoming-handler")
}
