//! Interrupted work: `kumo server` is killed with SIGKILL while a build runs
//! its toolchain, or while a release runs its release phase. After the restart
//! the build or release is reported failed, saying why; no release was made
//! or none became current; the previous release serves; nothing the killed
//! server was writing is left in its data folder; and the next deploy works.

use crate::support::{Server, kumo, stdout};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `kumo ARGS` against `server` in the background (its output is not read).
fn spawn_kumo(server: &Server, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kumo"))
        .args(args)
        .env("KUMO_HOST", format!("http://127.0.0.1:{}", server.api_port))
        .env("KUMO_API_KEY", &server.token)
        .env("NETRC", server.data.join("netrc"))
        .env("KUMO_DATA_DIR", server.data.join("no-such-folder"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run kumo")
}

/// Waits, up to `timeout`, until `done` holds; panics with `what` otherwise.
fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether a process whose command line contains `pattern` runs on the machine.
fn running(pattern: &str) -> bool {
    let out = Command::new("pgrep")
        .args(["-f", pattern])
        .output()
        .unwrap();
    !out.stdout.is_empty()
}

/// Kills the processes whose command line contains its pattern when dropped,
/// so a failing test leaves no toolchain of the killed server running.
struct KillOnDrop(String);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let Ok(out) = Command::new("pgrep").args(["-f", &self.0]).output() else {
            return;
        };
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
    }
}

/// What the app answers once it answers 200 with `needle` in it.
fn wait_for_body(server: &Server, app: &str, needle: &str) -> String {
    let mut body = String::new();
    wait_until(
        &format!("{app} answering with {needle:?}"),
        Duration::from_secs(60),
        || {
            let reply = server.get(app, "/");
            body = reply.body;
            reply.status == 200 && body.contains(needle)
        },
    );
    body
}

/// The names in `dir` (none if it does not exist), sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Each running dyno of `app` has one folder under `<data>/dynos/<app>`, and
/// soon nothing else is there: no folder of a dyno the killed server ran, nor
/// of one that has stopped (those are removed as they end).
fn only_running_dynos_have_folders(server: &Server, app: &str, dynos: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let folders = entries(&server.data.join("dynos").join(app));
        let named: Vec<&str> = folders
            .iter()
            .map(|f| f.rsplit_once('-').map_or(f.as_str(), |(name, _)| name))
            .collect();
        if named == dynos {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{app}'s dyno folders are {folders:?}, not one for each of {dynos:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn write_files(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

#[test]
fn a_build_cut_short_by_a_kill_fails_and_leaves_nothing_behind() {
    let data = tempfile::tempdir().unwrap();
    let sources = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    stdout(&kumo(&server, &["apps:create", "halted"]));

    // v1: a prebuilt component, built and serving.
    let prebuilt = sources.path().join("prebuilt");
    write_files(&prebuilt, &[("Procfile", "web: env.wasm\n")]);
    std::fs::copy(kumo_tests::components::ENV, prebuilt.join("env.wasm")).unwrap();
    stdout(&kumo(
        &server,
        &["deploy", "-a", "halted", &prebuilt.display().to_string()],
    ));
    wait_for_body(&server, "halted", "KUMO_RELEASE_VERSION=v1\n");
    let slugs_before = entries(&data.path().join("slug-store/slugs"));
    assert_eq!(slugs_before.len(), 1, "{slugs_before:?}");

    // A C app whose make sleeps: the kill lands while its toolchain runs.
    let slow = sources.path().join("slow");
    let sleep = format!("sleep 3600.{}", std::process::id());
    let _sleeps = KillOnDrop(sleep.clone());
    write_files(
        &slow,
        &[
            ("Makefile", &format!("app.wasm:\n\t{sleep}\n")),
            ("Procfile", "web: app.wasm\n"),
        ],
    );
    let mut deploy = spawn_kumo(
        &server,
        &["deploy", "-a", "halted", &slow.display().to_string()],
    );
    wait_until("make running the build", Duration::from_secs(120), || {
        running(&sleep)
    });
    let builds = server.api("GET", "/apps/halted/builds", None, None).json();
    let pending: Vec<&str> = builds
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["status"] == "pending")
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    let [id] = pending[..] else {
        panic!("one build runs: {builds}")
    };
    let id = id.to_string();
    assert!(
        data.path().join("builds").join(&id).is_dir(),
        "the build works in <data>/builds/{id}"
    );

    drop(server); // SIGKILL
    wait_until(
        "the deploy command failing",
        Duration::from_secs(30),
        || deploy.try_wait().unwrap().is_some(),
    );
    assert!(!deploy.wait().unwrap().success());

    let server = Server::start(data.path(), &[], "Router listening on");
    assert!(
        server.lines.contains(&format!(
            "Build {id} was running when Kumo stopped: marked failed"
        )),
        "{:?}",
        server.lines
    );
    // The toolchain the killed server started is stopped with it.
    wait_until(
        "the build's make to be stopped",
        Duration::from_secs(10),
        || !running(&sleep),
    );

    // The build is failed, and says why: in the API, `kumo builds` and its output.
    let build = server
        .api("GET", &format!("/apps/halted/builds/{id}"), None, None)
        .json();
    assert_eq!(build["status"], "failed", "{build}");
    assert!(build["release"].is_null(), "{build}");
    let listed = stdout(&kumo(&server, &["builds", "-a", "halted"]));
    let line = listed.lines().find(|l| l.starts_with(&id)).unwrap();
    assert!(line.contains(" failed "), "{listed}");
    let output = stdout(&kumo(&server, &["builds:output", "-a", "halted", &id]));
    assert!(
        output.contains("the Kumo server stopped while it ran")
            && output.contains("marked failed when the server started again")
            && output.ends_with(" !     Push rejected, failed to compile the app.\n"),
        "{output}"
    );

    // No release was made, and v1 serves again.
    let releases = server
        .api("GET", "/apps/halted/releases", None, None)
        .json();
    assert_eq!(releases.as_array().unwrap().len(), 1, "{releases}");
    assert_eq!(releases[0]["current"], true);
    wait_for_body(&server, "halted", "KUMO_RELEASE_VERSION=v1\n");

    // Nothing half-written is left: no build folder, no source, no new slug,
    // no folder of the killed server's dynos.
    assert_eq!(entries(&data.path().join("builds")), Vec::<String>::new());
    assert_eq!(entries(&data.path().join("sources")), Vec::<String>::new());
    assert_eq!(entries(&data.path().join("slug-store/slugs")), slugs_before);
    assert!(
        !entries(&data.path().join("slugs"))
            .iter()
            .any(|s| s.contains("partial")),
        "{:?}",
        entries(&data.path().join("slugs"))
    );
    only_running_dynos_have_folders(&server, "halted", &["web.1"]);

    // The same app builds again, with the same toolchain and cache.
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/c-hello/hello.c"),
        slow.join("hello.c"),
    )
    .unwrap();
    std::fs::write(
        slow.join("Makefile"),
        "app.wasm: hello.c\n\t$(CC) -O2 -o app.wasm hello.c\n",
    )
    .unwrap();
    let out = stdout(&kumo(
        &server,
        &["deploy", "-a", "halted", &slow.display().to_string()],
    ));
    assert!(out.contains("Released v2"), "{out}");
    let body = wait_for_body(&server, "halted", "Hello from C on Kumo");
    assert!(body.contains("of release v2"), "{body}");
    assert_eq!(entries(&data.path().join("builds")), Vec::<String>::new());
}

#[test]
fn a_release_phase_cut_short_by_a_kill_fails_and_the_previous_release_serves() {
    let data = tempfile::tempdir().unwrap();
    let sources = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    stdout(&kumo(&server, &["apps:create", "migrating"]));

    // The release command prints a line, then sleeps for HOLD seconds if set.
    let app = sources.path().join("app");
    write_files(
        &app,
        &[(
            "Procfile",
            "web: env.wasm\nrelease: release.wasm release-started sleep-env=HOLD\n",
        )],
    );
    std::fs::copy(kumo_tests::components::ENV, app.join("env.wasm")).unwrap();
    std::fs::copy(kumo_tests::components::ONESHOT, app.join("release.wasm")).unwrap();
    let out = stdout(&kumo(
        &server,
        &["deploy", "-a", "migrating", &app.display().to_string()],
    ));
    assert!(out.contains("Release v1 is live"), "{out}");
    wait_for_body(&server, "migrating", "KUMO_RELEASE_VERSION=v1\n");

    // v2's release command holds for an hour: the kill lands while it runs.
    let set = server.api(
        "PATCH",
        "/apps/migrating/config-vars",
        Some(r#"{"HOLD":"3600"}"#),
        None,
    );
    assert!((200..300).contains(&set.status), "{}", set.body);
    let v2 = server
        .api("GET", "/apps/migrating/releases/2", None, None)
        .json();
    assert_eq!(v2["status"], "pending", "{v2}");
    wait_until("release.2 running", Duration::from_secs(60), || {
        let logs = stdout(&kumo(&server, &["logs", "-a", "migrating", "-n", "200"]));
        logs.contains("app[release.2]: release-started")
    });
    let folders = entries(&data.path().join("dynos/migrating"));
    assert!(
        folders.iter().any(|f| f.starts_with("release.2-")),
        "{folders:?}"
    );

    drop(server); // SIGKILL
    let server = Server::start(data.path(), &[], "Router listening on");
    assert!(
        server.lines.contains(
            &"Release v2 was in its release phase when Kumo stopped: marked failed".to_string()
        ),
        "{:?}",
        server.lines
    );

    // v2 failed and never became current; v1 serves, without v2's config.
    let v2 = server
        .api("GET", "/apps/migrating/releases/2", None, None)
        .json();
    assert_eq!(v2["status"], "failed", "{v2}");
    assert_eq!(v2["current"], false);
    let listed = stdout(&kumo(&server, &["releases", "-a", "migrating"]));
    assert!(
        listed.starts_with("=== migrating Releases - Current: v1\n"),
        "{listed}"
    );
    let line = listed.lines().find(|l| l.starts_with("v2 ")).unwrap();
    assert!(line.contains("(release command failed)"), "{listed}");
    let output = stdout(&kumo(
        &server,
        &["releases:output", "v2", "-a", "migrating"],
    ));
    assert!(
        output.contains("the Kumo server stopped while it ran")
            && output.contains("marked failed when the server started again"),
        "{output}"
    );
    let body = wait_for_body(&server, "migrating", "KUMO_RELEASE_VERSION=v1\n");
    assert!(!body.contains("HOLD"), "{body}");
    let config = server
        .api("GET", "/apps/migrating/config-vars", None, None)
        .json();
    assert!(config.get("HOLD").is_none(), "{config}");

    // The release dyno is gone, with its files; only web.1 runs.
    let ps = stdout(&kumo(&server, &["ps", "-a", "migrating"]));
    assert!(!ps.contains("release.2"), "{ps}");
    only_running_dynos_have_folders(&server, "migrating", &["web.1"]);

    // A new deploy runs its release phase and goes live.
    let out = stdout(&kumo(
        &server,
        &["deploy", "-a", "migrating", &app.display().to_string()],
    ));
    assert!(out.contains("Release v3 is live"), "{out}");
    wait_for_body(&server, "migrating", "KUMO_RELEASE_VERSION=v3\n");
    only_running_dynos_have_folders(&server, "migrating", &["web.1"]);
}
