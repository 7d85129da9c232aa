//! Heroku's own CLI (npm `heroku`, pinned below) against a live `kumo server`:
//! each command a Heroku user types, unchanged, and what it prints.
//!
//! `scripts/test` installs the CLI into `~/.cache/kumo/heroku-cli`;
//! `KUMO_HEROKU_CLI` may name another `heroku` executable.

use crate::support::{Server, http, kumo, stdout};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The version of Heroku's CLI this test pins.
const HEROKU_CLI_VERSION: &str = "11.3.0";

pub(crate) fn heroku_cli() -> PathBuf {
    if let Some(path) = std::env::var_os("KUMO_HEROKU_CLI") {
        return path.into();
    }
    let home = std::env::var_os("HOME").expect("HOME is set");
    let cache = std::env::var_os("KUMO_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&home).join(".cache/kumo"));
    let prefix = cache.join("heroku-cli");
    let bin = prefix.join("node_modules/.bin/heroku");
    let installed = std::fs::read_to_string(prefix.join("node_modules/heroku/package.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| v["version"].as_str().map(str::to_string));
    assert!(
        bin.exists() && installed.as_deref() == Some(HEROKU_CLI_VERSION),
        "Heroku's CLI {HEROKU_CLI_VERSION} is not installed at {} (found {installed:?}): \
         install it with `npm install --prefix {} heroku@{HEROKU_CLI_VERSION}` \
         (scripts/test does this), or set KUMO_HEROKU_CLI to a heroku executable",
        bin.display(),
        prefix.display()
    );
    bin
}

/// Heroku's CLI aimed at `server`, offline: telemetry, update checks and the
/// terms-of-service banner off, its own files in `home`.
pub(crate) fn command(server: &Server, home: &Path, token: &str, args: &[&str]) -> Command {
    let api = format!("http://127.0.0.1:{}", server.api_port);
    let mut command = Command::new(heroku_cli());
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("TZ", "UTC")
        .env("HEROKU_HOST", &api)
        .env("HEROKU_PARTICLEBOARD_URL", &api)
        // The data API (`pg:info`) on Kumo's API port: the CLI swaps only the host name.
        .env("HEROKU_DATA_HOST", "127.0.0.1")
        .env("HEROKU_API_KEY", token)
        .env("DISABLE_TELEMETRY", "true")
        .env("HEROKU_SKIP_NEW_VERSION_CHECK", "true")
        .env("HEROKU_DISABLE_AUTOUPDATE", "1")
        .current_dir(home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

pub(crate) struct Heroku<'a> {
    pub(crate) server: &'a Server,
    pub(crate) home: PathBuf,
}

impl Heroku<'_> {
    /// Heroku's CLI for `server`, its files in `<data>/home`, the terms of
    /// service already accepted.
    pub(crate) fn new<'a>(server: &'a Server, data: &Path) -> Heroku<'a> {
        let home = data.join("home");
        std::fs::create_dir_all(home.join(".cache/heroku")).unwrap();
        std::fs::write(home.join(".cache/heroku/terms-of-service"), "").unwrap();
        Heroku { server, home }
    }

    pub(crate) fn run_as(&self, token: &str, args: &[&str]) -> Output {
        command(self.server, &self.home, token, args)
            .output()
            .expect("run heroku")
    }

    /// Runs `heroku ARGS`; it must succeed. Returns (stdout, stderr).
    pub(crate) fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.run_as(&self.server.token, args);
        let (so, se) = texts(&out);
        assert!(
            out.status.success(),
            "heroku {args:?} failed ({}):\nstdout: {so}\nstderr: {se}",
            out.status
        );
        (so, se)
    }
}

pub(crate) fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub(crate) fn has(text: &str, needle: &str) {
    assert!(text.contains(needle), "{needle:?} not in:\n{text}");
}

/// What the app answers at `/`, once it contains `needle` (or lacks it).
fn wait_for_app(server: &Server, host: &str, needle: &str, present: bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = http(server.router_port, host, "GET", "/", &[], "");
        if reply.status == 200 && reply.body.contains(needle) == present {
            return reply.body;
        }
        assert!(
            Instant::now() < deadline,
            "{host} never answered {}with {needle:?}: {} {}",
            if present { "" } else { "without " },
            reply.status,
            reply.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn heroku_cli_drives_kumo() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    let heroku = Heroku::new(&server, data.path());
    let host = "hkapp.localhost";

    // apps:create, then a prebuilt component (it answers its environment) deployed with kumo.
    let (so, se) = heroku.ok(&["apps:create", "hkapp"]);
    has(
        &so,
        &format!("http://hkapp.localhost:{}/", server.router_port),
    );
    has(&se, "Creating hkapp... done");
    stdout(&kumo(
        &server,
        &[
            "deploy",
            "-a",
            "hkapp",
            "--wasm",
            kumo_tests::components::ENV,
        ],
    ));
    wait_for_app(&server, host, "KUMO_RELEASE_VERSION=v1", true);

    let (so, _) = heroku.ok(&["apps"]);
    has(&so, "=== admin@kumo.local Apps");
    has(&so, "hkapp");
    let (so, _) = heroku.ok(&["apps:info", "-a", "hkapp"]);
    has(&so, "=== hkapp");
    has(&so, "Owner:          admin@kumo.local");
    has(
        &so,
        &format!(
            "Web URL:        http://hkapp.localhost:{}/",
            server.router_port
        ),
    );
    has(&so, "Dynos:          web: 1");

    // Config vars: each change is a release the app runs.
    let (so, se) = heroku.ok(&["config:set", "FOO=bar", "BAZ=hello world", "-a", "hkapp"]);
    has(&se, "Setting FOO, BAZ and restarting hkapp... done, v2");
    has(&so, "FOO: bar");
    has(&so, "BAZ: hello world");
    wait_for_app(&server, host, "FOO=bar\n", true);
    let (so, _) = heroku.ok(&["config", "-a", "hkapp"]);
    has(&so, "=== hkapp Config Vars");
    has(&so, "BAZ: hello world\nFOO: bar");
    let (so, _) = heroku.ok(&["config:get", "FOO", "-a", "hkapp"]);
    assert_eq!(so, "bar\n");
    let (_, se) = heroku.ok(&["config:unset", "FOO", "-a", "hkapp"]);
    has(&se, "Unsetting FOO and restarting hkapp... done, v3");
    wait_for_app(&server, host, "FOO=bar\n", false);

    // Releases and rollback.
    let (so, _) = heroku.ok(&["releases", "-a", "hkapp"]);
    has(&so, "=== hkapp Releases - Current: v3");
    has(&so, "v3   Remove FOO config vars");
    has(&so, "v2   Set BAZ, FOO config vars");
    has(&so, "v1   Deploy ");
    let (so, _) = heroku.ok(&["releases:info", "v2", "-a", "hkapp"]);
    has(&so, "=== Release v2");
    has(&so, "Change:                 Set BAZ, FOO config vars");
    has(&so, "=== v2 Config vars");
    has(&so, "FOO: bar");
    let (so, _) = heroku.ok(&["releases:info", "-a", "hkapp"]);
    has(&so, "=== Release v3");
    let (_, se) = heroku.ok(&["rollback", "-a", "hkapp"]);
    has(&se, "Rolling back hkapp to v2... done, v4");
    wait_for_app(&server, host, "FOO=bar\n", true);
    wait_for_app(&server, host, "KUMO_RELEASE_VERSION=v4", true);

    // Dynos.
    let (so, _) = heroku.ok(&["ps", "-a", "hkapp"]);
    has(&so, "=== web (standard-1X): app.wasm (1)");
    has(&so, "web.1: up ");
    let (_, se) = heroku.ok(&["ps:scale", "web=2", "-a", "hkapp"]);
    has(
        &se,
        "Scaling dynos... done, now running web at 2:standard-1X",
    );
    let (_, se) = heroku.ok(&["ps:scale", "web+1", "-a", "hkapp"]);
    has(&se, "now running web at 3:standard-1X");
    let (_, se) = heroku.ok(&["ps:scale", "web-2", "-a", "hkapp"]);
    has(&se, "now running web at 1:standard-1X");
    let (so, _) = heroku.ok(&["ps:scale", "-a", "hkapp"]);
    assert_eq!(so.trim(), "web=1:standard-1X");
    let (_, se) = heroku.ok(&["ps:restart", "-a", "hkapp"]);
    has(&se, "Restarting all dynos on hkapp... done");
    let (_, se) = heroku.ok(&["ps:restart", "--process-type", "web", "-a", "hkapp"]);
    has(&se, "Restarting all web dynos on hkapp... done");
    let (_, se) = heroku.ok(&["ps:restart", "--dyno-name", "web.1", "-a", "hkapp"]);
    has(&se, "Restarting dyno web.1 on hkapp... done");

    // Logs: recent lines, and a tail that sees a request made after it started.
    http(server.router_port, host, "GET", "/recent-probe", &[], "");
    let (so, _) = heroku.ok(&["logs", "-n", "200", "-a", "hkapp"]);
    has(
        &so,
        "kumo[router]: at=info method=GET path=\"/recent-probe\"",
    );
    has(&so, "kumo[web.1]: State changed from starting to up");
    let (so, _) = heroku.ok(&["logs", "-n", "3", "--source", "app", "-a", "hkapp"]);
    assert!(!so.contains("kumo[router]"), "{so}");
    let mut tail = command(
        &server,
        &heroku.home,
        &server.token,
        &["logs", "--tail", "-a", "hkapp"],
    )
    .spawn()
    .expect("run heroku logs --tail");
    let (tx, rx) = std::sync::mpsc::channel();
    let out = tail.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    let mut probed = false;
    let found = loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                if line.contains("path=\"/tail-probe\"") {
                    break true;
                }
                seen.push(line);
            }
            Err(_) if Instant::now() > deadline => break false,
            Err(_) => {}
        }
        // Once the backlog has arrived, the stream is live: make a new line.
        if !probed && seen.iter().any(|l| l.contains("/recent-probe")) {
            http(server.router_port, host, "GET", "/tail-probe", &[], "");
            probed = true;
        }
    };
    let _ = tail.kill();
    let _ = tail.wait();
    assert!(
        found,
        "the tail never showed the new request; it printed:\n{}",
        seen.join("\n")
    );

    // Maintenance mode.
    let (_, se) = heroku.ok(&["maintenance:on", "-a", "hkapp"]);
    has(&se, "Enabling maintenance mode for hkapp... done");
    let (so, _) = heroku.ok(&["maintenance", "-a", "hkapp"]);
    assert_eq!(so.trim(), "on");
    assert_eq!(
        http(server.router_port, host, "GET", "/", &[], "").status,
        503
    );
    let (_, se) = heroku.ok(&["maintenance:off", "-a", "hkapp"]);
    has(&se, "Disabling maintenance mode for hkapp... done");
    wait_for_app(&server, host, "FOO=bar", true);

    // Custom domains, routed by the router.
    let (so, se) = heroku.ok(&["domains:add", "www.example.com", "-a", "hkapp"]);
    has(&se, "Adding www.example.com to hkapp... done");
    has(&so, "DNS Target hkapp.localhost");
    let (so, _) = heroku.ok(&["domains", "-a", "hkapp"]);
    has(&so, "=== hkapp Custom Domains");
    has(&so, "www.example.com");
    wait_for_app(&server, "www.example.com", "KUMO_APP_NAME=hkapp", true);
    let (_, se) = heroku.ok(&["domains:remove", "www.example.com", "-a", "hkapp"]);
    has(&se, "Removing www.example.com from hkapp... done");

    // Errors print the API's message.
    let out = heroku.run_as(&server.token, &["config", "-a", "nosuch"]);
    let (_, se) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    has(&se, "Couldn't find that app.");
    has(&se, "Error ID: not_found");
    let out = heroku.run_as("not-a-token", &["apps"]);
    let (_, se) = texts(&out);
    assert!(!out.status.success());
    has(&se, "The token provided to HEROKU_API_KEY is invalid");

    // API tokens: an authorization that expires, used, listed, shown and revoked.
    let (so, se) = heroku.ok(&["authorizations:create", "-d", "hk token", "-e", "60"]);
    has(&se, "Creating OAuth Authorization... done");
    has(&so, "Description: hk token");
    has(&so, "Scope:       global");
    has(&so, "Expires at:  ");
    let field = |name: &str| -> String {
        so.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {so}"))
            .trim()
            .to_string()
    };
    let (id, token) = (field("ID:"), field("Token:"));
    let out = heroku.run_as(&token, &["auth:whoami"]);
    assert!(out.status.success(), "{:?}", texts(&out));
    has(&texts(&out).0, "admin@kumo.local");
    // Heroku's CLI 11.3.0 cannot print `heroku authorizations` as a table against
    // any API (it hands its table `sort` as an object: "sort.split is not a
    // function"), so the list is read as JSON.
    let (so, _) = heroku.ok(&["authorizations", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&so).unwrap();
    let descriptions: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["description"].as_str().unwrap())
        .collect();
    assert_eq!(descriptions, ["hk token", "Kumo API key"], "{so}");
    assert!(!so.contains(&token), "{so}");
    let (so, _) = heroku.ok(&["authorizations:info", &id]);
    has(&so, &format!("ID:          {id}"));
    has(&so, "Description: hk token");
    let (_, se) = heroku.ok(&["authorizations:revoke", &id]);
    has(
        &se,
        "Revoking OAuth Authorization... done, revoked authorization from hk token",
    );
    let out = heroku.run_as(&token, &["apps"]);
    assert!(!out.status.success());
    has(
        &texts(&out).1,
        "The token provided to HEROKU_API_KEY is invalid",
    );
    let out = heroku.run_as(&server.token, &["authorizations:create", "-s", "read"]);
    let (_, se) = texts(&out);
    assert!(!out.status.success(), "{se}");
    has(&se, "Error ID: invalid_params");

    // apps:destroy.
    let (_, se) = heroku.ok(&["apps:destroy", "hkapp", "--confirm", "hkapp"]);
    has(&se, "Destroying hkapp (including all add-ons)... done");
    let (so, _) = heroku.ok(&["apps"]);
    has(&so, "You have no apps.");
}
