//! Counts requests in instance memory: answers `count=N\n` (the first request
//! answers `count=1`) and prints `counted N` to stdout on every request.

use http_guests::text;
use std::sync::atomic::{AtomicU64, Ordering};
use wstd::http::{Body, Error, Request, Response};

static COUNT: AtomicU64 = AtomicU64::new(0);

#[wstd::http_server]
async fn main(_request: Request<Body>) -> Result<Response<Body>, Error> {
    let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    println!("counted {n}");
    text(200, format!("count={n}\n"))
}
