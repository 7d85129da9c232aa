//! A database's life around its app: it outlives the app's sleep and wake; a
//! provisioning against a Postgres server that is down says so, makes
//! nothing and leaves the app serving; and on the embedded defaults the
//! server makes and restarts its own private cluster.

use crate::addon_apps::addons_postgres;
use crate::builds::wait_for;
use crate::support::{Server, kumo, stdout};
use std::time::{Duration, Instant};

/// Creates `app`, gives it a Postgres add-on and deploys the Spin SDK guest
/// that counts visits in it (`GET /?note=…` → `visits=N last=…`).
fn app_with_database(server: &Server, app: &str) {
    stdout(&kumo(server, &["apps:create", app]));
    let created = kumo(server, &["addons:create", "kumo-postgresql", "-a", app]);
    assert!(created.status.success(), "{created:?}");
    let deployed = kumo(
        server,
        &["deploy", "-a", app, "--wasm", kumo_tests::components::PG],
    );
    assert!(deployed.status.success(), "{deployed:?}");
}

#[test]
fn a_database_outlives_sleep_and_wake() {
    let pg = addons_postgres();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &["--addons-postgres-url", &pg, "--sleep-after", "1s"],
        "Router listening on",
    );
    app_with_database(&server, "sleeper");
    stdout(&kumo(&server, &["ps:scale", "-a", "sleeper", "web=1:eco"]));
    wait_for(&server, "sleeper", "/?note=before", "last=before");
    // Asleep: the web dyno is idle and holds no instance.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ps = stdout(&kumo(&server, &["ps", "-a", "sleeper"]));
        if ps.contains("idle") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sleeper never went to sleep:\n{ps}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let woken = server.get("sleeper", "/?note=after");
    assert_eq!(woken.status, 200, "{}", woken.body);
    assert!(woken.body.starts_with("visits="), "{}", woken.body);
    assert!(woken.body.ends_with("last=after"), "{}", woken.body);
    let count: u64 = woken.body["visits=".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(count >= 2, "the woken app lost its rows: {}", woken.body);
}

#[test]
fn provisioning_on_a_server_that_is_down_makes_nothing() {
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = down.local_addr().unwrap().port();
    drop(down);
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &["--addons-postgres-url", &url],
        "Router listening on",
    );
    stdout(&kumo(&server, &["apps:create", "steady"]));
    let deployed = kumo(
        &server,
        &[
            "deploy",
            "-a",
            "steady",
            "--wasm",
            kumo_tests::components::HELLO,
        ],
    );
    assert!(deployed.status.success(), "{deployed:?}");
    wait_for(&server, "steady", "/", "");
    let releases = stdout(&kumo(&server, &["releases", "-a", "steady", "--json"]));

    let created = kumo(
        &server,
        &["addons:create", "kumo-postgresql", "-a", "steady"],
    );
    assert!(!created.status.success(), "{created:?}");
    let said = String::from_utf8_lossy(&created.stderr);
    assert!(
        said.contains("unreachable") && said.contains("Nothing was created"),
        "{said}"
    );
    // Nothing half-made: no add-on, no release, no config var; still serving.
    let addons = stdout(&kumo(&server, &["addons", "-a", "steady", "--json"]));
    assert_eq!(addons.trim(), "[]", "{addons}");
    assert_eq!(
        stdout(&kumo(&server, &["releases", "-a", "steady", "--json"])),
        releases
    );
    let config = stdout(&kumo(&server, &["config", "-a", "steady", "--json"]));
    assert!(!config.contains("DATABASE_URL"), "{config}");
    assert_eq!(server.get("steady", "/").status, 200);
    let all = server.api("GET", "/addons", None, None);
    assert_eq!(all.json(), serde_json::json!([]), "{}", all.body);
}

/// Stops the private cluster a test server started under `data`, since a
/// killed server leaves it running (a restarted one takes it over).
struct StopCluster(std::path::PathBuf);

impl Drop for StopCluster {
    fn drop(&mut self) {
        let cluster = self.0.join("addons/postgres/data");
        let Some(pg_ctl) = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin/pg_ctl"))
            .find(|p| p.exists())
        else {
            return;
        };
        let mut stop = if is_root() {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&pg_ctl);
            command
        } else {
            std::process::Command::new(&pg_ctl)
        };
        let _ = stop
            .args(["stop", "-m", "immediate", "-D"])
            .arg(&cluster)
            .output();
    }
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[test]
fn the_embedded_defaults_run_a_private_cluster() {
    assert!(
        std::path::Path::new("/usr/lib/postgresql").exists(),
        "this test needs Debian's postgresql package (apt-get install postgresql); scripts/test installs it"
    );
    let data = tempfile::tempdir().unwrap();
    let _stop = StopCluster(data.path().to_path_buf());
    let mut server = Server::start(data.path(), &[], "Router listening on");
    app_with_database(&server, "local");
    wait_for(&server, "local", "/?note=one", "visits=1 last=one");
    let url = stdout(&kumo(
        &server,
        &["config:get", "DATABASE_URL", "-a", "local"],
    ));
    assert!(url.starts_with("postgres://"), "{url}");
    assert!(url.contains("@127.0.0.1:"), "{url}");
    // Over TCP the cluster wants the add-on's password: none gets nowhere.
    let (credentials, place) = url.trim().split_once('@').unwrap();
    let (user, _password) = credentials.rsplit_once(':').unwrap();
    let no_password = format!("{user}@{place}");
    let refused = std::process::Command::new("psql")
        .args([no_password.as_str(), "-c", "select 1"])
        .env("PGPASSWORD", "")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("psql runs");
    assert!(!refused.status.success(), "{refused:?}");

    // A restarted server takes its cluster over: the data is still there.
    drop(server);
    server = Server::start(data.path(), &[], "Router listening on");
    wait_for(&server, "local", "/?note=two", "visits=2 last=two");
}

#[test]
fn another_account_sees_nothing_of_an_apps_addons() {
    let pg = addons_postgres();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &["--addons-postgres-url", &pg],
        "Router listening on",
    );
    stdout(&kumo(&server, &["apps:create", "private-db"]));
    let created = kumo(
        &server,
        &["addons:create", "kumo-postgresql", "-a", "private-db"],
    );
    assert!(created.status.success(), "{created:?}");
    let addons = server
        .api("GET", "/apps/private-db/addons", None, None)
        .json();
    let id = addons[0]["id"].as_str().unwrap().to_string();
    let name = addons[0]["name"].as_str().unwrap().to_string();

    let out = stdout(&kumo(&server, &["accounts:create", "mallory@example.com"]));
    let key = out
        .lines()
        .find_map(|l| l.split(": ").nth(1).filter(|k| k.starts_with("kumo_")))
        .unwrap_or_else(|| panic!("no key in {out}"))
        .to_string();
    let theirs =
        |method: &str, path: &str, body: Option<&str>| server.api(method, path, body, Some(&key));
    for path in [
        format!("/addons/{id}"),
        format!("/addons/{name}"),
        format!("/addons/{id}/config"),
    ] {
        let reply = theirs("GET", &path, None);
        assert_eq!(reply.status, 404, "{path}: {}", reply.body);
        assert!(
            !reply.body.contains("postgres://"),
            "{path}: {}",
            reply.body
        );
    }
    assert_eq!(theirs("GET", "/addons", None).json(), serde_json::json!([]));
    assert_eq!(
        theirs("GET", "/addon-attachments", None).json(),
        serde_json::json!([])
    );
    assert_eq!(theirs("GET", "/apps/private-db/addons", None).status, 403);
    assert_eq!(
        theirs("GET", "/apps/private-db/config-vars", None).status,
        403
    );
    // Nor can they attach it to an app of their own.
    assert_eq!(
        theirs("POST", "/apps", Some(r#"{"name":"mallorys"}"#)).status,
        201
    );
    let attach = theirs(
        "POST",
        "/addon-attachments",
        Some(&format!(r#"{{"addon":"{name}","app":"mallorys"}}"#)),
    );
    assert_eq!(attach.status, 404, "{}", attach.body);
    let config = theirs("GET", "/apps/mallorys/config-vars", None);
    assert!(!config.body.contains("postgres://"), "{}", config.body);
}
