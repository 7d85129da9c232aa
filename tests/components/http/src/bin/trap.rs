//! A guest that traps on request.
//!
//! - `/panic`: panics before answering, which traps the instance
//! - `/half`: sends its headers and a first chunk of body, then panics
//! - any other path: `fine\n`

use futures_lite::stream;
use http_guests::{path, text};
use wstd::http::body::Bytes;
use wstd::http::{Body, Error, Request, Response};

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    match path(&request) {
        "/panic" => panic!("the trap guest was asked to panic"),
        "/half" => {
            let chunks = stream::unfold(0u32, |sent| async move {
                if sent == 1 {
                    panic!("the trap guest stops in the middle of its response");
                }
                Some((Bytes::from_static(b"the first half\n"), sent + 1))
            });
            Ok(Response::builder().status(200).body(Body::from_stream(chunks))?)
        }
        _ => text(200, "fine\n"),
    }
}
