//! What every dyno instance's `Store` holds: its WASI context, its HTTP context,
//! its share of the dyno's memory cap and its request deadline.

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
}

impl DynoHost {
    pub fn new(wasi: WasiCtx, memory: Arc<DynoMemory>) -> DynoHost {
        DynoHost {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            limiter: DynoLimiter {
                memory,
                mine: 0,
                denied: false,
            },
            hooks: OutboundPolicy,
        }
    }
}

/// A store for `host`, with its memory limiter installed.
///
/// The epoch ticks every [`crate::engine::EPOCH_TICK`]; at each tick a running
/// guest yields to the async runtime, so a busy guest never starves the others and
/// a deadline (a `select!` against the call) can stop even a guest that never returns.
pub fn new_store(engine: &wasmtime::Engine, host: DynoHost) -> Store<DynoHost> {
    let mut store = Store::new(engine, host);
    store.limiter(|host| &mut host.limiter);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
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

/// Outbound HTTP from guests: off, as Kumo denies by default.
pub struct OutboundPolicy;

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}
