//! `kumo server` as a user runs it: the stable start-up lines, the demo app
//! answering through the router, and clear errors for bad flags.

use crate::support::Server;
use std::process::Command;

#[test]
fn server_demo_deploys_an_app_that_answers() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(data.path(), &["--demo"], "Demo app deployed: ");
    let url = server.wait_for_line("Demo app deployed: ", std::time::Duration::from_secs(1));
    assert_eq!(
        url,
        format!(
            "Demo app deployed: http://demo.localhost:{}/",
            server.router_port
        )
    );
    assert!(
        server
            .lines
            .iter()
            .any(|l| l == "-----> Building the demo app (Rust, wasm32-wasip2)"),
        "{:?}",
        server.lines
    );

    let reply = server.get("demo", "/");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body,
        "Hello from Kumo! Served by web.1 of release v1.\n"
    );
    assert_eq!(server.get("nothing", "/").status, 404);

    // The demo is an ordinary app of the admin's, in the ledger.
    let releases = server.api("GET", "/apps/demo/releases", None, None).json();
    assert!(
        releases[0]["description"]
            .as_str()
            .unwrap()
            .starts_with("Deploy "),
        "{releases}"
    );
    drop(server);

    // A second start finds it deployed and serves it again without building.
    let server = Server::start(data.path(), &["--demo"], "Demo app deployed: ");
    assert!(
        !server.lines.iter().any(|l| l.contains("Building")),
        "{:?}",
        server.lines
    );
    let reply = server.get("demo", "/");
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[test]
fn bad_flags_are_refused_with_the_fix() {
    let kumo = || Command::new(env!("CARGO_BIN_EXE_kumo"));
    let output = kumo()
        .args(["server", "--router-listen", "nonsense"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid --router-listen `nonsense`: use an address like 127.0.0.1:8080"),
        "{stderr}"
    );
    let output = kumo().args(["server", "--domain", "a/b"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid --domain `a/b`"));
    let output = kumo()
        .args(["server", "--database-url", "mysql://x"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid --database-url `mysql://x`"));
    let output = kumo()
        .args(["server", "--api-rate-limit", "lots"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("invalid value 'lots' for '--api-rate-limit")
    );
    let output = kumo()
        .args(["server", "--max-instances", "0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("invalid value '0' for '--max-instances")
    );

    // A node name that is not one, an address other nodes cannot use.
    for (flag, value, message) in [
        (
            "--node",
            "Node_1",
            "invalid node name `Node_1`: use up to 63 lowercase letters, digits, dots and dashes",
        ),
        (
            "--advertise",
            "10.0.0.2:5000",
            "invalid --advertise `10.0.0.2:5000`: use the URL other nodes reach this server's API at",
        ),
    ] {
        let output = kumo().args(["server", flag, value]).output().unwrap();
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{stderr}");
    }

    // A slug store that is no S3 URL, or one that cannot be reached, stops the start.
    let data = tempfile::tempdir().unwrap();
    let output = kumo()
        .args(["server", "--slug-store", "ftp://x"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid --slug-store `ftp://x`"));
    let output = kumo()
        .args([
            "server",
            "--api-listen",
            "127.0.0.1:0",
            "--router-listen",
            "127.0.0.1:0",
        ])
        .args([
            "--slug-store",
            "s3://slugs?endpoint=http://127.0.0.1:9&region=x",
        ])
        .arg("--data-dir")
        .arg(data.path())
        .env("AWS_ACCESS_KEY_ID", "k")
        .env("AWS_SECRET_ACCESS_KEY", "s")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "cannot reach the slug store s3://slugs?endpoint=http://127.0.0.1:9&region=x"
        ),
        "{stderr}"
    );
}

#[test]
fn private_outbound_is_off_unless_the_operator_turns_it_on() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on ");
    assert!(
        !server
            .lines
            .iter()
            .any(|l| l.contains("--allow-private-outbound")),
        "{:?}",
        server.lines
    );
    drop(server);
    let server = Server::start(
        data.path(),
        &["--allow-private-outbound"],
        "Router listening on ",
    );
    assert!(
        server.lines.iter().any(|l| l
            == "Dynos may reach loopback and private addresses their apps allow (--allow-private-outbound)"),
        "{:?}",
        server.lines
    );
}
