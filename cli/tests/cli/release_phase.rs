//! The release phase: a slug's `release` process type runs as `release.N`
//! before each release of it goes live. A failed release command leaves the
//! previous release serving, and its output stays readable.

use crate::support::{Server, http, kumo, stdout};
use kumo_slug::{Manifest, ProcessKind, ProcessType};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A slug whose `web` answers its environment and whose `release` prints
/// `migrating` and `STAGE=…`, then exits with the status in `RELEASE_EXIT`.
fn pack_slug(dir: &std::path::Path) -> std::path::PathBuf {
    let app = dir.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::copy(kumo_tests::components::ENV, app.join("web.wasm")).unwrap();
    let oneshot = std::fs::read(kumo_tests::components::ONESHOT).unwrap();
    std::fs::write(
        app.join("release.wasm"),
        kumo_builder::componentize(&oneshot).unwrap(),
    )
    .unwrap();
    let mut types = BTreeMap::new();
    types.insert(
        "web".to_string(),
        ProcessType {
            component: "web.wasm".into(),
            args: Vec::new(),
            kind: ProcessKind::Http,
        },
    );
    types.insert(
        "release".to_string(),
        ProcessType {
            component: "release.wasm".into(),
            args: vec![
                "migrating".into(),
                "env=STAGE".into(),
                "exit-env=RELEASE_EXIT".into(),
            ],
            kind: ProcessKind::Command,
        },
    );
    let out = dir.join("slug.tar.zst");
    kumo_slug::pack(&app, &Manifest::new(types), &out).unwrap();
    out
}

/// GETs a URL the API handed out (no token: the URL is the credential).
pub fn fetch(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap();
    let port: u16 = authority.rsplit(':').next().unwrap().parse().unwrap();
    let reply = http(port, authority, "GET", &format!("/{path}"), &[], "");
    (reply.status, reply.body)
}

fn wait_for_status(server: &Server, app: &str, version: i64, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let release = server
            .api(
                "GET",
                &format!("/apps/{app}/releases/{version}"),
                None,
                None,
            )
            .json();
        if release["status"] == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "v{version} never became {want}: {release}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the web dyno answers, once it answers with `needle` in it.
fn wait_for_body(server: &Server, app: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = server.get(app, "/");
        if reply.status == 200 && reply.body.contains(needle) {
            return reply.body;
        }
        assert!(
            Instant::now() < deadline,
            "the app never answered with {needle:?}; last: {} {}",
            reply.status,
            reply.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn release_phase_gates_each_release() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    stdout(&kumo(&server, &["apps:create", "migrate"]));
    let slug = server.upload_slug("migrate", &pack_slug(data.path()));
    let info = server.api("GET", &format!("/apps/migrate/slugs/{slug}"), None, None);
    assert_eq!(info.status, 200, "{}", info.body);
    let info = info.json();
    assert_eq!(
        info["process_types"]["release"],
        "release.wasm migrating env=STAGE exit-env=RELEASE_EXIT"
    );
    assert_eq!(info["process_types"]["web"], "web.wasm");
    assert!(info["size"].as_u64().unwrap() > 1000, "{info}");
    let missing = format!("sha256:{}", "0".repeat(64));
    let reply = server.api("GET", &format!("/apps/migrate/slugs/{missing}"), None, None);
    assert_eq!(reply.status, 404, "{}", reply.body);

    // A deploy is pending until its release command has run; its output streams.
    let created = server.api(
        "POST",
        "/apps/migrate/releases",
        Some(&format!(r#"{{"slug":"{slug}"}}"#)),
        None,
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let v1 = created.json();
    assert_eq!(v1["status"], "pending", "{v1}");
    assert_eq!(v1["current"], false);
    let url = v1["output_stream_url"].as_str().expect("an output URL");
    let (status, output) = fetch(url);
    assert_eq!(status, 200);
    assert_eq!(output, "hello from a one-off\nmigrating\nSTAGE=\n");
    wait_for_status(&server, "migrate", 1, "succeeded");
    wait_for_body(&server, "migrate", "KUMO_RELEASE_VERSION=v1\n");
    // The `release` process type is no part of the formation.
    let formation = server
        .api("GET", "/apps/migrate/formation", None, None)
        .json();
    let types: Vec<&str> = formation
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["web"]);

    // A failing release command: the CLI shows its output and fails, the
    // release is marked failed, and v1 keeps serving.
    let out = kumo(
        &server,
        &["config:set", "-a", "migrate", "STAGE=two", "RELEASE_EXIT=3"],
    );
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "stdout: {so}\nstderr: {se}");
    assert!(so.contains("done, v2"), "{so}");
    assert!(
        so.contains("Running release command...\nhello from a one-off\nmigrating\nSTAGE=two\n"),
        "{so}"
    );
    assert!(
        se.contains("Release v2 failed") && se.contains("kumo releases:output v2 -a migrate"),
        "{se}"
    );
    let v2 = server
        .api("GET", "/apps/migrate/releases/2", None, None)
        .json();
    assert_eq!(v2["status"], "failed");
    assert_eq!(v2["current"], false);
    assert_eq!(v2["eligible_for_rollback"], false);
    let body = wait_for_body(&server, "migrate", "KUMO_RELEASE_VERSION=v1\n");
    assert!(!body.contains("STAGE=two"), "{body}");
    let config = server
        .api("GET", "/apps/migrate/config-vars", None, None)
        .json();
    assert!(config.get("STAGE").is_none(), "{config}");

    // Its output stays readable, from the API and the CLI.
    let output = stdout(&kumo(&server, &["releases:output", "v2", "-a", "migrate"]));
    assert!(
        output.starts_with("hello from a one-off\nmigrating\nSTAGE=two\n"),
        "{output}"
    );
    assert!(
        output.contains(
            "Release v2 failed: the release command ended with \"Process exited with status 1\""
        ),
        "{output}"
    );
    let listed = stdout(&kumo(&server, &["releases", "-a", "migrate"]));
    assert!(listed.contains("(release command failed)"), "{listed}");
    let rollback = server.api(
        "POST",
        "/apps/migrate/releases",
        Some(r#"{"release":"2"}"#),
        None,
    );
    assert_eq!(rollback.status, 422, "{}", rollback.body);
    assert!(rollback.body.contains("v2 failed"), "{}", rollback.body);

    // The release dyno's lines are in the app's logs.
    let logs = stdout(&kumo(&server, &["logs", "-a", "migrate", "-n", "1500"]));
    assert!(logs.contains(" app[release.2]: STAGE=two"), "{logs}");
    assert!(logs.contains(" kumo[api]: Release v2 failed"), "{logs}");

    // Fixed: the next release passes and goes live, with v2's failed change gone.
    let out = stdout(&kumo(
        &server,
        &["config:set", "-a", "migrate", "STAGE=three"],
    ));
    assert!(out.contains("Release v3 is live"), "{out}");
    let body = wait_for_body(&server, "migrate", "KUMO_RELEASE_VERSION=v3\n");
    assert!(body.contains("STAGE=three\n"), "{body}");
    assert!(!body.contains("RELEASE_EXIT"), "{body}");
    let v3 = server
        .api("GET", "/apps/migrate/releases/3", None, None)
        .json();
    assert_eq!(v3["current"], true);
    let (_, output) = fetch(v3["output_stream_url"].as_str().unwrap());
    assert_eq!(output, "hello from a one-off\nmigrating\nSTAGE=three\n");
}
