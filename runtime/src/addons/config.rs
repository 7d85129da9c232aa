//! `wasi:config/store` (0.2.0-rc.1, as wasmtime-wasi-config hosts it): a
//! component reads its app's config vars, the same the dyno's environment
//! holds (without the platform's `PORT`, `DYNO`, …), add-ons' vars included.

use crate::dynos::host::DynoHost;
use wasmtime::component::Linker;
use wasmtime_wasi_config::WasiConfig;

/// Adds `wasi:config/store` to the dynos' linker.
pub fn add_to_linker(linker: &mut Linker<DynoHost>) -> anyhow::Result<()> {
    wasmtime_wasi_config::add_to_linker(linker, |host: &mut DynoHost| {
        WasiConfig::from(&*host.addons.config)
    })
    .map_err(anyhow::Error::from)
}
