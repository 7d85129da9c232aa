//! Answers every environment variable as sorted `KEY=VALUE\n` lines.

use http_guests::text;
use wstd::http::{Body, Error, Request, Response};

#[wstd::http_server]
async fn main(_request: Request<Body>) -> Result<Response<Body>, Error> {
    let mut vars: Vec<(String, String)> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    vars.sort();
    let body: String = vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    text(200, body)
}
