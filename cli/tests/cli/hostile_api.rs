//! Hostile use of the Platform API: missing, malformed and foreign tokens,
//! broken JSON, wrong types, huge bodies, app names with path characters,
//! config vars that break the rules, scaling past the limits, requests past
//! the API rate limit, and what a token made outliving it. Each gets the right
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
fn refused(reply: &Reply, status: u16, id: &str, needle: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["id"], id, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{needle:?} not in {message:?}");
}

/// A request with exactly these headers (besides Host, Content-Length and Connection).
fn raw(server: &Server, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    http_bytes(server.api_port, "127.0.0.1", method, path, &headers, body)
}

/// What a hostile call must leave as it was: the app's releases, config and formation.
fn snapshot(server: &Server, app: &str) -> (Value, Value, Value) {
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

#[test]
fn expired_tokens_and_foreign_authorizations_are_refused_and_change_nothing() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    let created = server.api("POST", "/apps", Some(r#"{"name":"target"}"#), None);
    assert_eq!(created.status, 201, "{}", created.body);
    let before = snapshot(&server, "target");
    let apps_before = server.api("GET", "/apps", None, None).json();

    // A token that has expired: 401 saying so and how to get a new one, and no change.
    let brief = server.api(
        "POST",
        "/oauth/authorizations",
        Some(r#"{"description":"brief","expires_in":1}"#),
        None,
    );
    assert_eq!(brief.status, 201, "{}", brief.body);
    let brief = brief.json()["access_token"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    crate::api::wait_until_refused(&server, &brief);
    for (method, path, body) in [
        ("POST", "/apps", Some(r#"{"name":"expired-app"}"#)),
        (
            "PATCH",
            "/apps/target/config-vars",
            Some(r#"{"GREETING":"too late"}"#),
        ),
        (
            "PATCH",
            "/apps/target/formation/web",
            Some(r#"{"quantity":3}"#),
        ),
        ("DELETE", "/apps/target", None),
        (
            "POST",
            "/oauth/authorizations",
            Some(r#"{"description":"renewed by itself"}"#),
        ),
    ] {
        let reply = server.api(method, path, body, Some(&brief));
        refused(&reply, 401, "unauthorized", "this API token expired at");
        refused(&reply, 401, "unauthorized", "kumo authorizations:create");
        refused(&reply, 401, "unauthorized", "kumo login");
    }
    assert_eq!(
        snapshot(&server, "target"),
        before,
        "an expired token changed the app"
    );
    assert_eq!(server.api("GET", "/apps", None, None).json(), apps_before);
    let mine = server
        .api("GET", "/oauth/authorizations", None, None)
        .json();
    assert_eq!(mine.as_array().unwrap().len(), 2, "{mine}");

    // Another account's authorization: 404 to read or revoke, as if there were none.
    let bob = server.api(
        "POST",
        "/accounts",
        Some(r#"{"email":"bob@example.com"}"#),
        None,
    );
    assert_eq!(bob.status, 201, "{}", bob.body);
    let bob = bob.json()["api_key"].as_str().unwrap().to_string();
    let bobs = server
        .api("GET", "/oauth/authorizations", None, Some(&bob))
        .json();
    assert_eq!(bobs.as_array().unwrap().len(), 1, "{bobs}");
    let bobs_id = bobs[0]["id"].as_str().unwrap().to_string();
    let admins_id = mine[0]["id"].as_str().unwrap().to_string();
    for (method, id, token) in [
        ("GET", &bobs_id, server.token.as_str()),
        ("DELETE", &bobs_id, server.token.as_str()),
        ("GET", &admins_id, bob.as_str()),
        ("DELETE", &admins_id, bob.as_str()),
        ("GET", &"..%2F..%2Fapps".to_string(), bob.as_str()),
    ] {
        let reply = server.api(
            method,
            &format!("/oauth/authorizations/{id}"),
            None,
            Some(token),
        );
        refused(&reply, 404, "not_found", "Couldn't find that authorization");
        assert!(!reply.body.contains("bob@example.com"), "{}", reply.body);
    }
    assert_eq!(
        server.api("GET", "/account", None, Some(&bob)).json()["email"],
        "bob@example.com",
        "bob's token still works"
    );

    // Requests Kumo cannot honour: 422 naming what to send, and no token made.
    for (body, needle) in [
        (
            r#"{"expires_in":0}"#,
            "invalid expires_in `0`: use 1 to 31536000 seconds",
        ),
        (r#"{"expires_in":-60}"#, "invalid expires_in `-60`"),
        (
            r#"{"expires_in":31536001}"#,
            "invalid expires_in `31536001`",
        ),
        (r#"{"expires_in":"soon"}"#, "invalid expires_in `soon`"),
        (r#"{"expires_in":1.5}"#, "invalid expires_in `1.5`"),
        (r#"{"expires_in":[60]}"#, "invalid expires_in `[60]`"),
        (
            r#"{"scope":["read"]}"#,
            "scope `read` is not supported: Kumo supports only `global`",
        ),
        (
            r#"{"scope":["global","write-protected"]}"#,
            "scope `write-protected` is not supported",
        ),
        (r#"{"scope":[]}"#, "scope is empty"),
        (r#"{"scope":"global"}"#, "scope"),
        (
            r#"{"client":{"id":"x"}}"#,
            "OAuth clients are not supported",
        ),
        (r#"{"description":42}"#, "description"),
    ] {
        let reply = server.api("POST", "/oauth/authorizations", Some(body), None);
        refused(&reply, 422, "invalid_params", needle);
    }
    let huge = format!(r#"{{"description":"{}"}}"#, "d".repeat(256));
    let reply = server.api("POST", "/oauth/authorizations", Some(&huge), None);
    refused(
        &reply,
        422,
        "invalid_params",
        "the description is over 255 characters",
    );
    let reply = server.api("POST", "/oauth/authorizations", Some("{not json"), None);
    refused(&reply, 400, "bad_request", "invalid JSON body");
    assert_eq!(
        server
            .api("GET", "/oauth/authorizations", None, None)
            .json(),
        mine,
        "a refused request made a token"
    );
}

/// A new token for the admin's account, made with `maker` (the admin's key
/// if `None`), with `body` as the create request: the token and its id.
fn new_token(server: &Server, body: &str, maker: Option<&str>) -> (String, String) {
    let made = server.api("POST", "/oauth/authorizations", Some(body), maker);
    assert_eq!(made.status, 201, "{}", made.body);
    let made = made.json();
    (
        made["access_token"]["token"].as_str().unwrap().to_string(),
        made["id"].as_str().unwrap().to_string(),
    )
}

#[test]
fn a_token_that_expires_cannot_make_one_that_outlasts_it() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    let (brief, _) = new_token(&server, r#"{"description":"brief","expires_in":60}"#, None);
    let before = server
        .api("GET", "/oauth/authorizations", None, None)
        .json();

    // Past its own expiry, or never expiring: 422 naming the most it may ask, and no token.
    let mut most = 0;
    for (body, needle) in [
        (
            r#"{"description":"forever"}"#,
            "a token that does not expire cannot be made here",
        ),
        ("", "a token that does not expire cannot be made here"),
        (r#"{"expires_in":null}"#, "a token that does not expire"),
        (r#"{"expires_in":3600}"#, "invalid expires_in `3600`"),
        (r#"{"expires_in":"61"}"#, "invalid expires_in `61`"),
        (
            r#"{"expires_in":31536000}"#,
            "invalid expires_in `31536000`",
        ),
    ] {
        let reply = server.api("POST", "/oauth/authorizations", Some(body), Some(&brief));
        refused(&reply, 422, "invalid_params", needle);
        refused(
            &reply,
            422,
            "invalid_params",
            "the token you are signed in with expires at 20",
        );
        refused(
            &reply,
            422,
            "invalid_params",
            "or create it signed in with a token that lasts longer",
        );
        let message = reply.json()["message"].as_str().unwrap().to_string();
        most = message
            .split("use expires_in of at most ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or_else(|| panic!("no limit named in {message:?}"));
        assert!((50..=60).contains(&most), "{message}");
    }
    assert_eq!(
        server
            .api("GET", "/oauth/authorizations", None, None)
            .json(),
        before,
        "a refused request made a token"
    );

    // Within the limit it is made, and it is bound the same way in turn.
    let (shorter, _) = new_token(
        &server,
        &format!(r#"{{"description":"shorter","expires_in":{}}}"#, most - 5),
        Some(&brief),
    );
    let reply = server.api(
        "POST",
        "/oauth/authorizations",
        Some(&format!(r#"{{"expires_in":{most}}}"#)),
        Some(&shorter),
    );
    refused(&reply, 422, "invalid_params", "invalid expires_in");

    // A token that does not expire is unaffected.
    for body in [r#"{"description":"forever"}"#, r#"{"expires_in":31536000}"#] {
        let made = server.api("POST", "/oauth/authorizations", Some(body), None);
        assert_eq!(made.status, 201, "{}", made.body);
    }
}

/// Opens `path` on the API with `headers` and reads the response head; the
/// stream is left open at the start of the body.
fn open_stream(server: &Server, path: &str, headers: &str) -> (u16, std::net::TcpStream) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.api_port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{headers}\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).unwrap(),
            1,
            "the stream ended in its head"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, stream)
}

/// Asserts a running stream ends (the server closes it) within `within`.
#[track_caller]
fn ends_within(mut stream: std::net::TcpStream, within: Duration) {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut rest = Vec::new();
    if let Err(e) = stream.read_to_end(&mut rest) {
        panic!(
            "the stream still runs after {within:?} ({e}); it sent {:?}",
            String::from_utf8_lossy(&rest)
        );
    }
}

/// A log session's `logplex_url` path, made with `token` for `app`.
fn log_session(server: &Server, app: &str, body: &str, token: &str) -> String {
    let made = server.api(
        "POST",
        &format!("/apps/{app}/log-sessions"),
        Some(body),
        Some(token),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let url = made.json()["logplex_url"].as_str().unwrap().to_string();
    let path = url.split_once("/log-sessions/").unwrap().1;
    format!("/log-sessions/{path}")
}

#[test]
fn revoked_and_expired_tokens_end_the_log_sessions_they_made() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    let created = server.api("POST", "/apps", Some(r#"{"name":"target"}"#), None);
    assert_eq!(created.status, 201, "{}", created.body);

    // Revoked: a running tail ends, and its URL and a session's that was not
    // opened yet are no longer found; the sessions of other tokens go on.
    let (token, id) = new_token(&server, r#"{"description":"laptop"}"#, None);
    let tail = log_session(&server, "target", r#"{"tail":true}"#, &token);
    let recent = log_session(&server, "target", r#"{"lines":10}"#, &token);
    let admins = log_session(&server, "target", r#"{"tail":true}"#, &server.token);
    let (status, running) = open_stream(&server, &tail, "");
    assert_eq!(status, 200);
    let (status, sse) = open_stream(&server, &tail, "Accept: text/event-stream\r\n");
    assert_eq!(status, 200);
    let (status, mut others) = open_stream(&server, &admins, "");
    assert_eq!(status, 200);
    let revoked = server.api("DELETE", &format!("/oauth/authorizations/{id}"), None, None);
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    ends_within(running, Duration::from_secs(10));
    ends_within(sse, Duration::from_secs(10));
    for path in [&tail, &recent] {
        let reply = raw(&server, "GET", path, &[], b"");
        refused(&reply, 404, "not_found", "Couldn't find that log session");
        refused(
            &reply,
            404,
            "not_found",
            "the token that made it was revoked or expired",
        );
    }
    others
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 64];
    if let Ok(0) = others.read(&mut buf) {
        panic!("another token's tail ended with the revoke");
    }
    let (status, _) = open_stream(&server, &admins, "");
    assert_eq!(status, 200, "another token's session is gone");

    // Expired: a running tail ends at the expiry, and the URL is not found.
    let (brief, _) = new_token(&server, r#"{"description":"brief","expires_in":5}"#, None);
    let tail = log_session(&server, "target", r#"{"tail":true}"#, &brief);
    let (status, running) = open_stream(&server, &tail, "");
    assert_eq!(status, 200);
    ends_within(running, Duration::from_secs(15));
    crate::api::wait_until_refused(&server, &brief);
    let reply = raw(&server, "GET", &tail, &[], b"");
    refused(
        &reply,
        404,
        "not_found",
        "the token that made it was revoked or expired",
    );
}

#[test]
fn revoked_and_expired_tokens_end_the_attach_urls_they_made() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    crate::support::stdout(&crate::support::kumo(&server, &["apps:create", "target"]));
    crate::support::stdout(&crate::support::kumo(
        &server,
        &[
            "deploy",
            "-a",
            "target",
            "--wasm",
            kumo_tests::components::ONESHOT,
            "--process",
            "console",
        ],
    ));
    let attach_url = |token: &str| -> String {
        let made = server.api(
            "POST",
            "/apps/target/dynos",
            Some(r#"{"command":"console","attach":true}"#),
            Some(token),
        );
        assert_eq!(made.status, 201, "{}", made.body);
        let url = made.json()["attach_url"].as_str().unwrap().to_string();
        format!("/attach/{}", url.split_once("/attach/").unwrap().1)
    };
    let upgrade = "Connection: upgrade\r\nUpgrade: kumo-attach\r\n";
    let (brief, _) = new_token(&server, r#"{"description":"brief","expires_in":3}"#, None);
    let expired_url = attach_url(&brief);
    let (token, id) = new_token(&server, r#"{"description":"laptop"}"#, None);
    let revoked_url = attach_url(&token);
    let admins_url = attach_url(&server.token);
    let revoked = server.api("DELETE", &format!("/oauth/authorizations/{id}"), None, None);
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    crate::api::wait_until_refused(&server, &brief);
    for path in [&revoked_url, &expired_url] {
        let (status, mut stream) = open_stream(&server, path, upgrade);
        assert_eq!(status, 404, "{path}");
        let mut body = String::new();
        stream.read_to_string(&mut body).unwrap();
        assert!(
            body.contains("the token that made it no longer works"),
            "{body}"
        );
    }
    // Another token's attach URL still opens.
    let (status, stream) = open_stream(&server, &admins_url, upgrade);
    assert_eq!(status, 101);
    ends_within(stream, Duration::from_secs(60));
}

/// The value of the response header `name` (any case), if it is there.
fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply.head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then_some(value.trim())
    })
}

#[test]
fn over_the_api_rate_limit_requests_are_refused_and_change_nothing() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        data.path(),
        &["--api-rate-limit", "5"],
        "Router listening on",
    );
    let remaining = |reply: &Reply| header(reply, "RateLimit-Remaining").map(str::to_string);
    let rate_limits = |server: &Server| {
        let reply = server.api("GET", "/account/rate-limits", None, None);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(
            remaining(&reply),
            Some(reply.json()["remaining"].to_string())
        );
        reply.json()["remaining"].as_u64().unwrap()
    };

    // Asking how many are left is not counted, nor is a request without a valid token.
    assert_eq!(rate_limits(&server), 5);
    assert_eq!(rate_limits(&server), 5);
    for token in ["", "kumo_00000000000000000000000000000000"] {
        let reply = server.api("GET", "/apps", None, Some(token));
        refused(&reply, 401, "unauthorized", "Invalid credentials provided.");
        assert_eq!(remaining(&reply), None, "{}", reply.head);
    }
    assert_eq!(rate_limits(&server), 5);

    // Every other request counts, whatever its answer, and says what is left.
    let bob = server.api(
        "POST",
        "/accounts",
        Some(r#"{"email":"bob@example.com"}"#),
        None,
    );
    assert_eq!(bob.status, 201, "{}", bob.body);
    assert_eq!(remaining(&bob).as_deref(), Some("4"));
    let bob = bob.json()["api_key"].as_str().unwrap().to_string();
    let created = server.api("POST", "/apps", Some(r#"{"name":"first"}"#), None);
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(remaining(&created).as_deref(), Some("3"));
    let missing = server.api("GET", "/apps/nowhere", None, None);
    refused(&missing, 404, "not_found", "Couldn't find that app.");
    assert_eq!(remaining(&missing).as_deref(), Some("2"));
    for left in ["1", "0"] {
        let reply = server.api("GET", "/apps", None, None);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(remaining(&reply).as_deref(), Some(left));
    }
    assert_eq!(rate_limits(&server), 0);

    // The sixth: 429 with Heroku's id and words, and when to come back.
    let over: &[(&str, &str, Option<&str>)] = &[
        ("POST", "/apps", Some(r#"{"name":"over"}"#)),
        (
            "PATCH",
            "/apps/first/config-vars",
            Some(r#"{"GREETING":"hi"}"#),
        ),
        ("DELETE", "/apps/first", None),
        ("GET", "/apps", None),
    ];
    for &(method, path, body) in over {
        let reply = server.api(method, path, body, None);
        refused(
            &reply,
            429,
            "rate_limit",
            "Your account reached the API rate limit. Please wait a few minutes before making new requests",
        );
        assert_eq!(remaining(&reply).as_deref(), Some("0"), "{method} {path}");
        // 5 an hour: a token comes back every 720 s.
        let retry: u64 = header(&reply, "Retry-After").unwrap().parse().unwrap();
        assert!((600..=720).contains(&retry), "Retry-After: {retry}");
    }
    assert_eq!(rate_limits(&server), 0);
    // `kumo` prints the API's message and fails.
    let output = crate::support::kumo(&server, &["apps:create", "by-cli"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Your account reached the API rate limit"),
        "{stderr}"
    );

    // Another account has its own bucket. It sees `over` and `by-cli` were never
    // made: an app of someone else's would be 403, not 404.
    for (path, left) in [("/apps/over", "4"), ("/apps/by-cli", "3")] {
        let reply = server.api("GET", path, None, Some(&bob));
        refused(&reply, 404, "not_found", "Couldn't find that app.");
        assert_eq!(remaining(&reply).as_deref(), Some(left));
    }
    let reply = server.api("GET", "/apps/first", None, Some(&bob));
    refused(
        &reply,
        403,
        "forbidden",
        "You do not have access to the app first.",
    );

    // The buckets are in memory: a restart fills them. With `--api-rate-limit 0`
    // there is no limit and no header, and no count to ask for.
    drop(server);
    server = Server::start(
        data.path(),
        &["--api-rate-limit", "0"],
        "Router listening on",
    );
    for _ in 0..20 {
        let reply = server.api("GET", "/apps", None, None);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(remaining(&reply), None, "{}", reply.head);
    }
    let names: Vec<Value> = server
        .api("GET", "/apps", None, None)
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].clone())
        .collect();
    assert_eq!(
        names,
        [Value::from("first")],
        "a refused request made an app"
    );
    let config = server
        .api("GET", "/apps/first/config-vars", None, None)
        .json();
    assert_eq!(
        config["GREETING"],
        Value::Null,
        "a refused request set config"
    );
    let reply = server.api("GET", "/account/rate-limits", None, None);
    refused(&reply, 404, "not_found", "--api-rate-limit 0");

    // By default, Heroku's 4500 an hour.
    drop(server);
    server = Server::start(data.path(), &[], "Router listening on");
    assert_eq!(rate_limits(&server), 4500);
    let reply = server.api("GET", "/account", None, None);
    assert_eq!(remaining(&reply).as_deref(), Some("4499"));
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
