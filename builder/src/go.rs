//! The Go buildpack: a `go.mod` module built with Debian's Go (1.21 or later,
//! `golang-1.23-go` from bookworm-backports) for `GOOS=wasip1 GOARCH=wasm`.
//! Go has no wasi:http export before 1.24, so a Go web app is a CGI program
//! (`net/http/cgi`); other process types are workers. The main package at the
//! top becomes `<module name>.wasm`, each `cmd/<name>` becomes `<name>.wasm`.
//! Modules come only from the source (`vendor/`) or Go's standard library:
//! the build machine reaches no module proxy.

use crate::buildpack::{BuildContext, Buildpack, Compiled};
use crate::process::run_logged;
use std::path::{Path, PathBuf};
use std::process::Command;

const INSTALL: &str = "add the bookworm-backports apt source, then apt-get install -t bookworm-backports golang-1.23-go";

pub struct GoBuildpack;

/// The newest Go with `wasip1` on the machine.
fn go_binary() -> Option<PathBuf> {
    for version in ["1.23", "1.22", "1.21"] {
        let path = PathBuf::from(format!("/usr/lib/go-{version}/bin/go"));
        if path.is_file() {
            return Some(path);
        }
    }
    None
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
        let go = go_binary().ok_or_else(|| {
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
        let version = Command::new(&go).arg("version").output()?;
        (ctx.log)(String::from_utf8_lossy(&version.stdout).trim());
        let mut compiled = Compiled::default();
        for (name, package) in &targets {
            (ctx.log)(&format!("Building {package} into {name}.wasm"));
            let mut command = Command::new(&go);
            command
                .args(["build", "-trimpath", "-o"])
                .arg(format!("{name}.wasm"))
                .arg(package)
                .current_dir(ctx.app_dir)
                .envs(ctx.env)
                .env("GOOS", "wasip1")
                .env("GOARCH", "wasm")
                .env("GOPROXY", "off")
                .env("GOTOOLCHAIN", "local")
                .env(
                    "GOFLAGS",
                    if ctx.app_dir.join("vendor").is_dir() {
                        "-mod=vendor"
                    } else {
                        ""
                    },
                )
                .env("GOCACHE", ctx.cache_dir.join("go-build"))
                .env("GOPATH", ctx.cache_dir.join("gopath"))
                .env("HOME", ctx.cache_dir);
            run_logged(&mut command, ctx.log, ctx.deadline).map_err(|e| {
                anyhow::anyhow!("{e:#} (modules must be vendored: run `go mod vendor`, since builds reach no module proxy)")
            })?;
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
}
