//! The Scala buildpack: a `build.sbt` project or a tree of `*.scala` files,
//! compiled with the real Scala 2.13 compiler (`scalac`, from Maven Central,
//! fetched once by Maven among the build tools) and run like a Java app by
//! Kumo's JVM runtime ([`crate::java`]), with the Scala library on every
//! command's class path.
//!
//! Procfile lines are `java -cp classes example.Main` or `scala -cp classes
//! example.Main`. A web process starts the JDK's `HttpServer` on `$PORT`.
//! sbt itself does not run here (it needs more than Maven Central): a
//! `build.sbt` that declares `libraryDependencies` fails the build and says so.

use crate::buildpack::{BuildContext, Buildpack, Compiled, install_once};
use crate::java::{self, Launcher};
use crate::process::run_logged;
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct ScalaBuildpack;

const SCALA: &str = "2.13.18";
/// Where the app gets the Scala library (on every command's class path).
const LIBRARY: &str = ".kumo/scala/scala-library.jar";
/// Where the sources are compiled to.
const CLASSES: &str = "classes";

impl Buildpack for ScalaBuildpack {
    fn name(&self) -> &'static str {
        "scala"
    }

    fn detect(&self, src: &Path) -> Option<String> {
        (src.join("build.sbt").is_file() || !scala_sources(src).is_empty())
            .then(|| "Scala".to_string())
    }

    fn compile(&self, ctx: &mut BuildContext<'_>) -> anyhow::Result<Compiled> {
        if let Ok(sbt) = std::fs::read_to_string(ctx.app_dir.join("build.sbt"))
            && sbt.contains("libraryDependencies")
        {
            anyhow::bail!(
                "build.sbt declares libraryDependencies, which Kumo's Scala buildpack does not resolve \
                 (it compiles with scalac, not sbt): vendor the jars under lib/ and remove the declaration"
            );
        }
        let jdks = java::runtime::jdks()?;
        let compiler = scalac(ctx, &jdks.compiler)?;
        let sources = scala_sources(ctx.app_dir);
        anyhow::ensure!(
            !sources.is_empty(),
            "the app has no .scala files (src/main/scala/…) to compile"
        );
        (ctx.log)(&format!(
            "Compiling {} Scala source file(s) with scalac {SCALA}",
            sources.len()
        ));
        std::fs::create_dir_all(ctx.app_dir.join(CLASSES))?;
        let mut class_path = format!("{}/*", compiler.display());
        if ctx.app_dir.join("lib").is_dir() {
            class_path.push_str(":lib/*");
        }
        run_logged(
            Command::new(jdks.compiler.join("bin/java"))
                .args([
                    "-cp",
                    &class_path,
                    "scala.tools.nsc.Main",
                    "-usejavacp",
                    "-d",
                    CLASSES,
                ])
                .args(&sources)
                .current_dir(ctx.app_dir),
            ctx.log,
            ctx.deadline,
        )
        .context("scalac failed: the errors are above")?;
        let library = ctx.app_dir.join(LIBRARY);
        std::fs::create_dir_all(library.parent().expect("a file has a folder"))?;
        std::fs::copy(
            compiler.join(format!("scala-library-{SCALA}.jar")),
            &library,
        )?;
        let launcher = Launcher {
            programs: &["java", "scala"],
            library: Some(LIBRARY),
            example: "web: java -cp classes example.Main",
            warm: java::BRIDGE_WARM,
        };
        java::jvm_slug(ctx, &jdks, &launcher)
    }
}

/// The `*.scala` files of a source tree (not under `target/` or dot folders), relative.
fn scala_sources(root: &Path) -> Vec<PathBuf> {
    java::sources(root, ".scala")
}

/// Fetches (or finds) scalac's jars with Maven and returns their folder.
fn scalac(ctx: &mut BuildContext<'_>, jdk: &Path) -> anyhow::Result<PathBuf> {
    let dir = ctx.tools_dir.join(format!("scalac-{SCALA}"));
    install_once(
        &dir,
        &format!("Fetching scalac {SCALA} from Maven Central (once)"),
        ctx,
        |dir, ctx| {
            let compiler = [(
                "org.scala-lang".to_string(),
                "scala-compiler".to_string(),
                SCALA.to_string(),
            )];
            java::maven_copy(ctx, jdk, dir, &dir.join("m2"), &compiler, &dir.join("lib"))
                .context("fetching scalac with Maven (apt-get install maven)")
        },
    )?;
    Ok(dir.join("lib"))
}
