//! The Go buildpack: a `go.mod` module built with the newest Go on the build
//! machine (1.21 or later: `/usr/local/go`, `go` on the `PATH`, or Debian's
//! `golang-1.2x-go`) for `GOOS=wasip1 GOARCH=wasm`. A Go web app is a CGI
//! program (`net/http/cgi`); other process types are workers. The main
//! package at the top becomes `<module name>.wasm`, each `cmd/<name>` becomes
//! `<name>.wasm`; a Procfile names them as Heroku's Go apps do (`web: gocgi`,
//! `web: bin/gocgi`).
//!
//! Go 1.24 and later get a small fix to their runtime's memory growth
//! (`go build -overlay`, see [`memory`]) so they run as components.
//!
//! Modules come from `vendor/` when the app vendors them, else from the Go
//! module proxy (`GOPROXY`, a config var, defaults to proxy.golang.org) into a
//! module cache kept per app. The checksum database is not reachable from
//! builds, so `GOSUMDB` defaults to off: the app's `go.sum` is what checks the
//! modules it lists.

mod memory;

use crate::buildpack::{BuildContext, Buildpack, Compiled};
use crate::process::run_logged;
use std::path::{Path, PathBuf};
use std::process::Command;

const INSTALL: &str = "install Go from https://go.dev/dl into /usr/local/go, or add the bookworm-backports apt source and apt-get install -t bookworm-backports golang-1.23-go";
/// Where modules come from unless the app's config says otherwise.
const DEFAULT_PROXY: &str = "https://proxy.golang.org";

pub struct GoBuildpack;

/// The newest Go 1.21 or later on the machine (the first to support
/// `wasip1`), with what its `go version` printed.
fn go_binary() -> Option<(PathBuf, String)> {
    let mut candidates = vec![PathBuf::from("/usr/local/go/bin/go")];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("go")));
    }
    for entry in std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
    {
        if entry.file_name().to_string_lossy().starts_with("go-1.") {
            candidates.push(entry.path().join("bin/go"));
        }
    }
    candidates
        .into_iter()
        .filter(|go| go.is_file())
        .filter_map(|go| {
            let out = Command::new(&go).arg("version").output().ok()?;
            let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let version = go_version(&line)?;
            Some((go, line, version))
        })
        .filter(|(_, _, version)| *version >= (1, 21, 0))
        .max_by_key(|(_, _, version)| *version)
        .map(|(go, line, _)| (go, line))
}

/// `go version go1.26.8 linux/amd64` → (1, 26, 8).
fn go_version(text: &str) -> Option<(u32, u32, u32)> {
    let word = text.split_whitespace().nth(2)?.strip_prefix("go")?;
    let mut numbers = word
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().ok());
    let major = numbers.next()??;
    let minor = numbers.next().flatten().unwrap_or(0);
    let patch = numbers.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// The module's last path element (`example.com/shop` → `shop`).
fn module_name(go_mod: &str) -> Option<String> {
    go_mod
        .lines()
        .find_map(|l| l.trim().strip_prefix("module "))
        .map(|m| m.trim().trim_matches('"'))
        .and_then(|m| m.rsplit('/').next())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

/// Whether `dir` holds a `package main` Go file.
fn has_main(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".go"))
        .filter(|e| !e.file_name().to_string_lossy().ends_with("_test.go"))
        .any(|e| {
            std::fs::read_to_string(e.path())
                .is_ok_and(|text| text.lines().any(|l| l.trim() == "package main"))
        })
}

impl Buildpack for GoBuildpack {
    fn name(&self) -> &'static str {
        "go"
    }

    fn detect(&self, src: &Path) -> Option<String> {
        src.join("go.mod").is_file().then(|| "Go".to_string())
    }

    fn compile(&self, ctx: &mut BuildContext<'_>) -> anyhow::Result<Compiled> {
        let (go, version) = go_binary().ok_or_else(|| {
            anyhow::anyhow!("Go 1.21 or later is not installed on the build machine: {INSTALL}")
        })?;
        let go_mod = std::fs::read_to_string(ctx.app_dir.join("go.mod"))?;
        let module = module_name(&go_mod).ok_or_else(|| {
            anyhow::anyhow!("go.mod has no `module` line: start it with `module example.com/myapp`")
        })?;
        let mut targets = Vec::new();
        if has_main(ctx.app_dir) {
            targets.push((module.clone(), ".".to_string()));
        }
        let cmd = ctx.app_dir.join("cmd");
        for entry in std::fs::read_dir(&cmd).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) && has_main(&entry.path()) {
                let name = entry.file_name().to_string_lossy().into_owned();
                targets.push((name.clone(), format!("./cmd/{name}")));
            }
        }
        if targets.is_empty() {
            anyhow::bail!(
                "the Go module has no main package: add `package main` with a `func main()` at the top or in cmd/<name>"
            );
        }
        (ctx.log)(&version);
        let version_word = version
            .split_whitespace()
            .nth(2)
            .unwrap_or("go")
            .to_string();
        let overlay = memory::overlay(&go, &version_word, ctx.cache_dir)?;
        if overlay.is_some() {
            (ctx.log)(
                "Building with Kumo's runtime overlay: Go's heap keeps clear of the memory the WASI adapter grows",
            );
        }
        let vendored = ctx.app_dir.join("vendor").is_dir();
        let setting = |name: &str, default: &str| {
            ctx.env
                .get(name)
                .cloned()
                .unwrap_or_else(|| default.to_string())
        };
        let proxy = setting("GOPROXY", DEFAULT_PROXY);
        let sumdb = setting("GOSUMDB", "off");
        let go_command = |args: &[&str]| {
            let mut command = Command::new(&go);
            command
                .args(args)
                .current_dir(ctx.app_dir)
                .envs(ctx.env)
                .env("GOOS", "wasip1")
                .env("GOARCH", "wasm")
                .env("GOPROXY", &proxy)
                .env("GOSUMDB", &sumdb)
                .env("GOTOOLCHAIN", "local")
                .env("GOFLAGS", if vendored { "-mod=vendor" } else { "-mod=mod" })
                .env("GOCACHE", ctx.cache_dir.join("go-build"))
                .env("GOPATH", ctx.cache_dir.join("gopath"))
                .env("HOME", ctx.cache_dir);
            command
        };
        if !vendored
            && go_mod
                .lines()
                .any(|l| l.trim_start().starts_with("require"))
        {
            (ctx.log)(&format!(
                "Downloading modules from {proxy} (kept in the app's build cache)"
            ));
            run_logged(&mut go_command(&["mod", "download"]), ctx.log, ctx.deadline).map_err(
                |e| {
                    anyhow::anyhow!(
                        "{e:#}: the module proxy {proxy} could not give the modules go.mod requires; \
                         check their paths and versions, or vendor them (`go mod vendor`) if the proxy cannot serve them"
                    )
                },
            )?;
        }
        let mut compiled = Compiled::default();
        for (name, package) in &targets {
            (ctx.log)(&format!("Building {package} into {name}.wasm"));
            let wasm = format!("{name}.wasm");
            let mut args = vec!["build", "-trimpath", "-o", &wasm];
            let overlay_flag;
            if let Some(file) = &overlay {
                overlay_flag = format!("-overlay={}", file.display());
                args.push(&overlay_flag);
            }
            args.push(package);
            let mut command = go_command(&args);
            run_logged(&mut command, ctx.log, ctx.deadline)?;
        }
        if targets.iter().any(|(n, _)| *n == module) {
            compiled
                .default_process_types
                .insert("web".to_string(), format!("{module}.wasm"));
        }
        Ok(compiled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names() {
        assert_eq!(
            module_name("module example.com/shop\n\ngo 1.23\n").as_deref(),
            Some("shop")
        );
        assert_eq!(
            module_name("// x\nmodule hello\n").as_deref(),
            Some("hello")
        );
        assert_eq!(module_name("go 1.23\n"), None);
    }

    #[test]
    fn go_versions() {
        assert_eq!(
            go_version("go version go1.26.8 linux/amd64"),
            Some((1, 26, 8))
        );
        assert_eq!(
            go_version("go version go1.24 linux/amd64"),
            Some((1, 24, 0))
        );
        assert_eq!(
            go_version("go version go1.25rc1 linux/amd64"),
            Some((1, 25, 0))
        );
        assert_eq!(go_version("nonsense"), None);
    }
}
