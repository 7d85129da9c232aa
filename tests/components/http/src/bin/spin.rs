//! `/loop` computes forever without yielding (to test epoch/fuel
//! interruption); any other path answers `alive\n`.

use http_guests::{path, text};
use wstd::http::{Body, Error, Request, Response};

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    if path(&request) == "/loop" {
        let mut x: u64 = 0;
        loop {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }
    text(200, "alive\n")
}
