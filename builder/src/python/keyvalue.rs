//! Python apps that use the key-value add-on: an app whose code imports Spin's
//! SDK module `spin_sdk.key_value` (Spin's Python SDK 3.x, on
//! fermyon:spin/key-value 2.0.0) or the bindings componentize-py generates for
//! wasi:keyvalue (`wit_world.imports.store`, `.atomics`, `.batch`, `.key_value`)
//! is built against the worlds of `wit/keyvalue.wit`, which import those
//! interfaces. Every other app is built exactly as before, with no such import:
//! a release importing them needs a key-value add-on.

use super::host;
use std::path::Path;

/// The worlds of apps that use key-value, beside `world.wit`.
const WORLDS: &str = include_str!("../../wit/keyvalue.wit");

/// Kumo's bindings for them, imported before the app (`python/kumo_keyvalue.py`).
pub(super) const KUMO_KEYVALUE: &str = include_str!("../../python/kumo_keyvalue.py");

/// The key-value WIT Kumo's dynos implement, the runtime's own copy.
const WASI_KEYVALUE: &[(&str, &str)] = &[
    (
        "atomic.wit",
        include_str!("../../../runtime/wit/keyvalue/deps/keyvalue-2024-10-17/atomic.wit"),
    ),
    (
        "batch.wit",
        include_str!("../../../runtime/wit/keyvalue/deps/keyvalue-2024-10-17/batch.wit"),
    ),
    (
        "store.wit",
        include_str!("../../../runtime/wit/keyvalue/deps/keyvalue-2024-10-17/store.wit"),
    ),
    (
        "watch.wit",
        include_str!("../../../runtime/wit/keyvalue/deps/keyvalue-2024-10-17/watch.wit"),
    ),
    (
        "world.wit",
        include_str!("../../../runtime/wit/keyvalue/deps/keyvalue-2024-10-17/world.wit"),
    ),
];
const SPIN_KEY_VALUE: &str =
    include_str!("../../../runtime/wit/keyvalue/deps/spin-2.0.0/key-value.wit");

/// Modules whose import means the app uses key-value (and any module under them).
pub(super) const MODULES: &[&str] = &[
    "spin_sdk.key_value",
    "wit_world.imports.store",
    "wit_world.imports.atomics",
    "wit_world.imports.batch",
    "wit_world.imports.key_value",
];

/// Writes the key-value worlds into `wit` (the folder `crate::wit::write`
/// filled) and the key-value WIT under `wit/deps`, except the packages an
/// installed library already gives componentize-py (Spin's SDK ships its WIT,
/// and componentize-py refuses a package defined twice).
pub(super) fn write_wit(wit: &Path, provided: &host::Provided) -> anyhow::Result<()> {
    std::fs::write(wit.join("keyvalue.wit"), WORLDS)?;
    let given = |package: &str| provided.has(package);
    if !given("package wasi:keyvalue@0.2.0-draft2") {
        let dir = wit.join("deps/keyvalue-2024-10-17");
        std::fs::create_dir_all(&dir)?;
        for (name, text) in WASI_KEYVALUE {
            std::fs::write(dir.join(name), text)?;
        }
    }
    if !given("package fermyon:spin@2.0.0") {
        std::fs::write(wit.join("deps/spin-key-value.wit"), SPIN_KEY_VALUE)?;
    }
    Ok(())
}

/// Refuses a Spin SDK whose `spin_sdk.key_value` Kumo cannot serve: from 4.0
/// it binds spin:key-value 3.0.0, an async (WASI 0.3) interface.
pub(super) fn check_spin_sdk(site: Option<&Path>, module: &str) -> anyhow::Result<()> {
    if !module.starts_with("spin_sdk") {
        return Ok(());
    }
    let version = site
        .and_then(|site| std::fs::read_dir(site).ok())
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .find_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            Some(
                name.strip_prefix("spin_sdk-")?
                    .strip_suffix(".dist-info")?
                    .to_string(),
            )
        });
    let Some(version) = version else {
        anyhow::bail!(
            "the app imports {module} but does not install Spin's Python SDK: add `spin-sdk==3.4.1` to requirements.txt"
        );
    };
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major >= 4 {
        anyhow::bail!(
            "spin-sdk {version} binds {module} to spin:key-value 3.0.0 (async, WASI 0.3), which Kumo does not provide: pin `spin-sdk==3.4.1` in requirements.txt (its key_value is fermyon:spin/key-value 2.0.0)"
        );
    }
    Ok(())
}
