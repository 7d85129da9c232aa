//! Hostile use of API tokens: expired and revoked tokens, another account's
//! authorizations, a token making one that outlives it, what a token opened
//! (log sessions, attach URLs) outliving it, and requests past the API rate
//! limit. Each gets the right 4xx with Heroku's error `id` and changes nothing.
//! RELIABILITY.md part 2 lists them.

use crate::hostile_api::{raw, refused, snapshot};
use crate::support::{Reply, Server};
use serde_json::Value;
use std::io::{Read, Write};
use std::time::Duration;

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
        // `rendezvous://HOST:PORT/SECRET`: the secret opens `/attach/SECRET` too.
        let secret = url
            .strip_prefix("rendezvous://")
            .unwrap()
            .split_once('/')
            .unwrap()
            .1;
        format!("/attach/{secret}")
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
