//! The Python buildpack: `requirements.txt` or `pyproject.toml`, built into
//! wasi:http components with PyPI's `componentize-py` (installed once into a
//! virtualenv among the build tools). Dependencies are installed from PyPI
//! with pip into a folder cached per app and per requirements; pure-Python
//! packages work (a package's compiled extension cannot load in Wasm, though
//! many fall back to Python, as MarkupSafe does).
//!
//! Apps are what Python developers write: `web: gunicorn app:app` (or
//! `waitress-serve app:app`, or just `app:app`) serves that WSGI callable
//! through Kumo's bridge (`python/kumo_wsgi.py`), so a Flask app runs
//! unchanged; `web: python handler.py` serves a module that defines a
//! wasi:http `IncomingHandler` itself. Without a Procfile, `app.py` is served
//! as `app:app`. Every other process type runs a script, as Heroku's workers
//! do: `worker: python worker.py --once` (or `python -m app.jobs`) becomes a
//! wasi:cli command component that runs it as `__main__` through Kumo's runner
//! (`python/kumo_run.py`), with the Procfile's arguments and a one-off's
//! extra ones in `sys.argv`. Config vars are in `os.environ`. An app that
//! uses the key-value add-on (Spin's `spin_sdk.key_value`, or the wasi:keyvalue
//! bindings) or a Postgres add-on (the spin:postgres/postgres@3.0.0 bindings,
//! `wit_world.imports.postgres`) is built against worlds that import them
//! (`host.rs`, `keyvalue.rs`, `postgres.rs`).

use crate::buildpack::{BuildContext, Buildpack, Compiled, install_once};
use crate::process::run_logged;
use sha2::Digest as _;
use std::path::{Path, PathBuf};
use std::process::Command;

mod host;
mod keyvalue;
mod postgres;

/// The componentize-py release this buildpack installs.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// The WIT world Python web components target.
const WORLD: &str = include_str!("../wit/world.wit");

/// The WSGI bridge.
const KUMO_WSGI: &str = include_str!("../python/kumo_wsgi.py");

/// The runner of worker scripts.
const KUMO_RUN: &str = include_str!("../python/kumo_run.py");

pub struct PythonBuildpack;

/// What a Procfile command asks the component to serve.
#[derive(Debug, PartialEq, Eq)]
enum Serve {
    /// A WSGI callable: module and attribute.
    Wsgi(String, String),
    /// A module defining `IncomingHandler`.
    Handler(String),
    /// A script run as `__main__` (a worker): the file, or a module run with
    /// `-m`, and the arguments after it.
    Script(ScriptTarget, Vec<String>),
}

#[derive(Debug, PartialEq, Eq)]
enum ScriptTarget {
    File(String),
    Module(String),
}

/// Reads a worker's Procfile command: `python worker.py ARGS`, `python3 -u -m
/// app.jobs ARGS`, `worker.py ARGS`.
fn script_for(argv: &[String]) -> Option<Serve> {
    let mut words = argv.iter().map(String::as_str);
    let mut word = words.next()?;
    let interpreter = |w: &str| {
        let name = w.rsplit('/').next().unwrap_or(w);
        name == "python"
            || name
                .strip_prefix("python")
                .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'))
    };
    if interpreter(word) {
        word = words.next()?;
        // Flags that change nothing here (unbuffered output, no .pyc files, …).
        while word.starts_with('-') && word != "-m" && word.len() == 2 && word != "-c" {
            word = words.next()?;
        }
        if word == "-m" {
            let module = words.next()?;
            return Some(Serve::Script(
                ScriptTarget::Module(module.to_string()),
                words.map(str::to_string).collect(),
            ));
        }
    }
    let file = word.trim_start_matches("./");
    if !file.ends_with(".py") || file.starts_with('/') || file.split('/').any(|part| part == "..") {
        return None;
    }
    Some(Serve::Script(
        ScriptTarget::File(file.to_string()),
        words.map(str::to_string).collect(),
    ))
}

/// Reads a Procfile command: `gunicorn app:app`, `waitress-serve --port=$PORT app:app`,
/// `app:app`, `python handler.py`, `handler.py`.
fn serve_for(argv: &[String]) -> Option<Serve> {
    let wsgi = argv.iter().rev().find_map(|word| {
        let (module, attr) = word.split_once(':')?;
        let ident = |s: &str| {
            !s.is_empty()
                && s.split('.').all(|part| {
                    part.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                        && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
        };
        (ident(module) && ident(attr)).then(|| Serve::Wsgi(module.to_string(), attr.to_string()))
    });
    if wsgi.is_some() {
        return wsgi;
    }
    argv.iter()
        .find_map(|word| word.strip_suffix(".py"))
        .map(|module| Serve::Handler(module.trim_start_matches("./").replace('/', ".")))
}

/// Runs `python3` (or `KUMO_PYTHON`).
fn python() -> String {
    std::env::var("KUMO_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

impl PythonBuildpack {
    /// componentize-py's virtualenv among the build tools, made once.
    fn toolchain(ctx: &mut BuildContext<'_>) -> anyhow::Result<PathBuf> {
        let venv = ctx.tools_dir.join("componentize-py-0.25.1");
        let message = format!("Installing {COMPONENTIZE_PY} from PyPI");
        install_once(&venv, &message, ctx, |venv, ctx| {
            run_logged(
                Command::new(python()).args(["-m", "venv"]).arg(venv),
                ctx.log,
                ctx.deadline,
            )
            .map_err(|e| {
                anyhow::anyhow!(
                    "{e:#}: the build machine needs Python 3 with venv (apt-get install python3-venv)"
                )
            })?;
            run_logged(
                Command::new(venv.join("bin/pip")).args([
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    COMPONENTIZE_PY,
                ]),
                ctx.log,
                ctx.deadline,
            )
        })?;
        Ok(venv.join("bin"))
    }

    /// The app's dependencies, installed into a folder kept while the
    /// requirements stay the same.
    fn dependencies(ctx: &mut BuildContext<'_>, bin: &Path) -> anyhow::Result<Option<PathBuf>> {
        let requirements = ctx.app_dir.join("requirements.txt");
        let pyproject = ctx.app_dir.join("pyproject.toml");
        let listed = |text: &str| {
            text.lines()
                .map(str::trim)
                .any(|l| !l.is_empty() && !l.starts_with('#'))
        };
        if requirements.is_file()
            && !listed(&std::fs::read_to_string(&requirements).unwrap_or_default())
        {
            (ctx.log)("requirements.txt lists nothing to install");
            return Ok(None);
        }
        let (spec, args): (Vec<u8>, Vec<String>) = if requirements.is_file() {
            (
                std::fs::read(&requirements)?,
                vec!["-r".into(), requirements.display().to_string()],
            )
        } else if pyproject.is_file() {
            (
                std::fs::read(&pyproject)?,
                vec![ctx.app_dir.display().to_string()],
            )
        } else {
            return Ok(None);
        };
        let key = hex::encode(&sha2::Sha256::digest(&spec)[..8]);
        let site = ctx.cache_dir.join(format!("site-{key}"));
        if site.is_dir() {
            (ctx.log)("Using the cached dependencies (the requirements did not change)");
            return Ok(Some(site));
        }
        (ctx.log)("Installing dependencies with pip");
        let partial = ctx.cache_dir.join("site.partial");
        let _ = std::fs::remove_dir_all(&partial);
        run_logged(
            Command::new(bin.join("pip"))
                .args([
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    "--progress-bar",
                    "off",
                    "--target",
                ])
                .arg(&partial)
                .arg("--cache-dir")
                .arg(ctx.cache_dir.join("pip-cache"))
                .args(&args),
            ctx.log,
            ctx.deadline,
        )?;
        std::fs::rename(&partial, &site)?;
        Ok(Some(site))
    }
}

impl Buildpack for PythonBuildpack {
    fn name(&self) -> &'static str {
        "python"
    }

    fn detect(&self, src: &Path) -> Option<String> {
        (src.join("requirements.txt").is_file() || src.join("pyproject.toml").is_file())
            .then(|| "Python".to_string())
    }

    fn compile(&self, ctx: &mut BuildContext<'_>) -> anyhow::Result<Compiled> {
        let mut wanted: Vec<(String, Serve)> = Vec::new();
        for (name, entry) in ctx.procfile {
            if entry.argv.first().is_some_and(|p| p.ends_with(".wasm")) {
                continue;
            }
            let serve = if name == "web" {
                serve_for(&entry.argv).ok_or_else(|| {
                    anyhow::anyhow!(
                        "Procfile line {}: `{name}: {}` names no WSGI callable (`gunicorn app:app`) and no Python module (`python handler.py`)",
                        entry.line,
                        entry.command
                    )
                })?
            } else {
                script_for(&entry.argv).ok_or_else(|| {
                    anyhow::anyhow!(
                        "Procfile line {}: `{name}: {}` names no Python script to run: write `{name}: python {name}.py` (a file of the app) or `{name}: python -m package.module`; only the web process serves HTTP",
                        entry.line,
                        entry.command
                    )
                })?
            };
            if let Serve::Script(ScriptTarget::File(file), _) = &serve
                && !ctx.app_dir.join(file).is_file()
            {
                anyhow::bail!(
                    "Procfile line {}: the app has no {file}, which `{name}` runs",
                    entry.line
                );
            }
            wanted.push((name.clone(), serve));
        }
        if ctx.procfile.is_empty() && ctx.app_dir.join("app.py").is_file() {
            (ctx.log)("No Procfile: serving the WSGI callable app:app");
            wanted.push(("web".to_string(), Serve::Wsgi("app".into(), "app".into())));
        }
        if wanted.is_empty() {
            anyhow::bail!(
                "nothing to serve: add a Procfile with a line like `web: gunicorn app:app`"
            );
        }
        let bin = Self::toolchain(ctx)?;
        let site = Self::dependencies(ctx, &bin)?;
        let support = ctx.cache_dir.join("kumo-python");
        let _ = std::fs::remove_dir_all(&support);
        crate::wit::write(&support.join("wit"), WORLD, str::to_string)?;
        std::fs::write(support.join("kumo_wsgi.py"), KUMO_WSGI)?;
        std::fs::write(support.join("kumo_run.py"), KUMO_RUN)?;
        // The host interfaces the app uses: the worlds' suffix (`-keyvalue`,
        // `-postgres`), and the key-value bindings, imported before its code.
        let mut prelude = "";
        let mut suffix = String::new();
        let provided = host::Provided::read(site.as_deref());
        if let Some((file, module)) = host::used_by(ctx.app_dir, postgres::UNHOSTED)? {
            return Err(postgres::refuse(&file, &module));
        }
        let uses_keyvalue = host::used_by(ctx.app_dir, keyvalue::MODULES)?;
        if let Some((file, module)) = &uses_keyvalue {
            keyvalue::check_spin_sdk(site.as_deref(), module)?;
            (ctx.log)(&format!(
                "{file} imports {module}: building with the key-value interfaces (the app needs a key-value add-on: kumo addons:create kumo-keyvalue)"
            ));
            keyvalue::write_wit(&support.join("wit"), &provided)?;
            std::fs::write(support.join("kumo_keyvalue.py"), keyvalue::KUMO_KEYVALUE)?;
            prelude = "import kumo_keyvalue  # noqa: F401\n";
            suffix.push_str("-keyvalue");
        }
        if let Some((file, module)) = host::used_by(ctx.app_dir, postgres::MODULES)? {
            (ctx.log)(&format!(
                "{file} imports {module}: building with Spin's Postgres interface spin:postgres/postgres@3.0.0 (the app needs a Postgres add-on: kumo addons:create kumo-postgresql)"
            ));
            postgres::write_wit(&support.join("wit"), &provided, uses_keyvalue.is_some())?;
            suffix.push_str("-postgres");
        }

        let mut compiled = Compiled::default();
        for (name, serve) in wanted {
            let entries = support.join("entries").join(&name);
            std::fs::create_dir_all(&entries)?;
            let mut world = "app";
            let mut entry: Option<String> = None;
            let mut args: Vec<String> = Vec::new();
            let module = match &serve {
                Serve::Wsgi(module, attr) => {
                    (ctx.log)(&format!(
                        "Building `{name}` to serve the WSGI callable {module}:{attr}"
                    ));
                    entry = Some(format!(
                        "from kumo_wsgi import handler\nIncomingHandler = handler({module:?}, {attr:?})\n"
                    ));
                    "kumo_entry".to_string()
                }
                Serve::Handler(module) => {
                    (ctx.log)(&format!(
                        "Building `{name}` from the wasi:http handler in {module}"
                    ));
                    if prelude.is_empty() {
                        module.clone()
                    } else {
                        // The key-value bindings are imported before the module.
                        entry = Some(format!("from {module} import IncomingHandler\n"));
                        "kumo_entry".to_string()
                    }
                }
                Serve::Script(target, rest) => {
                    // A JSON string is a Python string literal too.
                    let (shown, call) = match target {
                        ScriptTarget::File(file) => (
                            file.clone(),
                            format!("script={}", serde_json::to_string(file)?),
                        ),
                        ScriptTarget::Module(module) => (
                            format!("-m {module}"),
                            format!("module={}", serde_json::to_string(module)?),
                        ),
                    };
                    (ctx.log)(&format!("Building `{name}` to run {shown}"));
                    entry = Some(format!(
                        "from kumo_run import runner\nRun = runner({call})\n"
                    ));
                    world = "worker";
                    args.clone_from(rest);
                    "kumo_entry".to_string()
                }
            };
            if let Some(entry) = entry {
                std::fs::write(entries.join("kumo_entry.py"), format!("{prelude}{entry}"))?;
            }
            // Spin's SDK brings its own worlds, so the world is named in full.
            let world = if suffix.is_empty() {
                world.to_string()
            } else {
                format!("kumo:python/{world}{suffix}")
            };
            let output = format!("{name}.wasm");
            let mut command = Command::new(bin.join("componentize-py"));
            command
                .current_dir(ctx.app_dir)
                .arg("-d")
                .arg(support.join("wit"))
                .args(["-w", &world, "componentize", &module, "-p", "."])
                .arg("-p")
                .arg(&entries)
                .arg("-p")
                .arg(&support);
            if let Some(site) = &site {
                command.arg("-p").arg(site);
            }
            command.args(["-o", &output]);
            run_logged(&mut command, ctx.log, ctx.deadline)
                .map_err(|e| anyhow::anyhow!("{e:#}: the app could not be made a component"))?;
            compiled
                .commands
                .insert(name, shell_words::join(std::iter::once(output).chain(args)));
        }
        Ok(compiled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(command: &str) -> Vec<String> {
        shell_words::split(command).unwrap()
    }

    #[test]
    fn procfile_commands() {
        assert_eq!(
            serve_for(&argv("gunicorn app:app")),
            Some(Serve::Wsgi("app".into(), "app".into()))
        );
        assert_eq!(
            serve_for(&argv("gunicorn --workers 2 shop.wsgi:application")),
            Some(Serve::Wsgi("shop.wsgi".into(), "application".into()))
        );
        assert_eq!(
            serve_for(&argv("waitress-serve --port=$PORT app:create_app")),
            Some(Serve::Wsgi("app".into(), "create_app".into()))
        );
        assert_eq!(
            serve_for(&argv("python handler.py")),
            Some(Serve::Handler("handler".into()))
        );
        assert_eq!(
            serve_for(&argv("gunicorn app:app --bind 0.0.0.0:5000")),
            Some(Serve::Wsgi("app".into(), "app".into()))
        );
        assert_eq!(serve_for(&argv("python")), None);
    }

    #[test]
    fn worker_commands() {
        let file = |f: &str, args: &[&str]| {
            Some(Serve::Script(
                ScriptTarget::File(f.into()),
                args.iter().map(|a| a.to_string()).collect(),
            ))
        };
        assert_eq!(
            script_for(&argv("python worker.py")),
            file("worker.py", &[])
        );
        assert_eq!(
            script_for(&argv("python3 -u ./jobs/clock.py --every 5")),
            file("jobs/clock.py", &["--every", "5"])
        );
        assert_eq!(
            script_for(&argv("worker.py --once")),
            file("worker.py", &["--once"])
        );
        assert_eq!(
            script_for(&argv("python3.14 -m app.jobs nightly")),
            Some(Serve::Script(
                ScriptTarget::Module("app.jobs".into()),
                vec!["nightly".into()]
            ))
        );
        assert_eq!(script_for(&argv("python -c 'print(1)'")), None);
        assert_eq!(script_for(&argv("celery -A app worker")), None);
        assert_eq!(script_for(&argv("python ../outside.py")), None);
        assert_eq!(script_for(&argv("python /etc/x.py")), None);
        assert_eq!(script_for(&argv("python")), None);
    }
}
