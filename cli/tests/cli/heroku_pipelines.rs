//! Heroku's own CLI against a live `kumo server`, for the last pieces of its
//! API: `apps:rename` (routes, git remote path and logs follow the new name),
//! `apps:info`'s git URL and sizes, UUID ids, `authorizations:update` and
//! `:rotate`, `domains:add` with nothing to wait for, and pipelines from
//! `pipelines:create` to `pipelines:promote` and `pipelines:destroy`.

use crate::heroku::{Heroku, has, texts};
use crate::support::{Server, git_push_dir, http, kumo, kumo_as, stdout};
use std::path::Path;
use std::time::{Duration, Instant};

/// Heroku's CLI for `server`, its files under `data`.
fn heroku<'a>(server: &'a Server, data: &Path) -> Heroku<'a> {
    let home = data.join("home");
    std::fs::create_dir_all(home.join(".cache/heroku")).unwrap();
    std::fs::write(home.join(".cache/heroku/terms-of-service"), "").unwrap();
    Heroku { server, home }
}

/// `kumo deploy --wasm COMPONENT` to `app`, a test program of `tests/components`.
fn deploy(server: &Server, app: &str, component: &str) {
    stdout(&kumo(server, &["deploy", "-a", app, "--wasm", component]));
}

/// The router's answer for `host` once it is a 200 containing `needle`.
fn answer(server: &Server, host: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = http(server.router_port, host, "GET", "/", &[], "");
        if reply.status == 200 && reply.body.contains(needle) {
            return reply.body;
        }
        assert!(
            Instant::now() < deadline,
            "{host} never answered {needle:?}: {} {}",
            reply.status,
            reply.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether `value` is a UUID string: 8-4-4-4-12 hexadecimal digits.
fn is_uuid(value: &serde_json::Value) -> bool {
    value.as_str().is_some_and(|s| {
        s.len() == 36
            && s.char_indices().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => c == '-',
                _ => c.is_ascii_hexdigit(),
            })
    })
}

/// A size as Heroku's CLI prints it (npm `filesize`, JEDEC units, rounded).
fn jedec(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut exponent = 0;
    while exponent + 1 < UNITS.len() && bytes >= 1024u64.pow(exponent as u32 + 1) {
        exponent += 1;
    }
    let mut value = (bytes as f64 / 1024f64.powi(exponent as i32)).round() as u64;
    if value == 1024 && exponent + 1 < UNITS.len() {
        (value, exponent) = (1, exponent + 1);
    }
    format!("{value} {}", UNITS[exponent])
}

#[test]
fn sizes_print_as_herokus_cli_prints_them() {
    for (bytes, shown) in [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1 KB"),
        (1536, "2 KB"),
        (151_234, "148 KB"),
        (1_048_575, "1 MB"),
        (5_842_880, "6 MB"),
    ] {
        assert_eq!(jedec(bytes), shown, "{bytes}");
    }
}

#[test]
fn heroku_cli_renames_apps_and_rotates_tokens() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    let heroku = heroku(&server, data.path());
    heroku.ok(&["apps:create", "first-name"]);
    deploy(&server, "first-name", kumo_tests::components::ENV);
    answer(&server, "first-name.localhost", "KUMO_APP_NAME=first-name");
    http(
        server.router_port,
        "first-name.localhost",
        "GET",
        "/before-rename",
        &[],
        "",
    );

    // apps:info: the git URL and the slug's size, as the API stores them.
    let app = server.api("GET", "/apps/first-name", None, None).json();
    let git_url = format!("http://127.0.0.1:{}/first-name.git", server.api_port);
    assert_eq!(app["git_url"], git_url.as_str());
    assert_eq!(app["repo_size"], 0);
    let releases = server
        .api("GET", "/apps/first-name/releases", None, None)
        .json();
    let slug = releases[0]["slug"]["id"].as_str().unwrap().to_string();
    let stored = server
        .api("GET", &format!("/apps/first-name/slugs/{slug}"), None, None)
        .json();
    let slug_size = stored["size"].as_u64().unwrap();
    assert!(slug_size > 1000, "{stored}");
    assert_eq!(app["slug_size"], slug_size);
    let (so, _) = heroku.ok(&["apps:info", "-a", "first-name"]);
    has(&so, &format!("Git URL:        {git_url}"));
    has(&so, "Repo Size:      0 B");
    has(&so, &format!("Slug Size:      {}", jedec(slug_size)));

    // UUIDs where Heroku gives them: a release, its user (the account) and a dyno.
    let account = server.api("GET", "/account", None, None).json();
    let release = &releases[0];
    assert!(is_uuid(&release["id"]), "{release}");
    assert_eq!(release["user"]["id"], account["id"]);
    assert!(is_uuid(&release["user"]["id"]), "{account}");
    let by_id = server.api(
        "GET",
        &format!(
            "/apps/first-name/releases/{}",
            release["id"].as_str().unwrap()
        ),
        None,
        None,
    );
    assert_eq!(by_id.json()["version"], 1);
    assert_eq!(
        server
            .api("GET", "/apps/first-name/releases/v1", None, None)
            .json()["id"],
        release["id"]
    );
    let dynos = server
        .api("GET", "/apps/first-name/dynos", None, None)
        .json();
    let dyno = &dynos[0];
    assert!(is_uuid(&dyno["id"]), "{dyno}");
    assert_eq!(dyno["release"]["id"], release["id"]);
    let again = server
        .api("GET", "/apps/first-name/dynos", None, None)
        .json();
    assert_eq!(again[0]["id"], dyno["id"]);
    let restart = server.api(
        "DELETE",
        &format!("/apps/first-name/dynos/{}", dyno["id"].as_str().unwrap()),
        None,
        None,
    );
    assert_eq!(restart.status, 202, "{}", restart.body);

    // An add-on, which follows the app's new name (v2).
    stdout(&kumo(
        &server,
        &["addons:create", "kumo-keyvalue", "-a", "first-name"],
    ));

    // apps:rename: names are checked as a new app's, and must be free.
    heroku.ok(&["apps:create", "taken-name"]);
    let out = heroku.run_as(
        &server.token,
        &["apps:rename", "taken-name", "-a", "first-name"],
    );
    assert!(!out.status.success());
    has(&texts(&out).1, "Name taken-name is already taken");
    let out = heroku.run_as(
        &server.token,
        &["apps:rename", "Bad_Name", "-a", "first-name"],
    );
    assert!(!out.status.success());
    has(&texts(&out).1, "invalid app name `Bad_Name`");
    let (so, se) = heroku.ok(&["apps:rename", "second-name", "-a", "first-name"]);
    has(&se, "Renaming first-name to second-name... done");
    has(
        &so,
        &format!(
            "http://second-name.localhost:{}/ | https://127.0.0.1:{}/second-name.git",
            server.router_port, server.api_port
        ),
    );
    // The new host serves the same app, with dynos of its new name; the old one is unknown.
    answer(
        &server,
        "second-name.localhost",
        "KUMO_APP_NAME=second-name",
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let old = loop {
        let old = http(
            server.router_port,
            "first-name.localhost",
            "GET",
            "/",
            &[],
            "",
        );
        if old.status == 404 || Instant::now() > deadline {
            break old;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(old.status, 404, "{}", old.body);
    has(&old.body, "No such app");
    assert_eq!(
        server.api("GET", "/apps/first-name", None, None).status,
        404
    );
    let renamed = server.api("GET", "/apps/second-name", None, None).json();
    assert_eq!(renamed["id"], app["id"]);
    // Its add-on attachment answers under the new name, by app and by id.
    let attachments = server
        .api("GET", "/apps/second-name/addon-attachments", None, None)
        .json();
    let attachment = &attachments[0];
    assert_eq!(attachment["app"]["name"], "second-name");
    assert_eq!(attachment["addon"]["app"]["name"], "second-name");
    let id = attachment["id"].as_str().unwrap();
    assert!(is_uuid(&attachment["id"]), "{attachment}");
    let one = server.api("GET", &format!("/addon-attachments/{id}"), None, None);
    assert_eq!(one.json(), *attachment);
    let all = server.api("GET", "/addon-attachments", None, None).json();
    assert_eq!(all.as_array().unwrap(), std::slice::from_ref(attachment));
    let (so, _) = heroku.ok(&["addons", "-a", "second-name"]);
    has(&so, "kumo-keyvalue");
    // The log stream followed, history included.
    let (so, _) = heroku.ok(&["logs", "-n", "1500", "-a", "second-name"]);
    has(&so, "path=\"/before-rename\"");

    // git push to the new remote path; the repository's size shows.
    let source = data.path().join("source");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::copy(kumo_tests::components::ENV, source.join("app.wasm")).unwrap();
    std::fs::write(source.join("Procfile"), "web: app.wasm\n").unwrap();
    let (ok, out) = git_push_dir(&server, "second-name", &source);
    assert!(ok, "{out}");
    has(&out, "remote: ");
    answer(&server, "second-name.localhost", "KUMO_RELEASE_VERSION=v3");
    let repo_size = server.api("GET", "/apps/second-name", None, None).json()["repo_size"]
        .as_u64()
        .unwrap();
    assert!(repo_size > 0);
    let (so, _) = heroku.ok(&["apps:info", "-a", "second-name"]);
    has(&so, &format!("Repo Size:      {}", jedec(repo_size)));

    // domains:add: routed at once, so nothing to wait for.
    let (so, se) = heroku.ok(&["domains:add", "www.renamed.test", "-a", "second-name"]);
    has(&se, "Adding www.renamed.test to second-name... done");
    has(&so, "point to the DNS Target second-name.localhost");
    assert!(!so.contains("enqueued"), "{so}");
    assert!(!so.contains("domains:wait"), "{so}");
    answer(&server, "www.renamed.test", "KUMO_APP_NAME=second-name");

    // authorizations:update and :rotate.
    let (so, _) = heroku.ok(&["authorizations:create", "-d", "first words"]);
    let field = |text: &str, name: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .trim()
            .to_string()
    };
    let (id, token) = (field(&so, "ID:"), field(&so, "Token:"));
    let (so, se) = heroku.ok(&["authorizations:update", &id, "-d", "second words"]);
    has(&se, "Updating OAuth Authorization... done");
    has(&so, &format!("ID:          {id}"));
    has(&so, "Description: second words");
    assert!(!so.contains("Token:"), "{so}");
    let (so, _) = heroku.ok(&["authorizations:info", &id]);
    has(&so, "Description: second words");
    let (so, se) = heroku.ok(&["authorizations:rotate", &id]);
    has(&se, "Rotating OAuth Authorization... done");
    has(&so, &format!("ID:          {id}"));
    let rotated = field(&so, "Token:");
    assert_ne!(rotated, token);
    let out = heroku.run_as(&token, &["apps"]);
    assert!(!out.status.success());
    has(
        &texts(&out).1,
        "The token provided to HEROKU_API_KEY is invalid",
    );
    let out = heroku.run_as(&rotated, &["auth:whoami"]);
    assert!(out.status.success(), "{:?}", texts(&out));
    has(&texts(&out).0, "admin@kumo.local");
    let other = server.api(
        "PATCH",
        "/oauth/authorizations/no-such-id",
        Some("{}"),
        None,
    );
    assert_eq!(other.status, 404, "{}", other.body);

    // kumo's own apps:rename.
    let out = stdout(&kumo(
        &server,
        &["apps:rename", "-a", "second-name", "third-name"],
    ));
    has(&out, "Renaming ⬢ second-name to ⬢ third-name... done");
    answer(&server, "third-name.localhost", "KUMO_APP_NAME=third-name");
}

#[test]
fn heroku_cli_promotes_a_slug_through_a_pipeline() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    let heroku = heroku(&server, data.path());
    for app in ["shop-staging", "shop-prod"] {
        heroku.ok(&["apps:create", app]);
    }
    deploy(&server, "shop-staging", kumo_tests::components::HELLO);
    let staged = answer(&server, "shop-staging.localhost", "hello from kumo");
    // The production app's own config, which a promotion keeps.
    heroku.ok(&["config:set", "STAGE=production", "-a", "shop-prod"]);

    let (_, se) = heroku.ok(&[
        "pipelines:create",
        "shop",
        "-a",
        "shop-staging",
        "--stage",
        "staging",
    ]);
    has(&se, "Creating shop pipeline... done");
    has(
        &se,
        "Adding shop-staging to shop pipeline as staging... done",
    );
    let (_, se) = heroku.ok(&[
        "pipelines:add",
        "shop",
        "-a",
        "shop-prod",
        "--stage",
        "production",
    ]);
    has(
        &se,
        "Adding shop-prod to shop pipeline as production... done",
    );
    let out = heroku.run_as(
        &server.token,
        &[
            "pipelines:add",
            "shop",
            "-a",
            "shop-prod",
            "--stage",
            "staging",
        ],
    );
    assert!(!out.status.success());
    has(&texts(&out).1, "shop-prod is already in the pipeline shop");
    let (so, _) = heroku.ok(&["pipelines"]);
    has(&so, "=== My Pipelines\n\nshop\n");
    let (so, _) = heroku.ok(&["pipelines:info", "shop"]);
    has(&so, "=== shop");
    has(&so, "owner: admin@kumo.local");
    let row = |app: &str| -> String {
        so.lines()
            .find(|l| l.split_whitespace().next() == Some(app))
            .unwrap_or_else(|| panic!("no {app} in {so}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(row("shop-staging"), "shop-staging staging");
    assert_eq!(row("shop-prod"), "shop-prod production");
    let (so, _) = heroku.ok(&["apps:info", "-a", "shop-staging"]);
    has(&so, "Pipeline:       shop - staging");

    // Someone who may use only the staging app sees the pipeline but may not
    // promote to production.
    let made = server.api(
        "POST",
        "/accounts",
        Some(r#"{"email":"dev@kumo.local"}"#),
        None,
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let dev_token = made.json()["api_key"].as_str().unwrap().to_string();
    let out = heroku.run_as(&dev_token, &["pipelines:promote", "-a", "shop-staging"]);
    assert!(!out.status.success());
    stdout(&kumo(
        &server,
        &["access:add", "dev@kumo.local", "-a", "shop-staging"],
    ));
    let pipeline = server.api("GET", "/pipelines/shop", None, None).json();
    let ids = |app: &str| {
        server
            .api("GET", &format!("/apps/{app}"), None, None)
            .json()["id"]
            .clone()
    };
    let body = serde_json::json!({
        "pipeline": { "id": pipeline["id"] },
        "source": { "app": { "id": ids("shop-staging") } },
        "targets": [{ "app": { "id": ids("shop-prod") } }],
    })
    .to_string();
    let refused = server.api(
        "POST",
        "/pipeline-promotions",
        Some(&body),
        Some(&dev_token),
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    let listed = server
        .api("GET", "/pipelines", None, Some(&dev_token))
        .json();
    assert_eq!(listed[0]["name"], "shop");
    assert_eq!(
        server
            .api("GET", "/apps/shop-prod/releases", None, None)
            .json()
            .as_array()
            .map(Vec::len),
        Some(1),
        "the refused promotion released nothing"
    );
    let out = stdout(&kumo_as(&server, &dev_token, &["apps"], None));
    assert!(!out.contains("shop-prod"), "{out}");

    // The promotion: staging's slug released on production, which serves it.
    let (so, _) = heroku.ok(&["pipelines:promote", "-a", "shop-staging"]);
    has(&so, "Fetching apps from shop...");
    has(&so, "Starting promotion to production...");
    has(&so, "Promotion successful");
    has(&so, "shop-prod: succeeded");
    assert_eq!(
        answer(&server, "shop-prod.localhost", "hello from kumo"),
        staged
    );
    let (so, _) = heroku.ok(&["releases", "-a", "shop-prod"]);
    has(&so, "v2   Promote shop-staging v1");
    let current = |app: &str| {
        server
            .api("GET", &format!("/apps/{app}/releases"), None, None)
            .json()
            .as_array()
            .unwrap()
            .last()
            .cloned()
            .unwrap()
    };
    assert_eq!(
        current("shop-prod")["slug"],
        current("shop-staging")["slug"]
    );
    let config = server
        .api("GET", "/apps/shop-prod/config-vars", None, None)
        .json();
    assert_eq!(config["STAGE"], "production");
    // Production is the last stage: nothing further to promote to.
    let out = heroku.run_as(&server.token, &["pipelines:promote", "-a", "shop-prod"]);
    assert!(!out.status.success());
    has(
        &texts(&out).1,
        "Cannot promote shop-prod from 'production' stage",
    );

    // pipelines:update moves an app to another stage; pipelines:rename.
    let (_, se) = heroku.ok(&["pipelines:update", "-a", "shop-prod", "--stage", "staging"]);
    has(&se, "Changing shop-prod to staging... done");
    let coupling = server
        .api("GET", "/apps/shop-prod/pipeline-couplings", None, None)
        .json();
    assert_eq!(coupling["stage"], "staging");
    let (_, se) = heroku.ok(&["pipelines:rename", "shop", "store"]);
    has(&se, "Renaming shop pipeline to store... done");
    assert_eq!(coupling["pipeline"]["id"], pipeline["id"]);
    assert_eq!(
        server
            .api(
                "GET",
                &format!("/pipelines/{}", pipeline["id"].as_str().unwrap()),
                None,
                None
            )
            .json()["name"],
        "store"
    );

    // pipelines:remove, then pipelines:destroy; the apps stay.
    let (_, se) = heroku.ok(&["pipelines:remove", "-a", "shop-prod"]);
    has(&se, "Removing shop-prod... done");
    assert_eq!(
        server
            .api("GET", "/apps/shop-prod/pipeline-couplings", None, None)
            .status,
        404
    );
    let (_, se) = heroku.ok(&["pipelines:destroy", "store"]);
    has(&se, "Destroying store pipeline... done");
    let (so, _) = heroku.ok(&["pipelines"]);
    assert_eq!(so.trim(), "=== My Pipelines");
    assert_eq!(
        server.api("GET", "/apps/shop-staging", None, None).status,
        200
    );
    assert_eq!(
        server
            .api("GET", "/apps/shop-staging/pipeline-couplings", None, None)
            .status,
        404
    );
}
