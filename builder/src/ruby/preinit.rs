//! Pre-initialising the Ruby command with Wizer: the glue's `wizer-initialize`
//! starts the interpreter and evaluates Kumo's Ruby runtime once, at build
//! time, and the memory it leaves becomes the module's initial memory. A dyno
//! then starts from Ruby already running, and `_start` only re-reads the
//! environment and calls `Kumo.main`.
//!
//! The snapshot keeps what wasi-libc learnt at start-up, including its table
//! of preopened folders, so the snapshot is taken with the same preopens, in
//! the same order, as a dyno has: `/app` (fd 3), then `/tmp` (fd 4).
//!
//! This is the one place the builder runs Wasm itself (with wasmtime, on a
//! thread of its own with its own tokio runtime, for the WASI host).

use anyhow::Context as _;
use std::path::Path;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// The Wizer snapshot of `core` (a module exporting `wizer-initialize`), with
/// `app` preopened as `/app` and `tmp` as `/tmp`.
pub(crate) fn snapshot(core: Vec<u8>, app: &Path, tmp: &Path) -> anyhow::Result<Vec<u8>> {
    let (app, tmp) = (app.to_path_buf(), tmp.to_path_buf());
    crate::process::on_own_runtime(move || async move { run(&core, &app, &tmp).await })
}

async fn run(core: &[u8], app: &Path, tmp: &Path) -> anyhow::Result<Vec<u8>> {
    let engine =
        wasmtime::Engine::new(&wasmtime::Config::new()).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let wasi = WasiCtxBuilder::new()
        .inherit_stderr()
        .preopened_dir(app, "/app", FsPerms::ReadWrite)
        .and_then(|b| b.preopened_dir(tmp, "/tmp", FsPerms::ReadWrite))
        .map_err(|e| anyhow::anyhow!("{e:#}"))?
        .build_p1();
    let mut store = wasmtime::Store::new(&engine, wasi);
    let mut linker = wasmtime::Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |wasi| wasi)
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let mut wizer = wasmtime_wizer::Wizer::new();
    wizer.init_func("wizer-initialize");
    wizer
        .run(&mut store, core, async |store, module| {
            linker.instantiate_async(store, module).await
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .context("pre-initialising Ruby with Wizer")
}
