//! A counter as a Spin app writes it: `spin_sdk::key_value` on the app's
//! default store, built with the Spin SDK and run unchanged by Kumo, where the
//! default store is the app's key-value add-on.
//!
//! - `GET /incr/KEY`: reads the counter at KEY, adds one, writes it back and
//!   answers the new value (`1\n` the first time);
//! - `GET /get/KEY`: the value at KEY, or 404;
//! - `PUT /set/KEY`: sets KEY to the request body;
//! - `GET /keys`: every key, one a line, sorted;
//! - `GET /open/LABEL`: opens the store LABEL and answers `opened`.
//!
//! A store error is a 500 whose body is the error (for `other`, its text).

use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;
use spin_sdk::key_value::{Error, Store};

#[http_component]
fn handle(request: Request) -> Response {
    match route(&request) {
        Ok(response) => response,
        Err(e) => Response::new(500, format!("error: {}\n", describe(&e))),
    }
}

fn route(request: &Request) -> Result<Response, Error> {
    let path = request.path().trim_start_matches('/');
    let (action, key) = path.split_once('/').unwrap_or((path, ""));
    match (request.method(), action) {
        (Method::Get, "incr") => {
            let store = Store::open_default()?;
            let count = store
                .get(key)?
                .and_then(|value| String::from_utf8(value).ok()?.parse::<i64>().ok())
                .unwrap_or(0)
                + 1;
            store.set(key, count.to_string().as_bytes())?;
            Ok(Response::new(200, format!("{count}\n")))
        }
        (Method::Get, "get") => match Store::open_default()?.get(key)? {
            Some(value) => Ok(Response::new(200, value)),
            None => Ok(Response::new(404, "no such key\n")),
        },
        (Method::Put, "set") => {
            Store::open_default()?.set(key, request.body())?;
            Ok(Response::new(200, "ok\n"))
        }
        (Method::Get, "keys") => {
            let mut keys = Store::open_default()?.get_keys()?;
            keys.sort();
            Ok(Response::new(200, keys.join("\n")))
        }
        (Method::Get, "open") => {
            Store::open(key)?;
            Ok(Response::new(200, "opened\n"))
        }
        _ => Ok(Response::new(404, "not found\n")),
    }
}

fn describe(e: &Error) -> String {
    match e {
        Error::Other(text) => text.clone(),
        Error::NoSuchStore => "no-such-store".to_string(),
        Error::AccessDenied => "access-denied".to_string(),
        Error::StoreTableFull => "store-table-full".to_string(),
    }
}
