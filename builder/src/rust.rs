//! Compiling a Rust app into components: `cargo build --release --target wasm32-wasip2`.

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
pub fn compile(
    src: &Path,
    target_dir: &Path,
    log: &mut dyn FnMut(&str),
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
    let mut child = command.spawn().with_context(|| {
        format!(
            "running {}: is Rust installed? (https://rustup.rs)",
            cargo.to_string_lossy()
        )
    })?;
    let stderr = child.stderr.take().context("cargo stderr")?;
    let stderr_lines = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let mut built = Vec::new();
    let stdout = child.stdout.take().context("cargo stdout")?;
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading cargo's output")?;
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            log(&line);
            continue;
        };
        if message["reason"] == "compiler-artifact"
            && message["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"))
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
    let status = child.wait().context("waiting for cargo")?;
    let errors = stderr_lines.join().unwrap_or_default();
    for line in &errors {
        log(line);
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
