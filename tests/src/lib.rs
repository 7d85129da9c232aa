//! The end-to-end harness: a real engine, dyno manager and router on a loopback
//! port, fed by an in-memory release source, with slugs packed from the real guest
//! programs in `tests/components` and real HTTP sent through the router.

pub mod components;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use kumo_runtime::addons::AddonGrant;
use kumo_runtime::engine::{Engine, EngineConfig};
use kumo_runtime::logplex::{Filter, Logplex};
use kumo_runtime::manager::{Backoff, DynoManager, ManagerConfig};
use kumo_runtime::router::{Router, RouterConfig};
use kumo_runtime::sizes::DynoSize;
use kumo_runtime::source::{AppSpec, MemorySource, ReleaseSpec};
use kumo_slug::{Digest, Manifest, ProcessKind, ProcessType};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Settings a test may shorten.
#[derive(Clone, Debug)]
pub struct Options {
    pub request_timeout: Duration,
    pub shutdown_grace: Duration,
    pub backoff: Backoff,
    pub sleep_after: Duration,
    pub boot_timeout: Duration,
    /// Bytes a web dyno's files may take (`ManagerConfig::disk_quota`).
    pub disk_quota: u64,
    /// The router's `header_timeout`.
    pub header_timeout: Duration,
    /// The router's `idle_timeout` (the rolling window once a response began).
    pub idle_timeout: Duration,
    /// The router's `max_connections`.
    pub max_connections: usize,
    /// Instances the engine's pool holds (`EngineConfig::max_instances`).
    pub max_instances: u32,
    /// Whether dynos may dial loopback and private addresses their app lists
    /// (`ManagerConfig::outbound_private`); a test that lets a guest reach a
    /// server of its own on this machine's loopback needs it. Default: false.
    pub outbound_private: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            request_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
            backoff: Backoff {
                boot_window: Duration::from_secs(60),
                first_cooloff: Duration::from_secs(1),
                max_cooloff: Duration::from_secs(4),
            },
            sleep_after: Duration::from_secs(3600),
            boot_timeout: Duration::from_secs(20),
            disk_quota: 4 << 30,
            header_timeout: RouterConfig::default().header_timeout,
            idle_timeout: RouterConfig::default().idle_timeout,
            max_connections: RouterConfig::default().max_connections,
            max_instances: 64,
            outbound_private: false,
        }
    }
}

/// A running data plane.
pub struct Kumo {
    pub source: Arc<MemorySource>,
    pub manager: Arc<DynoManager>,
    pub engine: Arc<Engine>,
    pub logplex: Arc<Logplex>,
    pub router: SocketAddr,
    pub data: tempfile::TempDir,
    router_task: tokio::task::JoinHandle<()>,
}

impl Drop for Kumo {
    fn drop(&mut self) {
        self.router_task.abort();
    }
}

/// One process type of a test slug: a guest program and how to run it.
pub struct Process<'a> {
    pub name: &'a str,
    pub wasm: &'a str,
    pub kind: ProcessKind,
    pub args: &'a [&'a str],
}

impl<'a> Process<'a> {
    pub fn web(wasm: &'a str) -> Process<'a> {
        Process {
            name: "web",
            wasm,
            kind: ProcessKind::Http,
            args: &[],
        }
    }
}

impl Kumo {
    pub async fn start() -> Kumo {
        Kumo::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Kumo {
        let data = tempfile::tempdir().expect("temp dir");
        let engine = Engine::new(&EngineConfig {
            cache_dir: compile_cache(),
            max_instances: options.max_instances,
        })
        .expect("engine");
        let logplex = Logplex::new();
        let source = Arc::new(MemorySource::new());
        let mut config = ManagerConfig::new(data.path());
        config.request_deadline = options.request_timeout;
        config.shutdown_grace = options.shutdown_grace;
        config.backoff = options.backoff;
        config.sleep_after = options.sleep_after;
        config.boot_timeout = options.boot_timeout;
        config.disk_quota = options.disk_quota;
        config.outbound_private = options.outbound_private;
        let manager = DynoManager::new(
            config,
            engine.clone(),
            logplex.clone(),
            source.clone(),
            "localhost",
        );
        manager.start().await.expect("manager start");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind router");
        let router_addr = listener.local_addr().expect("router addr");
        let router_config = RouterConfig {
            request_timeout: options.request_timeout,
            idle_timeout: options.idle_timeout,
            header_timeout: options.header_timeout,
            max_connections: options.max_connections,
        };
        let router = Router::new(manager.clone(), router_config, router_addr.port());
        let router_task = tokio::spawn(router.serve(listener));
        Kumo {
            source,
            manager,
            engine,
            logplex,
            router: router_addr,
            data,
            router_task,
        }
    }

    /// Packs a slug from guest programs (core modules are made components) and
    /// makes it available; returns its digest.
    pub fn slug(&self, processes: &[Process<'_>]) -> Digest {
        let app_dir = tempfile::tempdir().expect("temp dir");
        let mut types = BTreeMap::new();
        for p in processes {
            let bytes = std::fs::read(p.wasm).unwrap_or_else(|e| panic!("reading {}: {e}", p.wasm));
            let component = kumo_builder::componentize(&bytes).expect("componentize");
            let file = format!(
                "{}.wasm",
                Path::new(p.wasm)
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("app")
            );
            std::fs::write(app_dir.path().join(&file), component).expect("write component");
            types.insert(
                p.name.to_string(),
                ProcessType {
                    component: file,
                    args: p.args.iter().map(|a| a.to_string()).collect(),
                    kind: p.kind,
                },
            );
        }
        std::fs::write(app_dir.path().join("README.txt"), "a file of the slug\n")
            .expect("write file");
        let out = self
            .data
            .path()
            .join(format!("slug-{}.tar.zst", uuid_like()));
        let packed = kumo_slug::pack(app_dir.path(), &Manifest::new(types), &out).expect("pack");
        self.source.add_slug(packed.digest.clone(), packed.path);
        packed.digest
    }

    /// Creates or replaces `app` with release `version` of `slug`, `config` and the formation.
    pub async fn deploy(
        &self,
        app: &str,
        version: u64,
        slug: &Digest,
        config: &[(&str, &str)],
        formation: &[(&str, u32, DynoSize)],
    ) {
        self.deploy_with_addons(app, version, slug, config, Vec::new(), formation)
            .await;
    }

    /// As [`Kumo::deploy`], with a release that attaches `addons` (their
    /// config vars are not added: put them in `config`).
    pub async fn deploy_with_addons(
        &self,
        app: &str,
        version: u64,
        slug: &Digest,
        config: &[(&str, &str)],
        addons: Vec<AddonGrant>,
        formation: &[(&str, u32, DynoSize)],
    ) {
        let mut spec = AppSpec::new(app).with_release(ReleaseSpec {
            version,
            slug: slug.clone(),
            config: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            addons,
        });
        for (process_type, quantity, size) in formation {
            spec = spec.scale(process_type, *quantity, *size);
        }
        self.source.put_app(spec);
        self.manager.converge(app).await;
    }

    /// Changes `app` in the source and converges.
    pub async fn update(&self, app: &str, change: impl FnOnce(&mut AppSpec)) {
        assert!(self.source.update_app(app, change), "no app {app}");
        self.manager.converge(app).await;
    }

    /// Sends one request through the router to `app`.
    pub async fn request(
        &self,
        app: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        send(
            self.router,
            &format!("{app}.localhost"),
            method,
            path,
            headers,
            body.to_vec(),
        )
        .await
    }

    pub async fn get(&self, app: &str, path: &str) -> Reply {
        self.request(app, "GET", path, &[], b"").await
    }

    /// Every log line of `app` in display format.
    pub fn logs(&self, app: &str) -> Vec<String> {
        self.logplex
            .app(app)
            .recent(1500, &Filter::default())
            .iter()
            .map(|l| l.to_string())
            .collect()
    }

    /// Waits until a log line of `app` contains `needle`; panics with the log after `timeout`.
    pub async fn wait_for_log(&self, app: &str, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.logs(app).into_iter().find(|l| l.contains(needle)) {
                return line;
            }
            if Instant::now() > deadline {
                panic!(
                    "no log line of {app} contains {needle:?}; the log:\n{}",
                    self.logs(app).join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The router line logged for the request with id `request_id`.
    pub async fn router_line(&self, app: &str, request_id: &str) -> String {
        self.wait_for_log(
            app,
            &format!("request_id={request_id} "),
            Duration::from_secs(10),
        )
        .await
    }
}

/// What the client got.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends one HTTP/1.1 request to `addr` with `Host: host` over a new connection.
pub async fn send(
    addr: SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Reply {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to router");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", host);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(Bytes::from(body))).expect("request");
    let response = sender.send_request(request).await.expect("send request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("read body")
        .to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

/// Compiled components shared by every test and run, keyed by engine and slug digest.
fn compile_cache() -> PathBuf {
    let dir = std::env::temp_dir().join("kumo-test-compiled");
    std::fs::create_dir_all(&dir).expect("compile cache dir");
    dir
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A request id the router keeps (20–200 characters).
pub fn request_id(tag: &str) -> String {
    // Padded so it always has the 20 characters the router needs to keep it.
    format!("kumo-test-{tag}-{:0>12}", uuid_like()).replace('_', "-")
}
