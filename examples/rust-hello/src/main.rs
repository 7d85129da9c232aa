//! A Kumo web app in Rust: a `wasi:http` handler built with `wstd`.
//!
//! Run it: `kumo server --demo` deploys it and prints its URL; then
//! `curl http://demo.localhost:8080/` and `curl http://demo.localhost:8080/count`.

use std::sync::atomic::{AtomicU64, Ordering};
use wstd::http::{Body, Request, Response, StatusCode};

/// Lives as long as the dyno's instance: web dynos reuse their instances.
static VISITS: AtomicU64 = AtomicU64::new(0);

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, wstd::http::Error> {
    let visits = VISITS.fetch_add(1, Ordering::Relaxed) + 1;
    let dyno = std::env::var("DYNO").unwrap_or_default();
    let release = std::env::var("KUMO_RELEASE_VERSION").unwrap_or_default();
    let (status, body) = match request.uri().path() {
        "/" => (StatusCode::OK, format!("Hello from Kumo! Served by {dyno} of release {release}.\n")),
        "/count" => (StatusCode::OK, format!("This instance of {dyno} has served {visits} requests since it started.\n")),
        _ => (StatusCode::NOT_FOUND, "Not found.\n".to_string()),
    };
    println!("served {} with {}", request.uri().path(), status.as_u16());
    Ok(Response::builder().status(status).header("content-type", "text/plain").body(Body::from(body))?)
}
