//! The dyno manager: converges each app's running dynos on its formation and
//! current release, restarts crashed dynos with Heroku's backoff, replaces dynos
//! on a new release without dropping requests, and puts idle eco apps to sleep.
//!
//! Each dyno (`web.1`) is one supervisor task ([`slot`]). A new release starts new
//! supervisors beside the old ones; the old ones are stopped only once the new web
//! dynos are up, and a stopping web dyno finishes the requests it has queued.
//!
//! # The release path
//!
//! 1. Whoever changed the ledger calls `DynoManager::converge(app)`; `DynoManager::restart` bumps a restart counter and converges the same way.
//! 2. `converge` takes the app's converge lock and reads `ReleaseSource::app`. A gone app goes through `remove_app` (every dyno stopped, hosts and logs forgotten); otherwise `HostTable::set`, then `converge_runtime`.
//! 3. `converge_runtime` updates the `WebView` and calls `SlugCache::get`; a slug that cannot be fetched or unpacked logs R17 and wants no dyno. It lists the wanted `(name, process type, Want)` from the formation and the manifest.
//! 4. Each wanted dyno no running `Slot` matches gets `Slot::start`; its `Supervisor` calls `Engine::prepare`, then `WebDyno::start` (`http`, `cgi`) or `command::start`.
//! 5. A web dyno is published to the `WebView` once its first instance is up; the others join its pool as they are made.
//! 6. Once the new dynos settle, the unwanted `Slot`s stop: unpublish, finish queued requests, wait up to `shutdown_grace`.
//!
//! # Dyno lifecycle
//!
//! `DynoState`: `starting`, `up`, `crashed`, `idle`, `down`. Every transition logs `State changed from X to Y` as `kumo[<dyno>]`.
//! 1. **Start.** A supervisor goes from `down` to `starting`, and to `up` once the first web instance is made, or at once for a worker.
//! 2. **Crash.** For web, a boot failure or an instance not made within `boot_timeout` (R10); for a worker, any end. The dyno goes `crashed` and restarts after `Backoff::cooloff(n)`: the first crash at once, each further one within `boot_window` of its start after `first_cooloff` (10 min), doubling up to `max_cooloff` (24 h).
//! 3. **No capacity.** A full instance pool (`NoCapacity`) is not a crash: the web dyno stays `starting` and retries once `reclaim_instances` has put the least recently used idle eco app to sleep, else logs R99 once and retries every `CAPACITY_RETRY`.
//! 4. **Stop.** `Slot::stop(false)` ends in `down`; a dyno that outlives `shutdown_grace` is logged as R12.
//! 5. **Sleep.** The sweeper puts an eco app with no request for `sleep_after` (30 min) to sleep: its web slots stop with `Slot::stop(true)` and end `idle`; other process types keep running.
//! 6. **Wake.** The next `pick` calls `wake` (`Unidling`), which converges from the state the app last applied, then rereads the source.

mod oneoff;
mod pick;
mod placed;
mod samples;
mod sleep;
mod slot;

pub use oneoff::{MAX_TIME_TO_LIVE, OneOffRequest, Started};
pub use pick::{DispatchFailure, Served, Target, serve_here};
pub use placed::{parse_status, status_json};

use crate::dynos::DynoState;
use crate::dynos::web::WebDyno;
use crate::engine::Engine;
use crate::logplex::{Logplex, Source};
use crate::router::hosts::HostTable;
use crate::sizes::DynoSize;
use crate::slugs::SlugCache;
use crate::source::{AppSpec, ReleaseSource};
use sleep::Asleep;
use slot::{Slot, Want};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::Notify;

/// Settings of the dyno manager. Defaults are Heroku's; tests shorten them.
#[derive(Clone, Debug)]
pub struct ManagerConfig {
    /// Where unpacked slugs and dyno filesystems live.
    pub data_dir: PathBuf,
    /// How long one request may run before its instance is stopped. Default: 30 s.
    pub request_deadline: Duration,
    /// How long a stopping dyno gets to finish. Default: 30 s.
    pub shutdown_grace: Duration,
    /// Crash restart policy.
    pub backoff: Backoff,
    /// Idle time after which eco web dynos sleep. Default: 30 min.
    pub sleep_after: Duration,
    /// How long a request waits for a starting web dyno before H20. Default: 75 s.
    pub boot_timeout: Duration,
    /// Bytes a web dyno's files (`/app`, `/tmp`) may take before it is
    /// restarted with a fresh copy. Default: 4 GiB.
    pub disk_quota: u64,
    /// Whether dynos may dial loopback, private, link-local and other non-public
    /// addresses ([`crate::dynos::outbound::off_limits`]) their app lists in
    /// `KUMO_ALLOWED_HOSTS`: this machine's own ports, its networks, a cloud's
    /// metadata service. Only for a single-tenant server or a test setup.
    /// Default: false.
    pub outbound_private: bool,
    /// The add-on backends dynos reach through the add-on interfaces.
    /// Default: embedded stores under `<data_dir>/addons`.
    pub addons: std::sync::Arc<crate::addons::Backends>,
}

impl ManagerConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> ManagerConfig {
        let data_dir = data_dir.into();
        ManagerConfig {
            addons: crate::addons::Backends::new(data_dir.join("addons")),
            data_dir,
            request_deadline: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            backoff: Backoff::default(),
            sleep_after: Duration::from_secs(30 * 60),
            boot_timeout: Duration::from_secs(75),
            disk_quota: 4 << 30,
            outbound_private: false,
        }
    }
}

/// Heroku's crash policy: a dyno that crashes is restarted at once the first
/// time; if it keeps crashing within `boot_window` of starting, it waits
/// `first_cooloff`, then twice that, and so on up to `max_cooloff`.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// Default: 10 min.
    pub boot_window: Duration,
    /// Default: 10 min.
    pub first_cooloff: Duration,
    /// Default: 24 h.
    pub max_cooloff: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            boot_window: Duration::from_secs(600),
            first_cooloff: Duration::from_secs(600),
            max_cooloff: Duration::from_secs(24 * 3600),
        }
    }
}

impl Backoff {
    /// The wait before restart number `consecutive` (1 = the first crash).
    pub fn cooloff(&self, consecutive: u32) -> Duration {
        if consecutive <= 1 {
            return Duration::ZERO;
        }
        let doublings = (consecutive - 2).min(30);
        self.first_cooloff
            .saturating_mul(1 << doublings)
            .min(self.max_cooloff)
    }
}

/// Why the router cannot hand a request to a web dyno.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    NoSuchApp,
    /// H80.
    Maintenance,
    /// H81: nothing deployed.
    NothingDeployed,
    /// H14: no web dynos in the formation.
    NoWebDynos,
    /// H10: the web dynos crashed.
    Crashed,
    /// H20: no web dyno came up in time.
    BootTimeout,
}

/// What `ps` shows of a dyno.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynoStatus {
    pub name: String,
    pub process_type: String,
    pub state: DynoState,
    pub release: u64,
    pub size: DynoSize,
    pub command: String,
    pub since: OffsetDateTime,
}

/// The dyno manager of one Kumo process.
pub struct DynoManager {
    config: ManagerConfig,
    engine: Arc<Engine>,
    logplex: Arc<Logplex>,
    source: Arc<dyn ReleaseSource>,
    slugs: SlugCache,
    apps: RwLock<HashMap<String, Arc<AppRuntime>>>,
    hosts: RwLock<HostTable>,
    router_port: AtomicU16,
    started: Instant,
    /// Which formation dynos this node runs, when nodes share the ledger.
    placement: std::sync::OnceLock<Arc<crate::placement::Placement>>,
}

/// The running side of one app.
pub struct AppRuntime {
    name: String,
    converging: tokio::sync::Mutex<()>,
    view: RwLock<WebView>,
    slots: Mutex<Vec<Slot>>,
    changed: Notify,
    /// When the last request came, in µs since the manager started: fine enough
    /// that two requests in a row never tie when the least recently used is chosen.
    last_request_us: AtomicU64,
    restarts: Mutex<BTreeMap<String, u64>>,
    /// The web dynos of an app asleep, going to sleep or waking, so `ps` never
    /// shows an eco app with no web dynos at all.
    asleep: Mutex<Asleep>,
    /// Running one-off dynos, and the number of the last one started.
    one_offs: Mutex<Vec<oneoff::OneOff>>,
    one_off_counter: AtomicU64,
    /// The desired state the last converge applied, which a wake starts from.
    applied: Mutex<Option<AppSpec>>,
    /// Every formation dyno the last converge placed, here or on other nodes.
    placed: Mutex<Vec<crate::placement::Placed>>,
}

/// What the router reads on every request.
#[derive(Default)]
struct WebView {
    maintenance: bool,
    deployed: bool,
    web_quantity: u32,
    sleeps: bool,
    sleeping: bool,
    dynos: Vec<Arc<WebDyno>>,
}

impl DynoManager {
    pub fn new(
        config: ManagerConfig,
        engine: Arc<Engine>,
        logplex: Arc<Logplex>,
        source: Arc<dyn ReleaseSource>,
        domain: &str,
    ) -> Arc<DynoManager> {
        let slugs = SlugCache::new(config.data_dir.join("slugs"), source.clone());
        Arc::new(DynoManager {
            slugs,
            engine,
            logplex,
            source,
            apps: RwLock::default(),
            hosts: RwLock::new(HostTable::new(domain)),
            router_port: AtomicU16::new(0),
            started: Instant::now(),
            placement: std::sync::OnceLock::new(),
            config,
        })
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub fn logplex(&self) -> &Arc<Logplex> {
        &self.logplex
    }

    pub fn config(&self) -> &ManagerConfig {
        &self.config
    }

    /// The router's port, given to web dynos as `PORT`.
    pub fn set_router_port(&self, port: u16) {
        self.router_port.store(port, Ordering::Relaxed);
    }

    /// Converges every app the source knows, and starts the sleep sweeper.
    pub async fn start(self: &Arc<Self>) -> anyhow::Result<()> {
        for spec in self.source.apps().await? {
            self.converge(&spec.name).await;
        }
        self.start_sleep_sweeper();
        self.start_sampling();
        Ok(())
    }

    /// Checks that every process type of slug `digest` can run here: the slug
    /// unpacks and each component compiles (once; the code is cached) and links.
    pub async fn check_slug(
        &self,
        digest: &kumo_slug::Digest,
    ) -> Result<kumo_slug::Manifest, String> {
        let slug = self.slugs.get(digest).await.map_err(|e| format!("{e:#}"))?;
        for (name, process) in &slug.manifest.process_types {
            self.engine
                .prepare(&slug, process)
                .await
                .map_err(|e| format!("process type `{name}`: {e}"))?;
        }
        Ok(slug.manifest.clone())
    }

    /// The add-on kinds each process type of slug `digest` needs, by the
    /// interfaces its component imports (`addons::required`).
    pub async fn slug_needs(
        &self,
        digest: &kumo_slug::Digest,
    ) -> anyhow::Result<Vec<(String, Vec<crate::addons::catalog::Kind>)>> {
        let slug = self.slugs.get(digest).await?;
        let mut needs = Vec::new();
        for (name, process) in &slug.manifest.process_types {
            let path = slug.app_dir().join(&process.component);
            let bytes = tokio::fs::read(&path).await?;
            let kinds = crate::addons::required::kinds_needed(&bytes);
            if !kinds.is_empty() {
                needs.push((name.clone(), kinds));
            }
        }
        Ok(needs)
    }

    /// Which app serves `host`, by `<app>.<domain>` or a custom domain.
    pub fn app_for_host(&self, host: &str) -> Option<Arc<str>> {
        self.hosts
            .read()
            .expect("hosts lock poisoned")
            .app_for(host)
    }

    /// Brings `app`'s dynos in line with what the source says now: starts, stops
    /// and replaces dynos; tears everything down if the app is gone. Other
    /// nodes sharing the ledger are told to converge it too, first, so they
    /// do not wait for this node's new dynos to boot.
    pub async fn converge(self: &Arc<Self>, app: &str) {
        self.announce(app);
        self.converge_here(app).await;
    }

    /// [`DynoManager::converge`] on this node only.
    async fn converge_here(self: &Arc<Self>, app: &str) {
        let runtime = self.runtime(app);
        let _guard = runtime.converging.lock().await;
        let spec = match self.source.app(app).await {
            Ok(spec) => spec,
            Err(e) => {
                tracing::error!(app, error = %e, "reading the app's desired state failed");
                return;
            }
        };
        let Some(spec) = spec else {
            self.remove_app(app, &runtime).await;
            return;
        };
        self.hosts
            .write()
            .expect("hosts lock poisoned")
            .set(&spec.name, &spec.domains);
        *runtime.applied.lock().expect("applied lock poisoned") = Some(spec.clone());
        self.converge_runtime(&runtime, &spec).await;
    }

    /// Follows an app renamed from `old` to `new` in the source: its log
    /// stream (history and live tails) moves to `new`, the new name's dynos
    /// start and are routed, and only then are the old name's stopped and its
    /// host forgotten, so the old host answers as an unknown app.
    pub async fn renamed(self: &Arc<Self>, old: &str, new: &str) {
        self.logplex.rename(old, new);
        crate::metrics::global().renamed(old, new);
        self.converge(new).await;
        self.converge(old).await;
    }

    /// Wakes `app` from the desired state its last converge applied, so the
    /// waiting request does not wait for the source too (the ledger's four
    /// queries are most of a Rust app's wake: 0.5–1 ms of about 1.4). Then reads
    /// the source and converges again if it changed meanwhile, as a change made
    /// through another server over the same ledger would.
    async fn converge_on_wake(self: &Arc<Self>, app: &str) {
        let applied = self.converge_applied(app).await;
        match (applied, self.source.app(app).await) {
            (Some(applied), Ok(Some(now))) if now == applied => {}
            (_, Err(e)) => {
                tracing::error!(app, error = %e, "reading the app's desired state failed");
            }
            _ => self.converge(app).await,
        }
    }

    /// Converges `app` from the desired state its last converge applied,
    /// reading nothing from the source (a wake, and a fenced node stopping
    /// its dynos); returns that state.
    async fn converge_applied(self: &Arc<Self>, app: &str) -> Option<AppSpec> {
        let runtime = self.runtime(app);
        let _guard = runtime.converging.lock().await;
        let applied = runtime
            .applied
            .lock()
            .expect("applied lock poisoned")
            .clone();
        if let Some(spec) = &applied {
            self.converge_runtime(&runtime, spec).await;
        }
        applied
    }

    /// Restarts the dynos of `app`: all of them, one process type (`web`) or one dyno (`web.1`).
    pub async fn restart(self: &Arc<Self>, app: &str, which: Option<&str>) {
        let runtime = self.runtime(app);
        {
            let mut restarts = runtime.restarts.lock().expect("restarts lock poisoned");
            *restarts.entry(which.unwrap_or("").to_string()).or_default() += 1;
        }
        self.converge(app).await;
    }

    /// The dynos of `app`, as `ps` shows them.
    /// How many dynos of every app are in each state, for the operator's metrics.
    pub fn dyno_states(&self) -> Vec<(&'static str, i64)> {
        let apps: Vec<String> = self
            .apps
            .read()
            .expect("apps lock poisoned")
            .keys()
            .cloned()
            .collect();
        let mut counts: std::collections::BTreeMap<&'static str, i64> = Default::default();
        for app in apps {
            for dyno in self.dynos(&app) {
                *counts.entry(dyno.state.as_str()).or_default() += 1;
            }
        }
        counts.into_iter().collect()
    }

    pub fn dynos(&self, app: &str) -> Vec<DynoStatus> {
        let Some(runtime) = self
            .apps
            .read()
            .expect("apps lock poisoned")
            .get(app)
            .cloned()
        else {
            return Vec::new();
        };
        let slots = runtime.slots.lock().expect("slots lock poisoned");
        let mut list: Vec<DynoStatus> = slots.iter().map(|s| s.status().get()).collect();
        list.extend(runtime.one_off_statuses());
        list.extend(
            runtime
                .asleep
                .lock()
                .expect("asleep lock poisoned")
                .listed(&slots),
        );
        list.sort_by(|a, b| {
            (&a.process_type, dyno_index(&a.name)).cmp(&(&b.process_type, dyno_index(&b.name)))
        });
        list
    }

    fn runtime(&self, app: &str) -> Arc<AppRuntime> {
        if let Some(runtime) = self.apps.read().expect("apps lock poisoned").get(app) {
            return runtime.clone();
        }
        let mut apps = self.apps.write().expect("apps lock poisoned");
        apps.entry(app.to_string())
            .or_insert_with(|| {
                Arc::new(AppRuntime {
                    name: app.to_string(),
                    converging: tokio::sync::Mutex::new(()),
                    view: RwLock::default(),
                    slots: Mutex::default(),
                    changed: Notify::new(),
                    last_request_us: AtomicU64::new(self.now_us()),
                    restarts: Mutex::default(),
                    asleep: Mutex::default(),
                    one_offs: Mutex::default(),
                    one_off_counter: AtomicU64::new(0),
                    applied: Mutex::default(),
                    placed: Mutex::default(),
                })
            })
            .clone()
    }

    fn now_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    fn log(&self, app: &str, dyno: &str, text: &str) {
        self.logplex.log(app, Source::Kumo, dyno, text);
    }

    async fn remove_app(&self, app: &str, runtime: &Arc<AppRuntime>) {
        self.hosts.write().expect("hosts lock poisoned").remove(app);
        let slots: Vec<Slot> =
            std::mem::take(&mut *runtime.slots.lock().expect("slots lock poisoned"));
        *runtime.view.write().expect("view lock poisoned") = WebView::default();
        runtime.stop_one_offs();
        runtime.changed.notify_waiters();
        for slot in &slots {
            slot.stop(false);
        }
        self.apps.write().expect("apps lock poisoned").remove(app);
        for slot in slots {
            slot.stopped().await;
        }
        if let Some(placement) = self.placement() {
            placement.release_others(app, &Default::default()).await;
        }
        self.logplex.forget(app);
    }

    async fn converge_runtime(self: &Arc<Self>, runtime: &Arc<AppRuntime>, spec: &AppSpec) {
        let app = &spec.name;
        let web = spec.formation.get("web").copied();
        {
            let mut view = runtime.view.write().expect("view lock poisoned");
            view.maintenance = spec.maintenance;
            view.deployed = spec.release.is_some();
            view.web_quantity = web.map_or(0, |w| w.quantity);
            view.sleeps = web.is_some_and(|w| w.size.sleeps());
            if !view.sleeps {
                view.sleeping = false;
            }
        }
        runtime.changed.notify_waiters();
        let sleeping = runtime.view.read().expect("view lock poisoned").sleeping;

        let mut wanted: Vec<(String, String, Want)> = Vec::new();
        let mut placed = Vec::new();
        let mut slug = None;
        if let Some(release) = &spec.release {
            match self.slugs.get(&release.slug).await {
                Ok(s) => slug = Some(s),
                Err(e) => {
                    self.log(
                        app,
                        "api",
                        &format!(
                            "Error R17 (Checksum error) -> release v{} cannot start: {e:#}",
                            release.version
                        ),
                    );
                }
            }
            if let Some(slug) = &slug {
                // Restarts asked through the ledger (any node's API) and of
                // this manager directly.
                let mut restarts = runtime
                    .restarts
                    .lock()
                    .expect("restarts lock poisoned")
                    .clone();
                for (which, count) in &spec.restarts {
                    *restarts.entry(which.clone()).or_default() += count;
                }
                for (process_type, entry) in &spec.formation {
                    if process_type == "release"
                        || !slug.manifest.process_types.contains_key(process_type)
                    {
                        continue;
                    }
                    for index in 1..=entry.quantity {
                        let name = format!("{process_type}.{index}");
                        // Asleep, web dynos keep their place but do not run.
                        placed.push(crate::placement::Placed {
                            name: name.clone(),
                            process_type: process_type.clone(),
                        });
                        if process_type == "web" && sleeping {
                            continue;
                        }
                        let restart = restarts.get("").copied().unwrap_or(0)
                            + restarts.get(process_type).copied().unwrap_or(0)
                            + restarts.get(&name).copied().unwrap_or(0);
                        wanted.push((
                            name,
                            process_type.clone(),
                            Want {
                                release: release.version,
                                size: entry.size,
                                restart,
                            },
                        ));
                    }
                }
            }
        }

        // With nodes sharing the ledger, this node runs the dynos it holds.
        let mine = match self.placement() {
            Some(placement) => {
                let mine = placement.claim(app, &placed).await;
                wanted.retain(|(name, _, _)| mine.contains(name));
                Some(mine)
            }
            None => None,
        };
        *runtime.placed.lock().expect("placed lock poisoned") = placed;

        // Keep slots that already run what is wanted; start the rest.
        let fresh: Vec<(String, String, Want)> = {
            let slots = runtime.slots.lock().expect("slots lock poisoned");
            wanted
                .iter()
                .filter(|(name, _, want)| {
                    !slots.iter().any(|s| s.name() == name && s.want() == *want)
                })
                .cloned()
                .collect()
        };
        let mut started = Vec::new();
        if let (Some(release), Some(slug)) = (&spec.release, &slug) {
            for (name, process_type, want) in fresh {
                let process = slug.manifest.process_types[&process_type].clone();
                let shown_as = runtime
                    .asleep
                    .lock()
                    .expect("asleep lock poisoned")
                    .shown_as(&name);
                let spec = slot::SlotSpec {
                    name,
                    process_type,
                    process,
                    want,
                    release: release.clone(),
                    slug: slug.clone(),
                    shown_as,
                };
                let slot = Slot::start(self.clone(), runtime.clone(), spec);
                started.push(slot.status());
                runtime
                    .slots
                    .lock()
                    .expect("slots lock poisoned")
                    .push(slot);
            }
        }
        if !sleeping {
            // Awake: the slots, started or kept, are what `dynos` lists now.
            *runtime.asleep.lock().expect("asleep lock poisoned") = Asleep::default();
        }

        // Replaced dynos stop only once their successors are up (or crashed), so
        // a client sending requests in a loop sees no failure.
        let deadline = tokio::time::Instant::now() + self.config.boot_timeout;
        for status in &started {
            status.wait_settled(deadline).await;
        }
        let retiring: Vec<Slot> = {
            let mut slots = runtime.slots.lock().expect("slots lock poisoned");
            let (keep, retire): (Vec<Slot>, Vec<Slot>) =
                std::mem::take(&mut *slots).into_iter().partition(|s| {
                    wanted
                        .iter()
                        .any(|(name, _, want)| s.name() == name && s.want() == *want)
                });
            *slots = keep;
            retire
        };
        for slot in &retiring {
            slot.stop(false);
        }
        if let (Some(placement), Some(mine)) = (self.placement(), &mine) {
            placement.release_others(app, mine).await;
        }
        tokio::spawn(async move {
            for slot in retiring {
                slot.stopped().await;
            }
        });
    }
}

impl AppRuntime {
    fn publish(&self, dyno: Arc<WebDyno>) {
        self.view
            .write()
            .expect("view lock poisoned")
            .dynos
            .push(dyno);
        self.changed.notify_waiters();
    }

    fn unpublish(&self, dyno: &Arc<WebDyno>) {
        self.view
            .write()
            .expect("view lock poisoned")
            .dynos
            .retain(|d| !Arc::ptr_eq(d, dyno));
        self.changed.notify_waiters();
    }

    fn state_changed(&self) {
        self.changed.notify_waiters();
    }
}

fn dyno_index(name: &str) -> u64 {
    name.rsplit_once('.')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_heroku() {
        let b = Backoff::default();
        assert_eq!(b.cooloff(1), Duration::ZERO);
        assert_eq!(b.cooloff(2), Duration::from_secs(600));
        assert_eq!(b.cooloff(3), Duration::from_secs(1200));
        assert_eq!(b.cooloff(4), Duration::from_secs(2400));
        assert_eq!(b.cooloff(40), Duration::from_secs(24 * 3600));
    }
}
