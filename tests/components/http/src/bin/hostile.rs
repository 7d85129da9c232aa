//! A guest that misbehaves on request, for the guest-fault and isolation tests.
//!
//! - `/recurse`: recurses without bound until the wasm stack is exhausted (a trap)
//! - `/fill-disk?mb=N&dir=D`: writes N MiB (default 1024) to `D/fill` (default `/tmp`) in 1 MiB steps
//! - `/flood-stdout?lines=N`: prints N lines (default 1,000,000) to stdout, then answers
//! - `/ignore-body`: never reads its request body and never answers
//! - `/outbound-http?url=U`: a `wasi:http` GET of U; answers what happened (`reached: STATUS`
//!   and the body, or `refused: ` and the error code)
//! - `/outbound-tcp?addr=A`: a `wasi:sockets` TCP connect to A that sends `ping\n` and reads
//!   until the server closes; answers what happened (`reached: ` and the reply, or `refused: …`)
//! - any other path: `alive\n`

use http_guests::{path, query_param, text};
use std::io::Write as _;
use std::time::Duration;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, OutgoingBody, OutgoingRequest, Scheme};
use wasip2::io::streams::StreamError;
use wstd::http::{Body, Error, Request, Response, Uri};
use wstd::io::{AsyncRead as _, AsyncWrite as _};

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    let param = |name: &str| query_param(&request, name);
    match path(&request) {
        "/recurse" => text(200, format!("{}\n", recurse(std::hint::black_box(1)))),
        "/fill-disk" => {
            let mb: u64 = param("mb").and_then(|v| v.parse().ok()).unwrap_or(1024);
            let dir = param("dir").unwrap_or_else(|| "/tmp".into());
            let chunk = vec![b'x'; 1 << 20];
            let mut file = match std::fs::File::create(format!("{dir}/fill")) {
                Ok(file) => file,
                Err(e) => return text(500, format!("create failed: {e}\n")),
            };
            for written in 0..mb {
                if let Err(e) = file.write_all(&chunk) {
                    return text(500, format!("write failed after {written} MiB: {e}\n"));
                }
            }
            text(200, format!("wrote {mb} MiB\n"))
        }
        "/flood-stdout" => {
            let lines: u64 = param("lines")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1_000_000);
            let mut out = std::io::stdout().lock();
            for n in 0..lines {
                let _ = writeln!(out, "flood line {n}");
            }
            text(200, format!("printed {lines} lines\n"))
        }
        "/ignore-body" => loop {
            wstd::task::sleep(Duration::from_secs(3600).into()).await;
        },
        "/outbound-http" => {
            let url: Uri = match param("url").unwrap_or_default().parse() {
                Ok(url) => url,
                Err(e) => return text(400, format!("bad url: {e}\n")),
            };
            match outbound_get(&url) {
                Ok((status, body)) => text(
                    200,
                    format!("reached: {status}\n{}", String::from_utf8_lossy(&body)),
                ),
                Err(e) => text(200, format!("refused: {e}\n")),
            }
        }
        "/outbound-tcp" => {
            let addr = param("addr").unwrap_or_default();
            let mut stream = match wstd::net::TcpStream::connect(addr.as_str()).await {
                Ok(stream) => stream,
                Err(e) => return text(200, format!("refused: {e}\n")),
            };
            let mut reply = Vec::new();
            let exchange = async {
                stream.write_all(b"ping\n").await?;
                stream.flush().await?;
                stream.read_to_end(&mut reply).await
            };
            match exchange.await {
                Ok(_) => text(200, format!("reached: {}", String::from_utf8_lossy(&reply))),
                Err(e) => text(200, format!("connected, then failed: {e}\n")),
            }
        }
        _ => text(200, "alive\n"),
    }
}

/// A GET of `url` with the bare `wasi:http` client, so that a refusal shows the
/// host's own error code (`HttpRequestDenied`) and not an error of the request
/// body racing it. Blocks the instance while it waits, which a test guest may.
fn outbound_get(url: &Uri) -> Result<(u16, Vec<u8>), String> {
    let request = OutgoingRequest::new(Fields::new());
    let scheme = match url.scheme_str() {
        Some("https") => Scheme::Https,
        _ => Scheme::Http,
    };
    let set = request.set_scheme(Some(&scheme)).is_ok()
        && request.set_authority(url.authority().map(|a| a.as_str())).is_ok()
        && request
            .set_path_with_query(url.path_and_query().map(|p| p.as_str()))
            .is_ok();
    if !set {
        return Err(format!("the host refused the parts of {url}"));
    }
    let body = request.body().map_err(|()| "no request body".to_string())?;
    OutgoingBody::finish(body, None).map_err(|e| format!("{e:?}"))?;
    let future = outgoing_handler::handle(request, None).map_err(|e: ErrorCode| format!("{e:?}"))?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(format!("{e:?}")),
        _ => return Err("the response was not ready".into()),
    };
    let status = response.status();
    let body = response.consume().map_err(|()| "no response body".to_string())?;
    let stream = body.stream().map_err(|()| "no body stream".to_string())?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend(chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(format!("reading the body: {}", e.to_debug_string()));
            }
        }
    }
    Ok((status, bytes))
}

/// Recurses forever; the frame's array and the addition after the call keep
/// the compiler from turning it into a loop.
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 16]);
    recurse(depth + 1).wrapping_add(frame[(depth % 16) as usize])
}
