//! The Clojure buildpack: a `deps.edn` or Leiningen `project.clj` app, its
//! dependencies fetched from Maven Central with Maven (cached per app), its
//! namespaces compiled ahead of time by the real Clojure compiler on the build
//! machine's JVM, and run by Kumo's JVM runtime ([`crate::java`]) from a VM
//! pre-initialised with Clojure's runtime loaded.
//!
//! Procfile lines as Clojure developers write them:
//! - `clojure -M -m myapp.core ARGS` (or `clj`), `lein run [-m NS] ARGS`
//!   (`:main` of project.clj), and `java -cp … clojure.main -m myapp.core`;
//! - `lein ring server-headless`: the Ring handler of project.clj's
//!   `:ring {:handler myapp.core/handler}`, served by Kumo's Ring adapter
//!   (`kumo.Ring`) on the JDK `HttpServer` Kumo serves; a `-main` can serve
//!   one itself with `(kumo.ring/run-server handler)`.
//!
//! Without a Procfile, a project.clj's Ring handler (else its `:main`) is `web`.
//! The project files are read by Clojure's own reader
//! (`builder/jvm/clojure/project.clj`); only Maven coordinates resolve
//! (Clojars, git and local dependencies fail the build and are named).

use crate::buildpack::{BuildContext, Buildpack, Compiled, install_once};
use crate::java::{self, Launcher};
use crate::process::run_logged;
use crate::procfile::{Entry, Procfile};
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct ClojureBuildpack;

/// The Clojure the build compiles with, and apps get when they name none.
const CLOJURE: &str = "1.12.3";
/// Clojure's own dependencies at that version.
const CLOJURE_DEPS: [(&str, &str, &str); 3] = [
    ("org.clojure", "clojure", CLOJURE),
    ("org.clojure", "spec.alpha", "0.5.238"),
    ("org.clojure", "core.specs.alpha", "0.4.74"),
];
/// Where the app's dependencies go.
const LIB: &str = ".kumo/clojure/lib";
/// Kumo's Ring adapter, compiled.
const KUMO_CLASSES: &str = ".kumo/clojure/classes";
/// Where the app's namespaces are compiled to (Leiningen's `:compile-path`).
const CLASSES: &str = "target/classes";
/// The compiled namespaces and resources, as the dynos' class path has them.
const APP_JAR: &str = ".kumo/clojure/app.jar";

const READER: &str = include_str!("../jvm/clojure/project.clj");
const RING_JAVA: &str = include_str!("../jvm/clojure/kumo/Ring.java");
const RING_CLJ: &str = include_str!("../jvm/clojure/kumo/ring.clj");

/// What the project file says.
#[derive(Default, Debug)]
struct Project {
    deps: Vec<(String, String, String)>,
    paths: Vec<String>,
    main: Option<String>,
    ring: Option<String>,
}

impl Buildpack for ClojureBuildpack {
    fn name(&self) -> &'static str {
        "clojure"
    }

    fn detect(&self, src: &Path) -> Option<String> {
        if src.join("deps.edn").is_file() {
            Some("Clojure (deps.edn)".to_string())
        } else if src.join("project.clj").is_file() {
            Some("Clojure (Leiningen)".to_string())
        } else {
            None
        }
    }

    fn compile(&self, ctx: &mut BuildContext<'_>) -> anyhow::Result<Compiled> {
        let jdks = java::runtime::jdks()?;
        let jdk = jdks.compiler.clone();
        let clojure = clojure_jars(ctx, &jdk)?;
        let mut project = read_project(ctx, &jdk, &clojure)?;
        if !project
            .deps
            .iter()
            .any(|(g, a, _)| g == "org.clojure" && a == "clojure")
        {
            (ctx.log)(&format!(
                "No org.clojure/clojure dependency: using Clojure {CLOJURE}"
            ));
            project
                .deps
                .push(("org.clojure".into(), "clojure".into(), CLOJURE.into()));
        }
        fetch_dependencies(ctx, &jdk, &project)?;
        let procfile = commands(ctx.procfile, &project)?;
        ring_adapter(ctx, &jdk, &clojure)?;
        aot(ctx, &jdk, &project_paths(ctx.app_dir, &project))?;

        let mut warm: Vec<&str> = java::BRIDGE_WARM.to_vec();
        warm.extend([
            "clojure.lang.RT",
            "clojure.java.api.Clojure",
            "clojure.main",
            "kumo.Ring",
        ]);
        let launcher = Launcher {
            programs: &["java"],
            library: None,
            example: "web: lein ring server-headless",
            warm: &warm,
        };
        let mut inner = BuildContext {
            app_dir: ctx.app_dir,
            cache_dir: ctx.cache_dir,
            env: ctx.env,
            log: &mut *ctx.log,
            deadline: ctx.deadline,
            tools_dir: ctx.tools_dir,
            procfile: &procfile,
        };
        let mut compiled = java::jvm_slug(&mut inner, &jdks, &launcher)?;
        // A process type the app's Procfile does not have is a default one.
        let (ours, defaults) = std::mem::take(&mut compiled.commands)
            .into_iter()
            .partition(|(name, _)| ctx.procfile.contains_key(name));
        compiled.commands = ours;
        compiled.default_process_types = defaults;
        Ok(compiled)
    }
}

/// Fetches (or finds) Clojure's jars with Maven and returns their folder.
fn clojure_jars(ctx: &mut BuildContext<'_>, jdk: &Path) -> anyhow::Result<PathBuf> {
    let dir = ctx.tools_dir.join(format!("clojure-{CLOJURE}"));
    install_once(
        &dir,
        &format!("Fetching Clojure {CLOJURE} from Maven Central (once)"),
        ctx,
        |dir, ctx| {
            let deps: Vec<_> = CLOJURE_DEPS
                .iter()
                .map(|(g, a, v)| (g.to_string(), a.to_string(), v.to_string()))
                .collect();
            java::maven_copy(ctx, jdk, dir, &dir.join("m2"), &deps, &dir.join("lib"))
                .context("fetching Clojure with Maven (apt-get install maven)")
        },
    )?;
    Ok(dir.join("lib"))
}

/// Reads deps.edn or project.clj with Clojure's reader (see `project.clj`).
fn read_project(ctx: &mut BuildContext<'_>, jdk: &Path, clojure: &Path) -> anyhow::Result<Project> {
    let script = ctx.cache_dir.join("kumo-read-project.clj");
    std::fs::create_dir_all(ctx.cache_dir)?;
    std::fs::write(&script, READER)?;
    let mut lines = Vec::new();
    let read = run_logged(
        Command::new(jdk.join("bin/java"))
            .arg("-cp")
            .arg(format!("{}/*", clojure.display()))
            .arg("clojure.main")
            .arg(&script)
            .arg(ctx.app_dir),
        &mut |line| lines.push(line.to_string()),
        ctx.deadline,
    );
    let mut project = Project::default();
    let mut other = Vec::new();
    for line in &lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["dep", group, artifact, version] => {
                project
                    .deps
                    .push((group.to_string(), artifact.to_string(), version.to_string()))
            }
            ["path", path] => project.paths.push(path.to_string()),
            ["main", main] => project.main = Some(main.to_string()),
            ["ring", handler] => project.ring = Some(handler.to_string()),
            _ => other.push(line.as_str()),
        }
    }
    if let Err(e) = read {
        return Err(e.context(other.join("\n")));
    }
    for line in other {
        (ctx.log)(line);
    }
    Ok(project)
}

/// The app's dependencies, copied into [`LIB`] by Maven (its repository kept
/// in the app's build cache).
fn fetch_dependencies(
    ctx: &mut BuildContext<'_>,
    jdk: &Path,
    project: &Project,
) -> anyhow::Result<()> {
    (ctx.log)(&format!(
        "Fetching {} dependencies from Maven Central",
        project.deps.len()
    ));
    let work = ctx.cache_dir.join("deps");
    std::fs::create_dir_all(&work)?;
    let lib = ctx.app_dir.join(LIB);
    let repo = ctx.cache_dir.join("m2");
    java::maven_copy(ctx, jdk, &work, &repo, &project.deps, &lib).map_err(|e| {
        let names: Vec<String> = project
            .deps
            .iter()
            .map(|(g, a, v)| format!("{g}/{a} {v}"))
            .collect();
        e.context(format!(
            "Maven could not fetch the dependencies ({}): Kumo fetches them from Maven Central; \
             Clojars is not reachable from its builds, so a library only published there must be \
             vendored as a jar under lib/",
            names.join(", ")
        ))
    })
}

/// The class path every command runs with: the compiled namespaces (with the
/// project's resources beside them) as a jar, Kumo's adapter, then the app's
/// jars. Clojure loads a namespace's class only when it is newer than its
/// source, and the slug gives every file one old modification time: so the
/// project's sources are not on it, and the classes are in a jar whose
/// entries keep the build's time, newer than the sources inside library jars
/// (whose namespaces the compilation also compiled).
fn class_path() -> String {
    [APP_JAR, KUMO_CLASSES, &format!("{LIB}/*")].join(":")
}

/// The project's folders (sources and resources) that exist.
fn project_paths(app_dir: &Path, project: &Project) -> Vec<String> {
    project
        .paths
        .iter()
        .filter(|path| app_dir.join(path).is_dir())
        .cloned()
        .collect()
}

/// The Procfile with its Clojure commands as `java` commands.
fn commands(procfile: &Procfile, project: &Project) -> anyhow::Result<Procfile> {
    if procfile.is_empty() {
        let argv = if let Some(handler) = &project.ring {
            ring(handler)
        } else if let Some(main) = &project.main {
            clojure_main(&[], main, &[])
        } else {
            anyhow::bail!(
                "nothing to run: add a Procfile with a line like `web: clojure -M -m myapp.core` \
                 (whose -main calls (kumo.ring/run-server handler)) or `web: lein ring server-headless`"
            );
        };
        let web = Entry {
            command: argv.join(" "),
            argv,
            line: 0,
        };
        return Ok(Procfile::from([("web".to_string(), web)]));
    }
    let mut rewritten = Procfile::new();
    for (name, entry) in procfile {
        let argv = command(entry, project).map_err(|e| {
            anyhow::anyhow!(
                "Procfile line {}: `{name}: {}`: {e:#}",
                entry.line,
                entry.command
            )
        })?;
        rewritten.insert(
            name.clone(),
            Entry {
                argv,
                ..entry.clone()
            },
        );
    }
    Ok(rewritten)
}

/// One Procfile command as a `java` command.
fn command(entry: &Entry, project: &Project) -> anyhow::Result<Vec<String>> {
    let argv = &entry.argv;
    let program = argv[0].rsplit('/').next().unwrap_or(&argv[0]);
    let rest = &argv[1..];
    match program {
        "clojure" | "clj" => {
            let mut opts = Vec::new();
            let mut i = 0;
            while i < rest.len() {
                let word = rest[i].as_str();
                if let Some(opt) = word.strip_prefix("-J") {
                    opts.push(opt.to_string());
                } else if word == "-M" {
                } else if word.starts_with("-M:") || word.starts_with("-A:") {
                    anyhow::bail!(
                        "aliases ({word}) are not read by Kumo's Clojure buildpack: write `clojure -M -m NAMESPACE`"
                    );
                } else if word == "-m" || word == "--main" {
                    let ns = rest.get(i + 1).context("`-m` needs a namespace after it")?;
                    return Ok(clojure_main(&opts, ns, &rest[i + 2..]));
                } else {
                    anyhow::bail!(
                        "`{word}`: Kumo runs `clojure -M -m NAMESPACE ARGS` (with -J options before -M)"
                    );
                }
                i += 1;
            }
            anyhow::bail!("no namespace to run: write `clojure -M -m myapp.core`")
        }
        "lein" => {
            let rest: Vec<&str> = rest
                .iter()
                .map(String::as_str)
                .skip_while(|w| *w == "trampoline" || w.starts_with("with-profile"))
                .collect();
            match rest.as_slice() {
                ["run", "-m", ns, args @ ..] => {
                    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
                    Ok(clojure_main(&[], ns, &args))
                }
                ["run", args @ ..] => {
                    let main = project.main.as_ref().context(
                        "`lein run` needs :main in project.clj (or `lein run -m NAMESPACE`)",
                    )?;
                    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
                    Ok(clojure_main(&[], main, &args))
                }
                ["ring", "server" | "server-headless", ..] => {
                    let handler = project.ring.as_ref().context(
                        "`lein ring` needs :ring {:handler myapp.core/handler} in project.clj",
                    )?;
                    Ok(ring(handler))
                }
                _ => anyhow::bail!(
                    "Kumo runs `lein run` and `lein ring server-headless`; other lein tasks need Leiningen"
                ),
            }
        }
        "java" => Ok(argv.clone()),
        other => anyhow::bail!(
            "`{other}`: Kumo's Clojure buildpack runs `clojure -M -m NAMESPACE`, `lein run`, \
             `lein ring server-headless` and `java` commands"
        ),
    }
}

fn clojure_main(opts: &[String], ns: &str, args: &[String]) -> Vec<String> {
    let mut argv = vec!["java".to_string()];
    argv.extend(opts.iter().cloned());
    argv.extend([
        "-cp".into(),
        class_path(),
        "clojure.main".into(),
        "-m".into(),
        ns.into(),
    ]);
    argv.extend(args.iter().cloned());
    argv
}

fn ring(handler: &str) -> Vec<String> {
    ["java", "-cp", &class_path(), "kumo.Ring", handler]
        .map(str::to_string)
        .to_vec()
}

/// Compiles Kumo's Ring adapter (`kumo.Ring`, `kumo.ring`) into the app.
fn ring_adapter(ctx: &mut BuildContext<'_>, jdk: &Path, clojure: &Path) -> anyhow::Result<()> {
    let out = ctx.app_dir.join(KUMO_CLASSES);
    std::fs::create_dir_all(out.join("kumo"))?;
    let source = ctx.cache_dir.join("kumo-ring/kumo/Ring.java");
    std::fs::create_dir_all(source.parent().expect("a file has a folder"))?;
    std::fs::write(&source, RING_JAVA)?;
    std::fs::write(out.join("kumo/ring.clj"), RING_CLJ)?;
    run_logged(
        Command::new(jdk.join("bin/javac"))
            .args(["--release", "17", "-encoding", "UTF-8", "-cp"])
            .arg(format!("{}/*", clojure.display()))
            .arg("-d")
            .arg(&out)
            .arg(&source),
        ctx.log,
        ctx.deadline,
    )
    .context("compiling Kumo's Ring adapter")
}

/// Compiles `kumo.ring` and every namespace of the project's folders ahead
/// of time (as Leiningen's `:aot :all`), so dynos load classes instead of
/// compiling Clojure on the interpreter, and copies the folders' other files
/// (resources) beside the classes.
fn aot(ctx: &mut BuildContext<'_>, jdk: &Path, paths: &[String]) -> anyhow::Result<()> {
    let classes = ctx.app_dir.join(CLASSES);
    std::fs::create_dir_all(&classes)?;
    let mut namespaces = Vec::new();
    for path in paths {
        let root = ctx.app_dir.join(path);
        for file in java::sources(&root, "") {
            let name = file.to_string_lossy().into_owned();
            let source = [".clj", ".cljc"].iter().find_map(|x| name.strip_suffix(x));
            match source {
                Some(stem) => namespaces.push(stem.replace('/', ".").replace('_', "-")),
                None => {
                    let target = classes.join(&file);
                    std::fs::create_dir_all(target.parent().expect("a file has a folder"))?;
                    std::fs::copy(root.join(&file), target)?;
                }
            }
        }
    }
    namespaces.sort();
    namespaces.dedup();
    (ctx.log)(&format!(
        "Compiling {} namespace(s) ahead of time: {}",
        namespaces.len(),
        namespaces.join(", ")
    ));
    let quoted: Vec<String> = namespaces.iter().map(|ns| format!("'{ns}")).collect();
    let script = format!(
        "(do (binding [*compile-path* \"{KUMO_CLASSES}\"] (compile 'kumo.ring)) \
         (binding [*compile-path* \"{CLASSES}\"] (doseq [ns [{}]] (compile ns))) nil)",
        quoted.join(" ")
    );
    let mut class_path: Vec<String> = paths.to_vec();
    class_path.extend([CLASSES.to_string(), KUMO_CLASSES.into(), format!("{LIB}/*")]);
    run_logged(
        Command::new(jdk.join("bin/java"))
            .args(["-cp", &class_path.join(":"), "clojure.main", "-e", &script])
            .current_dir(ctx.app_dir),
        ctx.log,
        ctx.deadline,
    )
    .context("compiling the app's Clojure namespaces failed: the errors are above")?;
    // Only its classes: beside its source they would be compiled again (see `class_path`).
    std::fs::remove_file(ctx.app_dir.join(KUMO_CLASSES).join("kumo/ring.clj"))?;
    run_logged(
        Command::new(jdk.join("bin/jar"))
            .args(["--create", "--file", APP_JAR, "-C", CLASSES, "."])
            .current_dir(ctx.app_dir),
        ctx.log,
        ctx.deadline,
    )
    .context("packing the compiled namespaces with jar")
}
