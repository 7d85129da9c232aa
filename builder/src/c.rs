//! The C buildpack: Debian's `clang-19` with `wasi-libc` builds WASI preview 1
//! commands (CGI web dynos or workers), which the build then adapts into
//! components. A `Makefile` is run with `CC` set to the Wasm compiler; without
//! one, every `*.c` at the top of the app is compiled into `app.wasm`, which a
//! Procfile may also call by its one source file's name (`web: hello` for
//! `hello.c`, as `cc -o hello hello.c` would name it).

use crate::buildpack::{BuildContext, Buildpack, Compiled};
use crate::process::run_logged;
use std::path::Path;
use std::process::Command;

/// The compiler and the flags that make it target WASI preview 1.
const CLANG: &str = "clang-19";
const WASI_FLAGS: &str = "--target=wasm32-wasi --sysroot=/usr";
/// What to install when the compiler or libc is missing.
const INSTALL: &str = "apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32";

pub struct CBuildpack;

fn c_files(dir: &Path) -> Vec<String> {
    crate::buildpack::top_level_files(dir, ".c")
}

impl Buildpack for CBuildpack {
    fn name(&self) -> &'static str {
        "c"
    }

    fn detect(&self, src: &Path) -> Option<String> {
        if src.join("Makefile").is_file() {
            Some("C (make)".to_string())
        } else if !c_files(src).is_empty() {
            Some("C".to_string())
        } else {
            None
        }
    }

    fn compile(&self, ctx: &mut BuildContext<'_>) -> anyhow::Result<Compiled> {
        if !Path::new("/usr/include/wasm32-wasi/stdio.h").is_file()
            && !Path::new("/usr/include/wasm32-wasip1/stdio.h").is_file()
        {
            anyhow::bail!("wasi-libc is not installed on the build machine: {INSTALL}");
        }
        let cc = format!("{CLANG} {WASI_FLAGS}");
        let mut compiled = Compiled::default();
        let mut command = if ctx.app_dir.join("Makefile").is_file() {
            (ctx.log)(&format!("Running make with CC=\"{cc}\""));
            let mut make = Command::new("make");
            make.env("CC", &cc)
                .env("CXX", format!("clang++-19 {WASI_FLAGS}"));
            make
        } else {
            let sources = c_files(ctx.app_dir);
            (ctx.log)(&format!("Compiling {} into app.wasm", sources.join(" ")));
            let mut clang = Command::new(CLANG);
            clang
                .args(WASI_FLAGS.split(' '))
                .args(["-O2", "-s", "-o", "app.wasm"])
                .args(&sources);
            compiled
                .default_process_types
                .insert("web".to_string(), "app.wasm".to_string());
            if let [only] = sources.as_slice() {
                let stem = only.trim_end_matches(".c").to_string();
                compiled.programs.insert(stem, "app.wasm".to_string());
            }
            clang
        };
        command.current_dir(ctx.app_dir).envs(ctx.env);
        run_logged(&mut command, ctx.log, ctx.deadline).map_err(|e| {
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound)
            {
                anyhow::anyhow!(
                    "{CLANG} or make is not installed on the build machine: {INSTALL} make"
                )
            } else {
                e
            }
        })?;
        Ok(compiled)
    }
}
