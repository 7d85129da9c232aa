//! The Java buildpack: a Maven project (`pom.xml`, dependencies from Maven
//! Central, cached per app) or a plain tree of `*.java` files (compiled with
//! `javac`), run by Kumo's JVM runtime (`java.wasm`, see [`runtime`]) with the
//! real Java class library.
//!
//! Procfile lines are what Java developers write: `web: java -cp
//! target/classes:target/dependency/* com.example.Main`, `web: java -jar
//! target/app.jar` (resolved here to the jar's class path and `Main-Class`),
//! `worker: java -cp classes com.example.Worker ARGS`, with `-D` properties;
//! `JAVA_OPTS` is read at run time. A web process starts the JDK's own
//! `com.sun.net.httpserver.HttpServer` on `$PORT`; Kumo's provider hands it
//! the requests. Every class a command names is checked here, so a Procfile
//! naming a class or jar the build did not produce fails the build.

mod preinit;
pub(crate) mod runtime;

use crate::buildpack::{BuildContext, Buildpack, Compiled};
use crate::process::run_logged;
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct JavaBuildpack;

/// Where the slug keeps what every JVM app gets (the runtime reads these paths).
const CLASS_LIBRARY: &str = ".jdk";
const BRIDGE: &str = ".kumo/jvm-classes";
const COMPONENT: &str = "java.wasm";
/// Where a plain `*.java` tree is compiled to.
const PLAIN_CLASSES: &str = "classes";

impl Buildpack for JavaBuildpack {
    fn name(&self) -> &'static str {
        "java"
    }

    fn detect(&self, src: &Path) -> Option<String> {
        if src.join("pom.xml").is_file() {
            Some("Java (Maven)".to_string())
        } else if !java_sources(src).is_empty() {
            Some("Java".to_string())
        } else {
            None
        }
    }

    fn compile(&self, ctx: &mut BuildContext<'_>) -> anyhow::Result<Compiled> {
        let jdks = runtime::jdks()?;
        let jdk = jdks.compiler.clone();
        (ctx.log)(&format!("Using the JDK in {}", jdk.display()));
        if ctx.app_dir.join("pom.xml").is_file() {
            maven(ctx, &jdk)?;
        } else {
            javac(ctx, &jdk)?;
        }
        jvm_slug(ctx, &jdks, &Launcher::JAVA)
    }
}

/// How a JVM language's Procfile lines start, and what its programs need on
/// the class path besides the app's own.
pub(crate) struct Launcher<'a> {
    /// The programs a Procfile line may run (`java`; `scala` for Scala).
    pub programs: &'a [&'a str],
    /// A class path entry every command gets (the Scala library), relative to the app.
    pub library: Option<&'a str>,
    /// An example line for the message of an app with no Procfile.
    pub example: &'a str,
    /// Classes the build initialises in the pre-initialised VM (the
    /// language's runtime), so no dyno pays for them.
    pub warm: &'a [&'a str],
}

impl Launcher<'_> {
    pub(crate) const JAVA: Launcher<'static> = Launcher {
        programs: &["java"],
        library: None,
        example: "web: java -cp target/classes com.example.Main",
        warm: BRIDGE_WARM,
    };
}

/// Kumo's own classes every web process loads, initialised in the snapshot.
pub(crate) const BRIDGE_WARM: &[&str] = &[
    "kumo.Bridge",
    "kumo.KumoHttpServerProvider",
    "kumo.KumoHttpServer",
    "kumo.KumoHttpContext",
    "kumo.KumoExchange",
    "com.sun.net.httpserver.Headers",
];

/// Turns the Procfile's JVM commands into commands of Kumo's JVM runtime and
/// puts the runtime, the bridge classes and the class library in the app.
pub(crate) fn jvm_slug(
    ctx: &mut BuildContext<'_>,
    jdks: &runtime::Jdks,
    launcher: &Launcher<'_>,
) -> anyhow::Result<Compiled> {
    let jdk = &jdks.compiler;
    let mut commands = Vec::new();
    for (name, entry) in ctx.procfile {
        if entry.argv.first().is_some_and(|p| p.ends_with(".wasm")) {
            continue;
        }
        let args = java_args(ctx.app_dir, jdk, launcher, &entry.argv).map_err(|e| {
            anyhow::anyhow!(
                "Procfile line {}: `{name}: {}`: {e:#}",
                entry.line,
                entry.command
            )
        })?;
        commands.push((name.clone(), args));
    }
    if commands.is_empty() {
        anyhow::bail!(
            "nothing to run: add a Procfile with a line like `{}` (Kumo runs the JDK's HttpServer on $PORT)",
            launcher.example
        );
    }
    let component = runtime::component(ctx)?;
    std::fs::copy(&component, ctx.app_dir.join(COMPONENT))?;
    let bridge = runtime::bridge(ctx, jdk)?;
    runtime::copy_dir(&bridge, &ctx.app_dir.join(BRIDGE))?;
    let library = runtime::class_library(ctx, jdks)?;
    runtime::copy_dir(&library, &ctx.app_dir.join(CLASS_LIBRARY))?;
    preinitialize(ctx, launcher, &commands)?;
    let mut compiled = Compiled::default();
    for (name, args) in commands {
        (ctx.log)(&format!("`{name}` runs {}", args.join(" ")));
        let command = shell_words::join(std::iter::once(COMPONENT.to_string()).chain(args));
        compiled.commands.insert(name, command);
    }
    Ok(compiled)
}

/// Replaces the runtime component in the app with its Wizer snapshot, booted on
/// the class path of the `web` command (else the first), which every command
/// on that class path then starts from.
fn preinitialize(
    ctx: &mut BuildContext<'_>,
    launcher: &Launcher<'_>,
    commands: &[(String, Vec<String>)],
) -> anyhow::Result<()> {
    let (name, args) = commands
        .iter()
        .find(|(name, _)| name == "web")
        .unwrap_or(&commands[0]);
    (ctx.log)(&format!("Pre-initialising the JVM for `{name}` with Wizer"));
    let started = std::time::Instant::now();
    let request = std::iter::once(launcher.warm.join(" "))
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join("\0");
    let file = ctx.app_dir.join(preinit::PREINIT);
    std::fs::create_dir_all(file.parent().expect("a file has a folder"))?;
    std::fs::write(&file, request)?;
    // The snapshot's /tmp: empty, in this app's build cache (one build at a time).
    let tmp = ctx.cache_dir.join("jvm-preinit-tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let component = std::fs::read(ctx.app_dir.join(COMPONENT))?;
    let snapshot = preinit::snapshot(component, ctx.app_dir, &tmp);
    // Both are read only while the snapshot is taken: neither goes into the slug.
    let _ = std::fs::remove_dir_all(&tmp);
    let _ = std::fs::remove_file(&file);
    let snapshot = match snapshot {
        Ok(snapshot) => snapshot,
        Err(e) => {
            // The runtime still works unsnapshotted: each instance boots the JVM.
            (ctx.log)(&format!(
                "Could not pre-initialise the JVM, so each dyno boots it: {e:#}"
            ));
            return Ok(());
        }
    };
    std::fs::write(ctx.app_dir.join(COMPONENT), &snapshot)?;
    (ctx.log)(&format!(
        "Done in {:.1} s ({} MB; each instance starts with {} MB of memory)",
        started.elapsed().as_secs_f64(),
        snapshot.len() >> 20,
        preinit::initial_memory(&snapshot) >> 20
    ));
    Ok(())
}

/// The files of a source tree ending in `suffix` (not under `target/` or dot folders), relative.
pub(crate) fn sources(root: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        if found.len() > 100_000 {
            break;
        }
        for entry in std::fs::read_dir(root.join(&relative))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = relative.join(&name);
            match entry.file_type() {
                Ok(t) if t.is_dir() && !name.starts_with('.') && name != "target" => {
                    stack.push(path)
                }
                Ok(t) if t.is_file() && name.ends_with(suffix) => found.push(path),
                _ => {}
            }
        }
    }
    found.sort();
    found
}

fn java_sources(root: &Path) -> Vec<PathBuf> {
    sources(root, ".java")
}

/// `mvn` in batch mode on `jdk`, with its repository at `repo`.
pub(crate) fn maven_command(jdk: &Path, repo: &Path) -> Command {
    let mut command = Command::new("mvn");
    command
        .args(["-B", "-q", "-Dstyle.color=never"])
        .arg(format!("-Dmaven.repo.local={}", repo.display()))
        .env("JAVA_HOME", jdk);
    if runtime::release_major(jdk).is_some_and(|major| major >= 24) {
        // Maven's own Guava warns on JDK 24+ about sun.misc.Unsafe; not the app's concern.
        command.env("MAVEN_OPTS", "--sun-misc-unsafe-memory-access=allow");
    }
    command
}

/// Copies the Maven artifacts `deps` (group, artifact, version) and what they
/// depend on into `output`, with Maven running in `work` (where it writes a
/// `pom.xml` naming them) and its repository at `repo`.
pub(crate) fn maven_copy(
    ctx: &mut BuildContext<'_>,
    jdk: &Path,
    work: &Path,
    repo: &Path,
    deps: &[(String, String, String)],
    output: &Path,
) -> anyhow::Result<()> {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut pom = String::from(
        "<project xmlns=\"http://maven.apache.org/POM/4.0.0\"><modelVersion>4.0.0</modelVersion>\
         <groupId>kumo</groupId><artifactId>dependencies</artifactId><version>1</version><dependencies>",
    );
    for (group, artifact, version) in deps {
        pom.push_str(&format!(
            "<dependency><groupId>{}</groupId><artifactId>{}</artifactId><version>{}</version></dependency>",
            escape(group),
            escape(artifact),
            escape(version)
        ));
    }
    pom.push_str(
        "</dependencies><build><plugins><plugin><groupId>org.apache.maven.plugins</groupId>\
         <artifactId>maven-dependency-plugin</artifactId><version>3.8.1</version></plugin>\
         </plugins></build></project>\n",
    );
    std::fs::create_dir_all(work)?;
    std::fs::write(work.join("pom.xml"), pom)?;
    let _ = std::fs::remove_dir_all(output);
    let mut command = maven_command(jdk, repo);
    command
        .args(["dependency:copy-dependencies", "-DincludeScope=runtime"])
        .arg(format!("-DoutputDirectory={}", output.display()))
        .current_dir(work);
    run_maven(&mut command, ctx)
}

/// Runs a Maven command, its output to the build's log without the colour
/// resets its quiet mode still prints on lines of their own.
fn run_maven(command: &mut Command, ctx: &mut BuildContext<'_>) -> anyhow::Result<()> {
    let log = &mut *ctx.log;
    run_logged(
        command,
        &mut |line| {
            if !line.replace("\u{1b}[0m", "").trim().is_empty() {
                log(line)
            }
        },
        ctx.deadline,
    )
}

/// `mvn package`, then the dependencies copied to `target/dependency` (as
/// Heroku's Java buildpack leaves them), with the app's Maven repository kept
/// in its build cache.
fn maven(ctx: &mut BuildContext<'_>, jdk: &Path) -> anyhow::Result<()> {
    let repo = ctx.cache_dir.join("m2");
    (ctx.log)("Running mvn -DskipTests package dependency:copy-dependencies");
    let mut command = maven_command(jdk, &repo);
    command
        .args(["-DskipTests", "package", "dependency:copy-dependencies"])
        .current_dir(ctx.app_dir);
    run_maven(&mut command, ctx).map_err(|e| {
        if e.to_string().contains("No such file") || e.to_string().contains("not found") {
            anyhow::anyhow!("{e:#}: the build machine needs Maven (apt-get install maven)")
        } else {
            e.context("mvn failed: the build error is above")
        }
    })
}

/// Compiles a plain `*.java` tree into `classes/` (with the jars in `lib/` on the class path).
fn javac(ctx: &mut BuildContext<'_>, jdk: &Path) -> anyhow::Result<()> {
    let sources = java_sources(ctx.app_dir);
    (ctx.log)(&format!(
        "Compiling {} Java source file(s) with javac",
        sources.len()
    ));
    let mut command = Command::new(jdk.join("bin/javac"));
    command
        .args(["--release", "17", "-encoding", "UTF-8", "-d", PLAIN_CLASSES])
        .current_dir(ctx.app_dir);
    if ctx.app_dir.join("lib").is_dir() {
        command.args(["-cp", "lib/*"]);
    }
    command.args(&sources);
    run_logged(&mut command, ctx.log, ctx.deadline).context("javac failed: the errors are above")
}

/// The runtime's arguments for a Procfile command: `java` dropped, `-jar`
/// resolved to the jar's class path and main class, and the main class checked.
fn java_args(
    app_dir: &Path,
    jdk: &Path,
    launcher: &Launcher<'_>,
    argv: &[String],
) -> anyhow::Result<Vec<String>> {
    let mut words = argv;
    let program = words.first().map(|p| p.rsplit('/').next().unwrap_or(p));
    if !program.is_some_and(|p| launcher.programs.contains(&p)) {
        anyhow::bail!(
            "this buildpack runs `{}` commands, like `{}`",
            launcher.programs.join("` or `"),
            launcher.example.trim_start_matches("web: ")
        );
    }
    words = &words[1..];
    let with_library = |class_path: &str| match launcher.library {
        Some(library) => format!("{class_path}:{library}"),
        None => class_path.to_string(),
    };
    let mut args = Vec::new();
    let mut class_path = with_library(".");
    let mut i = 0;
    while i < words.len() {
        let word = words[i].as_str();
        match word {
            "-cp" | "-classpath" | "--class-path" => {
                let value = words
                    .get(i + 1)
                    .context("`-cp` needs a class path after it")?;
                class_path = with_library(value);
                args.extend([word.to_string(), class_path.clone()]);
                i += 2;
            }
            "-jar" => {
                let jar = words.get(i + 1).context("`-jar` needs a jar after it")?;
                let (jar_path, main) = from_jar(app_dir, jdk, jar)?;
                let jar_path = with_library(&jar_path);
                check_class(app_dir, &jar_path, &main)?;
                args.extend(["-cp".to_string(), jar_path, main]);
                args.extend(words[i + 2..].iter().cloned());
                return Ok(args);
            }
            _ if word.starts_with('-') => {
                args.push(word.to_string());
                i += 1;
            }
            main => {
                check_class(app_dir, &class_path, main)?;
                args.extend(words[i..].iter().cloned());
                return Ok(args);
            }
        }
    }
    anyhow::bail!(
        "no main class: write it after the options, like `java -cp classes com.example.Main`"
    )
}

/// A jar's class path (itself and its manifest's `Class-Path`) and `Main-Class`.
fn from_jar(app_dir: &Path, jdk: &Path, jar: &str) -> anyhow::Result<(String, String)> {
    let path = app_dir.join(jar);
    anyhow::ensure!(
        path.is_file(),
        "`{jar}` is not in the app: the build did not produce it"
    );
    let scratch = tempdir_in(app_dir)?;
    let status = Command::new(jdk.join("bin/jar"))
        .arg("xf")
        .arg(&path)
        .arg("META-INF/MANIFEST.MF")
        .current_dir(&scratch)
        .status()
        .context("running jar")?;
    let manifest = std::fs::read_to_string(scratch.join("META-INF/MANIFEST.MF"));
    let _ = std::fs::remove_dir_all(&scratch);
    anyhow::ensure!(
        status.success(),
        "`{jar}` is not a jar (a zip archive) that `jar` can read"
    );
    let manifest = manifest.map(|m| unfold(&m)).unwrap_or_default();
    let attribute = |name: &str| {
        manifest.lines().find_map(|l| {
            let (key, value) = l.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    };
    let main = attribute("Main-Class").with_context(|| {
        format!(
            "`{jar}` has no Main-Class in its manifest: run it as `java -cp {jar} com.example.Main`"
        )
    })?;
    let base = Path::new(jar).parent().unwrap_or(Path::new(""));
    let mut entries = vec![jar.to_string()];
    for entry in attribute("Class-Path")
        .unwrap_or_default()
        .split_whitespace()
    {
        entries.push(base.join(entry).display().to_string());
    }
    Ok((entries.join(":"), main))
}

/// A manifest with its continuation lines (a leading space) joined.
fn unfold(manifest: &str) -> String {
    let mut text = String::new();
    for line in manifest.lines() {
        match line.strip_prefix(' ') {
            Some(rest) => text.push_str(rest),
            None => {
                text.push('\n');
                text.push_str(line);
            }
        }
    }
    text
}

fn tempdir_in(dir: &Path) -> anyhow::Result<PathBuf> {
    let scratch = dir.join(format!(".kumo-jar-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    Ok(scratch)
}

/// Fails unless `class` (`com.example.Main`) is in a folder or jar of `class_path`.
fn check_class(app_dir: &Path, class_path: &str, class: &str) -> anyhow::Result<()> {
    let file = format!("{}.class", class.replace('.', "/"));
    let mut searched = Vec::new();
    for entry in class_path.split(':').filter(|e| !e.is_empty()) {
        let path = app_dir.join(entry);
        if entry == "*" || entry.ends_with("/*") {
            let dir = path.parent().unwrap_or(app_dir);
            for jar in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if jar.path().extension().is_some_and(|x| x == "jar") && jar_has(&jar.path(), &file)
                {
                    return Ok(());
                }
            }
        } else if path.is_dir() {
            if path.join(&file).is_file() {
                return Ok(());
            }
        } else if path.is_file() {
            if jar_has(&path, &file) {
                return Ok(());
            }
        } else {
            anyhow::bail!(
                "class path entry `{entry}` does not exist in the app: the build did not produce it"
            );
        }
        searched.push(entry.to_string());
    }
    anyhow::bail!(
        "main class `{class}` is not on the class path ({}): check the package and class name",
        searched.join(":")
    )
}

/// Whether the jar at `path` has an entry named `file` (a quick scan of its central directory).
fn jar_has(path: &Path, file: &str) -> bool {
    std::fs::read(path).is_ok_and(|bytes| bytes.windows(file.len()).any(|w| w == file.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bridge classes against their check program on an ordinary JVM
    /// (`builder/jvm/java/test/run.sh`): the JDK HttpServer's semantics as
    /// Kumo's provider gives them.
    #[test]
    fn bridge_classes_pass_their_check() {
        let jdk = runtime::jdks()
            .expect("a JDK 17+ with javac (apt-get install openjdk-17-jdk-headless)")
            .compiler;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("jvm/java/test/run.sh");
        let out = Command::new("sh")
            .arg(script)
            .env("JAVA17_HOME", jdk)
            .output()
            .expect("run the bridge check");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("all checks passed"),
            "{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn manifests_unfold() {
        let text = unfold(
            "Manifest-Version: 1.0\r\nClass-Path: lib/a.jar lib/b\r\n .jar\r\nMain-Class: x.Y\r\n",
        );
        assert!(text.contains("Class-Path: lib/a.jar lib/b.jar"), "{text}");
    }

    #[test]
    fn commands_are_checked() {
        let app = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(app.path().join("classes/com/example")).unwrap();
        std::fs::write(app.path().join("classes/com/example/Main.class"), b"").unwrap();
        let jdk = Path::new("/nonexistent");
        let argv = |s: &str| shell_words::split(s).unwrap();
        assert_eq!(
            java_args(
                app.path(),
                jdk,
                &Launcher::JAVA,
                &argv("java -Dx=1 -cp classes com.example.Main a b")
            )
            .unwrap(),
            ["-Dx=1", "-cp", "classes", "com.example.Main", "a", "b"]
        );
        let e = java_args(
            app.path(),
            jdk,
            &Launcher::JAVA,
            &argv("java -cp classes com.example.Nope"),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("main class `com.example.Nope` is not on the class path"),
            "{e}"
        );
        let e = java_args(
            app.path(),
            jdk,
            &Launcher::JAVA,
            &argv("java -cp missing com.example.Main"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("`missing` does not exist"), "{e}");
        let e = java_args(app.path(), jdk, &Launcher::JAVA, &argv("python app.py")).unwrap_err();
        assert!(e.to_string().contains("runs `java` commands"), "{e}");
    }

    /// `java -jar` of a file that is not a jar fails the build by name.
    #[test]
    fn a_jar_that_is_not_a_jar_is_refused() {
        let jdk = runtime::jdks()
            .expect("a JDK 17+ with javac (apt-get install openjdk-17-jdk-headless)")
            .compiler;
        let app = tempfile::tempdir().unwrap();
        std::fs::write(app.path().join("app.jar"), "not a zip archive\n").unwrap();
        let argv = shell_words::split("java -jar app.jar").unwrap();
        let e = java_args(app.path(), &jdk, &Launcher::JAVA, &argv).unwrap_err();
        assert!(
            e.to_string()
                .contains("`app.jar` is not a jar (a zip archive) that `jar` can read"),
            "{e}"
        );
    }
}
