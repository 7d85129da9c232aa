//! The buildpack contract, and the build that runs one: a source tree in,
//! a slug out.
//!
//! A [`Buildpack`] detects a source tree (and says what it found), compiles it
//! into components and files in the app folder, and declares default process
//! types. [`build`] tries the buildpacks in order (or the one an app pins),
//! reads the `Procfile`, turns every component a process names into a
//! component (core modules get the preview 1 adapter), decides each process's
//! kind from what it exports, and packs the slug.

use crate::procfile::{self, Procfile};
use crate::{componentize, prebuilt};
use anyhow::Context as _;
use kumo_slug::{Manifest, PackedSlug, ProcessKind, ProcessType};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Slugs over this size get a warning, as on Heroku.
pub const WARN_SLUG_BYTES: u64 = 300 << 20;
/// Slugs over this size are refused, as on Heroku.
pub const MAX_SLUG_BYTES: u64 = 500 << 20;

/// What a buildpack gets to work with.
pub struct BuildContext<'a> {
    /// The app folder: a copy of the source (minus `.slugignore`), which
    /// becomes the slug's `app/`. Compiled components go here too.
    pub app_dir: &'a Path,
    /// This app's cache for this buildpack, kept between builds.
    pub cache_dir: &'a Path,
    /// The app's config vars.
    pub env: &'a BTreeMap<String, String>,
    /// Build output, one line at a time (shown indented under the buildpack's header).
    pub log: &'a mut dyn FnMut(&str),
    /// When the build must end: programs still running then are killed.
    pub deadline: Option<std::time::Instant>,
    /// Toolchains a buildpack installs for itself, shared by every app.
    pub tools_dir: &'a Path,
    /// The app's Procfile (empty without one).
    pub procfile: &'a Procfile,
}

/// What a buildpack compiled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compiled {
    /// Process types used when the app has no `Procfile` line for them:
    /// type → command (`web` → `rust-hello.wasm`).
    pub default_process_types: BTreeMap<String, String>,
    /// Procfile commands the buildpack turned into components: type → the
    /// command that replaces the Procfile's (`web: gunicorn app:app` → `web.wasm`).
    pub commands: BTreeMap<String, String>,
    /// Process types whose instances must each serve one request only.
    pub fresh_instances: Vec<String>,
    /// `cgi` process types that serve a folder of the app (PHP's).
    pub document_roots: BTreeMap<String, kumo_slug::DocumentRoot>,
    /// Program names a Procfile may use for a component whose file is named
    /// otherwise: name → component (`hello` → `app.wasm` for a one-file C app).
    pub programs: BTreeMap<String, String>,
}

impl Compiled {
    /// Has process type `name` run `command`: in place of its Procfile line,
    /// or as a default type when the Procfile has no line for it.
    pub fn runs(&mut self, procfile: &Procfile, name: String, command: String) {
        if procfile.contains_key(&name) {
            self.commands.insert(name, command);
        } else {
            self.default_process_types.insert(name, command);
        }
    }
}

/// Source tree → components. Implementations must not write outside
/// `app_dir` and `cache_dir`.
pub trait Buildpack: Send + Sync {
    /// The name apps pin it by (`rust`).
    fn name(&self) -> &'static str;
    /// What it found in `src` (`Rust`), or `None` if the tree is not its kind.
    fn detect(&self, src: &Path) -> Option<String>;
    fn compile(&self, ctx: &mut BuildContext<'_>) -> anyhow::Result<Compiled>;
}

/// The buildpacks Kumo ships, in the order they are tried.
/// (Go before C: a Go module may carry C files for cgo; PHP before JavaScript:
/// a PHP app often has a package.json for its front-end assets.)
pub fn all() -> Vec<Box<dyn Buildpack>> {
    vec![
        Box::new(crate::rust::RustBuildpack),
        Box::new(crate::go::GoBuildpack),
        Box::new(crate::ruby::RubyBuildpack),
        Box::new(crate::python::PythonBuildpack),
        Box::new(crate::php::PhpBuildpack),
        Box::new(crate::js::JsBuildpack),
        Box::new(crate::clojure::ClojureBuildpack),
        Box::new(crate::java::JavaBuildpack),
        Box::new(crate::scala::ScalaBuildpack),
        Box::new(crate::c::CBuildpack),
        Box::new(crate::prebuilt::PrebuiltBuildpack),
    ]
}

/// The buildpack named `name`, if Kumo has it.
pub fn find(name: &str) -> Option<Box<dyn Buildpack>> {
    all().into_iter().find(|b| b.name() == name)
}

/// Installs the npm `packages` into `dir` once, as tools shared by every app's
/// builds (see [`install_once`]); a machine without npm fails with the command that installs it.
pub(crate) fn npm_tools_once(
    dir: &Path,
    packages: &[&str],
    ctx: &mut BuildContext<'_>,
) -> anyhow::Result<()> {
    let message = format!("Installing {} from npm", packages.join(" and "));
    install_once(dir, &message, ctx, |prefix, ctx| {
        crate::process::run_logged(
            std::process::Command::new("npm")
                .args([
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    "--prefix",
                ])
                .arg(prefix)
                .args(packages),
            ctx.log,
            ctx.deadline,
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "{e:#}: the build machine needs Node.js and npm (apt-get install nodejs npm)"
            )
        })
    })
}

/// Installs a toolchain into `dir` once, with `install`: a folder left by an
/// install that did not finish is removed and the install starts over.
pub(crate) fn install_once(
    dir: &Path,
    message: &str,
    ctx: &mut BuildContext<'_>,
    install: impl FnOnce(&Path, &mut BuildContext<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let done = dir.join(".kumo-installed");
    if done.is_file() {
        return Ok(());
    }
    (ctx.log)(message);
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    install(dir, ctx)?;
    std::fs::write(done, "")?;
    Ok(())
}

/// The names of the regular files at the top of `dir` ending in `suffix`, sorted.
pub(crate) fn top_level_files(dir: &Path, suffix: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(suffix))
        .collect();
    files.sort();
    files
}

/// A build's inputs.
pub struct BuildRequest<'a> {
    /// The unpacked source tree; it is not changed.
    pub src: &'a Path,
    /// A scratch folder for the app folder and the slug.
    pub work_dir: &'a Path,
    /// The app's build caches, one folder per buildpack inside.
    pub cache_dir: &'a Path,
    /// A pinned buildpack's name; `None` tries each in order.
    pub buildpack: Option<&'a str>,
    pub env: &'a BTreeMap<String, String>,
    /// When the build must end: programs still running then are killed.
    pub deadline: Option<std::time::Instant>,
    /// Toolchains buildpacks install for themselves, shared by every app.
    pub tools_dir: &'a Path,
}

/// A finished build.
#[derive(Debug)]
pub struct Built {
    pub slug: PackedSlug,
    /// The buildpack's name and what it detected.
    pub buildpack: String,
    pub description: String,
    pub process_types: BTreeMap<String, ProcessType>,
}

/// Builds a slug from `request.src`; each line of output goes to `log`,
/// Heroku style (`-----> Rust app detected`, detail lines indented).
pub fn build(request: &BuildRequest<'_>, log: &mut dyn FnMut(&str)) -> anyhow::Result<Built> {
    let buildpacks = all();
    let (buildpack, description) = match request.buildpack {
        Some(name) => {
            let buildpack = find(name).ok_or_else(|| {
                    anyhow::anyhow!(
                        "the app is pinned to the buildpack `{name}`, which Kumo does not have: use one of {}",
                        names()
                    )
                })?;
            let description = buildpack.detect(request.src).ok_or_else(|| {
                anyhow::anyhow!(
                    "the pinned buildpack `{name}` does not recognise this source; pin another (kumo buildpacks:set) or clear it (kumo buildpacks:clear)"
                )
            })?;
            (buildpack, description)
        }
        None => buildpacks
            .into_iter()
            .find_map(|b| b.detect(request.src).map(|d| (b, d)))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no buildpack recognises this app: Kumo builds Rust (Cargo.toml), Go (go.mod), Ruby (Gemfile or config.ru), Python (requirements.txt or pyproject.toml), PHP (composer.json or index.php), JavaScript (package.json), Java (pom.xml or *.java), Scala (build.sbt or *.scala), Clojure (deps.edn or project.clj), C (Makefile or *.c) and prebuilt .wasm files; see the examples folder"
                )
            })?,
    };
    log(&format!("-----> {description} app detected"));

    let procfile = match std::fs::read_to_string(request.src.join("Procfile")) {
        Ok(text) => procfile::parse(&text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Procfile::new(),
        Err(e) => return Err(e).context("reading the Procfile"),
    };

    let app_dir = request.work_dir.join("app");
    if app_dir.exists() {
        std::fs::remove_dir_all(&app_dir)?;
    }
    copy_source(request.src, &app_dir)?;
    let cache_dir = request.cache_dir.join(buildpack.name());
    std::fs::create_dir_all(&cache_dir)
        .with_context(|| format!("creating the build cache {}", cache_dir.display()))?;
    let compiled = {
        let mut indented = |line: &str| log(&format!("       {line}"));
        buildpack.compile(&mut BuildContext {
            app_dir: &app_dir,
            cache_dir: &cache_dir,
            env: request.env,
            log: &mut indented,
            deadline: request.deadline,
            tools_dir: request.tools_dir,
            procfile: &procfile,
        })?
    };

    log("-----> Discovering process types");
    let mut commands: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for (name, command) in &compiled.default_process_types {
        let argv = shell_words::split(command)
            .with_context(|| format!("the default command of `{name}`"))?;
        commands.insert(name.clone(), (command.clone(), argv));
    }
    for (name, entry) in &procfile {
        commands.insert(name.clone(), (entry.command.clone(), entry.argv.clone()));
    }
    for (name, command) in &compiled.commands {
        let argv =
            shell_words::split(command).with_context(|| format!("the command of `{name}`"))?;
        commands.insert(name.clone(), (command.clone(), argv));
    }
    if commands.is_empty() {
        anyhow::bail!(
            "the app declares no process types: add a Procfile with a line like `web: app.wasm`"
        );
    }
    let mut process_types = BTreeMap::new();
    for (name, (command, argv)) in &commands {
        let process =
            process_type(&app_dir, name, command, argv, &compiled.programs).map_err(|e| {
                match procfile.get(name) {
                    Some(entry) => anyhow::anyhow!("Procfile line {}: {e:#}", entry.line),
                    None => e,
                }
            })?;
        if argv.first().map(|p| p.trim_start_matches("./")) != Some(process.component.as_str()) {
            log(&format!(
                "       `{name}` runs {} (the program `{}`)",
                process.component, argv[0]
            ));
        }
        process_types.insert(name.clone(), process);
    }
    let listed: Vec<&str> = process_types.keys().map(String::as_str).collect();
    log(&format!(
        "       Procfile declares types -> {}",
        listed.join(", ")
    ));

    let mut manifest = Manifest::new(process_types.clone());
    manifest.buildpack = Some(buildpack.name().to_string());
    for process_type in &compiled.fresh_instances {
        manifest.fresh_instances_for(process_type);
    }
    for (process_type, root) in &compiled.document_roots {
        if process_types
            .get(process_type)
            .is_some_and(|p| p.kind == ProcessKind::Cgi)
        {
            manifest.serve_document_root(process_type, root.clone());
        }
    }
    log("-----> Compressing...");
    let slug = kumo_slug::pack(&app_dir, &manifest, &request.work_dir.join("slug.tar.zst"))?;
    let mb = slug.size as f64 / f64::from(1 << 20);
    if slug.size > MAX_SLUG_BYTES {
        anyhow::bail!(
            "Compiled slug size: {mb:.1}M is too large (max is 500M): remove files the app does not need, or list them in .slugignore"
        );
    }
    log(&format!("       Done: {mb:.1}M"));
    if slug.size > WARN_SLUG_BYTES {
        log(&format!(
            " !     Warning: Your slug size ({mb:.0} MB) exceeds our soft limit (300 MB) which may affect boot time."
        ));
    }
    Ok(Built {
        slug,
        buildpack: buildpack.name().to_string(),
        description,
        process_types,
    })
}

/// The names of every buildpack, for messages.
pub fn names() -> String {
    all()
        .iter()
        .map(|b| b.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The process type `name` running `argv`. Its program names a component of
/// the app folder (a core module is made a component in place) as a Heroku
/// user names a program: its path (`go-hello.wasm`, `target/hello`), or the
/// program the build made without the `.wasm` (`hello`, `bin/gocgi`, as
/// Heroku's buildpacks install programs under `bin/`), or a name the
/// buildpack gave it (`programs`).
fn process_type(
    app_dir: &Path,
    name: &str,
    command: &str,
    argv: &[String],
    programs: &BTreeMap<String, String>,
) -> anyhow::Result<ProcessType> {
    let program = argv
        .first()
        .ok_or_else(|| anyhow::anyhow!("`{name}` has an empty command"))?;
    let wanted = program.trim_start_matches("./");
    if wanted.starts_with('/') || wanted.split('/').any(|p| p == "..") {
        anyhow::bail!(
            "`{name}: {command}` names `{program}` outside the app: name a program or .wasm file inside it"
        );
    }
    let relative = resolve_program(app_dir, wanted, programs).ok_or_else(|| {
        anyhow::anyhow!(
            "`{name}: {command}` runs `{program}`, which the build did not produce: name one of the app's programs (the build made: {})",
            made(app_dir, programs)
        )
    })?;
    let path = app_dir.join(&relative);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {relative}"))?;
    let component =
        componentize(&bytes).with_context(|| format!("`{relative}` cannot run on Kumo"))?;
    if component != bytes {
        std::fs::write(&path, &component)?;
    }
    let kind = prebuilt::kind_for(&prebuilt::component_exports(&component), name)
        .with_context(|| format!("`{relative}`"))?;
    if name == "release" && kind == ProcessKind::Http {
        anyhow::bail!(
            "`release: {command}` serves HTTP: the release phase runs a command (a wasi:cli component)"
        );
    }
    Ok(ProcessType {
        component: relative,
        args: argv[1..].to_vec(),
        kind,
    })
}

/// The component file (relative to `app_dir`) the program `wanted` names:
/// the file itself, then `wanted.wasm`, then a buildpack's name for it, then
/// the same for its last element at the top of the app (`bin/gocgi` →
/// `gocgi.wasm`, `target/release/hello` → `hello.wasm`).
fn resolve_program(
    app_dir: &Path,
    wanted: &str,
    programs: &BTreeMap<String, String>,
) -> Option<String> {
    let base = wanted.rsplit('/').next().unwrap_or(wanted);
    let candidates = [
        Some(wanted.to_string()),
        Some(format!("{wanted}.wasm")),
        programs.get(wanted).cloned(),
        Some(format!("{base}.wasm")),
        programs.get(base).cloned(),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|file| app_dir.join(file).is_file())
}

/// What the build made, for messages: its programs by the names a Procfile
/// may use (`gocgi (gocgi.wasm)`), or `none`.
fn made(app_dir: &Path, programs: &BTreeMap<String, String>) -> String {
    let mut names: Vec<String> = wasm_files(app_dir)
        .into_iter()
        .map(|file| match file.strip_suffix(".wasm") {
            Some(stem) => format!("{stem} ({file})"),
            None => file,
        })
        .collect();
    for (program, file) in programs {
        names.push(format!("{program} ({file})"));
    }
    if names.is_empty() {
        names.push("none".to_string());
    }
    names.join(", ")
}

/// The `.wasm` files of the app folder, relative, for messages.
fn wasm_files(app_dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(app_dir.join(&relative)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = relative.join(entry.file_name());
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() && path.extension().is_some_and(|e| e == "wasm") => {
                    found.push(path.display().to_string())
                }
                _ => {}
            }
        }
    }
    found.sort();
    found
}

/// Copies the source tree into `dest`, leaving out what `.slugignore` lists
/// (one pattern per line: a name, a path, or `*` wildcards) and `.git`.
fn copy_source(src: &Path, dest: &Path) -> anyhow::Result<()> {
    let ignore: Vec<String> = std::fs::read_to_string(src.join(".slugignore"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_start_matches('/').trim_end_matches('/').to_string())
        .collect();
    let ignored = |relative: &str| {
        relative == ".git"
            || ignore.iter().any(|pattern| {
                let name = relative.rsplit('/').next().unwrap_or(relative);
                if pattern.contains('/') {
                    glob(pattern, relative)
                } else {
                    glob(pattern, name)
                }
            })
    };
    std::fs::create_dir_all(dest)?;
    let mut stack = vec![String::new()];
    while let Some(relative) = stack.pop() {
        let dir = src.join(&relative);
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if relative.is_empty() {
                name
            } else {
                format!("{relative}/{name}")
            };
            if ignored(&path) {
                continue;
            }
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                std::fs::create_dir_all(dest.join(&path))?;
                stack.push(path);
            } else if file_type.is_file() {
                std::fs::copy(entry.path(), dest.join(&path))
                    .with_context(|| format!("copying {path}"))?;
            }
            // Links and special files are not part of an app.
        }
    }
    Ok(())
}

/// `*` matches any run of characters, `?` one; everything else itself.
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("*.log", "debug.log"));
        assert!(glob("docs", "docs"));
        assert!(glob("test?", "test1"));
        assert!(!glob("*.log", "debug.txt"));
        assert!(glob("a/*/c", "a/b/c"));
    }

    #[test]
    fn procfile_programs_resolve_as_heroku_users_name_them() {
        let app = tempfile::tempdir().unwrap();
        for file in ["gocgi.wasm", "app.wasm", "bin/tool", "worker.wasm"] {
            let path = app.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"").unwrap();
        }
        let programs = BTreeMap::from([("hello".to_string(), "app.wasm".to_string())]);
        let resolve = |wanted| resolve_program(app.path(), wanted, &programs);
        assert_eq!(resolve("gocgi.wasm").as_deref(), Some("gocgi.wasm"));
        assert_eq!(resolve("gocgi").as_deref(), Some("gocgi.wasm"));
        assert_eq!(resolve("bin/gocgi").as_deref(), Some("gocgi.wasm"));
        assert_eq!(resolve("bin/tool").as_deref(), Some("bin/tool"));
        assert_eq!(resolve("hello").as_deref(), Some("app.wasm"));
        assert_eq!(resolve("bin/hello").as_deref(), Some("app.wasm"));
        assert_eq!(
            resolve("target/release/worker").as_deref(),
            Some("worker.wasm")
        );
        assert_eq!(resolve("nosuch"), None);
        assert_eq!(
            made(app.path(), &programs),
            "app (app.wasm), gocgi (gocgi.wasm), worker (worker.wasm), hello (app.wasm)"
        );
    }

    #[test]
    fn slugignore_and_git_are_left_out() {
        let src = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        for file in [
            "keep.txt",
            "debug.log",
            "docs/a.md",
            ".git/HEAD",
            "spec/x_test.rb",
        ] {
            let path = src.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "x").unwrap();
        }
        std::fs::write(
            src.path().join(".slugignore"),
            "*.log\n/docs/\nspec/*_test.rb\n",
        )
        .unwrap();
        copy_source(src.path(), &dest.path().join("app")).unwrap();
        let app = dest.path().join("app");
        assert!(app.join("keep.txt").is_file());
        assert!(app.join(".slugignore").is_file());
        assert!(!app.join("debug.log").exists());
        assert!(!app.join("docs").exists());
        assert!(!app.join(".git").exists());
        assert!(app.join("spec").is_dir() && !app.join("spec/x_test.rb").exists());
    }

    /// Writes `bytes` of data zstd cannot shrink, so the slug is as big as the file.
    fn incompressible(path: &Path, bytes: u64) {
        use std::io::Write as _;
        let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut chunk = vec![0u8; 1 << 20];
        for _ in 0..bytes >> 20 {
            for word in chunk.chunks_mut(8) {
                // xorshift64
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                word.copy_from_slice(&state.to_le_bytes());
            }
            file.write_all(&chunk).unwrap();
        }
        file.flush().unwrap();
    }

    #[test]
    fn slugs_over_300_mb_warn_and_over_500_mb_are_refused() {
        let src = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let wasm =
            wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "_start")))"#)
                .unwrap();
        std::fs::write(src.path().join("app.wasm"), wasm).unwrap();
        std::fs::write(src.path().join("Procfile"), "worker: app.wasm\n").unwrap();
        incompressible(&src.path().join("assets.bin"), 310 << 20);
        let env = BTreeMap::new();
        let request = BuildRequest {
            src: src.path(),
            work_dir: work.path(),
            cache_dir: cache.path(),
            buildpack: None,
            env: &env,
            deadline: None,
            tools_dir: cache.path(),
        };
        let mut out = String::new();
        let built = build(&request, &mut |line| {
            out.push_str(line);
            out.push('\n');
        })
        .unwrap();
        assert!(built.slug.size > WARN_SLUG_BYTES, "{}", built.slug.size);
        assert!(
            out.contains("Warning: Your slug size (310 MB) exceeds our soft limit (300 MB)"),
            "{out}"
        );

        incompressible(&src.path().join("more.bin"), 200 << 20);
        let work = tempfile::tempdir().unwrap();
        let request = BuildRequest {
            work_dir: work.path(),
            ..request
        };
        let refused = build(&request, &mut |_| {}).unwrap_err().to_string();
        assert!(
            refused.contains("is too large (max is 500M): remove files the app does not need, or list them in .slugignore"),
            "{refused}"
        );
    }
}
