//! The key-value routes on `wasi:keyvalue@0.2.0-draft2` directly, through
//! wit-bindgen (HTTP through `wstd`):
//!
//! - `GET /incr/KEY`: `atomics::increment` by one, answers the new value;
//! - `GET /get/KEY`: the value at KEY, or 404;
//! - `PUT /set/KEY`: sets KEY to the request body;
//! - `GET /cas/KEY`: appends `+` to KEY's value with compare-and-swap, retrying
//!   on a conflict, and answers the new value;
//! - `GET /batch`: `set-many` of `a`, `b`, then `get-many` of `a`, `b`, `c`,
//!   `delete-many` of both, answered as `a=1 b=2 c=none`;
//! - `GET /keys`: every key (`list-keys`, page after page), one a line, sorted;
//! - `GET /open/NAME`: opens the store NAME and answers `opened`.
//!
//! A store error is a 500 whose body is the error (for `other`, its text).

wit_bindgen::generate!({
    path: "../../../runtime/wit/keyvalue",
    world: "kumo:keyvalue/wasi-keyvalue",
    generate_all,
});

use wasi::keyvalue::{atomics, batch, store};
use wstd::http::{Body, Error as HttpError, Method, Request, Response};

#[wstd::http_server]
async fn main(mut request: Request<Body>) -> Result<Response<Body>, HttpError> {
    let path = request.uri().path().trim_start_matches('/').to_string();
    let (action, key) = path.split_once('/').unwrap_or((&path, ""));
    let method = request.method().clone();
    let body = if method == Method::PUT {
        request.body_mut().contents().await?.to_vec()
    } else {
        Vec::new()
    };
    let answer = match (method, action) {
        (Method::GET, "incr") => open("default")
            .and_then(|b| atomics::increment(&b, key, 1).map(|n| (200, format!("{n}\n")))),
        (Method::GET, "get") => open("default").and_then(|b| {
            Ok(match b.get(key)? {
                Some(value) => (200, String::from_utf8_lossy(&value).into_owned()),
                None => (404, "no such key\n".to_string()),
            })
        }),
        (Method::PUT, "set") => {
            open("default").and_then(|b| b.set(key, &body).map(|()| (200, "ok\n".into())))
        }
        (Method::GET, "cas") => open("default").and_then(|b| cas_append(&b, key)),
        (Method::GET, "batch") => open("default").and_then(|b| batch_round(&b)),
        (Method::GET, "keys") => open("default").and_then(|b| keys(&b)),
        (Method::GET, "open") => open(key).map(|_| (200, "opened\n".to_string())),
        _ => Ok((404, "not found\n".to_string())),
    };
    let (status, text) = answer.unwrap_or_else(|e| (500, format!("error: {}\n", describe(&e))));
    Ok(Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Body::from(text))?)
}

fn open(name: &str) -> Result<store::Bucket, store::Error> {
    store::open(name)
}

fn cas_append(bucket: &store::Bucket, key: &str) -> Result<(u16, String), store::Error> {
    let mut cas = atomics::Cas::new(bucket, key)?;
    loop {
        let mut value = cas.current()?.unwrap_or_default();
        value.push(b'+');
        match atomics::swap(cas, &value) {
            Ok(()) => return Ok((200, format!("{}\n", String::from_utf8_lossy(&value)))),
            Err(atomics::CasError::CasFailed(retry)) => cas = retry,
            Err(atomics::CasError::StoreError(e)) => return Err(e),
        }
    }
}

fn batch_round(bucket: &store::Bucket) -> Result<(u16, String), store::Error> {
    batch::set_many(
        bucket,
        &[("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec())],
    )?;
    let got = batch::get_many(bucket, &["a".into(), "b".into(), "c".into()])?;
    batch::delete_many(bucket, &["a".into(), "b".into()])?;
    let parts: Vec<String> = got
        .into_iter()
        .map(|(key, value)| match value {
            Some(value) => format!("{key}={}", String::from_utf8_lossy(&value)),
            None => format!("{key}=none"),
        })
        .collect();
    let gone = !bucket.exists("a")? && !bucket.exists("b")?;
    Ok((200, format!("{} deleted={gone}\n", parts.join(" "))))
}

fn keys(bucket: &store::Bucket) -> Result<(u16, String), store::Error> {
    let mut keys = Vec::new();
    let mut cursor = None;
    loop {
        let page = bucket.list_keys(cursor.as_deref())?;
        keys.extend(page.keys);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    keys.sort();
    Ok((200, keys.join("\n")))
}

fn describe(e: &store::Error) -> String {
    match e {
        store::Error::Other(text) => text.clone(),
        store::Error::NoSuchStore => "no-such-store".to_string(),
        store::Error::AccessDenied => "access-denied".to_string(),
    }
}
