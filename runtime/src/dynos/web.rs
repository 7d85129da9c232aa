//! Web dynos: up to `WEB_CONCURRENCY` requests served at once; the rest wait in turn.
//!
//! For `http` process types the dyno keeps `WEB_CONCURRENCY` warm `wasi:http`
//! instances and reuses them request after request, so in-memory state lives until
//! the dyno restarts; a trap or a request past its deadline replaces that instance
//! only. The guest runs on the task of the request that took the instance, with no
//! hand-off to another task: once the response head is out, whatever the guest still
//! has to do (the rest of a streamed body) goes on in a task of its own, and so does a
//! request whose client leaves, so a guest is never cut off half-way by its caller.
//! A process type the manifest lists in `fresh_instance_per_request` gets a new
//! instance after each request instead, made once the response is out.
//! For `cgi` process types a queue feeds `WEB_CONCURRENCY` workers, each running the
//! command once per request ([`super::cgi`]).

use super::fs::DynoFs;
use super::host::{DynoHost, DynoMemory, new_store};
use super::outbound::Outbound;
use super::output::LogOutput;
use super::{
    BootTimeout, DispatchError, DynoSpec, Interrupted, NoCapacity, RequestBody, ResponseBody,
    describe_failure,
};
use crate::engine::Prepared;
use crate::logplex::Source;
use anyhow::Context as _;
use http_body_util::BodyExt as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::task::JoinHandle;
use wasmtime::Store;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::Proxy;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

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
}

impl HttpPool {
    fn put_back(&self, instance: HttpInstance) {
        if !self.killed.load(Ordering::Acquire) {
            self.idle
                .lock()
                .expect("instance pool poisoned")
                .push(instance);
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
        let concurrency = shared.spec.web_concurrency();
        let serving = match &*shared.spec.prepared {
            Prepared::Http(_) => {
                let mut idle = Vec::with_capacity(concurrency);
                idle.push(HttpInstance::new(&shared).await?);
                let pool = Arc::new(HttpPool {
                    idle: Mutex::new(idle),
                    turns: Arc::new(Semaphore::new(concurrency)),
                    concurrency: concurrency as u32,
                    closed: AtomicBool::new(false),
                    killed: AtomicBool::new(false),
                    kill: Notify::new(),
                    closing: Notify::new(),
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
    /// (its turn is given back only when the guest is done), or an instance is
    /// still being made.
    pub fn busy(&self) -> bool {
        match &self.serving {
            Serving::Http(pool) => pool.turns.available_permits() < pool.concurrency as usize,
            Serving::Cgi { .. } => self.in_flight() > 0,
        }
    }

    /// Bytes of linear memory the dyno's instances hold.
    pub fn memory_used(&self) -> u64 {
        self.shared.memory.used()
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
                // The guest runs here until it has answered; if it is still
                // writing the body then, it goes on as the client reads the body.
                tokio::select! {
                    biased;
                    answer = &mut response => {
                        let answer = answer.unwrap_or_else(|_| Err(dropped()))?;
                        return Ok(answer.map(|body| {
                            if serve.0.is_some() {
                                GuestDriven { body, serve }.boxed_unsync()
                            } else {
                                body
                            }
                        }));
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
                let all = pool.turns.acquire_many(pool.concurrency);
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
}

impl Drop for Detachable {
    fn drop(&mut self) {
        self.detach();
    }
}

/// A response body whose guest is still running: reading the body drives the
/// guest too, on the reader's task. Should the body end or be dropped first, the
/// guest's remaining work goes on in a task of its own.
struct GuestDriven {
    body: ResponseBody,
    serve: Detachable,
}

impl http_body::Body for GuestDriven {
    type Data = bytes::Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if let Some(serve) = this.serve.0.as_mut()
            && serve.as_mut().poll(cx).is_ready()
        {
            this.serve.0 = None;
        }
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        if let std::task::Poll::Ready(None) = frame {
            this.serve.detach();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
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
    if pool.killed.load(Ordering::Acquire) {
        let _ = job
            .respond
            .send(Err(DispatchError::Closed(Box::new(job.request))));
        return;
    }
    let instance = pool.idle.lock().expect("instance pool poisoned").pop();
    let instance = match instance {
        Some(instance) => instance,
        None => {
            // A full pool makes the request wait for a slot, up to its deadline.
            let waited = tokio::time::timeout(
                shared.spec.request_deadline,
                instance_when_free(&shared, &pool),
            );
            match waited.await {
                Ok(Some(Ok(fresh))) => fresh,
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
            }
        }
    };
    let served = tokio::select! {
        served = instance.serve(&shared, job) => served,
        () = pool.kill.notified() => return,
    };
    match served {
        Some(instance) if !pool.fresh_per_request => pool.put_back(instance),
        _ if pool.closed.load(Ordering::Acquire) => {}
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

/// One warm `wasi:http` instance.
struct HttpInstance {
    store: Store<DynoHost>,
    proxy: Proxy,
}

impl HttpInstance {
    async fn new(shared: &Shared) -> anyhow::Result<HttpInstance> {
        let Prepared::Http(pre) = &*shared.spec.prepared else {
            anyhow::bail!(
                "process type `{}` is not an http process",
                shared.spec.process_type
            );
        };
        let wasi = shared.wasi(&[])?.build();
        let mut store = new_store(
            shared.spec.engine.wasmtime(),
            DynoHost::new(wasi, shared.memory.clone(), shared.outbound.clone()),
        );
        // The guest yields at every epoch tick, so even a start function that
        // never returns gives the timer its turn and is dropped at the deadline.
        let deadline = shared.spec.boot_deadline;
        let Ok(proxy) = tokio::time::timeout(deadline, pre.instantiate_async(&mut store)).await
        else {
            return Err(anyhow::Error::new(BootTimeout(deadline)));
        };
        let proxy = proxy.map_err(|e| {
            if let Some(full) = NoCapacity::of(&e) {
                return anyhow::Error::new(full);
            }
            let why = describe_failure(&e, store.data().limiter.denied, shared.memory.cap);
            anyhow::anyhow!("{why}")
        });
        let proxy = proxy.with_context(|| format!("starting {}", shared.spec.process.component))?;
        Ok(HttpInstance { store, proxy })
    }

    /// Serves one request. Returns the instance if it can serve another.
    async fn serve(mut self, shared: &Shared, job: Job) -> Option<HttpInstance> {
        let slot = Arc::new(Mutex::new(Some(job.respond)));
        let interrupted = Interrupted::default();
        let setup = (|| -> wasmtime::Result<_> {
            let mut http = self.store.data_mut().http();
            let request = http.new_incoming_request(Scheme::Http, job.request)?;
            let answer = slot.clone();
            let flag = interrupted.clone();
            let out = http.new_response_outparam_from_callback(move |response| {
                if let Some(tx) = answer.lock().expect("response slot poisoned").take() {
                    let response = response
                        .map(|mut r| {
                            r.extensions_mut().insert(flag);
                            r
                        })
                        .map_err(|code| DispatchError::BadResponse(format!("{code:?}")));
                    let _ = tx.send(response);
                }
            })?;
            Ok((request, out))
        })();
        let (request, out) = match setup {
            Ok(pair) => pair,
            Err(e) => {
                reply(&slot, Err(DispatchError::Platform(format!("{e:#}"))));
                return Some(self);
            }
        };
        let deadline = tokio::time::sleep(shared.spec.request_deadline);
        let call =
            self.proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut self.store, request, out);
        let outcome = tokio::select! {
            result = call => Some(result),
            () = deadline => None,
        };
        match outcome {
            Some(Ok(())) => {
                reply(
                    &slot,
                    Err(DispatchError::Crashed(
                        "the app returned without sending a response".into(),
                    )),
                );
                Some(self)
            }
            Some(Err(e)) => {
                // Mark the response cut short before the instance (and with it the body) goes away.
                interrupted.set();
                let why = describe_failure(&e, self.store.data().limiter.denied, shared.memory.cap);
                shared.log_kumo(&why);
                reply(&slot, Err(DispatchError::Crashed(why)));
                None
            }
            None => {
                shared.log_kumo(&format!(
                    "Request ran past the {}s deadline; replacing the instance",
                    shared.spec.request_deadline.as_secs()
                ));
                reply(&slot, Err(DispatchError::Deadline));
                None
            }
        }
    }
}

type ResponseSlot =
    Mutex<Option<oneshot::Sender<Result<http::Response<ResponseBody>, DispatchError>>>>;

fn reply(slot: &ResponseSlot, result: Result<http::Response<ResponseBody>, DispatchError>) {
    if let Some(tx) = slot.lock().expect("response slot poisoned").take() {
        let _ = tx.send(result);
    }
}
