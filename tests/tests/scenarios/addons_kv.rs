//! The key-value add-on through the router: a Spin SDK app
//! (`spin_sdk::key_value`, `tests/components/kv`) and a `wasi:keyvalue` app
//! keep a counter in it that survives requests and redeploys, on the embedded
//! store and on a real Redis; two apps with add-ons of their own never see
//! each other's keys; an app with no add-on is told how to add one.
//!
//! The Redis scenario starts Debian's `redis-server` itself on a free loopback
//! port (`scripts/test` installs it); without it the test fails.

use kumo_runtime::addons::keyvalue::{EmbeddedProvider, NO_ADDON, RedisProvider};
use kumo_runtime::addons::provider::config_vars;
use kumo_runtime::addons::{AddonGrant, Provider, catalog};
use kumo_runtime::sizes::DynoSize::Standard1X;
use kumo_slug::Digest;
use kumo_tests::{Kumo, Process, components};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_on_the_embedded_store() {
    let kumo = Kumo::start().await;
    let provider = EmbeddedProvider::new(kumo.manager.config().addons.clone());
    scenario(&kumo, &provider).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_on_redis() {
    let redis = RedisServer::start().await;
    let kumo = Kumo::start().await;
    let provider = RedisProvider::new(&redis.admin_url(), kumo.manager.config().addons.clone())
        .expect("redis provider");
    scenario(&kumo, &provider).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_without_the_addon_is_told_how_to_add_it() {
    let kumo = Kumo::start().await;
    for (app, wasm) in [
        ("kv-none-spin", components::KV_SPIN),
        ("kv-none-wasi", components::KV_WASI),
    ] {
        let slug = kumo.slug(&[Process::web(wasm)]);
        kumo.deploy(app, 1, &slug, &[], &[("web", 1, Standard1X)])
            .await;
        let reply = kumo.get(app, "/incr/visits").await;
        assert_eq!(reply.status, 500, "{app}: {}", reply.text());
        assert_eq!(reply.text(), format!("error: {NO_ADDON}\n"), "{app}");
    }
}

/// One app's life with its add-on, and a second app beside it.
async fn scenario(kumo: &Kumo, provider: &dyn Provider) {
    let spin = kumo.slug(&[Process::web(components::KV_SPIN)]);
    let wasi = kumo.slug(&[Process::web(components::KV_WASI)]);
    let one = Addon::provision(provider, "redis-one-10001").await;
    let two = Addon::provision(provider, "redis-two-10002").await;

    // The Spin app's counter lasts from request to request…
    one.deploy(kumo, "kv-one", 1, &spin).await;
    for n in 1..=3 {
        assert_eq!(
            text(kumo, "kv-one", "GET", "/incr/visits", b"").await,
            format!("{n}\n")
        );
    }
    assert_eq!(
        text(kumo, "kv-one", "PUT", "/set/greeting", b"hello").await,
        "ok\n"
    );
    assert_eq!(
        text(kumo, "kv-one", "GET", "/get/greeting", b"").await,
        "hello"
    );

    // …and across a redeploy, which starts new dynos.
    one.deploy(kumo, "kv-one", 2, &spin).await;
    assert_eq!(
        text(kumo, "kv-one", "GET", "/incr/visits", b"").await,
        "4\n"
    );

    // A wasi:keyvalue app on the same add-on sees the same keys: its atomic
    // increment goes on from the Spin app's count.
    one.deploy(kumo, "kv-one", 3, &wasi).await;
    assert_eq!(
        text(kumo, "kv-one", "GET", "/incr/visits", b"").await,
        "5\n"
    );
    assert_eq!(
        text(kumo, "kv-one", "GET", "/get/greeting", b"").await,
        "hello"
    );
    assert_eq!(text(kumo, "kv-one", "GET", "/cas/word", b"").await, "+\n");
    assert_eq!(text(kumo, "kv-one", "GET", "/cas/word", b"").await, "++\n");
    assert_eq!(
        text(kumo, "kv-one", "GET", "/batch", b"").await,
        "a=1 b=2 c=none deleted=true\n"
    );
    assert_eq!(
        text(kumo, "kv-one", "GET", "/keys", b"").await,
        "greeting\nvisits\nword"
    );
    for name in ["REDIS", "default", "", "redis-one-10001"] {
        let path = format!("/open/{name}");
        assert_eq!(
            text(kumo, "kv-one", "GET", &path, b"").await,
            "opened\n",
            "{name}"
        );
    }
    let reply = kumo.get("kv-one", "/open/redis-two-10002").await;
    assert_eq!(reply.text(), "error: no-such-store\n");

    // A second app with its own add-on sees none of the first's keys, even
    // naming the first add-on.
    two.deploy(kumo, "kv-two", 1, &spin).await;
    let reply = kumo.get("kv-two", "/get/visits").await;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (404, "no such key\n")
    );
    assert_eq!(
        text(kumo, "kv-two", "GET", "/incr/visits", b"").await,
        "1\n"
    );
    assert_eq!(text(kumo, "kv-two", "GET", "/keys", b"").await, "visits");
    let reply = kumo.get("kv-two", "/open/redis-one-10001").await;
    assert_eq!(reply.text(), "error: no-such-store\n");
    let reply = kumo.get("kv-two", "/open/REDIS_TWO").await;
    assert_eq!(reply.text(), "error: no-such-store\n");
    assert_eq!(text(kumo, "kv-one", "GET", "/get/visits", b"").await, "5");

    // Destroying the first add-on removes its keys, not the second's.
    provider
        .deprovision("redis-one-10001")
        .await
        .expect("deprovision");
    assert_eq!(
        text(kumo, "kv-two", "GET", "/incr/visits", b"").await,
        "2\n"
    );
    provider
        .deprovision("redis-two-10002")
        .await
        .expect("deprovision");
}

/// A provisioned add-on and the grant a release attaching it carries.
struct Addon {
    grant: AddonGrant,
    config: Vec<(String, String)>,
}

impl Addon {
    async fn provision(provider: &dyn Provider, name: &str) -> Addon {
        let (_, plan) = catalog::resolve("kumo-keyvalue:mini").expect("plan");
        let resource = provider.provision(name, plan).await.expect("provision");
        let config = config_vars("REDIS", &resource).into_iter().collect();
        Addon {
            grant: AddonGrant {
                attachment: "REDIS".into(),
                addon_id: format!("id-{name}"),
                addon: name.into(),
                plan: "kumo-keyvalue:mini".into(),
                config_vars: vec!["REDIS_URL".into()],
                resource,
            },
            config,
        }
    }

    async fn deploy(&self, kumo: &Kumo, app: &str, version: u64, slug: &Digest) {
        let config: Vec<(&str, &str)> = self
            .config
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        kumo.deploy_with_addons(
            app,
            version,
            slug,
            &config,
            vec![self.grant.clone()],
            &[("web", 1, Standard1X)],
        )
        .await;
    }
}

/// The body of a request that must succeed.
async fn text(kumo: &Kumo, app: &str, method: &str, path: &str, body: &[u8]) -> String {
    let reply = kumo.request(app, method, path, &[], body).await;
    assert_eq!(
        reply.status,
        200,
        "{method} {path} on {app}: {}",
        reply.text()
    );
    reply.text()
}

/// A private `redis-server` on a free loopback port, without persistence,
/// killed when dropped.
struct RedisServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

const ADMIN_PASSWORD: &str = "kumo-test-admin";

impl RedisServer {
    async fn start() -> RedisServer {
        let Some(bin) = find("redis-server") else {
            panic!(
                "redis-server is missing, and the Redis key-value scenario needs it: apt-get install redis-server (scripts/test installs it)"
            );
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--requirepass", ADMIN_PASSWORD])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting redis-server");
        let server = RedisServer {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server
    }

    fn admin_url(&self) -> String {
        format!("redis://default:{ADMIN_PASSWORD}@127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([std::path::PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|bin| bin.is_file())
}

/// `wasi:config/store` answers the app's config vars: each by key, all of
/// them together, none for a key the app does not have.
#[tokio::test]
async fn config_vars_through_wasi_config() {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::CONFIG)]);
    kumo.deploy(
        "configured",
        1,
        &slug,
        &[("GREETING", "hello"), ("COLOR", "teal")],
        &[("web", 1, Standard1X)],
    )
    .await;
    assert_eq!(
        text(&kumo, "configured", "GET", "/GREETING", b"").await,
        "hello\n"
    );
    assert_eq!(
        text(&kumo, "configured", "GET", "/", b"").await,
        "COLOR\nGREETING\n"
    );
    let missing = kumo.get("configured", "/PORT").await;
    assert_eq!(missing.status, 404, "{}", missing.text());
}
