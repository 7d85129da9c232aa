//! A Spin SDK app (`spin_sdk::pg4`, built from `tests/components/pg`) keeps
//! its visits in its Postgres add-on through `spin:postgres`: typed
//! parameters and rows, data that outlives a redeploy, and no way to open a
//! database its release does not grant, whatever URL it tries.
//!
//! Needs a real Postgres: `KUMO_TEST_POSTGRES_URL`, an admin URL that
//! `scripts/test` sets after starting a private cluster.

use futures::FutureExt;
use kumo_runtime::addons::{AddonGrant, Resource};
use kumo_runtime::sizes::DynoSize::Standard1X;
use kumo_tests::{Kumo, Process, components};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

const MISSING: &str = "no Postgres add-on of this app has the address";
const ATTACH: &str =
    "attach one with `kumo addons:create kumo-postgresql` and use its DATABASE_URL";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_pg_app_uses_its_postgres_addon() {
    let admin_url = std::env::var("KUMO_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "KUMO_TEST_POSTGRES_URL is not set: run this test through scripts/test, \
             which starts a private Postgres and sets it"
        )
    });
    let admin = connect(&admin_url).await;
    let config = Config::from_str(&admin_url).expect("KUMO_TEST_POSTGRES_URL parses");
    let host = match config.get_hosts() {
        [Host::Tcp(host)] => host.clone(),
        hosts => panic!("KUMO_TEST_POSTGRES_URL should name one TCP host, not {hosts:?}"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);

    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    let a = Database::new(&host, port, &format!("kumo_pg_a_{run}"));
    let b = Database::new(&host, port, &format!("kumo_pg_b_{run}"));
    for db in [&a, &b] {
        db.create(&admin).await;
    }

    let outcome = std::panic::AssertUnwindSafe(scenario(&a, &b))
        .catch_unwind()
        .await;

    for db in [&a, &b] {
        db.drop_with(&admin).await;
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn scenario(a: &Database, b: &Database) {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::PG)]);
    let deploy = |app: &'static str, version: u64, url: String, grants: Vec<AddonGrant>| {
        let kumo = &kumo;
        let slug = &slug;
        async move {
            kumo.deploy_with_addons(
                app,
                version,
                slug,
                &[("DATABASE_URL", &url)],
                grants,
                &[("web", 1, Standard1X)],
            )
            .await;
        }
    };

    // Visits are counted in app A's own database, with a typed parameter in
    // and typed values out.
    deploy("pg-a", 1, a.url(), vec![a.grant()]).await;
    let reply = kumo.get("pg-a", "/?note=hi").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "visits=1 last=hi");
    let reply = kumo.get("pg-a", "/?note=there").await;
    assert_eq!(reply.text(), "visits=2 last=there");

    // A new release with the same add-on finds the data.
    deploy("pg-a", 2, a.url(), vec![a.grant()]).await;
    let reply = kumo.get("pg-a", "/?note=again").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "visits=3 last=again");
    let count = connect(&a.admin_url())
        .await
        .query_one("SELECT count(*) FROM visits", &[])
        .await
        .expect("counting visits");
    assert_eq!(
        count.get::<_, i64>(0),
        3,
        "the rows are in app A's database"
    );

    // Every kind of value Spin has goes in and comes back typed.
    let reply = kumo.get("pg-a", "/types").await;
    assert_eq!(reply.text(), "types ok");
    // The older interface (`spin_sdk::pg3`) reaches the same database.
    let reply = kumo.get("pg-a", "/v3").await;
    assert_eq!(reply.text(), "v3 visits=3 note=hi uuid=unsupported");

    // App A cannot open app B's database, though it is on the same server…
    let reply = kumo
        .get("pg-a", &format!("/open?url={}", encode(&b.url())))
        .await;
    let text = reply.text();
    assert_eq!(
        text,
        format!(
            "{MISSING} `postgres://{}@{}:{}/{}`: {ATTACH}",
            b.role, b.host, b.port, b.name
        )
    );
    assert!(!text.contains(&b.password), "{text}");
    // …nor its own with another user, nor a made-up server.
    for url in [
        format!("postgres://postgres@{}:{}/{}", a.host, a.port, a.name),
        "postgres://admin:hunter2@10.1.2.3:5432/made_up".to_string(),
    ] {
        let text = kumo
            .get("pg-a", &format!("/open?url={}", encode(&url)))
            .await
            .text();
        assert!(
            text.starts_with(MISSING) && text.ends_with(ATTACH),
            "{url}: {text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }
    // Its own address, in the key-value form, opens.
    let keyword = format!(
        "host={} port={} user={} password={} dbname={}",
        a.host, a.port, a.role, a.password, a.name
    );
    let reply = kumo
        .get("pg-a", &format!("/open?url={}", encode(&keyword)))
        .await;
    assert_eq!(reply.text(), "opened");

    // An app with no grant cannot use a URL it was given.
    deploy("pg-none", 1, a.url(), Vec::new()).await;
    let reply = kumo.get("pg-none", "/?note=intruder").await;
    assert_eq!(reply.status, 500);
    let text = reply.text();
    assert!(text.contains(MISSING) && text.ends_with(ATTACH), "{text}");
    assert!(!text.contains(&a.password), "{text}");
}

/// A database of its own with a role of its own, as the add-on provisions one.
struct Database {
    host: String,
    port: u16,
    name: String,
    role: String,
    password: String,
}

impl Database {
    fn new(host: &str, port: u16, name: &str) -> Database {
        Database {
            host: host.to_string(),
            port,
            name: name.to_string(),
            role: format!("{name}_role"),
            password: format!("pw-{name}"),
        }
    }

    fn url(&self) -> String {
        format!(
            "postgres://{}:{}@{}:{}/{}",
            self.role, self.password, self.host, self.port, self.name
        )
    }

    /// The database's URL as the test's admin, to look inside.
    fn admin_url(&self) -> String {
        format!(
            "postgres://postgres@{}:{}/{}",
            self.host, self.port, self.name
        )
    }

    fn grant(&self) -> AddonGrant {
        AddonGrant {
            attachment: "DATABASE".into(),
            addon_id: format!("id-{}", self.name),
            addon: format!("postgresql-{}", self.name.replace('_', "-")),
            plan: "kumo-postgresql:essential-0".into(),
            config_vars: vec!["DATABASE_URL".into()],
            resource: Resource::Postgres { url: self.url() },
        }
    }

    async fn create(&self, admin: &Client) {
        let (name, role) = (&self.name, &self.role);
        for statement in [
            format!("CREATE ROLE {role} LOGIN PASSWORD '{}'", self.password),
            format!("CREATE DATABASE {name} OWNER {role}"),
            format!("REVOKE CONNECT ON DATABASE {name} FROM PUBLIC"),
        ] {
            admin
                .batch_execute(&statement)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e:?}"));
        }
    }

    async fn drop_with(&self, admin: &Client) {
        for statement in [
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            format!("DROP ROLE IF EXISTS {}", self.role),
        ] {
            if let Err(e) = admin.batch_execute(&statement).await {
                eprintln!("cleaning up: {statement}: {e:?}");
            }
        }
    }
}

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test Postgres: {e:?}"));
    tokio::spawn(connection);
    client
}

/// `text` percent-encoded for a query string.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
