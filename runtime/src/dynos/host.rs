//! What every dyno instance's `Store` holds: its WASI context, its HTTP context,
//! its share of the dyno's memory cap, its request deadline and the policy for
//! its outgoing HTTP requests.

use super::outbound::Outbound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// The data of one dyno instance's store.
pub struct DynoHost {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub table: ResourceTable,
    pub limiter: DynoLimiter,
    pub hooks: OutboundPolicy,
    /// The add-ons the dyno's release attached, for the add-on interfaces.
    pub addons: crate::addons::AddonAccess,
}

impl DynoHost {
    pub fn new(wasi: WasiCtx, memory: Arc<DynoMemory>, outbound: Arc<Outbound>) -> DynoHost {
        DynoHost {
            addons: outbound.addons().clone(),
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            limiter: DynoLimiter {
                memory,
                mine: 0,
                denied: false,
            },
            hooks: OutboundPolicy(outbound),
        }
    }
}

/// A store for `host`, with its memory limiter installed.
///
/// The epoch ticks every [`crate::engine::EPOCH_TICK`]; at each tick a running
/// guest yields to the async runtime, so a busy guest never starves the others and
/// a deadline (a `select!` against the call) can stop even a guest that never returns.
///
/// It yields with tokio's `yield_now`, which puts the guest back only after the
/// worker thread has polled for I/O. A plain self-wake would run the guest again
/// at once: with a busy guest on every worker thread, tokio would look for new
/// connections and requests only every 61 turns (61 slices of busy guest), and
/// every other app's requests would wait that long (0.5 s, measured by
/// `scripts/bench faults` with 10 ms slices).
pub fn new_store(engine: &wasmtime::Engine, host: DynoHost) -> Store<DynoHost> {
    let mut store = Store::new(engine, host);
    store.limiter(|host| &mut host.limiter);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|_| {
        Ok(UpdateDeadline::YieldCustom(
            1,
            Box::pin(tokio::task::yield_now()),
        ))
    });
    store
}

impl WasiView for DynoHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for DynoHost {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// The memory of one dyno, shared by all its instances: the dyno's size caps the sum.
#[derive(Debug)]
pub struct DynoMemory {
    pub cap: u64,
    used: AtomicU64,
}

impl DynoMemory {
    pub fn new(cap: u64) -> Arc<DynoMemory> {
        Arc::new(DynoMemory {
            cap,
            used: AtomicU64::new(0),
        })
    }

    /// Bytes of linear memory the dyno's instances hold now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    fn try_add(&self, bytes: u64) -> bool {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                let next = used.checked_add(bytes)?;
                (next <= self.cap).then_some(next)
            })
            .is_ok()
    }
}

/// One instance's account against its dyno's [`DynoMemory`].
pub struct DynoLimiter {
    memory: Arc<DynoMemory>,
    mine: u64,
    /// Whether a memory growth was refused because the dyno was at its cap.
    pub denied: bool,
}

impl ResourceLimiter for DynoLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let delta = desired.saturating_sub(current) as u64;
        if self.memory.try_add(delta) {
            self.mine += delta;
            Ok(true)
        } else {
            self.denied = true;
            Ok(false)
        }
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables are bounded by the pooling allocator's slot size; refuse absurd sizes early.
        Ok(desired <= 1_000_000)
    }
}

impl Drop for DynoLimiter {
    fn drop(&mut self) {
        self.memory.used.fetch_sub(self.mine, Ordering::Relaxed);
    }
}

/// Outbound HTTP from guests: denied (`HttpRequestDenied`) unless the request's
/// host and port are among the app's allowed hosts; an allowed request is sent
/// by [`super::dial`] (wasmtime-wasi-http's sender, its timeouts included, but
/// only to addresses the dyno may dial, else `DestinationIpProhibited`), and
/// lives no longer than [`Outbound::deadline`].
pub struct OutboundPolicy(pub Arc<Outbound>);

type SendResult = Result<
    (
        http::Response<wasmtime_wasi_http::WasiBody>,
        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ),
    wasmtime_wasi_http::Error,
>;

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        use wasmtime_wasi_http::Error;
        if !self.0.allows_uri(request.uri()) {
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        // One instant for the whole exchange: the head, then the connection that
        // carries the body. Past it both are dropped and the guest reads an error.
        let until = self
            .0
            .deadline()
            .map(|deadline| tokio::time::Instant::now() + deadline);
        let outbound = self.0.clone();
        Box::new(async move {
            let sent = super::dial::send_request(&outbound, request, options);
            let (response, io) = match until {
                Some(until) => tokio::time::timeout_at(until, sent)
                    .await
                    .map_err(|_| Error::HttpResponseTimeout)??,
                None => sent.await?,
            };
            let io = async move {
                match until {
                    Some(until) => tokio::time::timeout_at(until, io)
                        .await
                        .unwrap_or(Err(Error::HttpResponseTimeout)),
                    None => io.await,
                }
            };
            let response = response.map(http_body_util::BodyExt::boxed_unsync);
            Ok((
                response,
                Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynos::outbound::AllowedHosts;
    use http_body_util::BodyExt as _;
    use std::pin::Pin;
    use std::time::Duration;
    use wasmtime_wasi_http::Error;

    /// Sends a GET of `url` through the policy of a dyno allowing `allowed`,
    /// whose outgoing requests may live for `deadline`.
    async fn send(allowed: &str, deadline: Duration, url: &str) -> Result<u16, Error> {
        let hosts = AllowedHosts::parse(allowed).expect("test list");
        let (outbound, _) = Outbound::resolve(hosts, Some(deadline), true).await;
        let body = http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        let request = http::Request::get(url).body(body).expect("test request");
        let sent = OutboundPolicy(outbound).send_request(request, None, Box::new(async { Ok(()) }));
        let (response, _io) = Pin::from(sent).await?;
        Ok(response.status().as_u16())
    }

    #[tokio::test]
    async fn unlisted_hosts_are_denied_without_a_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let port = addr.port();
        for allowed in [
            String::new(),
            "127.0.0.1".to_string(),
            format!("localhost:{port}"),
            format!("127.0.0.2:{port}"),
            format!("*.localhost:{port}"),
        ] {
            let result = send(
                &allowed,
                Duration::from_secs(60),
                &format!("http://{addr}/"),
            )
            .await;
            assert!(
                matches!(result, Err(Error::HttpRequestDenied)),
                "{allowed:?}: {result:?}"
            );
        }
        let accepted = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
        assert!(accepted.is_err(), "a denied request connected");
    }

    #[tokio::test]
    async fn an_allowed_request_ends_at_the_dyno_deadline() {
        // The server takes the connection and never answers: without the
        // deadline the request would wait for wasmtime-wasi-http's 600 s timeout.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let result = send(
            &addr.to_string(),
            Duration::from_millis(300),
            &format!("http://{addr}/"),
        )
        .await;
        assert!(
            matches!(result, Err(Error::HttpResponseTimeout)),
            "{result:?}"
        );
        assert!(
            listener.accept().await.is_ok(),
            "the allowed request connected"
        );
    }
}
