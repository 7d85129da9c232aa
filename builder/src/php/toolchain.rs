//! Kumo's PHP, made once per machine and PHP build recipe and kept under
//! `~/.cache/kumo/php-wasi` for every server of the machine:
//! 1. `builder/php/build.sh` compiles Zend PHP 8.2's `php-cgi` for
//!    `wasm32-wasip1` from Debian's source packages (with its patches and
//!    compatibility shim, see `builder/php/README.md`): minutes on two
//!    cores, its progress in the build log. It builds into a folder of its own
//!    that becomes the result only when complete.
//! 2. Wizer runs the module's `wizer-initialize` (PHP's module start-up with
//!    Kumo's `php.ini`) and the snapshot is made a component: `php.wasm`, the
//!    same bytes for every app, so dynos share its compiled code.
//!
//! One build runs at a time on the machine (a lock file); a server that finds
//! another's build under way waits for it.

use crate::buildpack::BuildContext;
use crate::process::{content_key, run_logged};
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The recipe: every file of `builder/php` that `build.sh` uses (listed by
/// the crate's build script), written out to run it.
const FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/php_recipe.rs"));

/// Where the snapshot's `php.ini` is, as a dyno sees it (`PHPRC`).
const GUEST_INI_DIR: &str = "/app/.kumo/php";

/// Kumo's PHP, ready to copy into a slug.
#[derive(Clone, Debug)]
pub(crate) struct Php {
    /// `8.2.32`.
    pub version: String,
    /// The compiled-in extensions, lower case.
    pub extensions: Vec<String>,
    /// The pre-initialised component.
    pub component: PathBuf,
    /// Kumo's php.ini, which the snapshot read.
    pub ini: PathBuf,
}

impl Php {
    pub fn version_tuple(&self) -> (u64, u64, u64) {
        let mut parts = self
            .version
            .split('.')
            .map(|p| p.parse::<u64>().unwrap_or(0));
        (
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
        )
    }

    pub fn has_extension(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        self.extensions.contains(&name)
    }
}

/// Builds (or finds) Kumo's PHP.
pub(crate) fn php(ctx: &mut BuildContext<'_>) -> anyhow::Result<Php> {
    let root = machine_cache();
    // A changed recipe is a new build.
    let key = content_key(FILES, "");
    let built = root.join(format!("php-{key}"));
    let component = built.join("php.wasm");
    if !component.is_file() {
        std::fs::create_dir_all(&root)?;
        let lock = std::fs::File::create(root.join("build.lock"))?;
        if lock.try_lock().is_err() {
            (ctx.log)("Waiting for this machine's PHP build, which another build started");
            lock.lock()?;
        }
        if !built.join("php-cgi.wasm").is_file() {
            compile(ctx, &root, &key, &built)?;
        }
        if !component.is_file() {
            (ctx.log)("Pre-initialising PHP with Wizer (once per machine)");
            pre_initialise(&built, &component)?;
        }
    }
    let text = |name: &str| {
        std::fs::read_to_string(built.join(name)).with_context(|| format!("reading {name}"))
    };
    Ok(Php {
        version: text("VERSION")?.trim().to_string(),
        extensions: text("extensions.txt")?
            .lines()
            .map(|l| l.trim().to_ascii_lowercase())
            .filter(|l| !l.is_empty())
            .collect(),
        component,
        ini: built.join("php.ini"),
    })
}

/// Runs the recipe into `built`.
fn compile(ctx: &mut BuildContext<'_>, root: &Path, key: &str, built: &Path) -> anyhow::Result<()> {
    (ctx.log)(
        "Building PHP for WASI from Debian's sources (once per machine; 3 to 10 minutes on two cores)",
    );
    (ctx.log)("  it goes on if this build stops at its time limit, and a later build uses it");
    let recipe = root.join(format!("recipe-{key}"));
    let _ = std::fs::remove_dir_all(&recipe);
    for (name, text) in FILES {
        let path = recipe.join(name);
        std::fs::create_dir_all(path.parent().expect("a file has a folder"))?;
        std::fs::write(path, text)?;
    }
    // The machine's PHP build is not the app's: it is not stopped at the
    // app's build deadline, so a first build that times out still leaves
    // PHP built for the next.
    run_logged(
        Command::new("bash")
            .arg(recipe.join("build.sh"))
            .arg(built)
            .env("HOME", home()),
        ctx.log,
        None,
    )
    .context("building PHP for WASI (builder/php/build.sh)")?;
    let _ = std::fs::remove_dir_all(&recipe);
    anyhow::ensure!(
        built.join("php-cgi.wasm").is_file(),
        "the PHP build finished without php-cgi.wasm"
    );
    Ok(())
}

/// Snapshots `built/php-cgi.wasm` after its `wizer-initialize` and makes it a
/// component, written to `component` only when whole.
fn pre_initialise(built: &Path, component: &Path) -> anyhow::Result<()> {
    let core = std::fs::read(built.join("php-cgi.wasm"))?;
    let scratch = built.join(format!("snapshot-{}", std::process::id()));
    let (app, tmp) = (scratch.join("app"), scratch.join("tmp"));
    std::fs::create_dir_all(app.join(".kumo/php"))?;
    std::fs::create_dir_all(&tmp)?;
    std::fs::copy(built.join("php.ini"), app.join(".kumo/php/php.ini"))?;
    let env = vec![("PHPRC".to_string(), GUEST_INI_DIR.to_string())];
    let snapshot = crate::preinit::snapshot(core, &app, &tmp, env, "PHP");
    let _ = std::fs::remove_dir_all(&scratch);
    let bytes = crate::componentize::componentize(&snapshot?)?;
    let partial = component.with_extension("partial");
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, component)?;
    Ok(())
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from)
}

/// `~/.cache/kumo/php-wasi`, shared by every server of the machine.
fn machine_cache() -> PathBuf {
    crate::process::machine_cache("php-wasi")
}
