//! Hostile use of the Platform API: missing, malformed and foreign tokens,
//! broken JSON, wrong types, huge bodies, app names with path characters,
//! config vars that break the rules, scaling past the limits (expired tokens,
//! what a token made outliving it and the rate limit are in `hostile_tokens.rs`).
//! Each gets the right
//! 4xx with Heroku's error `id` and a message naming the problem, and none
//! changes the app. `api.rs` and `access.rs` test the plain cases (no token,
//! a wrong token, `{not json`, a reserved key, one value over 32 kB, 101
//! dynos); these go further.
//! RELIABILITY.md lists them all.

use crate::support::{Reply, Server, http_bytes};
use serde_json::Value;
use std::io::{Read, Write};
use std::time::Duration;

const ACCEPT: (&str, &str) = ("Accept", "application/vnd.heroku+json; version=3");

/// Asserts `reply` is `status` with Heroku's error `id` and a message containing `needle`.
#[track_caller]
pub(crate) fn refused(reply: &Reply, status: u16, id: &str, needle: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["id"], id, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{needle:?} not in {message:?}");
}

/// A request with exactly these headers (besides Host, Content-Length and Connection).
pub(crate) fn raw(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    http_bytes(server.api_port, "127.0.0.1", method, path, &headers, body)
}

/// What a hostile call must leave as it was: the app's releases, config and formation.
pub(crate) fn snapshot(server: &Server, app: &str) -> (Value, Value, Value) {
    let get = |path: String| {
        let reply = server.api("GET", &path, None, None);
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        reply.json()
    };
    (
        get(format!("/apps/{app}/releases")),
        get(format!("/apps/{app}/config-vars")),
        get(format!("/apps/{app}/formation")),
    )
}

#[test]
fn hostile_api_calls_are_refused_and_change_nothing() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    let created = server.api("POST", "/apps", Some(r#"{"name":"target"}"#), None);
    assert_eq!(created.status, 201, "{}", created.body);
    let set = server.api(
        "PATCH",
        "/apps/target/config-vars",
        Some(r#"{"GREETING":"hello"}"#),
        None,
    );
    assert_eq!(set.status, 200, "{}", set.body);
    let scaled = server.api(
        "PATCH",
        "/apps/target/formation",
        Some(r#"{"updates":[{"type":"web","quantity":2},{"type":"worker","quantity":1}]}"#),
        None,
    );
    assert_eq!(scaled.status, 200, "{}", scaled.body);
    let before = snapshot(&server, "target");
    let apps_before = server.api("GET", "/apps", None, None).json();
    let unchanged = |case: &str| {
        assert_eq!(
            snapshot(&server, "target"),
            before,
            "{case} changed the app"
        );
        assert_eq!(
            server.api("GET", "/apps", None, None).json(),
            apps_before,
            "{case} changed the app list"
        );
    };
    let auth = format!("Bearer {}", server.token);
    let json = ("Content-Type", "application/json");

    // Credentials that are malformed: 401, saying what a valid header looks like.
    for header in [
        "Token abc",
        "Bearer",
        "Bearer   ",
        "Basic !!!",
        "Basic Ym9i",
    ] {
        let reply = raw(
            &server,
            "PATCH",
            "/apps/target/config-vars",
            &[ACCEPT, json, ("Authorization", header)],
            br#"{"GREETING":"pwned"}"#,
        );
        refused(&reply, 401, "unauthorized", "Invalid credentials provided");
        refused(&reply, 401, "unauthorized", "Authorization: Bearer");
    }
    // No header and a token that was never issued: Heroku's words, nothing more.
    for token in ["", "kumo_00000000000000000000000000000000"] {
        let reply = server.api(
            "PATCH",
            "/apps/target/config-vars",
            Some(r#"{"GREETING":"pwned"}"#),
            Some(token),
        );
        refused(&reply, 401, "unauthorized", "Invalid credentials provided.");
    }
    unchanged("a bad token");

    // Another account's token: 403 on every route of the app, 404 where there is no app.
    let bob = server.api(
        "POST",
        "/accounts",
        Some(r#"{"email":"bob@example.com"}"#),
        None,
    );
    assert_eq!(bob.status, 201, "{}", bob.body);
    let bob = bob.json()["api_key"].as_str().unwrap().to_string();
    let as_bob =
        |method: &str, path: &str, body: Option<&str>| server.api(method, path, body, Some(&bob));
    let foreign: &[(&str, &str, Option<&str>)] = &[
        ("GET", "/apps/target", None),
        ("GET", "/apps/target/config-vars", None),
        ("GET", "/apps/target/releases", None),
        ("GET", "/apps/target/builds", None),
        ("GET", "/apps/target/dynos", None),
        ("GET", "/apps/target/formation", None),
        ("GET", "/apps/target/buildpack-installations", None),
        (
            "POST",
            "/apps/target/log-sessions",
            Some(r#"{"lines":100,"source":"app"}"#),
        ),
        (
            "PATCH",
            "/apps/target/config-vars",
            Some(r#"{"GREETING":"pwned"}"#),
        ),
        (
            "PATCH",
            "/apps/target/formation/web",
            Some(r#"{"quantity":0}"#),
        ),
        (
            "PATCH",
            "/apps/target/formation",
            Some(r#"{"updates":[{"type":"web","quantity":0}]}"#),
        ),
        ("POST", "/apps/target/releases", Some(r#"{"release":"1"}"#)),
        (
            "POST",
            "/apps/target/builds",
            Some(r#"{"source_blob":{"url":"https://example.com/a.tgz"}}"#),
        ),
        ("POST", "/apps/target/sources", Some("not really a tarball")),
        ("POST", "/apps/target/slugs", Some("not really a slug")),
        ("PATCH", "/apps/target", Some(r#"{"maintenance":true}"#)),
        ("DELETE", "/apps/target", None),
        ("DELETE", "/apps/target/dynos", None),
        (
            "POST",
            "/apps/target/collaborators",
            Some(r#"{"user":"bob@example.com"}"#),
        ),
        (
            "POST",
            "/apps/target/domains",
            Some(r#"{"hostname":"www.example.com"}"#),
        ),
    ];
    for (method, path, body) in foreign {
        refused(
            &as_bob(method, path, *body),
            403,
            "forbidden",
            "You do not have access to the app target.",
        );
    }
    refused(
        &as_bob("GET", "/apps/no-such-app/config-vars", None),
        404,
        "not_found",
        "Couldn't find that app.",
    );
    refused(
        &as_bob("GET", "/users/admin@kumo.local/apps", None),
        403,
        "forbidden",
        "/users/~/apps",
    );
    refused(
        &as_bob("POST", "/accounts", Some(r#"{"email":"eve@example.com"}"#)),
        403,
        "forbidden",
        "Only an admin can manage accounts",
    );
    unchanged("another account's token");

    // Malformed JSON: 400 bad_request, on every route that takes a body.
    let malformed: &[(&str, &str)] = &[
        ("POST", "/apps"),
        ("PATCH", "/apps/target"),
        ("PATCH", "/apps/target/config-vars"),
        ("PATCH", "/apps/target/formation"),
        ("PATCH", "/apps/target/formation/web"),
        ("POST", "/apps/target/releases"),
        ("POST", "/apps/target/builds"),
    ];
    for (method, path) in malformed {
        for body in ["{not json", r#"{"name":"#, "\u{0}\u{1}"] {
            let reply = server.api(method, path, Some(body), None);
            refused(&reply, 400, "bad_request", "invalid JSON body");
        }
    }
    // A JSON body without its Content-Type says which header to send.
    let reply = raw(
        &server,
        "PATCH",
        "/apps/target/config-vars",
        &[ACCEPT, ("Authorization", &auth)],
        br#"{"GREETING":"untyped"}"#,
    );
    refused(&reply, 400, "bad_request", "Content-Type: application/json");
    unchanged("malformed JSON");

    // Well-formed JSON of the wrong shape or types: 422 invalid_params, naming the field.
    let wrong_types: &[(&str, &str, &str, &str)] = &[
        ("POST", "/apps", r#"{"name":42}"#, "name"),
        ("POST", "/apps", r#""target""#, "invalid type: string"),
        (
            "PATCH",
            "/apps/target",
            r#"{"maintenance":"yes"}"#,
            "maintenance",
        ),
        (
            "PATCH",
            "/apps/target/config-vars",
            r#"["GREETING"]"#,
            "invalid",
        ),
        (
            "PATCH",
            "/apps/target/config-vars",
            r#"{"GREETING":{"nested":1}}"#,
            "config var `GREETING` must be a string or null",
        ),
        (
            "PATCH",
            "/apps/target/config-vars",
            r#"{"GREETING":["a"]}"#,
            "config var `GREETING` must be a string or null",
        ),
        (
            "PATCH",
            "/apps/target/formation/web",
            r#"{"quantity":true}"#,
            "quantity",
        ),
        (
            "PATCH",
            "/apps/target/formation/web",
            r#"{"quantity":1.5}"#,
            "quantity",
        ),
        (
            "PATCH",
            "/apps/target/formation/web",
            r#"{"quantity":"lots"}"#,
            "invalid quantity `lots`",
        ),
        (
            "PATCH",
            "/apps/target/formation/web",
            r#"{"size":5}"#,
            "size",
        ),
        (
            "PATCH",
            "/apps/target/formation",
            r#"{"updates":"web=3"}"#,
            "updates",
        ),
        (
            "PATCH",
            "/apps/target/formation",
            r#"{"updates":[{"quantity":3}]}"#,
            "each update needs a `type`",
        ),
        ("POST", "/apps/target/releases", r#"{"slug":7}"#, "slug"),
        (
            "POST",
            "/apps/target/releases",
            r#"{"slug":"not-a-digest"}"#,
            "invalid slug digest `not-a-digest`",
        ),
        (
            "POST",
            "/apps/target/releases",
            r#"{}"#,
            "send `slug` to release a slug or `release` to roll back",
        ),
        (
            "POST",
            "/apps/target/builds",
            r#"{"source_blob":{"url":["x"]}}"#,
            "url",
        ),
        (
            "POST",
            "/apps/target/builds",
            r#"{"source_blob":{}}"#,
            "source_blob.url is required",
        ),
        (
            "POST",
            "/apps/target/builds",
            r#"{"source_blob":{"url":"file:///etc/passwd"}}"#,
            "neither an http(s) tarball URL nor a git repository",
        ),
    ];
    for (method, path, body, needle) in wrong_types {
        let reply = server.api(method, path, Some(body), None);
        refused(&reply, 422, "invalid_params", needle);
    }
    unchanged("JSON of the wrong types");

    // Huge bodies: 413 payload_too_large, naming the limit, before any of it is used.
    let huge = format!(r#"{{"GREETING":"{}"}}"#, "x".repeat(3 << 20));
    let reply = server.api("PATCH", "/apps/target/config-vars", Some(&huge), None);
    refused(&reply, 413, "payload_too_large", "MB");
    let reply = server.api("POST", "/apps", Some(&huge), None);
    refused(&reply, 413, "payload_too_large", "MB");
    // A source or slug over 500 MB is refused from its Content-Length, before it is sent.
    for path in ["/apps/target/sources", "/apps/target/slugs"] {
        let reply = declared_length(&server, path, 600 << 20);
        refused(&reply, 413, "payload_too_large", "500 MB");
    }
    unchanged("huge bodies");

    // App names with path characters: refused on create, unknown on use.
    for name in [
        "../etc",
        "a/b",
        "a%2Fb",
        "..",
        "target/../other",
        "app\u{0}",
        "Target",
        "ab",
        &"a".repeat(31),
    ] {
        let body = serde_json::json!({ "name": name }).to_string();
        let reply = server.api("POST", "/apps", Some(&body), None);
        refused(&reply, 422, "invalid_params", "invalid app name");
        refused(
            &reply,
            422,
            "invalid_params",
            "use 3 to 30 lowercase letters, digits and dashes",
        );
    }
    for path in [
        "/apps/..%2F..%2Fetc%2Fpasswd/config-vars",
        "/apps/target%2F..%2Ftarget/config-vars",
        "/apps/%2E%2E/config-vars",
        "/apps/target%00/config-vars",
    ] {
        refused(
            &server.api("GET", path, None, None),
            404,
            "not_found",
            "Couldn't find that app.",
        );
    }
    unchanged("app names with path characters");

    // Config vars that break the rules: 422, and no key of the request is applied.
    for (body, needle) in [
        (
            r#"{"OK_KEY":"1","BAD-KEY":"1"}"#,
            "invalid config var name `BAD-KEY`",
        ),
        (
            r#"{"OK_KEY":"1","HAS SPACE":"1"}"#,
            "invalid config var name `HAS SPACE`",
        ),
        (r#"{"OK_KEY":"1","":"1"}"#, "invalid config var name ``"),
        (
            r#"{"OK_KEY":"1","ÜBER":"1"}"#,
            "invalid config var name `ÜBER`",
        ),
        (
            r#"{"OK_KEY":"1","A=B":"1"}"#,
            "invalid config var name `A=B`",
        ),
        (r#"{"OK_KEY":"1","KUMO_APP_NAME":"x"}"#, "reserved"),
    ] {
        let reply = server.api("PATCH", "/apps/target/config-vars", Some(body), None);
        refused(&reply, 422, "invalid_params", needle);
    }
    // 32 kB in total, over several keys: no single value is large, the sum is.
    let halves = format!(
        r#"{{"HALF_A":"{}","HALF_B":"{}"}}"#,
        "a".repeat(17_000),
        "b".repeat(17_000)
    );
    let reply = server.api("PATCH", "/apps/target/config-vars", Some(&halves), None);
    refused(
        &reply,
        422,
        "invalid_params",
        "over the limit of 32768 bytes",
    );
    unchanged("config vars that break the rules");

    // An allowed-hosts list with an entry of none of the accepted forms: 422
    // naming the entry and the forms, and no release is made.
    for (value, entry) in [
        ("api.example.com, http://x", "http://x"),
        ("a b", "a b"),
        ("db.internal:99999", "db.internal:99999"),
        ("*.", "*."),
        ("*, api.example.com", "*"),
    ] {
        let body = serde_json::json!({ "KUMO_ALLOWED_HOSTS": value }).to_string();
        let reply = server.api("PATCH", "/apps/target/config-vars", Some(&body), None);
        refused(
            &reply,
            422,
            "invalid_params",
            &format!("invalid KUMO_ALLOWED_HOSTS entry `{entry}`"),
        );
        refused(
            &reply,
            422,
            "invalid_params",
            "`host`, `host:port`, `*.example.com`, `[::1]:port`, or `*` alone",
        );
    }
    unchanged("allowed-hosts entries of no accepted form");

    // A one-off may not open the network for itself: the allowed hosts change
    // only with a release, which the ledger records.
    let body = r#"{"command":"web","env":{"KUMO_ALLOWED_HOSTS":"*"}}"#;
    let reply = server.api("POST", "/apps/target/dynos", Some(body), None);
    refused(
        &reply,
        422,
        "invalid_params",
        "KUMO_ALLOWED_HOSTS cannot be set for one dyno",
    );
    unchanged("a one-off's own allowed hosts");

    // Scaling past the limits: 422, and the formation stays as it was.
    let scale = |path: &str, body: &str| server.api("PATCH", path, Some(body), None);
    for (path, body, needle) in [
        (
            "/apps/target/formation",
            r#"{"updates":[{"type":"web","quantity":60},{"type":"worker","quantity":41}]}"#,
            "Cannot run more than 100 dynos per app: the formation would have 101",
        ),
        (
            "/apps/target/formation",
            r#"{"updates":[{"type":"web","quantity":9223372036854775807},{"type":"worker","quantity":1}]}"#,
            "Cannot run more than 100 dynos per app",
        ),
        (
            "/apps/target/formation/web",
            r#"{"quantity":"+99"}"#,
            "Cannot run more than 100 dynos per app",
        ),
        (
            "/apps/target/formation/web",
            r#"{"quantity":-1}"#,
            "invalid quantity for `web`: use 0 or more",
        ),
        (
            "/apps/target/formation/web",
            r#"{"quantity":"-3"}"#,
            "cannot scale web by -3: it runs 2 dynos",
        ),
        (
            "/apps/target/formation/web",
            r#"{"quantity":"+9223372036854775807"}"#,
            "Cannot run more than 100 dynos per app",
        ),
        (
            "/apps/target/formation/web",
            r#"{"quantity":2,"size":"eco"}"#,
            "at most 1 eco dyno per process type",
        ),
        (
            "/apps/target/formation/worker",
            r#"{"quantity":3,"size":"basic"}"#,
            "at most 1 basic dyno per process type",
        ),
        (
            "/apps/target/formation/web",
            r#"{"size":"performance-XL"}"#,
            "unknown dyno size `performance-XL`",
        ),
        (
            "/apps/target/formation/web..%2Fx",
            r#"{"quantity":1}"#,
            "invalid process type `web../x`",
        ),
        (
            "/apps/target/formation",
            r#"{"updates":[{"type":"worker","quantity":0},{"type":"a b","quantity":1}]}"#,
            "invalid process type `a b`",
        ),
    ] {
        refused(&scale(path, body), 422, "invalid_params", needle);
    }
    unchanged("scaling past the limits");

    // After all that, the server still serves the app's owner normally.
    let reply = server.api(
        "PATCH",
        "/apps/target/config-vars",
        Some(r#"{"GREETING":"still here"}"#),
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);

    // A list of the accepted forms is taken, as a new release like any config change.
    let releases = |server: &Server| snapshot(server, "target").0.as_array().map(Vec::len);
    let before = releases(&server);
    let reply = server.api(
        "PATCH",
        "/apps/target/config-vars",
        Some(
            r#"{"KUMO_ALLOWED_HOSTS":" api.example.com , *.internal:5432, [::1]:8080, 10.0.0.7"}"#,
        ),
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(releases(&server), before.map(|n| n + 1));
}

/// Sends the headers of a POST declaring `length` bytes and no more than a
/// few of them, then reads the answer: a server that checks the declared
/// length answers at once, without waiting for the body.
fn declared_length(server: &Server, path: &str, length: u64) -> Reply {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.api_port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAccept: {}\r\nAuthorization: Bearer {}\r\nContent-Length: {length}\r\n\r\n",
        ACCEPT.1, server.token
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&[0u8; 1024]).unwrap();
    let mut raw = Vec::new();
    // The server may close while the rest of the body is unsent: read what came.
    let _ = stream.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}
