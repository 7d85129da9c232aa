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

use crate::buildpack::{BuildContext, Buildpack, Compiled};
use crate::process::run_logged;
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const COMPONENTIZE_JS: &str = "@bytecodealliance/componentize-js@0.23.0";
const ESBUILD: &str = "esbuild@0.28.2";
const ENTRY: &str = include_str!("../js/kumo_entry.js");

/// The world of JavaScript web components. componentize-js 0.23 needs the WASI
/// WIT at version 0.2.10 (the one its StarlingMonkey exports): the 0.2.12 files
/// are rewritten as the build writes them ([`wit_0_2_10`]).
const WORLD: &str = "package kumo:js;\n\nworld app {\n  include wasi:http/proxy@0.2.10;\n  import wasi:cli/environment@0.2.10;\n}\n";

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
        for (name, entry) in ctx.procfile {
            if name != "web" && !entry.argv.first().is_some_and(|p| p.ends_with(".wasm")) {
                anyhow::bail!(
                    "Procfile line {}: `{name}` would run JavaScript as a worker, which the JavaScript buildpack cannot build yet: JavaScript apps serve the web process",
                    entry.line
                );
            }
        }
        let web = ctx.procfile.get("web").map(|e| e.argv.as_slice());
        let module = app_module(ctx.app_dir, &package, web).ok_or_else(|| {
            anyhow::anyhow!("no app module found: name it in the Procfile (`web: node server.js`), in package.json's `main`, or call it index.js")
        })?;
        if !ctx.app_dir.join(&module).is_file() {
            anyhow::bail!("the app module `{module}` is not in the source");
        }
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
        let app_path = ctx.app_dir.join(&module);
        let entry = ctx.app_dir.join(".kumo-entry.mjs");
        std::fs::write(
            &entry,
            ENTRY.replace("__KUMO_APP__", &format!("./{module}")),
        )?;
        (ctx.log)(&format!("Bundling {module} with esbuild"));
        let bundle = support.join("bundle.js");
        let result = run_logged(
            Command::new(bin.join("esbuild"))
                .arg(&entry)
                .args([
                    "--bundle",
                    "--format=esm",
                    "--platform=browser",
                    "--conditions=worker,browser",
                    "--external:wasi:*",
                    "--log-level=warning",
                ])
                .arg(format!("--outfile={}", bundle.display()))
                .current_dir(ctx.app_dir),
            ctx.log,
            ctx.deadline,
        );
        let _ = std::fs::remove_file(&entry);
        result.with_context(|| format!("bundling {} failed", app_path.display()))?;
        (ctx.log)("Building web.wasm with componentize-js");
        run_logged(
            Command::new(bin.join("componentize-js"))
                .arg("--wit")
                .arg(support.join("wit"))
                .args(["--world-name", "kumo:js/app", "-o", "web.wasm"])
                .arg(&bundle)
                .current_dir(ctx.app_dir),
            ctx.log,
            ctx.deadline,
        )
        .map_err(|e| anyhow::anyhow!("{e:#}: the app could not be made a component"))?;
        let mut compiled = Compiled::default();
        compiled
            .commands
            .insert("web".to_string(), "web.wasm".to_string());
        // StarlingMonkey keeps per-request state: one request per instance.
        compiled.fresh_instances.push("web".to_string());
        Ok(compiled)
    }
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
}
