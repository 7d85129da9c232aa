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

    let bad = page("color ..");
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
