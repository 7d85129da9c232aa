//! Add-ons through the `kumo` CLI against a real server and a real Postgres
//! (`KUMO_TEST_POSTGRES_URL`, started by `scripts/test`): services and plans,
//! create, info, psql, a second app, attach and detach, reset, destroy; and
//! the refusals a user meets, with what they print.

use crate::support::{Server, kumo, kumo_env, stdout};
use std::process::{Command, Output};

/// The admin URL of the test Postgres, handed to the server as `--addons-postgres-url`.
fn postgres_admin() -> String {
    std::env::var("KUMO_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "the add-on tests need a Postgres server: run them through scripts/test, which \
             starts one (Debian's postgresql) and sets KUMO_TEST_POSTGRES_URL, or set \
             KUMO_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:PORT/postgres yourself"
        )
    })
}

/// A server whose Postgres add-ons live on the test Postgres.
fn start(data: &std::path::Path) -> Server {
    let admin = postgres_admin();
    Server::start(
        data,
        &["--addons-postgres-url", &admin],
        "Router listening on",
    )
}

/// A name no other test (nor an earlier run on the same Postgres) uses.
fn unique(stem: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{stem}-{}-{nanos}", std::process::id())
}

fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn has(text: &str, needle: &str) {
    assert!(text.contains(needle), "{needle:?} not in:\n{text}");
}

/// Runs `kumo ARGS`, which must fail with exit status 1; returns its stderr.
fn fails(server: &Server, args: &[&str]) -> String {
    let out = kumo(server, args);
    let (so, se) = texts(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "kumo {args:?} should have failed:\nstdout: {so}\nstderr: {se}"
    );
    se
}

/// The local psql on `url`, running `sql`.
fn psql(url: &str, sql: &str) -> Output {
    Command::new("psql")
        .args([url, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("run psql: install Debian's postgresql-client")
}

/// `url` with its database name replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, _) = url.rsplit_once('/').unwrap();
    format!("{base}/{database}")
}

/// The database name in a postgres:// URL.
fn database_of(url: &str) -> String {
    let (_, rest) = url.rsplit_once('/').unwrap();
    rest.split('?').next().unwrap().to_string()
}

/// A config var's value, as `kumo config:get` prints it.
fn config_var(server: &Server, app: &str, key: &str) -> String {
    stdout(&kumo(server, &["config:get", "-a", app, key]))
        .trim()
        .to_string()
}

/// The add-on name in `Created NAME as VARS`.
fn created_name(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("Created "))
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("no `Created NAME` line in:\n{out}"))
        .to_string()
}

#[test]
fn addon_services_and_plans_are_listed() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path());

    let out = stdout(&kumo(&server, &["addons:services"]));
    has(&out, "Slug");
    has(&out, "kumo-postgresql");
    has(&out, "kumo-keyvalue");
    has(&out, "ga");
    has(&out, "See plans with `kumo addons:plans SERVICE`");
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&kumo(&server, &["addons:services", "--json"]))).unwrap();
    let names: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"kumo-postgresql"), "{json}");

    let out = stdout(&kumo(&server, &["addons:plans", "kumo-postgresql"]));
    let default = out
        .lines()
        .find(|l| l.starts_with("default"))
        .unwrap_or_else(|| panic!("no default plan in:\n{out}"));
    has(default, "kumo-postgresql:essential-0");
    has(default, "free");
    for plan in ["essential-1", "essential-2", "standard-0"] {
        has(&out, &format!("kumo-postgresql:{plan}"));
    }
    // Heroku's name is an alias.
    let out = stdout(&kumo(&server, &["addons:plans", "heroku-redis"]));
    has(&out, "mini");
    let json: serde_json::Value = serde_json::from_str(&stdout(&kumo(
        &server,
        &["addons:plans", "kumo-keyvalue", "--json"],
    )))
    .unwrap();
    assert_eq!(json[0]["name"], "kumo-keyvalue:mini", "{json}");
    assert_eq!(json[0]["default"], true, "{json}");
    assert_eq!(json[0]["price"]["cents"], 0, "{json}");

    let se = fails(&server, &["addons:plans", "no-such-service"]);
    has(&se, "no-such-service");
}

#[test]
fn postgres_addon_from_create_to_destroy() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path());
    stdout(&kumo(&server, &["apps:create", "pg-one"]));
    stdout(&kumo(&server, &["apps:create", "pg-two"]));

    // Create: the app gets DATABASE_URL, in a release that says so.
    let out = stdout(&kumo(
        &server,
        &["addons:create", "kumo-postgresql", "-a", "pg-one"],
    ));
    has(
        &out,
        "Creating kumo-postgresql:essential-0 on ⬢ pg-one... done",
    );
    has(&out, " as DATABASE_URL");
    let addon = created_name(&out);
    assert!(addon.starts_with("postgresql-"), "{out}");
    let url = config_var(&server, "pg-one", "DATABASE_URL");
    assert!(url.starts_with("postgres://"), "{url}");
    has(
        &stdout(&kumo(&server, &["config", "-a", "pg-one"])),
        "DATABASE_URL:",
    );
    has(
        &stdout(&kumo(&server, &["releases", "-a", "pg-one"])),
        &format!("Attach DATABASE (@ref:{addon})"),
    );

    // Listed and described.
    let out = stdout(&kumo(&server, &["addons", "-a", "pg-one"]));
    has(&out, &format!("kumo-postgresql ({addon})"));
    has(&out, "essential-0");
    has(&out, "created");
    has(&out, " └─ as DATABASE\n");
    let all = stdout(&kumo(&server, &["addons", "--all"]));
    assert!(
        all.lines()
            .any(|l| l.starts_with("pg-one ") && l.contains(&addon) && l.contains("created")),
        "{all}"
    );
    let out = stdout(&kumo(&server, &["addons:info", &addon]));
    has(&out, &format!("=== {addon}\n"));
    has(&out, "kumo-postgresql:essential-0");
    has(&out, "pg-one::DATABASE");
    has(&out, "Owning app:");
    has(&out, "created");
    // An attachment name of the app names its add-on too.
    has(
        &stdout(&kumo(&server, &["addons:info", "pg-one::DATABASE"])),
        &format!("=== {addon}\n"),
    );
    let out = stdout(&kumo(&server, &["pg:info", "-a", "pg-one"]));
    has(&out, "=== DATABASE_URL\n");
    has(&out, &addon);
    has(&out, "Plan:");

    // psql on the real database.
    let out = kumo(
        &server,
        &[
            "pg:psql",
            "-a",
            "pg-one",
            "-c",
            "create table t(x int); insert into t values (42); select x * 2 as doubled from t",
        ],
    );
    let (so, se) = texts(&out);
    assert!(out.status.success(), "{so}\n{se}");
    has(&so, "doubled");
    has(&so, "84");
    has(&se, &format!("--> Connecting to {addon}"));
    // psql's own exit status is kumo's.
    let out = kumo(
        &server,
        &[
            "pg:psql",
            "-a",
            "pg-one",
            "-c",
            "select * from no_such_table",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{:?}", texts(&out));
    has(&texts(&out).1, "no_such_table");
    let sql = data.path().join("query.sql");
    std::fs::write(&sql, "select count(*) as rows_in_t from t;\n").unwrap();
    let out = stdout(&kumo(
        &server,
        &["pg:psql", "-a", "pg-one", "-f", sql.to_str().unwrap()],
    ));
    has(&out, "rows_in_t");

    // A second app's own database, attached as FOO: FOO_URL.
    let out = stdout(&kumo(
        &server,
        &[
            "addons:create",
            "kumo-postgresql:essential-1",
            "-a",
            "pg-two",
            "--as",
            "FOO",
        ],
    ));
    has(
        &out,
        "Creating kumo-postgresql:essential-1 on ⬢ pg-two... done",
    );
    has(&out, " as FOO_URL");
    let other = created_name(&out);
    let other_url = config_var(&server, "pg-two", "FOO_URL");
    has(
        &stdout(&kumo(&server, &["config", "-a", "pg-two"])),
        "FOO_URL:",
    );
    let out = psql(&other_url, "select 1");
    assert!(out.status.success(), "{:?}", texts(&out));
    // Its credentials do not open the first app's database, nor show its table.
    let out = psql(
        &with_database(&other_url, &database_of(&url)),
        "select x from t",
    );
    let (_, se) = texts(&out);
    assert!(
        !out.status.success()
            && (se.contains("permission denied") || se.contains("authentication failed")),
        "pg-two's credentials read pg-one's database: {:?}",
        texts(&out)
    );
    let out = psql(&other_url, "select x from t");
    assert!(!out.status.success(), "{:?}", texts(&out));
    let out = stdout(&kumo(&server, &["pg:info", "FOO", "-a", "pg-two"]));
    has(&out, "=== FOO_URL\n");
    has(&out, &other);

    // Attach the first app's database to the second app: both use it.
    let out = stdout(&kumo(&server, &["addons:attach", &addon, "-a", "pg-two"]));
    has(&out, &format!("Attaching {addon} to ⬢ pg-two... done"));
    has(
        &out,
        "Setting DATABASE config vars and restarting ⬢ pg-two... done, v",
    );
    assert_eq!(config_var(&server, "pg-two", "DATABASE_URL"), url);
    let out = stdout(&kumo(
        &server,
        &[
            "pg:psql",
            "DATABASE",
            "-a",
            "pg-two",
            "-c",
            "select x from t",
        ],
    ));
    has(&out, "42");
    let out = stdout(&kumo(&server, &["addons", "-a", "pg-one"]));
    has(&out, "as DATABASE on pg-two app");
    let out = stdout(&kumo(&server, &["addons", "-a", "pg-two"]));
    has(&out, &format!("kumo-postgresql ({addon})"));
    has(&out, "(billed to pg-one app)");

    // Destroying it while pg-two uses it needs --confirm and --force.
    let se = fails(&server, &["addons:destroy", &addon, "-a", "pg-one"]);
    has(&se, "--confirm pg-one");
    let se = fails(
        &server,
        &[
            "addons:destroy",
            &addon,
            "-a",
            "pg-one",
            "--confirm",
            "pg-one",
        ],
    );
    has(&se, "pg-two");
    has(&se, "--force");
    assert_eq!(config_var(&server, "pg-two", "DATABASE_URL"), url);
    // Not from the app it is only attached to.
    let se = fails(
        &server,
        &[
            "addons:destroy",
            &addon,
            "-a",
            "pg-two",
            "--confirm",
            "pg-two",
        ],
    );
    has(&se, "pg-one");

    // Detach: the second app loses the config var, in a release.
    let out = stdout(&kumo(
        &server,
        &["addons:detach", "DATABASE", "-a", "pg-two"],
    ));
    has(
        &out,
        &format!("Detaching DATABASE to {addon} from ⬢ pg-two... done"),
    );
    has(
        &out,
        "Unsetting DATABASE config vars and restarting ⬢ pg-two... done, v",
    );
    assert_eq!(config_var(&server, "pg-two", "DATABASE_URL"), "");
    has(
        &stdout(&kumo(&server, &["releases", "-a", "pg-two"])),
        &format!("Detach DATABASE (@ref:{addon})"),
    );

    // Attached again under another name, then destroyed with --force.
    let out = stdout(&kumo(
        &server,
        &["addons:attach", &addon, "-a", "pg-two", "--as", "SHARED"],
    ));
    has(
        &out,
        &format!("Attaching {addon} as SHARED to ⬢ pg-two... done"),
    );
    assert_eq!(config_var(&server, "pg-two", "SHARED_URL"), url);
    let out = stdout(&kumo(
        &server,
        &[
            "addons:destroy",
            &addon,
            "-a",
            "pg-one",
            "--confirm",
            "pg-one",
            "--force",
        ],
    ));
    has(&out, &format!("Destroying {addon} on ⬢ pg-one... done"));
    assert_eq!(config_var(&server, "pg-two", "SHARED_URL"), "");
    assert_eq!(config_var(&server, "pg-one", "DATABASE_URL"), "");
    // The database and its role are gone.
    let out = psql(&url, "select 1");
    assert!(
        !out.status.success(),
        "the destroyed database still answers: {:?}",
        texts(&out)
    );
    assert_eq!(
        stdout(&kumo(&server, &["addons", "-a", "pg-one"])),
        "No add-ons for app pg-one.\n"
    );
    let se = fails(&server, &["addons:info", &addon]);
    has(&se, &addon);

    // pg:reset empties the second app's database, only with --confirm.
    stdout(&kumo(
        &server,
        &[
            "pg:psql",
            "FOO",
            "-a",
            "pg-two",
            "-c",
            "create table kept(x int)",
        ],
    ));
    let se = fails(&server, &["pg:reset", "FOO", "-a", "pg-two"]);
    has(&se, "--confirm pg-two");
    let se = fails(
        &server,
        &["pg:reset", "FOO", "-a", "pg-two", "--confirm", "pg-one"],
    );
    has(&se, "did not match");
    let out = psql(&other_url, "select count(*) from kept");
    assert!(out.status.success(), "{:?}", texts(&out));
    let out = stdout(&kumo(
        &server,
        &["pg:reset", "FOO", "-a", "pg-two", "--confirm", "pg-two"],
    ));
    has(&out, &format!("Resetting {other}... done"));
    let out = psql(&other_url, "select count(*) from kept");
    assert!(!out.status.success(), "the table survived pg:reset");
    // The credentials still work after the reset.
    let out = psql(&other_url, "select 1");
    assert!(out.status.success(), "{:?}", texts(&out));

    let out = stdout(&kumo(
        &server,
        &[
            "addons:destroy",
            &other,
            "-a",
            "pg-two",
            "--confirm",
            "pg-two",
        ],
    ));
    has(&out, &format!("Destroying {other} on ⬢ pg-two... done"));
}

#[test]
fn addon_refusals_say_what_to_do() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path());
    stdout(&kumo(&server, &["apps:create", "pg-bad"]));
    stdout(&kumo(&server, &["apps:create", "pg-bad-two"]));

    let se = fails(&server, &["addons:create", "no-such-db", "-a", "pg-bad"]);
    has(&se, "no-such-db");
    has(&se, "kumo addons:services");
    let se = fails(
        &server,
        &["addons:create", "kumo-postgresql:huge-9", "-a", "pg-bad"],
    );
    has(&se, "huge-9");
    has(&se, "essential-0");
    let se = fails(&server, &["pg:psql", "-a", "pg-bad", "-c", "select 1"]);
    has(&se, "has no databases");
    has(&se, "kumo addons:create kumo-postgresql");

    // A name is the add-on's alone.
    let name = unique("taken-db");
    let out = stdout(&kumo(
        &server,
        &[
            "addons:create",
            "kumo-postgresql",
            "-a",
            "pg-bad",
            "--name",
            &name,
        ],
    ));
    has(&out, &format!("Created {name} as DATABASE_URL"));
    let se = fails(
        &server,
        &[
            "addons:create",
            "kumo-postgresql",
            "-a",
            "pg-bad-two",
            "--name",
            &name,
        ],
    );
    has(&se, &name);
    assert_eq!(config_var(&server, "pg-bad-two", "DATABASE_URL"), "");
    // So is an attachment name on an app.
    let se = fails(
        &server,
        &[
            "addons:create",
            "kumo-postgresql",
            "-a",
            "pg-bad",
            "--as",
            "DATABASE",
        ],
    );
    has(&se, "DATABASE");
    let out = stdout(&kumo(&server, &["addons", "-a", "pg-bad"]));
    assert_eq!(out.matches("kumo-postgresql (").count(), 1, "{out}");

    // Without a local psql, pg:psql says which package has it.
    let out = kumo_env(
        &server,
        &server.token,
        &["pg:psql", "-a", "pg-bad", "-c", "select 1"],
        None,
        &[("PATH", "/nonexistent")],
    );
    assert_eq!(out.status.code(), Some(1), "{:?}", texts(&out));
    has(&texts(&out).1, "apt-get install postgresql-client");

    // Wrong database names, and pg:reset without --confirm.
    let se = fails(&server, &["pg:info", "NOPE", "-a", "pg-bad"]);
    has(&se, "Unknown database: NOPE. Valid options are: DATABASE");
    let se = fails(&server, &["pg:reset", "-a", "pg-bad"]);
    has(&se, &name);
    has(&se, "--confirm pg-bad");
    let se = fails(&server, &["addons:destroy", &name, "-a", "pg-bad"]);
    has(&se, "--confirm pg-bad");
    let se = fails(&server, &["addons:info", "no-such-addon"]);
    has(&se, "no-such-addon");

    let out = stdout(&kumo(
        &server,
        &["addons:destroy", &name, "--confirm", "pg-bad"],
    ));
    has(&out, &format!("Destroying {name} on ⬢ pg-bad... done"));
}
