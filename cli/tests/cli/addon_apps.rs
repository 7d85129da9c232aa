//! Apps that keep data: `examples/rust-postgres` (a Spin SDK app on
//! `spin:postgres`, its migration in the release phase) built from source,
//! given a database with `kumo addons:create`, served through the router, and
//! its data surviving dyno restarts, a redeploy and a server restart; a slug
//! that needs a database is refused by an app without one; and
//! `examples/js-postgres`, the same counter in JavaScript on the same
//! interface, built by the JavaScript buildpack.

use crate::builds::{deploy, example, wait_for};
use crate::support::{Server, kumo, stdout};

/// The Postgres server the add-ons are made on: the one `scripts/test` starts.
pub(super) fn addons_postgres() -> String {
    std::env::var("KUMO_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "this test needs a Postgres server for add-ons: run it through scripts/test, which starts one \
             (Debian's postgresql package), or set KUMO_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:PORT/postgres"
        )
    })
}

/// The visit count the app answers, once it answers one.
fn visit(server: &Server, app: &str) -> u64 {
    let body = wait_for(server, app, "/", "Visit number ");
    body.trim()
        .strip_prefix("Visit number ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{app} answered {body:?}"))
}

#[test]
fn a_postgres_app_keeps_its_data() {
    let pg = addons_postgres();
    let data = tempfile::tempdir().unwrap();
    let flags = ["--addons-postgres-url", pg.as_str()];
    let mut server = Server::start(data.path(), &flags, "Router listening on");

    // Without a database, the release is refused and says how to add one.
    stdout(&kumo(&server, &["apps:create", "nodb"]));
    let (ok, out, err) = deploy(&server, &["-a", "nodb", &example("rust-postgres")]);
    assert!(
        !ok,
        "a slug that needs a database was released:\n{out}\n{err}"
    );
    let said = format!("{out}{err}");
    assert!(
        said.contains("has no kumo-postgresql add-on")
            && said.contains("kumo addons:create kumo-postgresql -a nodb"),
        "{said}"
    );

    stdout(&kumo(&server, &["apps:create", "visits"]));
    let created = kumo(
        &server,
        &["addons:create", "kumo-postgresql", "-a", "visits"],
    );
    assert!(created.status.success(), "{created:?}");
    let url = stdout(&kumo(
        &server,
        &["config:get", "DATABASE_URL", "-a", "visits"],
    ));
    assert!(url.starts_with("postgres://"), "{url}");
    let (ok, out, err) = deploy(&server, &["-a", "visits", &example("rust-postgres")]);
    assert!(ok, "deploy failed:\n{out}\n{err}");
    // The release phase ran the migration with the database granted.
    let output = stdout(&kumo(&server, &["releases:output", "-a", "visits"]));
    assert!(
        output.contains("migrated: table visits is ready"),
        "{output}"
    );

    let first = visit(&server, "visits");
    assert_eq!(visit(&server, "visits"), first + 1);
    let releases = stdout(&kumo(&server, &["releases", "-a", "visits"]));
    assert!(
        releases.contains("Attach DATABASE (@ref:postgresql-"),
        "{releases}"
    );

    // A restart of the app's dynos, a redeploy and a restart of Kumo keep it.
    stdout(&kumo(&server, &["ps:restart", "-a", "visits"]));
    let after_restart = visit(&server, "visits");
    assert!(after_restart > first + 1, "{after_restart}");
    let (ok, out, err) = deploy(&server, &["-a", "visits", &example("rust-postgres")]);
    assert!(ok, "redeploy failed:\n{out}\n{err}");
    let after_deploy = visit(&server, "visits");
    assert!(after_deploy > after_restart, "{after_deploy}");
    drop(server);
    server = Server::start(data.path(), &flags, "Router listening on");
    let after_server = visit(&server, "visits");
    assert!(after_server > after_deploy, "{after_server}");

    // Destroyed, the database and its credentials are gone.
    let destroyed = kumo(
        &server,
        &[
            "addons:destroy",
            "DATABASE",
            "-a",
            "visits",
            "--confirm",
            "visits",
        ],
    );
    assert!(destroyed.status.success(), "{destroyed:?}");
    let config = stdout(&kumo(&server, &["config", "-a", "visits", "--json"]));
    assert!(!config.contains("DATABASE_URL"), "{config}");
    let psql = std::process::Command::new("psql")
        .args([url.trim(), "-c", "select 1"])
        .output()
        .expect("psql runs");
    assert!(
        !psql.status.success(),
        "the destroyed database still answers"
    );

    // A rollback to a release that had the database brings back neither the
    // add-on nor its config var, and says so (its release phase, the
    // migration, then fails for want of a database: the release before serves).
    let rollback = kumo(&server, &["rollback", "-a", "visits"]);
    let warned = String::from_utf8_lossy(&rollback.stderr);
    assert!(warned.contains("doesn't add or remove add-ons"), "{warned}");
    let config = stdout(&kumo(&server, &["config", "-a", "visits", "--json"]));
    assert!(!config.contains("DATABASE_URL"), "{config}");
    let addons = stdout(&kumo(&server, &["addons", "-a", "visits", "--json"]));
    assert_eq!(addons.trim(), "[]", "{addons}");
}

#[test]
fn a_javascript_postgres_app_keeps_its_data() {
    let pg = addons_postgres();
    let data = tempfile::tempdir().unwrap();
    let flags = ["--addons-postgres-url", pg.as_str()];
    let server = Server::start(data.path(), &flags, "Router listening on");

    stdout(&kumo(&server, &["apps:create", "visits-js"]));
    let created = kumo(
        &server,
        &["addons:create", "kumo-postgresql", "-a", "visits-js"],
    );
    assert!(created.status.success(), "{created:?}");
    let (ok, out, err) = deploy(&server, &["-a", "visits-js", &example("js-postgres")]);
    assert!(ok, "deploy failed:\n{out}\n{err}");
    // The buildpack saw the import and built both components against it.
    assert!(
        out.contains("web.wasm imports spin:postgres/postgres@4.0.0")
            && out.contains("release.wasm imports spin:postgres/postgres@4.0.0"),
        "{out}"
    );
    // The release phase ran the migration with the database granted.
    let output = stdout(&kumo(&server, &["releases:output", "-a", "visits-js"]));
    assert!(
        output.contains("migrated: table visits is ready"),
        "{output}"
    );

    assert_eq!(visit(&server, "visits-js"), 1);
    assert_eq!(visit(&server, "visits-js"), 2);

    // A restart of the app's dynos keeps the count.
    stdout(&kumo(&server, &["ps:restart", "-a", "visits-js"]));
    assert_eq!(visit(&server, "visits-js"), 3);
}
