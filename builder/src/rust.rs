//! Compiling a Rust app into components: `cargo build --release --target wasm32-wasip2`.

use crate::buildpack::{BuildContext, Buildpack, Compiled};
use anyhow::Context as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The Wasm target Rust apps are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// A component the build produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltComponent {
    /// The binary's name (`rust-hello`).
    pub name: String,
    pub path: PathBuf,
}

/// Builds every binary of the Cargo project at `src` for [`TARGET`], with its
/// build cache in `target_dir`; compiler output goes to `log` line by line.
/// Past `deadline`, cargo and its compilers are killed.
pub fn compile(
    src: &Path,
    target_dir: &Path,
    log: &mut dyn FnMut(&str),
    deadline: Option<std::time::Instant>,
) -> anyhow::Result<Vec<BuiltComponent>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .current_dir(src)
        .args([
            "build",
            "--release",
            "--target",
            TARGET,
            "--message-format",
            "json-render-diagnostics",
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Settings of an enclosing cargo (when Kumo itself runs under cargo) must not leak in.
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WRAPPER",
    ] {
        command.env_remove(var);
    }
    let mut child = crate::process::spawn_group(&mut command).with_context(|| {
        format!(
            "running {}: is Rust installed? (https://rustup.rs)",
            cargo.to_string_lossy()
        )
    })?;
    let watchdog = crate::process::Watchdog::new(&child, deadline);
    // cargo's progress (stderr) and its JSON messages (stdout), as they come.
    enum Line {
        Progress(String),
        Message(String),
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().context("cargo stderr")?;
    let stdout = child.stdout.take().context("cargo stdout")?;
    let progress_tx = tx.clone();
    let readers = [
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = progress_tx.send(Line::Progress(line));
            }
        }),
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(Line::Message(line));
            }
        }),
    ];
    let mut built = Vec::new();
    let mut errors = Vec::new();
    for line in rx {
        let line = match line {
            Line::Progress(line) => {
                log(line.trim_start());
                errors.push(line);
                continue;
            }
            Line::Message(line) => line,
        };
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            log(&line);
            continue;
        };
        // Binaries, and `cdylib` libraries: a Spin SDK app is one, its
        // `#[http_component]` exporting `wasi:http/incoming-handler`.
        if message["reason"] == "compiler-artifact"
            && message["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin" || k == "cdylib"))
        {
            let name = message["target"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if let Some(path) = message["filenames"].as_array().and_then(|f| {
                f.iter()
                    .filter_map(|f| f.as_str())
                    .find(|f| f.ends_with(".wasm"))
            }) {
                log(&format!("Compiled {name}"));
                built.push(BuiltComponent {
                    name,
                    path: PathBuf::from(path),
                });
            }
        } else if message["reason"] == "compiler-message"
            && let Some(rendered) = message["message"]["rendered"].as_str()
        {
            rendered.lines().for_each(&mut *log);
        }
    }
    for reader in readers {
        let _ = reader.join();
    }
    let status = child.wait().context("waiting for cargo")?;
    if watchdog.finish() {
        anyhow::bail!("cargo was stopped: the build ran past its time limit");
    }
    if !status.success() {
        let missing_target = errors.iter().any(|l| {
            l.contains("may not be installed") || l.contains("target may not be installed")
        });
        if missing_target {
            anyhow::bail!("the {TARGET} target is missing: run `rustup target add {TARGET}`");
        }
        anyhow::bail!("cargo build failed ({status}); see the output above");
    }
    if built.is_empty() {
        anyhow::bail!(
            "the Cargo project at {} has no binary to run: add a `src/main.rs`",
            src.display()
        );
    }
    Ok(built)
}

/// The Rust buildpack: a `Cargo.toml` project, each binary built for
/// [`TARGET`] with the target folder in the app's build cache, and copied to
/// `<binary>.wasm` at the top of the app.
pub struct RustBuildpack;

impl Buildpack for RustBuildpack {
    fn name(&self) -> &'static str {
        "rust"
    }

    fn detect(&self, src: &Path) -> Option<String> {
        src.join("Cargo.toml").is_file().then(|| "Rust".to_string())
    }

    fn compile(&self, ctx: &mut BuildContext<'_>) -> anyhow::Result<Compiled> {
        (ctx.log)(&format!("Building with cargo for {TARGET}"));
        let built = compile(
            ctx.app_dir,
            &ctx.cache_dir.join("target"),
            ctx.log,
            ctx.deadline,
        )?;
        let mut compiled = Compiled::default();
        for component in &built {
            let file = format!("{}.wasm", component.name);
            std::fs::copy(&component.path, ctx.app_dir.join(&file))
                .with_context(|| format!("copying {file}"))?;
            (ctx.log)(&format!("Installed {file}"));
        }
        if let [only] = built.as_slice() {
            compiled
                .default_process_types
                .insert("web".to_string(), format!("{}.wasm", only.name));
        }
        Ok(compiled)
    }
}
