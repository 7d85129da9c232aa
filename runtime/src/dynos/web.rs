//! Web dynos: a queue of requests served by `WEB_CONCURRENCY` workers.
//!
//! For `http` process types each worker owns one warm `wasi:http` instance and
//! reuses it request after request, so in-memory state lives until the dyno
//! restarts; a trap or a request past its deadline replaces that instance only.
//! A process type the manifest lists in `fresh_instance_per_request` gets a new
//! instance after each request instead, made once the response is out.
//! For `cgi` process types each worker runs the command once per request ([`super::cgi`]).

use super::fs::DynoFs;
use super::host::{DynoHost, DynoMemory, new_store};
use super::output::LogOutput;
use super::{DispatchError, DynoSpec, Interrupted, RequestBody, ResponseBody, describe_failure};
use crate::engine::Prepared;
use crate::logplex::Source;
use anyhow::Context as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
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
}

impl Shared {
    /// A WASI context for one instance: environment, arguments, stdio to Logplex, the dyno's filesystem.
    pub fn wasi(&self, extra_env: &[(String, String)]) -> anyhow::Result<WasiCtxBuilder> {
        let mut builder = WasiCtxBuilder::new();
        builder
            .envs(&self.env)
            .envs(extra_env)
            .args(&self.spec.argv())
            .stdout(self.stdout.clone())
            .stderr(self.stderr.clone());
        self.fs.preopen(&mut builder)?;
        Ok(builder)
    }

    pub fn log_kumo(&self, text: &str) {
        self.spec.log.log(Source::Kumo, &self.spec.name, text);
    }
}

/// A running web dyno.
pub struct WebDyno {
    name: String,
    jobs: async_channel::Sender<Job>,
    in_flight: AtomicUsize,
    workers: Mutex<Vec<JoinHandle<()>>>,
    shared: Arc<Shared>,
}

impl WebDyno {
    /// Makes the dyno's filesystem and, for `http`, instantiates every instance up front,
    /// so a component that cannot start fails here (and the dyno crashes) rather than on a request.
    pub async fn start(spec: DynoSpec) -> anyhow::Result<Arc<WebDyno>> {
        let fs =
            DynoFs::create(&spec.dynos_dir, &spec.app, &spec.name, &spec.slug.app_dir()).await?;
        let shared = Arc::new(Shared {
            memory: DynoMemory::new(spec.size.memory_bytes()),
            stdout: LogOutput::new(spec.log.clone(), &spec.name),
            stderr: LogOutput::new(spec.log.clone(), &spec.name),
            env: spec.environment(),
            fs,
            spec,
        });
        let (tx, rx) = async_channel::bounded(QUEUE);
        let mut workers = Vec::new();
        for _ in 0..shared.spec.web_concurrency() {
            let worker = match &*shared.spec.prepared {
                Prepared::Http(_) => {
                    let instance = HttpInstance::new(&shared).await?;
                    tokio::spawn(http_worker(shared.clone(), Some(instance), rx.clone()))
                }
                Prepared::Command(_) => {
                    tokio::spawn(super::cgi::worker(shared.clone(), rx.clone()))
                }
            };
            workers.push(worker);
        }
        Ok(Arc::new(WebDyno {
            name: shared.spec.name.clone(),
            jobs: tx,
            in_flight: AtomicUsize::new(0),
            workers: Mutex::new(workers),
            shared,
        }))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Requests queued or being served.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
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
        let (respond, response) = oneshot::channel();
        if let Err(e) = self.jobs.send(Job { request, respond }).await {
            return Err(DispatchError::Closed(Box::new(e.into_inner().request)));
        }
        response.await.unwrap_or_else(|_| {
            Err(DispatchError::Platform(
                "the dyno dropped the request".into(),
            ))
        })
    }

    /// Takes no new requests; the queued ones are still served.
    pub fn stop(&self) {
        self.jobs.close();
    }

    /// Waits for the workers to finish what they have, up to `grace`; then stops them.
    /// Returns false if some had to be stopped.
    pub async fn wait_stopped(&self, grace: Duration) -> bool {
        let workers: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.workers.lock().expect("workers lock poisoned"));
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
}

impl Drop for WebDyno {
    fn drop(&mut self) {
        self.jobs.close();
        for worker in self
            .workers
            .lock()
            .expect("workers lock poisoned")
            .drain(..)
        {
            worker.abort();
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
            DynoHost::new(wasi, shared.memory.clone()),
        );
        let proxy = pre.instantiate_async(&mut store).await.map_err(|e| {
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

async fn http_worker(
    shared: Arc<Shared>,
    mut instance: Option<HttpInstance>,
    jobs: async_channel::Receiver<Job>,
) {
    let fresh_per_request = shared
        .spec
        .slug
        .manifest
        .fresh_instance_per_request
        .contains(&shared.spec.process_type);
    while let Ok(job) = jobs.recv().await {
        let current = match instance.take() {
            Some(current) => current,
            None => match HttpInstance::new(&shared).await {
                Ok(fresh) => fresh,
                Err(e) => {
                    shared.log_kumo(&format!("Instance failed to start: {e:#}"));
                    let _ = job
                        .respond
                        .send(Err(DispatchError::Crashed(format!("{e:#}"))));
                    continue;
                }
            },
        };
        instance = current.serve(&shared, job).await;
        if fresh_per_request {
            // This runtime keeps per-request state: the next request gets a
            // new instance, made now, after the response, so it is warm.
            instance = None;
        }
        if instance.is_none() && !jobs.is_closed() {
            // Replace a failed instance now, so the next request finds it warm.
            instance = HttpInstance::new(&shared).await.ok();
        }
    }
}
