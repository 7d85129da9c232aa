//! The Platform API of a real `kumo server`: Heroku's shapes for apps,
//! config vars, releases and formation; tokens and tenancy; `{id, message}`
//! errors; and a ledger that survives a restart.

use crate::support::Server;

#[test]
fn apps_config_releases_and_formation() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    assert!(
        server
            .lines
            .iter()
            .any(|l| l.starts_with("Admin account admin@kumo.local created")),
        "{:?}",
        server.lines
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.path().join("admin-token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the admin token is private");
    }

    let account = server.api("GET", "/account", None, None);
    assert_eq!(account.status, 200);
    assert_eq!(account.json()["email"], "admin@kumo.local");
    assert!(
        account.head.to_ascii_lowercase().contains("request-id: "),
        "{}",
        account.head
    );

    let created = server.api("POST", "/apps", Some(r#"{"name":"shop"}"#), None);
    assert_eq!(created.status, 201, "{}", created.body);
    let app = created.json();
    assert_eq!(app["name"], "shop");
    assert_eq!(
        app["web_url"],
        format!("http://shop.localhost:{}/", server.router_port)
    );
    assert_eq!(app["maintenance"], false);

    let again = server.api("POST", "/apps", Some(r#"{"name":"shop"}"#), None);
    assert_eq!(again.status, 409);
    assert_eq!(again.json()["id"], "conflict");
    let bad = server.api("POST", "/apps", Some(r#"{"name":"My_App"}"#), None);
    assert_eq!(bad.status, 422);
    assert_eq!(bad.json()["id"], "invalid_params");
    assert!(
        bad.json()["message"]
            .as_str()
            .unwrap()
            .contains("invalid app name `My_App`")
    );

    let set = server.api(
        "PATCH",
        "/apps/shop/config-vars",
        Some(r#"{"FOO":"bar","COLOR":"blue"}"#),
        None,
    );
    assert_eq!(
        set.json(),
        serde_json::json!({"COLOR": "blue", "FOO": "bar"})
    );
    let unset = server.api(
        "PATCH",
        "/apps/shop/config-vars",
        Some(r#"{"FOO":null}"#),
        None,
    );
    assert_eq!(unset.json(), serde_json::json!({"COLOR": "blue"}));
    let reserved = server.api(
        "PATCH",
        "/apps/shop/config-vars",
        Some(r#"{"KUMO_X":"1"}"#),
        None,
    );
    assert_eq!(reserved.status, 422);
    let big = format!(r#"{{"BIG":"{}"}}"#, "x".repeat(33 * 1024));
    let too_big = server.api("PATCH", "/apps/shop/config-vars", Some(&big), None);
    assert_eq!(too_big.status, 422);
    assert!(
        too_big.json()["message"]
            .as_str()
            .unwrap()
            .contains("32768 bytes")
    );

    let releases = server.api("GET", "/apps/shop/releases", None, None).json();
    let descriptions: Vec<&str> = releases
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["description"].as_str().unwrap())
        .collect();
    assert_eq!(
        descriptions,
        ["Set COLOR, FOO config vars", "Remove FOO config vars"]
    );
    assert_eq!(releases[1]["version"], 2);
    assert_eq!(releases[1]["current"], true);
    assert_eq!(releases[0]["current"], false);

    let rollback = server.api(
        "POST",
        "/apps/shop/releases",
        Some(r#"{"release":"1"}"#),
        None,
    );
    assert_eq!(rollback.status, 201, "{}", rollback.body);
    assert_eq!(rollback.json()["description"], "Rollback to v1");
    assert_eq!(rollback.json()["version"], 3);
    let config = server
        .api("GET", "/apps/shop/config-vars", None, None)
        .json();
    assert_eq!(
        config,
        serde_json::json!({"COLOR": "blue", "FOO": "bar"}),
        "a rollback restores v1's config"
    );
    let v2 = server
        .api("GET", "/apps/shop/releases/2/config-vars", None, None)
        .json();
    assert_eq!(v2, serde_json::json!({"COLOR": "blue"}));

    let scaled = server.api(
        "PATCH",
        "/apps/shop/formation",
        Some(r#"{"updates":[{"type":"web","quantity":2,"size":"standard-2X"},{"type":"worker","quantity":1}]}"#),
        None,
    );
    assert_eq!(scaled.status, 200, "{}", scaled.body);
    let web = server
        .api("GET", "/apps/shop/formation/web", None, None)
        .json();
    assert_eq!(
        (web["quantity"].as_i64(), web["size"].as_str()),
        (Some(2), Some("standard-2X"))
    );
    let too_many = server.api(
        "PATCH",
        "/apps/shop/formation/web",
        Some(r#"{"quantity":101}"#),
        None,
    );
    assert_eq!(too_many.status, 422);
    let bad_size = server.api(
        "PATCH",
        "/apps/shop/formation/web",
        Some(r#"{"size":"huge"}"#),
        None,
    );
    assert_eq!(bad_size.status, 422);
    assert!(
        bad_size.json()["message"]
            .as_str()
            .unwrap()
            .contains("unknown dyno size `huge`")
    );
    let broken = server.api("PATCH", "/apps/shop/config-vars", Some("{not json"), None);
    assert_eq!(broken.status, 400);
    assert_eq!(broken.json()["id"], "bad_request");

    // The router learns of the app as the dyno manager converges, in the background.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.get("shop", "/").status != 502 {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing deployed yet must be H81 (502)"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let maintenance = server.api("PATCH", "/apps/shop", Some(r#"{"maintenance":true}"#), None);
    assert_eq!(maintenance.json()["maintenance"], true);
    while server.get("shop", "/").status != 503 {
        assert!(
            std::time::Instant::now() < deadline,
            "maintenance mode must be H80 (503)"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let listed = server.api("GET", "/apps", None, None).json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
}

#[test]
fn tokens_are_required_and_the_ledger_survives_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    let missing = server.api("GET", "/apps", None, Some(""));
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.json(),
        serde_json::json!({"id": "unauthorized", "message": "Invalid credentials provided."})
    );
    assert_eq!(
        server.api("GET", "/apps", None, Some("kumo_wrong")).status,
        401
    );
    assert_eq!(server.api("GET", "/apps/nope", None, None).status, 404);
    assert_eq!(
        server.api("GET", "/no/such/endpoint", None, None).json()["id"],
        "not_found"
    );

    server.api("POST", "/apps", Some(r#"{"name":"keeper"}"#), None);
    server.api(
        "PATCH",
        "/apps/keeper/config-vars",
        Some(r#"{"A":"1"}"#),
        None,
    );
    server.api(
        "PATCH",
        "/apps/keeper/formation/web",
        Some(r#"{"quantity":3}"#),
        None,
    );
    let token = server.token.clone();
    drop(server);

    let server = Server::start(data.path(), &[], "Router listening on");
    assert!(
        !server.lines.iter().any(|l| l.contains("Admin account")),
        "the admin is created once"
    );
    assert_eq!(server.token, token);
    assert_eq!(
        server
            .api("GET", "/apps/keeper/config-vars", None, None)
            .json(),
        serde_json::json!({"A": "1"})
    );
    assert_eq!(
        server
            .api("GET", "/apps/keeper/formation/web", None, None)
            .json()["quantity"],
        3
    );
    assert_eq!(
        server
            .api("GET", "/apps/keeper/releases", None, None)
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn lists_page_with_range_and_the_accept_header_is_required() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    for name in ["app-a", "app-b", "app-c", "app-d", "app-e"] {
        let created = server.api(
            "POST",
            "/apps",
            Some(&format!(r#"{{"name":"{name}"}}"#)),
            None,
        );
        assert_eq!(created.status, 201, "{}", created.body);
    }
    let page = |range: &str| {
        crate::support::http(
            server.api_port,
            "127.0.0.1",
            "GET",
            "/apps",
            &[
                (
                    "Accept".into(),
                    "application/vnd.heroku+json; version=3".into(),
                ),
                ("Authorization".into(), format!("Bearer {}", server.token)),
                ("Range".into(), range.into()),
            ],
            "",
        )
    };
    let names = |reply: &crate::support::Reply| -> Vec<String> {
        reply
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_string())
            .collect()
    };
    let header = |reply: &crate::support::Reply, name: &str| -> Option<String> {
        reply.head.lines().find_map(|l| {
            let (k, v) = l.split_once(": ")?;
            k.eq_ignore_ascii_case(name).then(|| v.to_string())
        })
    };

    let first = page("name ..; max=2");
    assert_eq!(first.status, 206, "{}", first.body);
    assert_eq!(names(&first), ["app-a", "app-b"]);
    assert_eq!(
        header(&first, "next-range").as_deref(),
        Some("name ]app-b..; max=2")
    );
    assert_eq!(header(&first, "accept-ranges").as_deref(), Some("name, id"));
    let second = page(&header(&first, "next-range").unwrap());
    assert_eq!(
        (second.status, names(&second)),
        (206, vec!["app-c".to_string(), "app-d".to_string()])
    );
    let last = page(&header(&second, "next-range").unwrap());
    assert_eq!(
        (last.status, names(&last)),
        (200, vec!["app-e".to_string()])
    );
    assert_eq!(header(&last, "next-range"), None);
    let backwards = page("name ..; max=3, order=desc");
    assert_eq!(names(&backwards), ["app-e", "app-d", "app-c"]);

    // A field the list cannot be ordered by: the default order, as Heroku answers.
    let unknown = page("color ..; max=2");
    assert_eq!(
        (unknown.status, names(&unknown)),
        (206, vec!["app-a".to_string(), "app-b".to_string()])
    );
    let bad = page("name ..; max=0");
    assert_eq!(bad.status, 416);
    assert_eq!(bad.json()["id"], "requested_range_not_satisfiable");

    // Without Heroku's Accept header: 406, naming the header to send.
    let no_accept = crate::support::http(
        server.api_port,
        "127.0.0.1",
        "GET",
        "/apps",
        &[("Authorization".into(), format!("Bearer {}", server.token))],
        "",
    );
    assert_eq!(no_accept.status, 406);
    assert_eq!(no_accept.json()["id"], "not_acceptable");
    assert!(
        no_accept.json()["message"]
            .as_str()
            .unwrap()
            .contains("version=3")
    );
}

#[test]
fn authorizations_are_made_used_listed_and_revoked() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    let account = server.api("GET", "/account", None, None).json();

    // The admin's own key is an authorization too, listed without its token.
    let listed = server.api("GET", "/oauth/authorizations", None, None);
    assert_eq!(listed.status, 200, "{}", listed.body);
    let listed = listed.json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["description"], "Kumo API key");
    assert_eq!(listed[0]["access_token"]["token"], serde_json::Value::Null);
    assert_eq!(
        listed[0]["access_token"]["expires_in"],
        serde_json::Value::Null
    );

    // Created: Heroku's shape, and the token, this once.
    let created = server.api(
        "POST",
        "/oauth/authorizations",
        Some(r#"{"description":"ci deploys","expires_in":3600,"scope":["global"]}"#),
        None,
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let made = created.json();
    let id = made["id"].as_str().unwrap().to_string();
    let token = made["access_token"]["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("kumo_"), "{made}");
    let expires_in = made["access_token"]["expires_in"].as_i64().unwrap();
    assert!((3595..=3600).contains(&expires_in), "{made}");
    let mut shape = made.clone();
    for volatile in ["created_at", "updated_at"] {
        assert!(shape[volatile].as_str().unwrap().ends_with('Z'), "{made}");
        shape[volatile] = serde_json::Value::Null;
    }
    assert_eq!(
        shape,
        serde_json::json!({
            "id": id,
            "access_token": {"expires_in": expires_in, "id": id, "token": token},
            "client": null,
            "created_at": null,
            "description": "ci deploys",
            "grant": null,
            "refresh_token": null,
            "scope": ["global"],
            "session": null,
            "updated_at": null,
            "user": {"id": account["id"], "email": "admin@kumo.local", "full_name": null},
        })
    );
    // Heroku's CLI sends expires_in as a string, and may send no scope at all.
    let stringly = server.api(
        "POST",
        "/oauth/authorizations",
        Some(r#"{"description":"from heroku","expires_in":"60"}"#),
        None,
    );
    assert_eq!(stringly.status, 201, "{}", stringly.body);
    let stringly_id = stringly.json()["id"].as_str().unwrap().to_string();
    assert_eq!(stringly.json()["scope"], serde_json::json!(["global"]));

    // Used: the new token is the same account.
    let me = server.api("GET", "/account", None, Some(&token));
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.json()["email"], "admin@kumo.local");

    // Listed and shown, never with the token again.
    let listed = server.api("GET", "/oauth/authorizations", None, Some(&token));
    let listed = listed.json();
    let mut descriptions: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["description"].as_str().unwrap())
        .collect();
    descriptions.sort();
    assert_eq!(
        descriptions,
        ["Kumo API key", "ci deploys", "from heroku"],
        "{listed}"
    );
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["access_token"]["token"].is_null()),
        "{listed}"
    );
    let info = server.api("GET", &format!("/oauth/authorizations/{id}"), None, None);
    assert_eq!(info.status, 200, "{}", info.body);
    let info = info.json();
    assert_eq!(info["description"], "ci deploys");
    assert_eq!(info["access_token"]["token"], serde_json::Value::Null);
    assert!(info["access_token"]["expires_in"].as_i64().unwrap() <= expires_in);

    // Revoked: the answer is what it was, and the token stops working at once.
    let revoked = server.api("DELETE", &format!("/oauth/authorizations/{id}"), None, None);
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(revoked.json()["description"], "ci deploys");
    let refused = server.api("GET", "/account", None, Some(&token));
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.json(),
        serde_json::json!({"id": "unauthorized", "message": "Invalid credentials provided."})
    );
    for method in ["GET", "DELETE"] {
        let gone = server.api(method, &format!("/oauth/authorizations/{id}"), None, None);
        assert_eq!(gone.status, 404, "{}", gone.body);
        assert_eq!(gone.json()["id"], "not_found");
    }
    let left = server
        .api("GET", "/oauth/authorizations", None, None)
        .json();
    assert_eq!(left.as_array().unwrap().len(), 2, "{left}");
    server.api(
        "DELETE",
        &format!("/oauth/authorizations/{stringly_id}"),
        None,
        None,
    );

    // Expired: 401 saying so and how to get a new token, on this database too.
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
    let expired = wait_until_refused(&server, &brief);
    assert_eq!(expired.json()["id"], "unauthorized");
    let message = expired.json()["message"].as_str().unwrap().to_string();
    assert!(message.contains("expired at"), "{message}");
    assert!(message.contains("kumo authorizations:create"), "{message}");
    let listed = server
        .api("GET", "/oauth/authorizations", None, None)
        .json();
    let brief = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["description"] == "brief")
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(brief["access_token"]["expires_in"], 0, "{brief}");

    // Listed pages like every list.
    let page = crate::support::http(
        server.api_port,
        "127.0.0.1",
        "GET",
        "/oauth/authorizations",
        &[
            (
                "Accept".into(),
                "application/vnd.heroku+json; version=3".into(),
            ),
            ("Authorization".into(), format!("Bearer {}", server.token)),
            ("Range".into(), "created_at ..; max=1".into()),
        ],
        "",
    );
    assert_eq!(page.status, 206, "{}", page.body);
    assert!(
        page.head.to_ascii_lowercase().contains("next-range: "),
        "{}",
        page.head
    );
}

/// What a token makes lasts no longer than it does, on this database too: a
/// token that expires makes only tokens that expire no later, and a log
/// session is not found once the token that made it is revoked.
#[test]
fn what_a_token_makes_ends_with_it() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    let created = server.api("POST", "/apps", Some(r#"{"name":"bounded"}"#), None);
    assert_eq!(created.status, 201, "{}", created.body);
    let made = server.api(
        "POST",
        "/oauth/authorizations",
        Some(r#"{"description":"hour","expires_in":3600}"#),
        None,
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let (hour, hour_id) = (
        made.json()["access_token"]["token"]
            .as_str()
            .unwrap()
            .to_string(),
        made.json()["id"].as_str().unwrap().to_string(),
    );
    let longer = server.api("POST", "/oauth/authorizations", Some("{}"), Some(&hour));
    assert_eq!(longer.status, 422, "{}", longer.body);
    assert_eq!(longer.json()["id"], "invalid_params");
    let within = server.api(
        "POST",
        "/oauth/authorizations",
        Some(r#"{"expires_in":600}"#),
        Some(&hour),
    );
    assert_eq!(within.status, 201, "{}", within.body);

    let session = server.api(
        "POST",
        "/apps/bounded/log-sessions",
        Some(r#"{"lines":10}"#),
        Some(&hour),
    );
    assert_eq!(session.status, 201, "{}", session.body);
    let url = session.json()["logplex_url"].as_str().unwrap().to_string();
    let path = format!("/log-sessions/{}", url.rsplit('/').next().unwrap());
    let read = || crate::support::http(server.api_port, "127.0.0.1", "GET", &path, &[], "");
    assert_eq!(read().status, 200);
    let revoked = server.api(
        "DELETE",
        &format!("/oauth/authorizations/{hour_id}"),
        None,
        None,
    );
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let gone = read();
    assert_eq!(gone.status, 404, "{}", gone.body);
    assert_eq!(gone.json()["id"], "not_found");
}

/// Calls `GET /account` with `token` until it is refused (it expires within
/// two seconds); returns the refusal.
pub fn wait_until_refused(server: &Server, token: &str) -> crate::support::Reply {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let reply = server.api("GET", "/account", None, Some(token));
        if reply.status != 200 {
            assert_eq!(reply.status, 401, "{}", reply.body);
            return reply;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the token still works after 10 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
