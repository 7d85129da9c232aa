//! `/panic` panics, which traps the instance; any other path answers `fine\n`.

use http_guests::{path, text};
use wstd::http::{Body, Error, Request, Response};

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    if path(&request) == "/panic" {
        panic!("the trap guest was asked to panic");
    }
    text(200, "fine\n")
}
