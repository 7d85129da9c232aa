//! The PHP buildpack: `composer.json` or `index.php` apps, run by Zend PHP
//! 8.2's `php-cgi` built for WASI once per machine ([`toolchain`]) and copied
//! into the slug as `php.wasm`, pre-initialised so a request starts from PHP
//! already started.
//!
//! Procfile lines are what Heroku's PHP users write: `web:
//! heroku-php-apache2 public/` or `web: vendor/bin/heroku-php-nginx web/`
//! serve that document root (the app itself without one); `worker: php
//! worker.php ARGS` runs a script. Without a Procfile the app is the
//! document root. Kumo's CGI dyno takes the web server's place: files are
//! sent as they are, `*.php` files run, and every other path runs the
//! root's `index.php` (the manifest's `document_roots`).
//!
//! Packagist is out of the builders' reach: Composer packages must be
//! committed under `vendor/`, and a `composer.lock` listing packages that are
//! not there fails the build, naming them. `composer.json`'s `php` and
//! `ext-*` requirements are checked against the PHP the machine built.

mod composer;
mod toolchain;

use crate::buildpack::{BuildContext, Buildpack, Compiled};
use kumo_slug::DocumentRoot;
use std::path::Path;

pub struct PhpBuildpack;

/// Where the slug keeps Kumo's php.ini (read when PHP starts).
const INI_DIR: &str = ".kumo/php";

/// What a Procfile command asks PHP to do.
#[derive(Debug, PartialEq, Eq)]
enum Run {
    /// Serve this folder of the app (`.` for the app itself).
    Web {
        document_root: String,
        ignored: Vec<String>,
    },
    /// Run this script with these arguments.
    Script(String, Vec<String>),
}

/// The web server boot scripts of Heroku's PHP buildpack.
const WEB_SERVERS: [&str; 2] = ["heroku-php-apache2", "heroku-php-nginx"];

/// Reads a Procfile command.
fn run_for(argv: &[String]) -> Result<Run, String> {
    let program = argv
        .first()
        .map(|p| p.rsplit('/').next().unwrap_or(p))
        .unwrap_or_default();
    let mut words = argv.iter().skip(1);
    if WEB_SERVERS.contains(&program) {
        let mut document_root = None;
        let mut ignored = Vec::new();
        while let Some(word) = words.next() {
            match word.as_str() {
                // Web server and FPM configuration, extra php.ini, log files to tail.
                "-C" | "-F" | "-c" | "-i" | "-l" | "-p" => {
                    let value = words.next().cloned().unwrap_or_default();
                    ignored.push(format!("{word} {value}").trim().to_string());
                }
                "-v" | "--verbose" => {}
                option if option.starts_with('-') => {
                    return Err(format!(
                        "`{program}` has no option `{option}` that Kumo knows"
                    ));
                }
                root if document_root.is_none() => document_root = Some(root.to_string()),
                extra => {
                    return Err(format!(
                        "`{program}` takes one document root, not also `{extra}`"
                    ));
                }
            }
        }
        let document_root = document_root.unwrap_or_else(|| ".".into());
        let document_root = document_root
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        return Ok(Run::Web {
            document_root: if document_root.is_empty() {
                ".".into()
            } else {
                document_root
            },
            ignored,
        });
    }
    if program != "php" {
        return Err("names no PHP web server (`heroku-php-apache2 public/`) and no PHP script (`php worker.php`)".into());
    }
    while let Some(word) = words.next() {
        match word.as_str() {
            "-f" => {
                let script = words.next().ok_or("`php -f` needs a script")?;
                return Ok(Run::Script(
                    script.trim_start_matches("./").to_string(),
                    words.cloned().collect(),
                ));
            }
            "-d" => {
                words.next();
            }
            option if option.starts_with('-') => {
                return Err(format!(
                    "`php {option}` is not something a dyno can run: name a script, `php worker.php`"
                ));
            }
            script => {
                return Ok(Run::Script(
                    script.trim_start_matches("./").to_string(),
                    words.cloned().collect(),
                ));
            }
        }
    }
    Err("`php` needs a script to run: `php worker.php`".into())
}

impl Buildpack for PhpBuildpack {
    fn name(&self) -> &'static str {
        "php"
    }

    fn detect(&self, src: &Path) -> Option<String> {
        (src.join("composer.json").is_file() || src.join("index.php").is_file())
            .then(|| "PHP".to_string())
    }

    fn compile(&self, ctx: &mut BuildContext<'_>) -> anyhow::Result<Compiled> {
        let mut runs: Vec<(String, Run)> = Vec::new();
        for (name, entry) in ctx.procfile {
            if entry.argv.first().is_some_and(|p| p.ends_with(".wasm")) {
                continue;
            }
            let run = run_for(&entry.argv).map_err(|why| {
                anyhow::anyhow!(
                    "Procfile line {}: `{name}: {}` {why}",
                    entry.line,
                    entry.command
                )
            })?;
            runs.push((name.clone(), run));
        }
        if !ctx.procfile.contains_key("web") {
            if ctx.procfile.is_empty() {
                (ctx.log)("No Procfile: serving the app folder as the document root");
            }
            runs.push((
                "web".to_string(),
                Run::Web {
                    document_root: ".".into(),
                    ignored: Vec::new(),
                },
            ));
        }
        for (name, run) in &runs {
            match run {
                Run::Web { document_root, .. } => {
                    let inside = !document_root.starts_with('/')
                        && !document_root.split('/').any(|p| p == "..");
                    if !inside || !ctx.app_dir.join(document_root).is_dir() {
                        anyhow::bail!(
                            "`{name}` serves the document root `{document_root}/`, which is not a folder of the app: name one that exists, like `heroku-php-apache2 public/`"
                        );
                    }
                }
                Run::Script(script, _) => {
                    if !ctx.app_dir.join(script).is_file() {
                        anyhow::bail!(
                            "the app has no {script}, which the Procfile's `{name}` runs"
                        );
                    }
                }
            }
        }
        let php = toolchain::php(ctx)?;
        (ctx.log)(&format!("Using PHP {} (php-cgi for WASI)", php.version));
        composer::check(ctx, &php)?;
        std::fs::copy(&php.component, ctx.app_dir.join("php.wasm"))?;
        std::fs::create_dir_all(ctx.app_dir.join(INI_DIR))?;
        std::fs::copy(&php.ini, ctx.app_dir.join(INI_DIR).join("php.ini"))?;

        let mut compiled = Compiled::default();
        for (name, run) in runs {
            let command = match run {
                Run::Web {
                    document_root,
                    ignored,
                } => {
                    for option in ignored {
                        (ctx.log)(&format!(
                            "`{name}`: `{option}` is ignored: Kumo's router and CGI dyno take the web server's place (PHP settings go in .user.ini)"
                        ));
                    }
                    let index = ctx.app_dir.join(&document_root).join("index.php").is_file();
                    let shown = if document_root == "." {
                        "the app folder".to_string()
                    } else {
                        format!("{document_root}/")
                    };
                    (ctx.log)(&format!(
                        "`{name}` serves {shown}{}",
                        if index {
                            ", sending paths that name no file to index.php"
                        } else {
                            " (it has no index.php)"
                        }
                    ));
                    compiled.document_roots.insert(
                        name.clone(),
                        DocumentRoot {
                            path: document_root,
                            script_suffix: ".php".into(),
                            index: "index.php".into(),
                        },
                    );
                    "php.wasm".to_string()
                }
                Run::Script(script, args) => {
                    (ctx.log)(&format!("`{name}` runs {script}"));
                    shell_words::join(["php.wasm".to_string(), script].into_iter().chain(args))
                }
            };
            compiled.runs(ctx.procfile, name, command);
        }
        Ok(compiled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(command: &str) -> Result<Run, String> {
        run_for(&shell_words::split(command).unwrap())
    }

    fn web(root: &str, ignored: &[&str]) -> Result<Run, String> {
        Ok(Run::Web {
            document_root: root.into(),
            ignored: ignored.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn procfile_commands() {
        assert_eq!(run("heroku-php-apache2 public/"), web("public", &[]));
        assert_eq!(run("vendor/bin/heroku-php-nginx web/"), web("web", &[]));
        assert_eq!(run("heroku-php-apache2"), web(".", &[]));
        assert_eq!(run("heroku-php-apache2 ./"), web(".", &[]));
        assert_eq!(
            run("vendor/bin/heroku-php-apache2 -C apache.conf -i custom.ini public/"),
            web("public", &["-C apache.conf", "-i custom.ini"])
        );
        assert_eq!(
            run("php worker.php --queue mail"),
            Ok(Run::Script(
                "worker.php".into(),
                vec!["--queue".into(), "mail".into()]
            ))
        );
        assert_eq!(
            run("php -d memory_limit=256M -f ./bin/job.php"),
            Ok(Run::Script("bin/job.php".into(), vec![]))
        );
        assert!(run("heroku-php-apache2 -X").unwrap_err().contains("`-X`"));
        assert!(run("heroku-php-apache2 a b").unwrap_err().contains("`b`"));
        assert!(run("php -a").unwrap_err().contains("`php -a`"));
        assert!(run("php").unwrap_err().contains("needs a script"));
        assert!(
            run("apache2ctl start")
                .unwrap_err()
                .contains("no PHP web server")
        );
    }
}
