//! The JavaScript buildpack: a `package.json` app, its dependencies installed
//! with npm and bundled with `esbuild`, then made a wasi:http component by
//! npm's `@bytecodealliance/componentize-js` (StarlingMonkey), both installed
//! once among the build tools.
//!
//! Apps are the shapes fetch-style runtimes run: a module whose default export
//! has `fetch(request)` (a Hono app), or one that calls
//! `addEventListener("fetch", …)`. The module is the one the Procfile's web
//! command runs (`web: node server.js`, or `npm start` through the `start`
//! script), else `package.json`'s `main`, else `index.js`. Config vars are in
//! `process.env`.
//!
//! Every other process type runs a script, as Node does: `worker: node
//! worker.js ARGS` becomes a wasi:cli command component whose runner
//! (`js/kumo_worker.js`) runs the bundled script when the dyno starts and lives
//! while it has timers or fetches pending.
//!
//! An app reaches its Postgres add-on through Spin's Postgres interface, as
//! Spin's JavaScript SDK does: `import { Connection } from
//! "spin:postgres/postgres@4.0.0"` (or `@3.0.0`), in the app or in a package it
//! bundles. Its key-value add-on likewise, through `wasi:keyvalue/store`,
//! `atomics` and `batch` at `0.2.0-draft2` (`import { open } from
//! "wasi:keyvalue/store@0.2.0-draft2"`) or Spin's
//! `fermyon:spin/key-value@2.0.0`. A component's world imports those
//! interfaces only when its bundle does, so every other app builds as before
//! and needs no add-on.

use crate::buildpack::{BuildContext, Buildpack, Compiled};
use crate::process::run_logged;
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const COMPONENTIZE_JS: &str = "@bytecodealliance/componentize-js@0.23.0";
const ESBUILD: &str = "esbuild@0.28.2";
const ENTRY: &str = include_str!("../js/kumo_entry.js");
const WORKER: &str = include_str!("../js/kumo_worker.js");

/// The worlds of JavaScript components: `app` for the web process, `worker`
/// (a wasi:cli command with outgoing HTTP; no wasi:sockets, whose 0.2.10 WIT
/// StarlingMonkey's imports do not match) for the others. componentize-js 0.23
/// needs the WASI WIT at version 0.2.10 (the one its StarlingMonkey exports):
/// the 0.2.12 files are rewritten as the build writes them ([`wit_0_2_10`]).
const WORLD: &str = "package kumo:js;

world app {
  include wasi:http/proxy@0.2.10;
  import wasi:cli/environment@0.2.10;
}

world worker {
  import wasi:cli/environment@0.2.10;
  import wasi:cli/exit@0.2.10;
  import wasi:cli/stdin@0.2.10;
  import wasi:cli/stdout@0.2.10;
  import wasi:cli/stderr@0.2.10;
  import wasi:clocks/monotonic-clock@0.2.10;
  import wasi:clocks/wall-clock@0.2.10;
  import wasi:random/random@0.2.10;
  import wasi:filesystem/preopens@0.2.10;
  import wasi:http/outgoing-handler@0.2.10;
  export wasi:cli/run@0.2.10;
}
";

/// The interfaces Kumo hosts beyond the WASI of [`WORLD`], which an app may
/// import: Spin's Postgres interfaces, and the key-value ones (wasi:keyvalue
/// 0.2.0-draft2 and Spin's fermyon:spin/key-value 2.0.0). Their WIT is the
/// runtime's copy, so both sides always agree.
const HOST_INTERFACES: &[HostInterface] = &[
    HostInterface {
        name: "spin:postgres/postgres@4.0.0",
        package: "spin-postgres@4.0.0",
        files: &[(
            "postgres.wit",
            include_str!("../../runtime/wit/spin-postgres/deps/spin-postgres@4.0.0/postgres.wit"),
        )],
        addon: POSTGRES,
    },
    HostInterface {
        name: "spin:postgres/postgres@3.0.0",
        package: "spin-postgres@3.0.0",
        files: &[(
            "postgres.wit",
            include_str!("../../runtime/wit/spin-postgres/deps/spin-postgres@3.0.0/postgres.wit"),
        )],
        addon: POSTGRES,
    },
    HostInterface {
        name: "wasi:keyvalue/store@0.2.0-draft2",
        package: "keyvalue-0.2.0-draft2",
        files: WASI_KEYVALUE,
        addon: KEY_VALUE,
    },
    HostInterface {
        name: "wasi:keyvalue/atomics@0.2.0-draft2",
        package: "keyvalue-0.2.0-draft2",
        files: WASI_KEYVALUE,
        addon: KEY_VALUE,
    },
    HostInterface {
        name: "wasi:keyvalue/batch@0.2.0-draft2",
        package: "keyvalue-0.2.0-draft2",
        files: WASI_KEYVALUE,
        addon: KEY_VALUE,
    },
    HostInterface {
        name: "fermyon:spin/key-value@2.0.0",
        package: "spin-key-value@2.0.0",
        files: &[(
            "key-value.wit",
            include_str!("../../runtime/wit/keyvalue/deps/spin-2.0.0/key-value.wit"),
        )],
        addon: KEY_VALUE,
    },
];

const POSTGRES: &str = "a Postgres add-on (kumo addons:create kumo-postgresql)";
const KEY_VALUE: &str = "a key-value add-on (kumo addons:create kumo-keyvalue)";

/// The package `wasi:keyvalue@0.2.0-draft2`, whole: its interfaces `use` one
/// another's types (`atomics` and `batch` take `store`'s `bucket`).
const WASI_KEYVALUE: &[(&str, &str)] = &[
    (
        "atomic.wit",
        include_str!("../../runtime/wit/keyvalue/deps/keyvalue-2024-10-17/atomic.wit"),
    ),
    (
        "batch.wit",
        include_str!("../../runtime/wit/keyvalue/deps/keyvalue-2024-10-17/batch.wit"),
    ),
    (
        "store.wit",
        include_str!("../../runtime/wit/keyvalue/deps/keyvalue-2024-10-17/store.wit"),
    ),
    (
        "watch.wit",
        include_str!("../../runtime/wit/keyvalue/deps/keyvalue-2024-10-17/watch.wit"),
    ),
    (
        "world.wit",
        include_str!("../../runtime/wit/keyvalue/deps/keyvalue-2024-10-17/world.wit"),
    ),
];

/// An interface Kumo hosts: the name an `import` names, the folder of its WIT
/// package under `deps/`, that package's files, and the add-on it needs.
#[derive(Clone, Copy, Debug)]
struct HostInterface {
    name: &'static str,
    package: &'static str,
    files: &'static [(&'static str, &'static str)],
    addon: &'static str,
}

pub struct JsBuildpack;

/// `text` with WASI 0.2.12 made 0.2.10 for componentize-js.
fn wit_0_2_10(text: &str) -> String {
    text.lines()
        .filter(|l| !l.contains("@unstable(feature = network-error-code)"))
        .map(|l| {
            l.replace("@0.2.12", "@0.2.10")
                .replace("version = 0.2.12", "version = 0.2.10")
                .replace("version = 0.2.11", "version = 0.2.10")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first `.js`/`.mjs`/`.cjs` word of a command.
fn script_of(argv: &[String]) -> Option<String> {
    argv.iter()
        .find(|w| w.ends_with(".js") || w.ends_with(".mjs") || w.ends_with(".cjs"))
        .map(|w| w.trim_start_matches("./").to_string())
}

/// A worker's command: `node [FLAGS] worker.js ARGS` or `worker.js ARGS`; the
/// script and the arguments after it.
fn worker_script(argv: &[String]) -> Option<(String, Vec<String>)> {
    let mut words = argv.iter().map(String::as_str);
    let mut word = words.next()?;
    if word == "node" || word.ends_with("/node") {
        word = words.next()?;
        while word.starts_with('-') {
            word = words.next()?;
        }
    }
    let script = word.trim_start_matches("./");
    let is_js = [".js", ".mjs", ".cjs"]
        .iter()
        .any(|ext| script.ends_with(ext));
    if !is_js || script.starts_with('/') || script.split('/').any(|part| part == "..") {
        return None;
    }
    Some((script.to_string(), words.map(str::to_string).collect()))
}

/// The module the app's web process runs.
fn app_module(
    app_dir: &Path,
    package: &serde_json::Value,
    web: Option<&[String]>,
) -> Option<String> {
    let start = package["scripts"]["start"]
        .as_str()
        .and_then(|s| shell_words::split(s).ok());
    let from_command = web.and_then(|argv| {
        script_of(argv).or_else(|| {
            (argv.first().map(String::as_str) == Some("npm")
                && argv.get(1).map(String::as_str) == Some("start"))
            .then(|| start.as_deref().and_then(script_of))
            .flatten()
        })
    });
    from_command
        .or_else(|| start.as_deref().and_then(script_of))
        .or_else(|| {
            package["main"]
                .as_str()
                .map(|m| m.trim_start_matches("./").to_string())
        })
        .or_else(|| {
            ["index.js", "index.mjs", "app.js", "server.js"]
                .into_iter()
                .find(|f| app_dir.join(f).is_file())
                .map(str::to_string)
        })
}

impl JsBuildpack {
    /// componentize-js and esbuild among the build tools, installed once.
    fn toolchain(ctx: &mut BuildContext<'_>) -> anyhow::Result<PathBuf> {
        let prefix = ctx.tools_dir.join("componentize-js-0.23.0");
        crate::buildpack::npm_tools_once(&prefix, &[COMPONENTIZE_JS, ESBUILD], ctx)?;
        Ok(prefix.join("node_modules/.bin"))
    }
}

impl Buildpack for JsBuildpack {
    fn name(&self) -> &'static str {
        "nodejs"
    }

    fn detect(&self, src: &Path) -> Option<String> {
        src.join("package.json")
            .is_file()
            .then(|| "Node.js".to_string())
    }

    fn compile(&self, ctx: &mut BuildContext<'_>) -> anyhow::Result<Compiled> {
        let text = std::fs::read_to_string(ctx.app_dir.join("package.json"))?;
        let package: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("package.json is not valid JSON: {e}"))?;
        let mut workers = Vec::new();
        for (name, entry) in ctx.procfile {
            if name == "web" || entry.argv.first().is_some_and(|p| p.ends_with(".wasm")) {
                continue;
            }
            let (script, args) = worker_script(&entry.argv).ok_or_else(|| {
                anyhow::anyhow!(
                    "Procfile line {}: `{name}: {}` names no JavaScript file to run: write `{name}: node {name}.js` (a file of the app); only the web process serves HTTP",
                    entry.line,
                    entry.command
                )
            })?;
            if !ctx.app_dir.join(&script).is_file() {
                anyhow::bail!(
                    "Procfile line {}: the app has no {script}, which `{name}` runs",
                    entry.line
                );
            }
            workers.push((name.clone(), script, args));
        }
        let web = ctx.procfile.get("web").map(|e| e.argv.as_slice());
        // An app of workers only has no web process to build.
        let module = if web.is_some() || workers.is_empty() {
            let module = app_module(ctx.app_dir, &package, web).ok_or_else(|| {
                anyhow::anyhow!("no app module found: name it in the Procfile (`web: node server.js`), in package.json's `main`, or call it index.js")
            })?;
            if !ctx.app_dir.join(&module).is_file() {
                anyhow::bail!("the app module `{module}` is not in the source");
            }
            Some(module)
        } else {
            None
        };
        let bin = Self::toolchain(ctx)?;
        let has_dependencies = package["dependencies"]
            .as_object()
            .is_some_and(|d| !d.is_empty())
            || package["devDependencies"]
                .as_object()
                .is_some_and(|d| !d.is_empty());
        if has_dependencies {
            let ci = ctx.app_dir.join("package-lock.json").is_file();
            (ctx.log)(&format!(
                "Installing dependencies with npm {}",
                if ci { "ci" } else { "install" }
            ));
            run_logged(
                Command::new("npm")
                    .arg(if ci { "ci" } else { "install" })
                    .args(["--no-audit", "--no-fund", "--loglevel=error", "--cache"])
                    .arg(ctx.cache_dir.join("npm-cache"))
                    .current_dir(ctx.app_dir)
                    .envs(ctx.env),
                ctx.log,
                ctx.deadline,
            )?;
        }
        if package["scripts"]["build"].is_string() {
            (ctx.log)("Running npm run build");
            run_logged(
                Command::new("npm")
                    .args(["run", "build"])
                    .current_dir(ctx.app_dir)
                    .envs(ctx.env),
                ctx.log,
                ctx.deadline,
            )?;
        }
        let support = ctx.cache_dir.join("kumo-js");
        let _ = std::fs::remove_dir_all(&support);
        crate::wit::write(&support.join("wit"), WORLD, wit_0_2_10)?;
        let mut compiled = Compiled::default();
        if let Some(module) = module {
            let bundle = support.join("bundle.js");
            let entry = ENTRY.replace("__KUMO_APP__", &format!("./{module}"));
            bundle_with_esbuild(ctx, &bin, &module, &entry, &bundle)?;
            let imports = host_imports(&std::fs::read_to_string(&bundle)?, &module)?;
            componentize(ctx, &bin, &support, "app", &imports, &bundle, "web.wasm")?;
            compiled
                .commands
                .insert("web".to_string(), "web.wasm".to_string());
            // StarlingMonkey keeps per-request state: one request per instance.
            compiled.fresh_instances.push("web".to_string());
        }
        for (name, script, args) in workers {
            let body = support.join(format!("{name}.body.js"));
            bundle_with_esbuild(
                ctx,
                &bin,
                &script,
                &format!("import \"./{script}\";\n"),
                &body,
            )?;
            let body = std::fs::read_to_string(&body)?;
            let imports = host_imports(&body, &script)?;
            let bundle = support.join(format!("{name}.js"));
            std::fs::write(&bundle, worker_module(&body, &script)?)?;
            let output = format!("{name}.wasm");
            componentize(ctx, &bin, &support, "worker", &imports, &bundle, &output)?;
            compiled
                .commands
                .insert(name, shell_words::join(std::iter::once(output).chain(args)));
        }
        Ok(compiled)
    }
}

/// Bundles `entry` (written into the app's folder, so its imports resolve
/// there) into `out`, with the app's dependencies.
fn bundle_with_esbuild(
    ctx: &mut BuildContext<'_>,
    bin: &Path,
    module: &str,
    entry: &str,
    out: &Path,
) -> anyhow::Result<()> {
    let entry_path = ctx.app_dir.join(".kumo-entry.mjs");
    std::fs::write(&entry_path, entry)?;
    (ctx.log)(&format!("Bundling {module} with esbuild"));
    let result = run_logged(
        Command::new(bin.join("esbuild"))
            .arg(&entry_path)
            .args([
                "--bundle",
                "--format=esm",
                "--platform=browser",
                "--conditions=worker,browser",
                "--external:wasi:*",
                "--external:spin:*",
                "--external:fermyon:*",
                "--log-level=warning",
            ])
            .arg(format!("--outfile={}", out.display()))
            .current_dir(ctx.app_dir),
        ctx.log,
        ctx.deadline,
    );
    let _ = std::fs::remove_file(&entry_path);
    result.with_context(|| format!("bundling {} failed", ctx.app_dir.join(module).display()))
}

/// Makes `bundle` a component of `world` named `output` in the app's folder.
/// A bundle that imports host interfaces gets a world of its own, `world`
/// and those imports, in a WIT folder of its own.
fn componentize(
    ctx: &mut BuildContext<'_>,
    bin: &Path,
    support: &Path,
    world: &str,
    imports: &[HostInterface],
    bundle: &Path,
    output: &str,
) -> anyhow::Result<()> {
    let (wit, world) = if imports.is_empty() {
        (support.join("wit"), world.to_string())
    } else {
        let names: Vec<&str> = imports.iter().map(|i| i.name).collect();
        let mut addons: Vec<&str> = imports.iter().map(|i| i.addon).collect();
        addons.sort_unstable();
        addons.dedup();
        (ctx.log)(&format!(
            "{output} imports {}: the app needs {}",
            names.join(" and "),
            addons.join(" and ")
        ));
        let dir = support.join(format!("wit-{output}"));
        let (text, world) = world_with(world, &names);
        crate::wit::write(&dir, &text, wit_0_2_10)?;
        for interface in imports {
            let deps = dir.join("deps").join(interface.package);
            std::fs::create_dir_all(&deps)?;
            for (file, wit) in interface.files {
                std::fs::write(deps.join(file), wit)?;
            }
        }
        (dir, world)
    };
    (ctx.log)(&format!("Building {output} with componentize-js"));
    run_logged(
        Command::new(bin.join("componentize-js"))
            .arg("--wit")
            .arg(wit)
            .args(["--world-name", &format!("kumo:js/{world}"), "-o", output])
            .arg(bundle)
            .current_dir(ctx.app_dir),
        ctx.log,
        ctx.deadline,
    )
    .map_err(|e| anyhow::anyhow!("{e:#}: the app could not be made a component"))
}

/// [`WORLD`] and a world `<world>-with-host` that adds `imports` to `world`,
/// and that world's name.
fn world_with(world: &str, imports: &[&str]) -> (String, String) {
    let name = format!("{world}-with-host");
    let mut text = format!("{WORLD}\nworld {name} {{\n  include {world};\n");
    for import in imports {
        text.push_str(&format!("  import {import};\n"));
    }
    text.push_str("}\n");
    (text, name)
}

/// The module a bundle's top-level `import` line names, when it names a WIT
/// interface (`wasi:cli/environment@0.2.10`): the only imports esbuild leaves.
fn interface_import(line: &str) -> Option<&str> {
    let clause = line.strip_prefix("import ")?.trim_end().strip_suffix(';')?;
    let quoted = clause.rsplit(" from ").next()?.trim();
    let source = ['"', '\'']
        .into_iter()
        .find_map(|q| quoted.strip_prefix(q)?.strip_suffix(q))?;
    let (namespace, path) = source.split_once(':')?;
    let is_namespace = !namespace.is_empty()
        && namespace
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    (is_namespace && path.contains('/')).then_some(source)
}

/// The host interfaces a bundle of `module` imports; an interface that is
/// neither WASI of [`WORLD`] nor hosted fails the build, named. Hosted ones
/// are looked up first: `wasi:keyvalue/*` are no part of [`WORLD`].
fn host_imports(bundle: &str, module: &str) -> anyhow::Result<Vec<HostInterface>> {
    let mut imports: Vec<HostInterface> = Vec::new();
    for source in bundle.lines().filter_map(interface_import) {
        if imports.iter().any(|i| i.name == source) {
            continue;
        }
        if let Some(interface) = HOST_INTERFACES.iter().find(|i| i.name == source) {
            imports.push(*interface);
        } else if !source.starts_with("wasi:") || source.starts_with("wasi:keyvalue/") {
            anyhow::bail!(
                "{module} imports `{source}`, which Kumo does not host: for Postgres import `spin:postgres/postgres@4.0.0` (or `@3.0.0`); for key-value `wasi:keyvalue/store@0.2.0-draft2` (with `atomics` and `batch`) or `fermyon:spin/key-value@2.0.0`"
            );
        }
    }
    Ok(imports)
}

/// The worker runner with the script's bundle as the body of its `main`. The
/// bundle's own `import`s (of WIT interfaces, the only ones esbuild leaves)
/// move to the module's top, where JavaScript allows them.
fn worker_module(bundle: &str, script: &str) -> anyhow::Result<String> {
    let (imports, body): (Vec<&str>, Vec<&str>) = bundle
        .lines()
        .partition(|line| interface_import(line).is_some());
    Ok(WORKER
        .replace("__KUMO_IMPORTS__", &imports.join("\n"))
        .replace(
            "__KUMO_SCRIPT__",
            &serde_json::to_string(&format!("/app/{script}"))?,
        )
        .replace("__KUMO_BODY__", &body.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_app_module() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.js"), "").unwrap();
        let argv = |s: &str| shell_words::split(s).unwrap();
        let package = serde_json::json!({ "scripts": { "start": "node src/server.js" }, "main": "lib/main.js" });
        assert_eq!(
            app_module(dir.path(), &package, Some(&argv("node app.mjs"))).as_deref(),
            Some("app.mjs")
        );
        assert_eq!(
            app_module(dir.path(), &package, Some(&argv("npm start"))).as_deref(),
            Some("src/server.js")
        );
        assert_eq!(
            app_module(dir.path(), &package, None).as_deref(),
            Some("src/server.js")
        );
        assert_eq!(
            app_module(dir.path(), &serde_json::json!({}), None).as_deref(),
            Some("index.js")
        );
        assert!(wit_0_2_10("package wasi:cli@0.2.12;\n@since(version = 0.2.12)\n@unstable(feature = network-error-code)\nx").contains("@since(version = 0.2.10)"));
    }

    #[test]
    fn worker_commands() {
        let argv = |s: &str| shell_words::split(s).unwrap();
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            worker_script(&argv("node worker.js --once")),
            Some(("worker.js".into(), args(&["--once"])))
        );
        assert_eq!(
            worker_script(&argv("node --enable-source-maps ./jobs/clock.mjs 5")),
            Some(("jobs/clock.mjs".into(), args(&["5"])))
        );
        assert_eq!(
            worker_script(&argv("worker.cjs")),
            Some(("worker.cjs".into(), args(&[])))
        );
        assert_eq!(worker_script(&argv("npm run worker")), None);
        assert_eq!(worker_script(&argv("node ../x.js")), None);
        assert_eq!(worker_script(&argv("node")), None);
    }

    #[test]
    fn worker_module_wraps_the_bundle() {
        let module = worker_module(
            "import { getStdout } from \"wasi:cli/stdout@0.2.10\";\nconsole.log(1);\nawait work();\n",
            "jobs/a.js",
        )
        .unwrap();
        let body = module
            .find("async function main() {\nconsole.log(1);\nawait work();")
            .unwrap();
        let import = module
            .find("import { getStdout } from \"wasi:cli/stdout@0.2.10\";")
            .unwrap();
        assert!(import < body);
        assert!(module.contains("[\"node\", \"/app/jobs/a.js\", ...getArguments().slice(1)]"));
        assert!(!module.contains("__KUMO_"));
    }

    #[test]
    fn host_interfaces_of_a_bundle() {
        let check = |line: &str, expected: Option<&str>| {
            assert_eq!(interface_import(line), expected, "{line}");
        };
        check(
            "import { getEnvironment } from \"wasi:cli/environment@0.2.10\";",
            Some("wasi:cli/environment@0.2.10"),
        );
        check(
            "import * as pg from 'spin:postgres/postgres@3.0.0';",
            Some("spin:postgres/postgres@3.0.0"),
        );
        check(
            "import \"spin:postgres/postgres@4.0.0\";",
            Some("spin:postgres/postgres@4.0.0"),
        );
        check("import { Hono } from \"./hono.js\";", None);
        check("import x from \"node:fs\";", None);
        check("  return import(\"wasi:cli/exit@0.2.10\");", None);

        let names = |bundle: &str| {
            host_imports(bundle, "index.js")
                .map(|found| found.iter().map(|i| i.name).collect::<Vec<_>>())
        };
        let app = "import { getEnvironment } from \"wasi:cli/environment@0.2.10\";\n\
                   import { Connection } from \"spin:postgres/postgres@4.0.0\";\n\
                   import * as pg from \"spin:postgres/postgres@4.0.0\";\n";
        assert_eq!(names(app).unwrap(), ["spin:postgres/postgres@4.0.0"]);
        assert!(
            names("import { a } from \"wasi:cli/environment@0.2.10\";\n")
                .unwrap()
                .is_empty()
        );
        let err = names("import * as spinPg from 'fermyon:spin/postgres@2.0.0';\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "index.js imports `fermyon:spin/postgres@2.0.0`, which Kumo does not host"
            ),
            "{err}"
        );

        // wasi:keyvalue is hosted, not the WASI every world has.
        let kv = "import { open } from \"wasi:keyvalue/store@0.2.0-draft2\";\n\
                  import { getEnvironment } from \"wasi:cli/environment@0.2.10\";\n\
                  import { increment } from \"wasi:keyvalue/atomics@0.2.0-draft2\";\n\
                  import * as kv from 'wasi:keyvalue/store@0.2.0-draft2';\n";
        assert_eq!(
            names(kv).unwrap(),
            [
                "wasi:keyvalue/store@0.2.0-draft2",
                "wasi:keyvalue/atomics@0.2.0-draft2"
            ]
        );
        let store = host_imports(kv, "index.js").unwrap()[0];
        assert_eq!(store.package, "keyvalue-0.2.0-draft2");
        assert!(
            store
                .files
                .iter()
                .any(|(_, wit)| wit.contains("package wasi:keyvalue@0.2.0-draft2;"))
        );
        assert!(store.addon.contains("kumo addons:create kumo-keyvalue"));
        assert_eq!(
            names("import { Store } from \"fermyon:spin/key-value@2.0.0\";\n").unwrap(),
            ["fermyon:spin/key-value@2.0.0"]
        );
        let err = names("import { watch } from \"wasi:keyvalue/watcher@0.2.0-draft2\";\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("which Kumo does not host"), "{err}");

        let (text, world) = world_with("worker", &["spin:postgres/postgres@4.0.0"]);
        assert_eq!(world, "worker-with-host");
        assert!(text.starts_with(WORLD));
        assert!(text.ends_with(
            "world worker-with-host {\n  include worker;\n  import spin:postgres/postgres@4.0.0;\n}\n"
        ));
    }
}
