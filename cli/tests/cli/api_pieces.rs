//! Pieces of the Platform API as Heroku answers them, which Heroku's own
//! clients rely on: scaling or restarting a process type the release does not
//! have (404), a 405 with Heroku's error body, `GET /apps/{app}/domains/{hostname}`,
//! a `Range` on a field the list cannot be ordered by (the default order),
//! the owner among the collaborators, `maintenance` as `1`/`0`, fields
//! `PATCH /apps/{app}` does not change named in a 422, and the platform's one
//! region and stack and the lists it keeps none of.

use crate::support::{Server, http, kumo, stdout};

#[test]
fn the_api_answers_as_herokus_clients_expect() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    stdout(&kumo(&server, &["apps:create", "pieces"]));
    // Before any release, the formation may be set ahead (a size from the start).
    let ahead = server.api(
        "PATCH",
        "/apps/pieces/formation",
        Some(r#"{"updates":[{"type":"web","quantity":1,"size":"standard-2X"}]}"#),
        None,
    );
    assert_eq!(ahead.status, 200, "{}", ahead.body);
    stdout(&kumo(
        &server,
        &[
            "deploy",
            "-a",
            "pieces",
            "--wasm",
            kumo_tests::components::HELLO,
        ],
    ));

    // A process type the release does not have.
    let scaled = server.api(
        "PATCH",
        "/apps/pieces/formation",
        Some(r#"{"updates":[{"type":"worker","quantity":1}]}"#),
        None,
    );
    assert_eq!(
        (scaled.status, scaled.json()),
        (
            404,
            serde_json::json!({"id": "not_found", "message": "Couldn't find that process type (worker)."})
        )
    );
    let out = kumo(&server, &["ps:scale", "-a", "pieces", "worker=1"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Couldn't find that process type (worker)."),
        "{out:?}"
    );
    assert_eq!(
        server
            .api(
                "PATCH",
                "/apps/pieces/formation/web",
                Some(r#"{"quantity":2}"#),
                None
            )
            .status,
        200
    );
    for dyno in ["worker", "worker.1", "web.3"] {
        let restart = server.api("DELETE", &format!("/apps/pieces/dynos/{dyno}"), None, None);
        assert_eq!(restart.status, 404, "{dyno}: {}", restart.body);
        assert_eq!(restart.json()["id"], "not_found");
    }
    for dyno in ["web", "web.2"] {
        let restart = server.api("DELETE", &format!("/apps/pieces/dynos/{dyno}"), None, None);
        assert_eq!(restart.status, 202, "{dyno}: {}", restart.body);
    }

    // A method the endpoint does not take: 405 with Heroku's error body.
    let wrong = server.api("PUT", "/apps/pieces/releases", Some("{}"), None);
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.json()["id"], "method_not_allowed");
    assert!(
        wrong.head.to_lowercase().contains("allow: get,head,post"),
        "{}",
        wrong.head
    );

    // domains:info, by hostname, for the app's own and a custom domain.
    stdout(&kumo(
        &server,
        &["domains:add", "-a", "pieces", "www.pieces.test"],
    ));
    let own = server
        .api("GET", "/apps/pieces/domains/pieces.localhost", None, None)
        .json();
    assert_eq!(
        (own["kind"].as_str(), own["hostname"].as_str()),
        (Some("heroku"), Some("pieces.localhost"))
    );
    let custom = server
        .api("GET", "/apps/pieces/domains/WWW.pieces.test", None, None)
        .json();
    assert_eq!(
        (
            custom["kind"].as_str(),
            custom["hostname"].as_str(),
            custom["status"].as_str()
        ),
        (Some("custom"), Some("www.pieces.test"), Some("none"))
    );
    assert_eq!(
        server
            .api("GET", "/apps/pieces/domains/other.test", None, None)
            .status,
        404
    );
    // heroku3 sends `Range: domain ..`, a field domains cannot be ordered by.
    let ranged = http(
        server.api_port,
        "127.0.0.1",
        "GET",
        "/apps/pieces/domains",
        &[
            ("Authorization".into(), format!("Bearer {}", server.token)),
            (
                "Accept".into(),
                "application/vnd.heroku+json; version=3".into(),
            ),
            ("Range".into(), "domain ..".into()),
        ],
        "",
    );
    assert_eq!(ranged.status, 200, "{}", ranged.body);
    assert_eq!(ranged.json().as_array().map(Vec::len), Some(2));

    // The owner is listed among the collaborators.
    let collaborators = server
        .api("GET", "/apps/pieces/collaborators", None, None)
        .json();
    assert_eq!(collaborators[0]["role"], "owner");
    assert_eq!(collaborators[0]["user"]["email"], "admin@kumo.local");

    // maintenance as 1/0 (heroku3), and fields that do not change answer honestly.
    let on = server.api("PATCH", "/apps/pieces", Some(r#"{"maintenance":1}"#), None);
    assert_eq!(on.json()["maintenance"], true);
    let off = server.api("PATCH", "/apps/pieces", Some(r#"{"maintenance":0}"#), None);
    assert_eq!(off.json()["maintenance"], false);
    let bad = server.api(
        "PATCH",
        "/apps/pieces",
        Some(r#"{"maintenance":"yes"}"#),
        None,
    );
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(
        bad.json()["message"]
            .as_str()
            .unwrap()
            .contains("maintenance must be true or false (or 1 or 0)")
    );
    let stack = server.api(
        "PATCH",
        "/apps/pieces",
        Some(r#"{"build_stack":"heroku-24"}"#),
        None,
    );
    assert_eq!(stack.status, 422);
    assert!(
        stack.json()["message"]
            .as_str()
            .unwrap()
            .contains("Kumo has one stack, kumo-1")
    );
    let unknown = server.api("PATCH", "/apps/pieces", Some(r#"{"region":"eu"}"#), None);
    assert_eq!(unknown.status, 422);
    assert!(
        unknown.json()["message"]
            .as_str()
            .unwrap()
            .contains("`region` cannot be changed")
    );

    // The platform's one region and stack, as the app's JSON names them.
    let app = server.api("GET", "/apps/pieces", None, None).json();
    let regions = server.api("GET", "/regions", None, None).json();
    assert_eq!(regions[0]["name"], app["region"]["name"]);
    assert_eq!(regions[0]["id"], app["region"]["id"]);
    let by_name = server.api("GET", "/regions/local", None, None).json();
    assert_eq!(by_name["id"], app["region"]["id"]);
    assert_eq!(server.api("GET", "/regions/eu", None, None).status, 404);
    let stacks = server.api("GET", "/stacks", None, None).json();
    assert_eq!(
        (stacks[0]["name"].as_str(), stacks[0]["default"].as_bool()),
        (Some("kumo-1"), Some(true))
    );
    assert_eq!(stacks[0]["id"], app["stack"]["id"]);
    for empty in [
        "/account/features",
        "/account/keys",
        "/teams",
        "/spaces",
        "/pipelines",
        "/apps/pieces/features",
        "/apps/pieces/webhooks",
    ] {
        let reply = server.api("GET", empty, None, None);
        assert_eq!((reply.status, reply.body.trim()), (200, "[]"), "{empty}");
    }
    assert_eq!(
        server
            .api("GET", "/regions", None, Some("kumo_wrong"))
            .status,
        401
    );
}
