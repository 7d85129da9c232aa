//! Prints `out line 1` and `out line 2` to stdout and `err line 1` to stderr
//! on every request, then answers `logged\n`.

use http_guests::text;
use wstd::http::{Body, Error, Request, Response};

#[wstd::http_server]
async fn main(_request: Request<Body>) -> Result<Response<Body>, Error> {
    println!("out line 1");
    println!("out line 2");
    eprintln!("err line 1");
    text(200, "logged\n")
}
