//! The one wasmtime engine of a Kumo process, and the compiled-component cache.
//!
//! A component is compiled once per content: the compiled code is written to
//! `<cache_dir>/<engine hash>/components/<sha-256 of the component>.cwasm`, so a
//! restart, a wake, a new dyno, or another slug holding the same component (every
//! Ruby app's interpreter, an unchanged prebuilt component) loads machine code
//! instead of compiling again.
//! Loaded components are pre-instantiated ([`Prepared`]) once and shared by every
//! dyno of the slug.

use crate::dynos::host::DynoHost;
use crate::slugs::UnpackedSlug;
use anyhow::Context as _;
use kumo_slug::{ProcessKind, ProcessType};
use sha2::Digest as _;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// How often the epoch advances: how often a busy guest yields to others, so the
/// longest a request waits behind busy guests on its worker thread. Measured by
/// `scripts/bench faults` (two looping requests at once, the neighbour's p99 over
/// its baseline): 63× with 10 ms ticks and a plain self-wake, 2.5× with 2 ms
/// ticks and `yield_now`; 1 ms halves the wait again, for a yield (a few µs)
/// per millisecond of a busy guest.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Settings of the engine.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Where compiled components are cached. Default: `<data dir>/compiled`.
    pub cache_dir: PathBuf,
    /// Instances the pooling allocator holds slots for: the most dyno instances
    /// (web instances, CGI requests, workers) alive at once. Default: 1000.
    pub max_instances: u32,
}

impl EngineConfig {
    pub fn new(cache_dir: impl Into<PathBuf>) -> EngineConfig {
        EngineConfig {
            cache_dir: cache_dir.into(),
            max_instances: 1000,
        }
    }
}

/// A component ready to instantiate, checked against the interface its process kind needs.
pub enum Prepared {
    Http(ProxyPre<DynoHost>),
    Command(CommandPre<DynoHost>),
}

/// Why a process type's component cannot run.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(
        "`{path}` is a core Wasm module, not a component: build for wasm32-wasip2 or let the builder convert it"
    )]
    CoreModule { path: String },
    #[error("`{path}` is not a Wasm component: {reason}")]
    Invalid { path: String, reason: String },
    #[error("`{path}` cannot run as a `{kind}` process: {reason}")]
    Link {
        path: String,
        kind: &'static str,
        reason: String,
    },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

type PreparedSlot = Arc<OnceCell<Arc<Prepared>>>;

/// The engine, its linker and the compiled-component cache.
pub struct Engine {
    engine: wasmtime::Engine,
    linker: Linker<DynoHost>,
    cache_dir: PathBuf,
    prepared: Mutex<HashMap<(String, String, ProcessKind), PreparedSlot>>,
    compilations: AtomicU64,
    cache_loads: AtomicU64,
    pooling: bool,
    /// The pool's component-instance slots (`EngineConfig::max_instances`).
    max_instances: u32,
}

impl Engine {
    /// Builds the engine (pooling allocator, copy-on-write images, epoch interruption)
    /// and starts the thread that advances its epoch.
    pub fn new(config: &EngineConfig) -> anyhow::Result<Arc<Engine>> {
        let (engine, pooling) = match wasmtime::Engine::new(&wasm_config(Some(
            config.max_instances,
        ))) {
            Ok(engine) => (engine, true),
            Err(e) => {
                tracing::warn!(error = %e, "pooling allocator unavailable; instances are allocated on demand");
                let engine =
                    wasmtime::Engine::new(&wasm_config(None)).map_err(anyhow::Error::from)?;
                (engine, false)
            }
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)?;
        crate::addons::spin_pg::add_to_linker(&mut linker)?;
        crate::addons::keyvalue::add_to_linker(&mut linker)?;
        crate::addons::config::add_to_linker(&mut linker)?;

        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let cache_dir = config.cache_dir.join(format!("{:016x}", hasher.finish()));
        std::fs::create_dir_all(&cache_dir)
            .with_context(|| format!("creating {}", cache_dir.display()))?;
        crate::slugs::remove_stale_partials(&cache_dir.join("components"));

        let weak = engine.weak();
        std::thread::Builder::new()
            .name("kumo-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .context("starting the epoch thread")?;

        Ok(Arc::new(Engine {
            engine,
            linker,
            cache_dir,
            prepared: Mutex::default(),
            compilations: AtomicU64::new(0),
            cache_loads: AtomicU64::new(0),
            pooling,
            max_instances: config.max_instances,
        }))
    }

    pub fn wasmtime(&self) -> &wasmtime::Engine {
        &self.engine
    }

    /// Whether every component-instance slot of the pool is taken (a racy
    /// snapshot: a slot may free or fill right after), and the refusal to report.
    pub fn pool_full(&self) -> Option<crate::dynos::NoCapacity> {
        let metrics = self.engine.pooling_allocator_metrics()?;
        (metrics.component_instances() >= u64::from(self.max_instances)).then(|| {
            crate::dynos::NoCapacity(format!(
                "all {} instance slots are in use",
                self.max_instances
            ))
        })
    }

    /// The pool's component-instance slots.
    pub fn max_instances(&self) -> u32 {
        self.max_instances
    }

    /// The pool's component instances in use now (0 without the pooling allocator).
    pub fn instances_in_use(&self) -> u64 {
        self.engine
            .pooling_allocator_metrics()
            .map_or(0, |m| m.component_instances())
    }

    /// Components compiled by this engine since it started.
    pub fn compilations(&self) -> u64 {
        self.compilations.load(Ordering::Relaxed)
    }

    /// Components loaded from the on-disk cache since it started.
    pub fn cache_loads(&self) -> u64 {
        self.cache_loads.load(Ordering::Relaxed)
    }

    /// Whether instances come from the pooling allocator.
    pub fn pooling(&self) -> bool {
        self.pooling
    }

    /// The pre-instantiated component of `process` in `slug`: from memory, from
    /// the disk cache, or compiled now (on a blocking thread) and cached.
    pub async fn prepare(
        &self,
        slug: &UnpackedSlug,
        process: &ProcessType,
    ) -> Result<Arc<Prepared>, PrepareError> {
        let key = (
            slug.digest.hex().to_string(),
            process.component.clone(),
            process.kind,
        );
        let slot = {
            let mut prepared = self.prepared.lock().expect("engine lock poisoned");
            prepared.entry(key).or_default().clone()
        };
        slot.get_or_try_init(|| async {
            let component = self.component(slug, &process.component).await?;
            self.pre_instantiate(&component, process).map(Arc::new)
        })
        .await
        .cloned()
    }

    async fn component(&self, slug: &UnpackedSlug, rel: &str) -> Result<Component, PrepareError> {
        let source = slug.app_dir().join(rel);
        let cache_dir = self.cache_dir.join("components");
        let engine = self.engine.clone();
        let rel = rel.to_string();
        let (component, compiled) = tokio::task::spawn_blocking(move || {
            load_or_compile(&engine, &source, &cache_dir, &rel)
        })
        .await
        .map_err(|e| PrepareError::Other(anyhow::anyhow!("compile task failed: {e}")))??;
        if compiled {
            self.compilations.fetch_add(1, Ordering::Relaxed);
        } else {
            self.cache_loads.fetch_add(1, Ordering::Relaxed);
        }
        crate::metrics::global()
            .compiles
            .with_label_values(&[if compiled { "miss" } else { "hit" }])
            .inc();
        Ok(component)
    }

    fn pre_instantiate(
        &self,
        component: &Component,
        process: &ProcessType,
    ) -> Result<Prepared, PrepareError> {
        let link_error = |e: wasmtime::Error| PrepareError::Link {
            path: process.component.clone(),
            kind: process.kind.as_str(),
            reason: format!("{e:#}"),
        };
        let pre = self.linker.instantiate_pre(component).map_err(link_error)?;
        Ok(match process.kind {
            ProcessKind::Http => Prepared::Http(ProxyPre::new(pre).map_err(|e| PrepareError::Link {
                path: process.component.clone(),
                kind: "http",
                reason: format!("it does not export wasi:http/incoming-handler ({e:#}); declare it as a command or cgi process instead"),
            })?),
            ProcessKind::Command | ProcessKind::Cgi => {
                Prepared::Command(CommandPre::new(pre).map_err(|e| PrepareError::Link {
                    path: process.component.clone(),
                    kind: process.kind.as_str(),
                    reason: format!("it does not export wasi:cli/run ({e:#})"),
                })?)
            }
        })
    }
}

/// Bytes of a freed linear memory slot kept mapped and reset in place.
const KEEP_RESIDENT: usize = 16 << 20;

fn wasm_config(pool_instances: Option<u32>) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.memory_init_cow(true);
    config.cranelift_opt_level(OptLevel::Speed);
    if let Some(n) = pool_instances {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(4))
            .total_memories(n.saturating_mul(2))
            .total_tables(n.saturating_mul(4))
            .total_stacks(n)
            .total_gc_heaps(n)
            .max_component_instance_size(8 << 20)
            .max_core_instance_size(8 << 20)
            .max_core_instances_per_component(200)
            .max_memories_per_component(32)
            .max_tables_per_component(64)
            .max_tables_per_module(4)
            .max_memories_per_module(2)
            .table_elements(200_000)
            .max_memory_size(4 << 30)
            // Reset a freed slot by rewriting only its dirty pages (found with
            // Linux's PAGEMAP_SCAN) instead of unmapping them: no page faults for the
            // next instance and no TLB shootdowns across threads, which otherwise
            // dominate runtimes that take a fresh instance per request.
            .pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(1 << 20);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// Loads the compiled code of `source` from `cache_dir` if this engine accepts it,
/// else compiles `source` and writes it there. Returns whether a compilation happened.
fn load_or_compile(
    engine: &wasmtime::Engine,
    source: &Path,
    cache_dir: &Path,
    rel: &str,
) -> Result<(Component, bool), PrepareError> {
    let bytes = std::fs::read(source)
        .with_context(|| format!("reading component {}", source.display()))
        .map_err(PrepareError::Other)?;
    let cached = cache_dir.join(format!(
        "{}.cwasm",
        hex::encode(sha2::Sha256::digest(&bytes))
    ));
    let cached = cached.as_path();
    if cached.is_file() {
        // SAFETY: `cached` was written by `Component::serialize` of this very
        // engine configuration (the folder is keyed by its compatibility hash),
        // under Kumo's private data directory; deserialize also checks the header.
        #[allow(unsafe_code)]
        match unsafe { Component::deserialize_file(engine, cached) } {
            Ok(component) => return Ok((component, false)),
            Err(e) => {
                tracing::warn!(path = %cached.display(), error = %e, "discarding unusable compiled component");
                let _ = std::fs::remove_file(cached);
            }
        }
    }
    check_component_header(&bytes, rel)?;
    let component = Component::new(engine, &bytes).map_err(|e| PrepareError::Invalid {
        path: rel.to_string(),
        reason: format!("{e:#}"),
    })?;
    let code = component.serialize().map_err(anyhow::Error::from)?;
    if let Some(dir) = cached.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let partial = cached.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&partial, &code).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, cached).with_context(|| format!("writing {}", cached.display()))?;
    Ok((component, true))
}

fn check_component_header(bytes: &[u8], rel: &str) -> Result<(), PrepareError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(PrepareError::Invalid {
            path: rel.to_string(),
            reason: "the file does not start with the Wasm magic bytes `\\0asm`".to_string(),
        });
    }
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(PrepareError::CoreModule {
            path: rel.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_checks() {
        assert!(check_component_header(b"\0asm\x0d\0\x01\0", "a.wasm").is_ok());
        let core = check_component_header(b"\0asm\x01\0\0\0", "a.wasm")
            .unwrap_err()
            .to_string();
        assert!(core.contains("core Wasm module"), "{core}");
        let junk = check_component_header(b"PK\x03\x04....", "a.wasm")
            .unwrap_err()
            .to_string();
        assert!(junk.contains("magic bytes"), "{junk}");
    }
}
