//! Where a request goes: a web dyno of this node ([`Target::Here`]), the less
//! busy of two chosen at random, or — when nodes share the ledger and none of
//! this node's web dynos of the app is up — a web dyno another node holds the
//! lease of ([`Target::There`]), for the router to forward the request to.
//! A sleeping app is woken, and a request waits for a starting dyno up to the
//! boot timeout; while it waits with other nodes in play, it reads the app's
//! leases again every [`REREAD`], so a dyno that moved (a dead node's, taken
//! by a survivor) is found without waiting for the placement sweep.

use super::{AppRuntime, DynoManager, RouteError};
use crate::dynos::web::WebDyno;
use crate::dynos::{DispatchError, RequestBody, ResponseBody};
use crate::placement::Elsewhere;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often a request waiting for a web dyno reads the app's leases again.
const REREAD: Duration = Duration::from_millis(100);

/// Where one request goes.
pub enum Target {
    Here(Arc<WebDyno>),
    /// A web dyno another node runs: the router forwards the request there.
    There(Elsewhere),
}

/// A request that no web dyno answered.
#[derive(Debug)]
pub enum DispatchFailure {
    Route(RouteError),
    /// The named dyno took the request and failed it.
    Dyno(Arc<str>, DispatchError),
}

impl DynoManager {
    /// Picks one of this node's web dynos of `app` for one request. Wakes a
    /// sleeping app and waits for starting dynos, up to the boot timeout.
    pub async fn pick(self: &Arc<Self>, app: &str) -> Result<Arc<WebDyno>, RouteError> {
        match self.pick_anywhere(app, None).await? {
            Target::Here(dyno) => Ok(dyno),
            Target::There(_) => unreachable!("a pick with no other node gives this node's dyno"),
        }
    }

    /// Picks where a request for `app` goes: this node's web dyno if one is
    /// up, else, with `elsewhere` given, another node's that is not on one of
    /// those nodes (an up one first). `None`: this node's dynos only.
    pub async fn pick_anywhere(
        self: &Arc<Self>,
        app: &str,
        elsewhere: Option<&[String]>,
    ) -> Result<Target, RouteError> {
        let runtime = self
            .apps
            .read()
            .expect("apps lock poisoned")
            .get(app)
            .cloned()
            .ok_or(RouteError::NoSuchApp)?;
        runtime
            .last_request_us
            .store(self.now_us(), Ordering::Relaxed);
        let placement = self.placement().filter(|_| elsewhere.is_some());
        let deadline = tokio::time::Instant::now() + self.config.boot_timeout;
        // When this request woke the app: the wake's latency is measured once, by it.
        let mut woke: Option<Instant> = None;
        // A first miss reads the leases at once: the sweep's copy may predate the app.
        let mut reread = placement.is_some();
        loop {
            let changed = runtime.changed.notified();
            {
                let view = runtime.view.read().expect("view lock poisoned");
                if view.maintenance {
                    return Err(RouteError::Maintenance);
                }
                if !view.deployed {
                    return Err(RouteError::NothingDeployed);
                }
                if view.web_quantity == 0 {
                    return Err(RouteError::NoWebDynos);
                }
                if let Some(dyno) = choose(&view.dynos) {
                    if let Some(woke) = woke {
                        crate::metrics::global()
                            .wake_seconds
                            .observe(woke.elapsed().as_secs_f64());
                    }
                    return Ok(Target::Here(dyno));
                }
                if let (Some(placement), Some(avoid)) = (placement, elsewhere)
                    && let Some(there) = choose_elsewhere(placement.web_elsewhere(app, avoid))
                {
                    return Ok(Target::There(there));
                }
                if view.sleeping {
                    drop(view);
                    if self.wake(&runtime) {
                        woke = Some(Instant::now());
                    }
                } else if runtime.web_all_crashed() {
                    return Err(RouteError::Crashed);
                }
            }
            if let (true, Some(placement)) = (reread, placement) {
                reread = false;
                placement.reread(app).await;
                continue;
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(RouteError::BootTimeout);
            }
            match placement {
                None => {
                    if tokio::time::timeout_at(deadline, changed).await.is_err() {
                        return Err(RouteError::BootTimeout);
                    }
                }
                Some(placement) => {
                    if tokio::time::timeout_at(deadline.min(now + REREAD), changed)
                        .await
                        .is_err()
                    {
                        placement.reread(app).await;
                    }
                }
            }
        }
    }

    /// Sends `request` to one of this node's web dynos of `app`, trying
    /// another if the chosen one is stopping.
    pub async fn dispatch(
        self: &Arc<Self>,
        app: &str,
        request: http::Request<RequestBody>,
    ) -> Result<(Arc<str>, http::Response<ResponseBody>), DispatchFailure> {
        let mut request = request;
        loop {
            let dyno = self.pick(app).await.map_err(DispatchFailure::Route)?;
            match serve_here(&dyno, request).await {
                Served::Done(done) => return done,
                Served::Again(back) => request = back,
            }
        }
    }
}

/// What one of this node's web dynos made of a request.
pub enum Served {
    Done(Result<(Arc<str>, http::Response<ResponseBody>), DispatchFailure>),
    /// The dyno was stopping and handed the request back: pick again.
    Again(http::Request<RequestBody>),
}

/// Hands `request` to `dyno`.
pub async fn serve_here(dyno: &Arc<WebDyno>, request: http::Request<RequestBody>) -> Served {
    match dyno.handle(request).await {
        Ok(response) => Served::Done(Ok((dyno.name().clone(), response))),
        Err(DispatchError::Closed(back)) => {
            tokio::task::yield_now().await;
            Served::Again(*back)
        }
        Err(e) => Served::Done(Err(DispatchFailure::Dyno(dyno.name().clone(), e))),
    }
}

impl AppRuntime {
    fn web_all_crashed(&self) -> bool {
        let slots = self.slots.lock().expect("slots lock poisoned");
        let mut web = slots
            .iter()
            .filter(|s| s.process_type() == "web")
            .peekable();
        web.peek().is_some()
            && web.all(|s| s.status().get().state == crate::dynos::DynoState::Crashed)
    }
}

/// The less busy of two of this node's dynos chosen at random.
fn choose(dynos: &[Arc<WebDyno>]) -> Option<Arc<WebDyno>> {
    match dynos.len() {
        0 => None,
        1 => Some(dynos[0].clone()),
        n => {
            let a = &dynos[rand::random_range(0..n)];
            let b = &dynos[rand::random_range(0..n)];
            Some(if b.in_flight() < a.in_flight() {
                b.clone()
            } else {
                a.clone()
            })
        }
    }
}

/// One of other nodes' web dynos at random, an up one if there is one.
fn choose_elsewhere(dynos: Vec<Elsewhere>) -> Option<Elsewhere> {
    let (up, other): (Vec<Elsewhere>, Vec<Elsewhere>) = dynos.into_iter().partition(|d| d.up);
    let mut pool = if up.is_empty() { other } else { up };
    if pool.is_empty() {
        return None;
    }
    let i = rand::random_range(0..pool.len());
    Some(pool.swap_remove(i))
}
