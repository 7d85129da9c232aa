//! Heroku's own CLI (see `heroku.rs`) with add-ons: a Heroku Postgres database
//! created, listed, described, used with `pg:psql` and destroyed, unchanged,
//! against a live `kumo server` whose add-ons live on the test Postgres.

use crate::heroku::{Heroku, has, texts};
use crate::support::{Server, kumo, stdout};

#[test]
fn heroku_cli_drives_kumo_addons() {
    let admin = std::env::var("KUMO_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "this test needs a Postgres server: run it through scripts/test, which starts \
             one and sets KUMO_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:PORT/postgres"
        )
    });
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &["--addons-postgres-url", &admin],
        "Router listening on",
    );
    let heroku = Heroku::new(&server, data.path());
    stdout(&kumo(&server, &["apps:create", "hkpg"]));

    // Create, under Heroku's name for the service.
    let (so, se) = heroku.ok(&[
        "addons:create",
        "heroku-postgresql:essential-0",
        "-a",
        "hkpg",
    ]);
    has(
        &se,
        "Creating heroku-postgresql:essential-0 on hkpg... free",
    );
    let addon = so
        .lines()
        .find_map(|l| l.strip_prefix("Created "))
        .and_then(|l| l.strip_suffix(" as DATABASE_URL"))
        .unwrap_or_else(|| panic!("no `Created NAME as DATABASE_URL` in:\n{so}"))
        .to_string();
    has(&so, "Run heroku addons:docs heroku-postgresql");

    let (so, _) = heroku.ok(&["config", "-a", "hkpg"]);
    has(&so, "=== hkpg Config Vars");
    has(&so, "DATABASE_URL: postgres://");

    let (so, _) = heroku.ok(&["addons", "-a", "hkpg"]);
    has(&so, &format!("heroku-postgresql ({addon})"));
    has(&so, "essential-0");
    has(&so, "free");
    has(&so, "created");
    has(&so, "as DATABASE");
    let (so, _) = heroku.ok(&["addons"]);
    has(&so, "Owning App");
    has(&so, &addon);
    has(&so, "heroku-postgresql:essential-0");

    let (so, _) = heroku.ok(&["addons:info", &addon]);
    has(&so, &format!("=== {addon}"));
    has(&so, "Plan:         heroku-postgresql:essential-0");
    has(&so, "Price:        free");
    has(&so, "Attachments:  hkpg::DATABASE");
    has(&so, "Owning app:   hkpg");
    has(&so, "State:        created");

    let (so, _) = heroku.ok(&["pg:info", "-a", "hkpg"]);
    has(&so, "=== DATABASE_URL");
    has(&so, "Plan:");
    has(&so, "Add-on:");
    has(&so, &addon);

    // pg:psql runs the local psql with PG* variables. Heroku's CLI asks for
    // SSL unless the host is `localhost`; the test Postgres has none, so
    // libpq's own PGSSLMODE says so, as a user of such a server would.
    let out = crate::heroku::command(
        &server,
        &heroku.home,
        &server.token,
        &["pg:psql", "-a", "hkpg", "-c", "select 40 + 2 as answer"],
    )
    .env("PGSSLMODE", "prefer")
    .output()
    .expect("run heroku");
    let (so, se) = texts(&out);
    assert!(out.status.success(), "heroku pg:psql failed:\n{so}\n{se}");
    has(&so, "answer");
    has(&so, "42");
    has(&se, &format!("--> Connecting to {addon}"));

    let (_, se) = heroku.ok(&["addons:destroy", &addon, "-a", "hkpg", "--confirm", "hkpg"]);
    has(&se, &format!("Destroying {addon} on hkpg... done"));
    let (so, _) = heroku.ok(&["addons", "-a", "hkpg"]);
    has(&so, "No add-ons for app hkpg.");
    let (so, _) = heroku.ok(&["config", "-a", "hkpg"]);
    assert!(!so.contains("DATABASE_URL"), "{so}");
}
