//! Helpers shared by the HTTP guest programs in `src/bin/`.
//!
//! Each binary is a `wasi:http/incoming-handler` component built with
//! `wstd`; these helpers only deal with query strings and plain-text answers.

use wstd::http::{Body, Error, Request, Response};

/// Builds a `text/plain` response with the given status and body.
pub fn text(status: u16, body: impl Into<String>) -> Result<Response<Body>, Error> {
    bytes(
        status,
        "text/plain; charset=utf-8",
        body.into().into_bytes(),
    )
}

/// Builds a response with a body known in full, so it gets a Content-Length.
pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("content-length", body.len())
        .body(Body::from(body))?)
}

/// The request's path, without the query string.
pub fn path<B>(request: &Request<B>) -> &str {
    request.uri().path()
}

/// The percent-decoded value of query parameter `name`, if present.
/// `+` is decoded as a space, as in `application/x-www-form-urlencoded`.
pub fn query_param<B>(request: &Request<B>, name: &str) -> Option<String> {
    let query = request.uri().query()?;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key) == name).then(|| percent_decode(value))
    })
}

/// Decodes `%XX` escapes and `+`; invalid escapes are kept as they are.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
