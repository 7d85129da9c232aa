//! The WASI 0.2.12 WIT the language buildpacks build components against
//! (`wit/deps`, as wasmtime-wasi-http 48.0.8 ships it), written out once per
//! build, each buildpack adding its own world.

use std::path::Path;

/// `deps/<name>.wit` → its text.
const WASI_DEPS: &[(&str, &str)] = &[
    ("cli.wit", include_str!("../wit/deps/cli.wit")),
    ("clocks.wit", include_str!("../wit/deps/clocks.wit")),
    ("filesystem.wit", include_str!("../wit/deps/filesystem.wit")),
    ("http.wit", include_str!("../wit/deps/http.wit")),
    ("io.wit", include_str!("../wit/deps/io.wit")),
    ("random.wit", include_str!("../wit/deps/random.wit")),
    ("sockets.wit", include_str!("../wit/deps/sockets.wit")),
];

/// Writes `dir/world.wit` and `dir/deps/*.wit`, each dependency passed
/// through `adapt` (a buildpack whose tool expects another WASI version
/// rewrites them).
pub(crate) fn write(
    dir: &Path,
    world: &str,
    adapt: impl Fn(&str) -> String,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("deps"))?;
    std::fs::write(dir.join("world.wit"), world)?;
    for (name, text) in WASI_DEPS {
        std::fs::write(dir.join("deps").join(name), adapt(text))?;
    }
    Ok(())
}
