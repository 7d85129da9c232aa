//! A guest that misbehaves on request, for the guest-fault and isolation tests.
//!
//! - `/recurse`: recurses without bound until the wasm stack is exhausted (a trap)
//! - `/fill-disk?mb=N&dir=D`: writes N MiB (default 1024) to `D/fill` (default `/tmp`) in 1 MiB steps
//! - `/flood-stdout?lines=N`: prints N lines (default 1,000,000) to stdout, then answers
//! - `/ignore-body`: never reads its request body and never answers
//! - `/outbound-http?url=U`: a `wasi:http` GET of U; answers what happened
//! - `/outbound-tcp?addr=A`: a `wasi:sockets` TCP connect to A; answers what happened
//! - any other path: `alive\n`

use http_guests::{path, query_param, text};
use std::io::Write as _;
use std::time::Duration;
use wstd::http::{Body, Client, Error, Request, Response};

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
            let url = param("url").unwrap_or_default();
            let outbound = Request::get(url).body(Body::empty())?;
            match Client::new().send(outbound).await {
                Ok(response) => text(200, format!("reached: {}\n", response.status())),
                Err(e) => text(200, format!("refused: {e:?}\n")),
            }
        }
        "/outbound-tcp" => {
            let addr = param("addr").unwrap_or_default();
            match wstd::net::TcpStream::connect(addr.as_str()).await {
                Ok(_) => text(200, "reached\n"),
                Err(e) => text(200, format!("refused: {e}\n")),
            }
        }
        _ => text(200, "alive\n"),
    }
}

/// Recurses forever; the frame's array and the addition after the call keep
/// the compiler from turning it into a loop.
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 16]);
    recurse(depth + 1).wrapping_add(frame[(depth % 16) as usize])
}
