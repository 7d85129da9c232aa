//! The `kumo` user commands against a real server: create an app, deploy a
//! prebuilt component, set config, list releases; and errors that say what to fix.

use crate::support::{self, Server, kumo, kumo_env, stdout};
use std::process::Command;

fn wait_for_body(server: &Server, app: &str, expected: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let reply = server.get(app, "/");
        if reply.status == 200 && reply.body.contains(expected) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{app} never answered {expected:?}: {} {}",
            reply.status,
            reply.body
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn create_deploy_configure_and_list() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");

    let out = stdout(&kumo(&server, &["apps:create", "hello-app"]));
    assert_eq!(
        out,
        format!(
            "Creating ⬢ hello-app... done\nhttp://hello-app.localhost:{}/\n",
            server.router_port
        )
    );

    let out = stdout(&kumo(
        &server,
        &[
            "deploy",
            "-a",
            "hello-app",
            "--wasm",
            kumo_tests::components::HELLO,
        ],
    ));
    assert!(out.contains("-----> Uploading slug "), "{out}");

    // `open` hands the URL to $BROWSER.
    let opened = stdout(&kumo_env(
        &server,
        &server.token,
        &["open", "-a", "hello-app", "/about"],
        None,
        &[("BROWSER", "echo")],
    ));
    let url = format!("http://hello-app.localhost:{}/about", server.router_port);
    assert_eq!(opened, format!("Opening ⬢ hello-app... {url}\n{url}\n"));
    assert!(out.contains("-----> Releasing... done, v1\n"), "{out}");
    assert!(
        out.ends_with(&format!(
            "http://hello-app.localhost:{}/ deployed to Kumo\n",
            server.router_port
        )),
        "{out}"
    );
    wait_for_body(&server, "hello-app", "hello from kumo");

    let out = stdout(&kumo(
        &server,
        &[
            "config:set",
            "-a",
            "hello-app",
            "GREETING=hi there",
            "MODE=test",
        ],
    ));
    assert_eq!(
        out,
        "Setting GREETING, MODE and restarting ⬢ hello-app... done, v2\nGREETING: hi there\nMODE:     test\n"
    );
    let out = stdout(&kumo(&server, &["config", "-a", "hello-app"]));
    assert!(out.starts_with("=== hello-app Config Vars\n"), "{out}");

    let out = stdout(&kumo(&server, &["releases", "-a", "hello-app"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "=== hello-app Releases - Current: v2");
    assert!(
        lines[1].starts_with("v2") && lines[1].contains("Set GREETING, MODE config vars"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("v1") && lines[2].contains("Deploy "),
        "{out}"
    );
    assert!(lines[2].contains("admin@kumo.local"), "{out}");

    // A WASI preview 1 CGI program is converted and runs as a CGI web process.
    stdout(&kumo(&server, &["apps:create", "cgi-app"]));
    let out = stdout(&kumo(
        &server,
        &[
            "deploy",
            "-a",
            "cgi-app",
            "--wasm",
            kumo_tests::components::CGI,
        ],
    ));
    assert!(out.contains("done, v1"), "{out}");
    wait_for_body(&server, "cgi-app", "method=GET");

    let out = stdout(&kumo(&server, &["apps"]));
    assert_eq!(out, "=== My Apps\ncgi-app\nhello-app\n");
}

#[test]
fn errors_say_what_to_fix_and_exit_non_zero() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");

    let out = kumo(&server, &["apps:create", "Bad_Name"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid app name `Bad_Name`"),
        "{out:?}"
    );

    stdout(&kumo(&server, &["apps:create", "target"]));
    let junk = data.path().join("junk.wasm");
    std::fs::write(&junk, "this is not wasm").unwrap();
    let out = kumo(
        &server,
        &["deploy", "-a", "target", "--wasm", junk.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a Wasm file"),
        "{out:?}"
    );

    let out = kumo(&server, &["config:set", "-a", "target", "NOEQUALS"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`NOEQUALS` is invalid: write KEY=value"),
        "{out:?}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_kumo"))
        .args(["apps"])
        .env("KUMO_HOST", format!("http://127.0.0.1:{}", server.api_port))
        .env("KUMO_API_KEY", "kumo_wrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Invalid credentials provided."),
        "{out:?}"
    );
}

#[test]
fn scale_restart_rollback_maintenance_and_destroy() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    stdout(&kumo(&server, &["apps:create", "ops"]));
    stdout(&kumo(
        &server,
        &["deploy", "-a", "ops", "--wasm", kumo_tests::components::ENV],
    ));
    wait_for_body(&server, "ops", "DYNO=web.1");

    let out = stdout(&kumo(
        &server,
        &["ps:scale", "-a", "ops", "web=2:standard-2X"],
    ));
    assert_eq!(
        out,
        "Scaling dynos... done, now running web at 2:standard-2X\n"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let out = stdout(&kumo(&server, &["ps", "-a", "ops"]));
        // While dynos are replaced, the old ones show too; wait for the new formation alone.
        if out.starts_with("=== web (standard-2X): `app.wasm` (2)\n")
            && out.contains("web.1: up")
            && out.contains("web.2: up")
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "web.2 never came up:\n{out}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = kumo(&server, &["ps:scale", "-a", "ops", "web=lots"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("`lots` in `web=lots` is not a number of dynos")
    );
    assert_eq!(
        stdout(&kumo(&server, &["ps:restart", "-a", "ops", "web.1"])),
        "Restarting web.1 dyno on ⬢ ops... done\n"
    );

    stdout(&kumo(&server, &["config:set", "-a", "ops", "COLOR=red"]));
    wait_for_body(&server, "ops", "COLOR=red");
    assert_eq!(
        stdout(&kumo(&server, &["config:get", "-a", "ops", "COLOR"])),
        "red\n"
    );
    assert_eq!(
        stdout(&kumo(&server, &["rollback", "-a", "ops"])),
        "Rolling back ⬢ ops... done, v3\n"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while server.get("ops", "/").body.contains("COLOR=red") {
        assert!(
            std::time::Instant::now() < deadline,
            "the rollback never took effect"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = stdout(&kumo(&server, &["releases", "-a", "ops"]));
    assert!(
        out.lines().nth(1).unwrap().contains("Rollback to v1"),
        "{out}"
    );
    let out = stdout(&kumo(&server, &["releases:info", "-a", "ops", "v2"]));
    assert!(
        out.starts_with(
            "=== Release v2\nBy:          admin@kumo.local\nChange:      Set COLOR config vars\n"
        ),
        "{out}"
    );
    assert!(out.ends_with("=== v2 Config vars\nCOLOR: red\n"), "{out}");
    let missing = kumo(&server, &["ps:stop", "-a", "ops", "worker.9"]);
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("Couldn't find dyno worker.9 on ops.")
    );
    assert_eq!(
        stdout(&kumo(&server, &["ps:stop", "-a", "ops", "web.2"])),
        "Stopping web.2 dyno on ⬢ ops... done\n"
    );
    assert_eq!(
        stdout(&kumo(&server, &["config:unset", "-a", "ops", "NOTHING"])),
        "Unsetting NOTHING and restarting ⬢ ops... done, v4\n"
    );

    assert_eq!(
        stdout(&kumo(&server, &["maintenance:on", "-a", "ops"])),
        "Enabling maintenance mode for ⬢ ops... done\n"
    );
    let out = stdout(&kumo(&server, &["apps:info", "-a", "ops"]));
    assert!(out.contains("Maintenance: on"), "{out}");
    stdout(&kumo(&server, &["maintenance:off", "-a", "ops"]));

    let out = kumo(&server, &["apps:destroy", "-a", "ops"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run again with --confirm ops"));
    assert_eq!(
        stdout(&kumo(
            &server,
            &["apps:destroy", "-a", "ops", "--confirm", "ops"]
        )),
        "Destroying ⬢ ops... done\n"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while server.get("ops", "/").status != 404 {
        assert!(
            std::time::Instant::now() < deadline,
            "a destroyed app must stop being routed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn logs_show_and_tail_app_and_router_lines() {
    use std::io::{BufRead, BufReader};
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    stdout(&kumo(&server, &["apps:create", "chatty"]));
    stdout(&kumo(
        &server,
        &[
            "deploy",
            "-a",
            "chatty",
            "--wasm",
            kumo_tests::components::LOGGER,
        ],
    ));
    wait_for_body(&server, "chatty", "logged");

    let out = stdout(&kumo(&server, &["logs", "-a", "chatty", "-n", "1500"]));
    assert!(out.contains(" app[web.1]: out line 1\n"), "{out}");
    assert!(out.contains(" app[web.1]: err line 1\n"), "{out}");
    assert!(
        out.contains(" kumo[router]: at=info method=GET path=\"/\" host=chatty.localhost"),
        "{out}"
    );
    assert!(
        out.contains(" kumo[web.1]: State changed from starting to up\n"),
        "{out}"
    );
    let app_only = stdout(&kumo(&server, &["logs", "-a", "chatty", "--source", "app"]));
    assert!(
        app_only.contains("out line 1") && !app_only.contains("kumo[router]"),
        "{app_only}"
    );
    let two = stdout(&kumo(
        &server,
        &["logs", "-a", "chatty", "-n", "2", "--source", "app"],
    ));
    assert_eq!(two.lines().count(), 2, "{two}");
    let bad = kumo(&server, &["logs", "-a", "chatty", "--source", "nope"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown log source `nope`"));

    // --tail streams new lines as requests arrive.
    let mut child = Command::new(env!("CARGO_BIN_EXE_kumo"))
        .args([
            "logs", "-a", "chatty", "--tail", "-n", "0", "--source", "app",
        ])
        .env("KUMO_HOST", format!("http://127.0.0.1:{}", server.api_port))
        .env("KUMO_API_KEY", &server.token)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(server.get("chatty", "/").status, 200);
    let first = lines.next().unwrap().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.ends_with(" app[web.1]: out line 1"), "{first}");
}

#[test]
fn custom_domains_route_to_the_app() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    stdout(&kumo(&server, &["apps:create", "branded"]));
    stdout(&kumo(
        &server,
        &[
            "deploy",
            "-a",
            "branded",
            "--wasm",
            kumo_tests::components::HELLO,
        ],
    ));
    wait_for_body(&server, "branded", "hello from kumo");

    let out = stdout(&kumo(
        &server,
        &["domains:add", "-a", "branded", "WWW.Example.TEST"],
    ));
    assert_eq!(out, "Adding www.example.test to ⬢ branded... done\n");
    let out = stdout(&kumo(&server, &["domains", "-a", "branded"]));
    assert_eq!(
        out,
        "=== branded Kumo Domain\nbranded.localhost\n\n=== branded Custom Domains\nwww.example.test\n"
    );
    let routed = |host: &str| support::http(server.router_port, host, "GET", "/", &[], "");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while routed("www.example.test").status != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the custom domain was never routed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(routed("www.example.test").body, "hello from kumo\n");

    stdout(&kumo(&server, &["apps:create", "other"]));
    let taken = kumo(&server, &["domains:add", "-a", "other", "www.example.test"]);
    assert_eq!(taken.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&taken.stderr).contains("www.example.test is already in use"));
    let bad = kumo(&server, &["domains:add", "-a", "other", "not a host"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid hostname"));

    assert_eq!(
        stdout(&kumo(
            &server,
            &["domains:remove", "-a", "branded", "www.example.test"]
        )),
        "Removing www.example.test from ⬢ branded... done\n"
    );
    while routed("www.example.test").status != 404 {
        assert!(
            std::time::Instant::now() < deadline,
            "a removed domain must stop being routed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
