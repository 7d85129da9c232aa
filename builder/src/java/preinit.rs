//! Pre-initialising Kumo's JVM runtime with Wizer: the component's
//! `wizer-initialize` boots the VM on the class path of the app's main command
//! and initialises its language's runtime classes (Clojure's `clojure.lang.RT`
//! takes tens of seconds on the interpreter), once, at build time. The memory
//! it leaves becomes the component's initial memory, so a new dyno or a wake
//! starts with the VM booted and only runs the app's `main`. Instances share
//! the snapshot's pages copy-on-write until they write to them.
//!
//! What the runtime does during the snapshot, and what it leaves out so no
//! build-time value or host handle survives into a dyno, is in its
//! `preinitialize` (`builder/jvm/runtime/src/main.rs`). The snapshot runs with
//! the app preopened as `/app`, as a dyno sees it, and no environment.

use anyhow::Context as _;
use std::path::Path;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, ResourceTable, ResourceType};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

/// Where the build leaves the command for `wizer-initialize` (see the runtime's `PREINIT`).
pub(crate) const PREINIT: &str = ".kumo/jvm-preinit";

/// The Wizer snapshot of the runtime `component`, booted for the app in `app`
/// (which holds [`PREINIT`]), with `tmp` as `/tmp`.
pub(crate) fn snapshot(component: Vec<u8>, app: &Path, tmp: &Path) -> anyhow::Result<Vec<u8>> {
    let (app, tmp) = (app.to_path_buf(), tmp.to_path_buf());
    crate::process::on_own_runtime(move || async move { run(&component, &app, &tmp).await })
}

struct Host {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

async fn run(component: &[u8], app: &Path, tmp: &Path) -> anyhow::Result<Vec<u8>> {
    let wasm = |e: wasmtime::Error| anyhow::anyhow!("{e:#}");
    let engine = wasmtime::Engine::new(&wasmtime::Config::new()).map_err(wasm)?;
    let wasi = wasmtime_wasi::WasiCtxBuilder::new()
        .inherit_stderr()
        .preopened_dir(app, "/app", FsPerms::ReadOnly)
        .and_then(|b| b.preopened_dir(tmp, "/tmp", FsPerms::ReadWrite))
        .map_err(wasm)?
        .build();
    let mut store = wasmtime::Store::new(
        &engine,
        Host {
            wasi,
            table: ResourceTable::new(),
        },
    );
    // Wizer reads the memory out as one list: let it be as large as a
    // 32-bit memory can be (the default allows 128 MiB).
    store.set_hostcall_fuel(4 << 30);
    let mut wizer = wasmtime_wizer::Wizer::new();
    // The component still exports the function its core module's export lifts.
    wizer.init_func("wizer-initialize").keep_init_func(true);
    let (snapshot, _) = wizer
        .run_component(
            &mut store,
            component,
            async |store, component: &Component| {
                let mut linker = Linker::new(store.engine());
                wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
                trap_http(&mut linker, component)?;
                linker.instantiate_async(store, component).await
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .context("pre-initialising the JVM with Wizer")?;
    Ok(snapshot)
}

/// Defines the component's `wasi:http` imports (its web side, not used while
/// booting) as functions that trap and resources of their own. Only those:
/// wasmtime's `define_unknown_imports_as_traps` would also shadow the WASI
/// interfaces the component imports at a newer patch version than the
/// linker's, which the linker otherwise matches by semver.
fn trap_http(linker: &mut Linker<Host>, component: &Component) -> wasmtime::Result<()> {
    let engine = linker.engine().clone();
    let ty = component.component_type();
    let imports: Vec<_> = ty
        .imports(&engine)
        .filter_map(|(name, item)| match item.ty {
            ComponentItem::ComponentInstance(instance) => Some((name, instance)),
            _ => None,
        })
        .collect();
    // Resources the http interfaces only use (wasi:io's streams) stay WASI's.
    let wasi_resources: Vec<ResourceType> = imports
        .iter()
        .filter(|(name, _)| !name.starts_with("wasi:http/"))
        .flat_map(|(_, instance)| instance.exports(&engine))
        .filter_map(|(_, item)| match item.ty {
            ComponentItem::Resource(resource) => Some(resource),
            _ => None,
        })
        .collect();
    for (name, instance) in imports {
        if !name.starts_with("wasi:http/") {
            continue;
        }
        let mut defined = linker.instance(name)?;
        for (export, item) in instance.exports(&engine) {
            match item.ty {
                ComponentItem::ComponentFunc(_) => {
                    let what = format!("{name}#{export}");
                    defined.func_new(export, move |_, _, _, _| {
                        wasmtime::bail!("{what} was called while pre-initialising the JVM")
                    })?;
                }
                ComponentItem::Resource(resource) if !wasi_resources.contains(&resource) => {
                    defined.resource(export, ResourceType::host::<()>(), |_, _| Ok(()))?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The initial size of the largest linear memory in a component: what each
/// instance made from the snapshot starts with.
pub(crate) fn initial_memory(component: &[u8]) -> u64 {
    let mut largest = 0;
    for payload in wasmparser::Parser::new(0).parse_all(component).flatten() {
        if let wasmparser::Payload::MemorySection(memories) = payload {
            for memory in memories.into_iter().flatten() {
                largest = largest.max(memory.initial << 16);
            }
        }
    }
    largest
}
