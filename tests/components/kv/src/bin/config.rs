//! Reads the app's config vars through `wasi:config/store`, bound with
//! wit-bindgen from the WIT Kumo hosts (runtime/wit/config):
//! `GET /KEY` answers the value, or 404 when the app has no such var;
//! `GET /` answers every key, sorted, one a line.

wit_bindgen::generate!({
    path: "../../../runtime/wit/config",
    world: "wasi:config/imports",
    generate_all,
});

use wasi::config::store;
use wstd::http::{Body, Error as HttpError, Request, Response};

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, HttpError> {
    let key = request.uri().path().trim_start_matches('/').to_string();
    let answer = if key.is_empty() {
        store::get_all().map(|all| {
            let mut keys: Vec<String> = all.into_iter().map(|(k, _)| k).collect();
            keys.sort();
            Some(keys.join("\n"))
        })
    } else {
        store::get(&key)
    };
    let (status, body) = match answer {
        Ok(Some(value)) => (200, format!("{value}\n")),
        Ok(None) => (404, format!("no config var {key}\n")),
        Err(e) => (500, format!("error: {e:?}\n")),
    };
    Ok(Response::builder().status(status).body(Body::from(body))?)
}
