//! Web dynos: up to `WEB_CONCURRENCY` requests served at once; the rest wait in turn.
//!
//! For `http` process types the dyno keeps `WEB_CONCURRENCY` warm `wasi:http`
//! instances and reuses them request after request, so in-memory state lives until
//! the dyno restarts; a trap or a request past its deadline replaces that instance
//! only. A request takes a turn, then an instance, and runs its guest on its own
//! task until the guest has set its response head; if the guest is not done by
//! then, the rest of its work goes on in a task of its own, so it never depends
//! on the client reading. Its body reaches the client through a spool
//! ([`super::spool`]): a response that fits there frees its instance as soon as
//! the guest is done. A guest that waits for a slow client to make room lends its
//! turn to the next request, which takes an idle instance or makes one (within
//! the dyno's memory cap; past it, it waits for one to come back): slow clients
//! hold instances, never the whole dyno.
//! A process type the manifest lists in `fresh_instance_per_request` gets a new
//! instance after each request instead, made once the response is out.
//! For `cgi` process types a queue feeds `WEB_CONCURRENCY` workers, each running the
//! command once per request ([`super::cgi`]).

use super::fs::DynoFs;
use super::host::DynoMemory;
use super::instance::{HttpInstance, OverMemory};
use super::outbound::Outbound;
use super::output::LogOutput;
use super::{DispatchError, DynoSpec, NoCapacity, RequestBody, ResponseBody};
use crate::engine::Prepared;
use crate::logplex::Source;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::task::JoinHandle;
use wasmtime_wasi::WasiCtxBuilder;

/// Requests a web dyno queues before callers wait.
const QUEUE: usize = 1024;

pub(crate) struct Job {
    pub request: http::Request<RequestBody>,
    pub respond: oneshot::Sender<Result<http::Response<ResponseBody>, DispatchError>>,
}

/// What a web dyno's workers share.
pub(crate) struct Shared {
    pub spec: DynoSpec,
    pub fs: DynoFs,
    pub memory: Arc<DynoMemory>,
    pub stdout: LogOutput,
    pub stderr: LogOutput,
    pub env: Vec<(String, String)>,
    /// What the dyno's guests may reach; an outgoing HTTP request lives no
    /// longer than the request deadline.
    pub outbound: Arc<Outbound>,
}

impl Shared {
    /// A WASI context for one instance: environment, arguments, stdio to Logplex,
    /// the dyno's filesystem and the socket addresses its app allows.
    pub fn wasi(&self, extra_env: &[(String, String)]) -> anyhow::Result<WasiCtxBuilder> {
        let mut builder = WasiCtxBuilder::new();
        builder
            .envs(&self.env)
            .envs(extra_env)
            .args(&self.spec.argv())
            .stdout(self.stdout.clone())
            .stderr(self.stderr.clone());
        self.fs.preopen(&mut builder)?;
        self.outbound.configure(&mut builder);
        Ok(builder)
    }

    pub fn log_kumo(&self, text: &str) {
        self.spec.log.log(Source::Kumo, &self.spec.name, text);
    }
}

/// A running web dyno.
pub struct WebDyno {
    name: Arc<str>,
    in_flight: AtomicUsize,
    serving: Serving,
    shared: Arc<Shared>,
}

/// How a web dyno takes requests.
enum Serving {
    Http(Arc<HttpPool>),
    Cgi {
        jobs: async_channel::Sender<Job>,
        workers: Mutex<Vec<JoinHandle<()>>>,
    },
}

/// The warm instances of an `http` web dyno, and the turns to use them.
struct HttpPool {
    idle: Mutex<Vec<HttpInstance>>,
    /// One permit per request being served: `WEB_CONCURRENCY` of them.
    turns: Arc<Semaphore>,
    concurrency: u32,
    /// Set by `stop`: no new requests.
    closed: AtomicBool,
    /// Set when the stop grace is over: running guests are stopped.
    killed: AtomicBool,
    kill: Notify,
    /// Notified by `stop` and `kill_all`: instances being made for later are not needed.
    closing: Notify,
    fresh_per_request: bool,
    /// Requests whose guest waits for a slow client and lent its turn.
    lent: AtomicUsize,
    /// Notified when an instance comes back to `idle` or a lent request ends.
    returned: Notify,
}

impl HttpPool {
    /// Keeps `instance` for the next request; one beyond `WEB_CONCURRENCY` (made
    /// while slow clients held the others) is dropped, freeing its memory.
    fn put_back(&self, instance: HttpInstance) {
        if !self.killed.load(Ordering::Acquire) {
            let mut idle = self.idle.lock().expect("instance pool poisoned");
            if idle.len() < self.concurrency as usize {
                idle.push(instance);
            }
        }
        self.returned.notify_waiters();
    }

    fn take_idle(&self) -> Option<HttpInstance> {
        self.idle.lock().expect("instance pool poisoned").pop()
    }
}

/// A request's turn, which it lends (gives back early) while its guest waits for
/// a slow client; the request still counts in `lent` until it ends.
struct Turn {
    pool: Arc<HttpPool>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Turn {
    fn lend(&mut self) {
        if self.permit.take().is_some() {
            self.pool.lent.fetch_add(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if self.permit.is_none() {
            self.pool.lent.fetch_sub(1, Ordering::AcqRel);
            self.pool.returned.notify_waiters();
        }
    }
}

impl WebDyno {
    /// Makes the dyno's filesystem and, for `http`, instantiates the first instance,
    /// so a component that cannot start fails here (and the dyno crashes) rather than
    /// on a request. The dyno's other instances are made in the background while it
    /// serves: a wake waits for one instantiation, not `WEB_CONCURRENCY` of them.
    pub async fn start(spec: DynoSpec) -> anyhow::Result<Arc<WebDyno>> {
        let fs =
            DynoFs::create(&spec.dynos_dir, &spec.app, &spec.name, &spec.slug.app_dir()).await?;
        let stdout = LogOutput::new(spec.log.clone(), &spec.name);
        let outbound = Outbound::start(&spec, Some(spec.request_deadline)).await;
        let shared = Arc::new(Shared {
            memory: DynoMemory::new(spec.size.memory_bytes()),
            stderr: stdout.sibling(),
            stdout,
            env: spec.environment(),
            outbound,
            fs,
            spec,
        });
        let mut concurrency = shared.spec.web_concurrency();
        let serving = match &*shared.spec.prepared {
            Prepared::Http(_) => {
                let mut idle = Vec::with_capacity(concurrency);
                idle.push(HttpInstance::new(&shared).await?);
                concurrency = fitting(&shared, concurrency);
                let pool = Arc::new(HttpPool {
                    idle: Mutex::new(idle),
                    turns: Arc::new(Semaphore::new(concurrency)),
                    concurrency: concurrency as u32,
                    closed: AtomicBool::new(false),
                    killed: AtomicBool::new(false),
                    kill: Notify::new(),
                    closing: Notify::new(),
                    lent: AtomicUsize::new(0),
                    returned: Notify::new(),
                    fresh_per_request: shared
                        .spec
                        .slug
                        .manifest
                        .fresh_instance_per_request
                        .contains(&shared.spec.process_type),
                });
                if concurrency > 1 {
                    let turns = pool
                        .turns
                        .clone()
                        .try_acquire_many_owned(concurrency as u32 - 1)
                        .expect("a new pool has every turn");
                    tokio::spawn(fill(shared.clone(), pool.clone(), turns));
                }
                Serving::Http(pool)
            }
            Prepared::Command(_) => {
                let (tx, rx) = async_channel::bounded(QUEUE);
                let workers = (0..concurrency)
                    .map(|_| tokio::spawn(super::cgi::worker(shared.clone(), rx.clone())))
                    .collect();
                Serving::Cgi {
                    jobs: tx,
                    workers: Mutex::new(workers),
                }
            }
        };
        Ok(Arc::new(WebDyno {
            name: shared.spec.name.as_str().into(),
            in_flight: AtomicUsize::new(0),
            serving,
            shared,
        }))
    }

    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Requests queued or being served.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Whether the dyno holds instances of the engine's pool between requests
    /// (`http`); a `cgi` dyno makes one per request and holds none when idle.
    pub fn holds_instances(&self) -> bool {
        matches!(self.serving, Serving::Http(_))
    }

    /// Whether a request is waiting, being served, or still streaming its body
    /// (its turn is given back, or lent, only when the guest is done or waits
    /// for its client), or an instance is still being made.
    pub fn busy(&self) -> bool {
        match &self.serving {
            Serving::Http(pool) => {
                pool.turns.available_permits() < pool.concurrency as usize
                    || pool.lent.load(Ordering::Acquire) > 0
            }
            Serving::Cgi { .. } => self.in_flight() > 0,
        }
    }

    /// Bytes of linear memory the dyno's instances hold.
    pub fn memory_used(&self) -> u64 {
        self.shared.memory.used()
    }

    /// Bytes of linear memory the dyno's size allows.
    pub fn memory_quota(&self) -> u64 {
        self.shared.memory.cap
    }

    /// Serves one request. A stopping dyno hands the request back as [`DispatchError::Closed`].
    pub async fn handle(
        &self,
        request: http::Request<RequestBody>,
    ) -> Result<http::Response<ResponseBody>, DispatchError> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let _done = InFlight(&self.in_flight);
        let (respond, mut response) = oneshot::channel();
        let job = Job { request, respond };
        match &self.serving {
            Serving::Cgi { jobs, .. } => {
                let deadline = self.shared.spec.request_deadline;
                let job = Job {
                    request: super::cgi::read_body(job.request, deadline).await?,
                    respond: job.respond,
                };
                if let Err(e) = jobs.send(job).await {
                    return Err(DispatchError::Closed(Box::new(e.into_inner().request)));
                }
            }
            Serving::Http(pool) => {
                if pool.closed.load(Ordering::Acquire) {
                    return Err(DispatchError::Closed(Box::new(job.request)));
                }
                let Ok(turn) = pool.turns.clone().acquire_owned().await else {
                    return Err(DispatchError::Closed(Box::new(job.request)));
                };
                let serve = serve_in_turn(self.shared.clone(), pool.clone(), job, turn);
                let mut serve = Detachable(Some(Box::pin(serve)));
                // The guest runs here until it has answered; if it is not done
                // then, the rest goes on in a task of its own (`serve` is dropped).
                tokio::select! {
                    biased;
                    answer = &mut response => {
                        serve.finish_now();
                        return answer.unwrap_or_else(|_| Err(dropped()));
                    }
                    () = serve.run() => {}
                }
            }
        }
        response.await.unwrap_or_else(|_| Err(dropped()))
    }

    /// Waits until the dyno's files take more than its disk quota, then says so
    /// (the line to log). Its supervisor restarts the dyno with a fresh copy.
    pub async fn over_disk_quota(&self) -> String {
        let quota = self.shared.spec.disk_quota;
        self.shared.fs.quota_exceeded(quota).await
    }

    /// Says the dyno is going to sleep: once it is gone, its folder becomes the
    /// slug's next spare if no file in it changed ([`DynoFs::keep_as_spare`]).
    pub fn keep_files_as_spare(&self) {
        self.shared.fs.keep_as_spare();
    }

    /// Stops at once: no grace for the requests in hand.
    pub fn kill(&self) {
        match &self.serving {
            Serving::Cgi { jobs, workers } => {
                jobs.close();
                for worker in workers.lock().expect("workers lock poisoned").drain(..) {
                    worker.abort();
                }
            }
            Serving::Http(pool) => pool.kill_all(),
        }
    }

    /// Takes no new requests; the queued ones are still served.
    pub fn stop(&self) {
        match &self.serving {
            Serving::Cgi { jobs, .. } => {
                jobs.close();
            }
            Serving::Http(pool) => {
                pool.closed.store(true, Ordering::Release);
                pool.closing.notify_waiters();
            }
        }
    }

    /// Waits for the requests in hand to finish, up to `grace`; then stops them.
    /// Returns false if some had to be stopped. Either way the dyno's instances
    /// are dropped by the time it returns, so their pool slots are free again.
    pub async fn wait_stopped(&self, grace: Duration) -> bool {
        match &self.serving {
            Serving::Cgi { workers, .. } => {
                let workers: Vec<JoinHandle<()>> =
                    std::mem::take(&mut *workers.lock().expect("workers lock poisoned"));
                let aborts: Vec<_> = workers.iter().map(|w| w.abort_handle()).collect();
                let all = futures::future::join_all(workers);
                if tokio::time::timeout(grace, all).await.is_ok() {
                    return true;
                }
                for abort in aborts {
                    abort.abort();
                }
                false
            }
            Serving::Http(pool) => {
                let all = async {
                    let turns = pool.turns.acquire_many(pool.concurrency).await;
                    // Requests that lent their turns to wait for slow clients.
                    loop {
                        let returned = pool.returned.notified();
                        if pool.lent.load(Ordering::Acquire) == 0 {
                            break turns;
                        }
                        returned.await;
                    }
                };
                if let Ok(Ok(turns)) = tokio::time::timeout(grace, all).await {
                    turns.forget();
                    pool.turns.close();
                    pool.idle.lock().expect("instance pool poisoned").clear();
                    return true;
                }
                pool.kill_all();
                false
            }
        }
    }
}

impl HttpPool {
    /// Stops every running guest and drops the warm instances.
    fn kill_all(&self) {
        self.closed.store(true, Ordering::Release);
        self.killed.store(true, Ordering::Release);
        self.kill.notify_waiters();
        self.closing.notify_waiters();
        self.turns.close();
        self.idle.lock().expect("instance pool poisoned").clear();
    }
}

impl Drop for WebDyno {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The dyno was killed (past its stop grace, or over a quota) before it answered:
/// H13, as when Heroku's dyno closes the connection without a response.
fn dropped() -> DispatchError {
    DispatchError::Crashed("the dyno was stopped before it answered".into())
}

type Serve = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A request's guest work, polled by the request's own task; if that task stops
/// polling it before it is done (the response is out, or the client left), the
/// rest runs in a task of its own.
struct Detachable(Option<Serve>);

impl Detachable {
    async fn run(&mut self) {
        if let Some(serve) = self.0.as_mut() {
            serve.await;
            self.0 = None;
        }
    }

    fn detach(&mut self) {
        if let Some(serve) = self.0.take() {
            tokio::spawn(serve);
        }
    }

    /// Polls once more, so a guest that only had its body left to write is done
    /// here (the common case: no task of its own); what is still not done is
    /// detached. Its first poll in the new task registers its wakers again.
    fn finish_now(&mut self) {
        if let Some(serve) = self.0.as_mut()
            && serve.as_mut().poll(&mut Context::from_waker(Waker::noop())) == Poll::Ready(())
        {
            self.0 = None;
        }
        self.detach();
    }
}

impl Drop for Detachable {
    fn drop(&mut self) {
        self.detach();
    }
}

/// Serves `job` with a warm instance of `pool` while holding `turn`; puts the
/// instance back, or makes its replacement, before giving the turn up.
async fn serve_in_turn(
    shared: Arc<Shared>,
    pool: Arc<HttpPool>,
    job: Job,
    turn: OwnedSemaphorePermit,
) {
    let mut turn = Turn {
        pool: pool.clone(),
        permit: Some(turn),
    };
    if pool.killed.load(Ordering::Acquire) {
        let _ = job
            .respond
            .send(Err(DispatchError::Closed(Box::new(job.request))));
        return;
    }
    // A full pool makes the request wait for a slot, up to its deadline.
    let waited = tokio::time::timeout(shared.spec.request_deadline, take_instance(&shared, &pool));
    let instance = match waited.await {
        Ok(Some(Ok(instance))) => instance,
        Ok(Some(Err(e))) => {
            shared.log_kumo(&format!("Instance failed to start: {e:#}"));
            let _ = job
                .respond
                .send(Err(DispatchError::Crashed(format!("{e:#}"))));
            return;
        }
        Ok(None) => {
            let _ = job
                .respond
                .send(Err(DispatchError::Closed(Box::new(job.request))));
            return;
        }
        Err(_) => {
            let e = "no free instance slot on this server before the request's deadline";
            shared.log_kumo(&format!("Error R99 (Platform error) -> {e}"));
            let _ = job.respond.send(Err(DispatchError::Platform(e.into())));
            return;
        }
    };
    let mut lend = || turn.lend();
    let served = tokio::select! {
        served = instance.serve(&shared, job, &mut lend) => served,
        () = pool.kill.notified() => return,
    };
    match served {
        Some(instance) if !pool.fresh_per_request => pool.put_back(instance),
        _ if pool.closed.load(Ordering::Acquire) => {}
        // A request that lent its turn was replaced by the one that took it.
        _ if turn.permit.is_none() => {}
        _ => {
            // A failed instance, or one whose runtime keeps per-request state: its
            // replacement is made now, after the response, so the next request finds
            // it warm; in a task of its own, so this response is not held up by it.
            tokio::spawn(async move {
                if let Some(Ok(fresh)) = instance_when_free(&shared, &pool).await {
                    pool.put_back(fresh);
                }
                drop(turn);
            });
        }
    }
}

/// An idle instance, or a new one. While requests that lent their turns hold
/// instances, one that the dyno's memory cap does not allow waits for one of
/// them to come back instead of failing.
async fn take_instance(shared: &Shared, pool: &HttpPool) -> Option<anyhow::Result<HttpInstance>> {
    loop {
        let returned = pool.returned.notified();
        if let Some(instance) = pool.take_idle() {
            return Some(Ok(instance));
        }
        match instance_when_free(shared, pool).await {
            Some(Err(e))
                if e.downcast_ref::<OverMemory>().is_some()
                    && pool.lent.load(Ordering::Acquire) > 0 =>
            {
                returned.await;
            }
            made => return made,
        }
    }
}

/// How many instances the dyno keeps: `WEB_CONCURRENCY`, unless instances as
/// large as its first (a JVM booted from a snapshot starts with hundreds of
/// MB) would take more than half its memory, leaving them no room to grow; then
/// as many as fit in that half (at least one), said in the dyno's log.
fn fitting(shared: &Shared, concurrency: usize) -> usize {
    let first = shared.memory.used().max(1);
    let fits = (shared.memory.cap / 2 / first).max(1) as usize;
    if fits < concurrency {
        shared.log_kumo(&format!(
            "Serving with {fits} instance(s), not WEB_CONCURRENCY={concurrency}: each starts with {} MB of the dyno's {} MB",
            first >> 20,
            shared.memory.cap >> 20
        ));
        return fits;
    }
    concurrency
}

/// Makes a new dyno's instances after its first, giving the pool one turn per
/// instance made. A turn whose instance fails to start is given anyway: the
/// request that takes it makes an instance then, and reports the failure.
async fn fill(shared: Arc<Shared>, pool: Arc<HttpPool>, mut turns: OwnedSemaphorePermit) {
    while turns.num_permits() > 0 {
        let turn = turns.split(1).expect("a permit is left");
        match instance_when_free(&shared, &pool).await {
            Some(Ok(instance)) => pool.put_back(instance),
            Some(Err(e)) => shared.log_kumo(&format!("Instance failed to start: {e:#}")),
            None => return,
        }
        drop(turn);
    }
}

/// How often a dyno tries again for an instance slot while the pool is full.
pub(super) const SLOT_RETRY: Duration = Duration::from_millis(50);

/// A new instance for `pool`, waiting for a free slot while the engine's pool is
/// full ([`NoCapacity`]); `None` once the dyno is stopped or killed (the instance
/// being made is dropped, so it neither outlives the dyno nor holds a slot).
async fn instance_when_free(
    shared: &Shared,
    pool: &HttpPool,
) -> Option<anyhow::Result<HttpInstance>> {
    loop {
        let closing = pool.closing.notified();
        if pool.closed.load(Ordering::Acquire) {
            return None;
        }
        let made = tokio::select! {
            made = HttpInstance::new(shared) => made,
            () = closing => return None,
        };
        match made {
            Err(e) if e.downcast_ref::<NoCapacity>().is_some() => {
                let closing = pool.closing.notified();
                if pool.closed.load(Ordering::Acquire) {
                    return None;
                }
                tokio::select! {
                    () = tokio::time::sleep(SLOT_RETRY) => {}
                    () = closing => return None,
                }
            }
            made => return Some(made),
        }
    }
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
