//! Pre-initialising a WASI preview 1 command with Wizer: its
//! `wizer-initialize` starts the language's interpreter once, at build time
//! (Ruby and Kumo's Ruby runtime; PHP's module start-up), and the memory it
//! leaves becomes the module's initial memory. A dyno then starts from the
//! interpreter already running.
//!
//! The snapshot keeps what wasi-libc learnt at start-up unless the module
//! forgets it, including its table of preopened folders, so the snapshot is
//! taken with the same preopens, in the same order, as a dyno has: `/app`
//! (fd 3), then `/tmp` (fd 4).
//!
//! This is the one place the builder runs Wasm itself (with wasmtime, on a
//! thread of its own with its own tokio runtime, for the WASI host).

use anyhow::Context as _;
use std::path::Path;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// The Wizer snapshot of `core` (a module exporting `wizer-initialize`), with
/// `app` preopened as `/app`, `tmp` as `/tmp`, and `env` its environment;
/// `what` names the interpreter in errors.
pub(crate) fn snapshot(
    core: Vec<u8>,
    app: &Path,
    tmp: &Path,
    env: Vec<(String, String)>,
    what: &'static str,
) -> anyhow::Result<Vec<u8>> {
    let (app, tmp) = (app.to_path_buf(), tmp.to_path_buf());
    crate::process::on_own_runtime(move || async move {
        run(&core, &app, &tmp, &env)
            .await
            .with_context(|| format!("pre-initialising {what} with Wizer"))
    })
}

async fn run(
    core: &[u8],
    app: &Path,
    tmp: &Path,
    env: &[(String, String)],
) -> anyhow::Result<Vec<u8>> {
    let engine =
        wasmtime::Engine::new(&wasmtime::Config::new()).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let wasi = WasiCtxBuilder::new()
        .inherit_stderr()
        .envs(env)
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
}
