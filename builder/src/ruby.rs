//! The Ruby buildpack: a `Gemfile` or `config.ru` app, run by CRuby 3.4 from
//! npm's `@ruby/3.4-wasm-wasi`, made a WASI command once ([`interpreter`]) and
//! copied into the slug as `ruby.wasm`.
//!
//! Rack apps are CGI web dynos: each request runs `ruby.wasm --rack
//! config.ru`, which reads config.ru with Kumo's Rack::Builder (`ruby/kumo.rb`)
//! and calls the app. Procfile lines are what Ruby developers write:
//! `web: bundle exec rackup`, `web: bundle exec puma -C config/puma.rb` (any
//! Rack server) serve config.ru (or the `.ru` file they name);
//! `worker: bundle exec ruby worker.rb` runs the script. Without a Procfile a
//! config.ru is served. Config vars are in `ENV`.
//!
//! Gems cannot be installed (rubygems.org is out of the builders' reach):
//! vendored gems (`vendor/**/lib`) are on `$LOAD_PATH`, and a Gemfile naming a
//! gem that is neither vendored nor part of Ruby fails the build, naming it.

mod interpreter;

use crate::buildpack::{BuildContext, Buildpack, Compiled};
use std::path::Path;

pub struct RubyBuildpack;

/// What a Procfile command asks Ruby to do.
#[derive(Debug, PartialEq, Eq)]
enum Run {
    /// Serve the Rack app of this rackup file.
    Rack(String),
    /// Run this script with these arguments.
    Script(String, Vec<String>),
}

/// Rack servers: Kumo's CGI dyno takes their place.
const RACK_SERVERS: [&str; 7] = [
    "rackup",
    "puma",
    "thin",
    "unicorn",
    "falcon",
    "iodine",
    "passenger",
];

/// Gems a Gemfile may name that need no installing besides the Rack servers:
/// Bundler, and the default gems that ship with Ruby 3.4.
const PROVIDED_GEMS: &[&str] = &[
    "webrick",
    "bundler",
    "rake",
    "json",
    "stringio",
    "strscan",
    "date",
    "time",
    "set",
    "securerandom",
    "digest",
    "erb",
    "uri",
    "net-http",
    "net-protocol",
    "logger",
    "fileutils",
    "ostruct",
    "pp",
    "prettyprint",
    "psych",
    "yaml",
    "openssl",
    "optparse",
    "tempfile",
    "tmpdir",
    "timeout",
    "delegate",
    "forwardable",
    "singleton",
    "English",
    "benchmark",
    "cgi",
    "open3",
    "pstore",
    "find",
    "ipaddr",
    "shellwords",
    "tsort",
    "weakref",
    "zlib",
    "io-console",
    "io-wait",
    "etc",
    "fcntl",
    "error_highlight",
    "did_you_mean",
    "syntax_suggest",
    "un",
    "reline",
    "readline",
    "rdoc",
    "irb",
    "prism",
    "open-uri",
    "resolv",
];

/// Reads a Procfile command (after `bundle exec`).
fn run_for(argv: &[String]) -> Option<Run> {
    let mut words: &[String] = argv;
    if words.len() >= 2 && words[0] == "bundle" && words[1] == "exec" {
        words = &words[2..];
    }
    let program = words.first()?.rsplit('/').next().unwrap_or_default();
    if RACK_SERVERS.contains(&program) {
        let config = words[1..]
            .iter()
            .find(|w| w.ends_with(".ru"))
            .map_or("config.ru", String::as_str);
        return Some(Run::Rack(config.trim_start_matches("./").to_string()));
    }
    if program == "ruby" {
        words = &words[1..];
    }
    let script = words.first().filter(|w| w.ends_with(".rb"))?;
    Some(Run::Script(
        script.trim_start_matches("./").to_string(),
        words[1..].to_vec(),
    ))
}

/// The gems a Gemfile names (`gem "sinatra", "~> 4"` → `sinatra`), with
/// whether each names a `path:` (vendored by the app itself).
fn gemfile_gems(gemfile: &str) -> Vec<(String, bool)> {
    gemfile
        .lines()
        .map(str::trim)
        .filter_map(|line| line.strip_prefix("gem "))
        .filter_map(|rest| {
            let rest = rest.trim_start();
            let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
            let name = rest[1..].split(quote).next()?;
            let path = rest.contains("path:") || rest.contains(":path");
            Some((name.to_string(), path))
        })
        .collect()
}

/// Whether `vendor/` holds gem `name`: `vendor/…/name/lib` or `vendor/…/name-1.2.3/lib`.
fn vendored(app_dir: &Path, name: &str) -> bool {
    let mut stack = vec![app_dir.join("vendor")];
    let mut seen = 0;
    while let Some(dir) = stack.pop() {
        seen += 1;
        if seen > 10_000 {
            return false;
        }
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let is_gem = file_name == name
                || file_name.strip_prefix(name).is_some_and(|rest| {
                    rest.strip_prefix('-')
                        .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()))
                });
            if is_gem && entry.path().join("lib").is_dir() {
                return true;
            }
            if file_name != "lib" {
                stack.push(entry.path());
            }
        }
    }
    false
}

impl RubyBuildpack {
    /// Fails if the Gemfile needs gems the build cannot provide.
    fn check_gems(ctx: &mut BuildContext<'_>) -> anyhow::Result<()> {
        let Ok(gemfile) = std::fs::read_to_string(ctx.app_dir.join("Gemfile")) else {
            return Ok(());
        };
        let mut missing = Vec::new();
        for (name, path) in gemfile_gems(&gemfile) {
            if RACK_SERVERS.contains(&name.as_str()) {
                (ctx.log)(&format!("{name}: not needed, Kumo serves config.ru itself"));
            } else if PROVIDED_GEMS.contains(&name.as_str()) {
                continue;
            } else if path || vendored(ctx.app_dir, &name) {
                (ctx.log)(&format!("{name}: vendored"));
            } else {
                missing.push(name);
            }
        }
        if !missing.is_empty() {
            anyhow::bail!(
                "the Gemfile needs gems that are not vendored: {}. Kumo's builders cannot reach rubygems.org, so gems must come with the source: run `bundle config set --local path vendor/bundle && bundle install` (or copy each gem to vendor/<name>/lib) and commit vendor/",
                missing.join(", ")
            );
        }
        Ok(())
    }
}

impl Buildpack for RubyBuildpack {
    fn name(&self) -> &'static str {
        "ruby"
    }

    fn detect(&self, src: &Path) -> Option<String> {
        if src.join("config.ru").is_file() {
            Some("Ruby/Rack".to_string())
        } else if src.join("Gemfile").is_file() {
            Some("Ruby".to_string())
        } else {
            None
        }
    }

    fn compile(&self, ctx: &mut BuildContext<'_>) -> anyhow::Result<Compiled> {
        Self::check_gems(ctx)?;
        let mut runs: Vec<(String, Run)> = Vec::new();
        for (name, entry) in ctx.procfile {
            if entry.argv.first().is_some_and(|p| p.ends_with(".wasm")) {
                continue;
            }
            let run = run_for(&entry.argv).ok_or_else(|| {
                anyhow::anyhow!(
                    "Procfile line {}: `{name}: {}` names no Rack server (`bundle exec rackup`) and no Ruby script (`ruby worker.rb`)",
                    entry.line,
                    entry.command
                )
            })?;
            runs.push((name.clone(), run));
        }
        if !ctx.procfile.contains_key("web") && ctx.app_dir.join("config.ru").is_file() {
            if ctx.procfile.is_empty() {
                (ctx.log)("No Procfile: serving config.ru");
            }
            runs.push(("web".to_string(), Run::Rack("config.ru".to_string())));
        }
        if runs.is_empty() {
            anyhow::bail!(
                "nothing to run: add a config.ru, or a Procfile with a line like `worker: ruby worker.rb`"
            );
        }
        for (_, run) in &runs {
            let (Run::Rack(file) | Run::Script(file, _)) = run;
            if !ctx.app_dir.join(file).is_file() {
                anyhow::bail!("the app has no {file}, which the Procfile runs");
            }
        }
        let ruby = interpreter::command(ctx)?;
        std::fs::copy(&ruby, ctx.app_dir.join("ruby.wasm"))?;
        let mut compiled = Compiled::default();
        for (name, run) in runs {
            let command = match run {
                Run::Rack(config) => {
                    (ctx.log)(&format!("`{name}` serves the Rack app of {config}"));
                    shell_words::join(["ruby.wasm", "--rack", config.as_str()])
                }
                Run::Script(script, args) => {
                    (ctx.log)(&format!("`{name}` runs {script}"));
                    shell_words::join(["ruby.wasm".to_string(), script].into_iter().chain(args))
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

    fn check(command: &str, expected: Option<Run>) {
        let argv = shell_words::split(command).unwrap();
        assert_eq!(run_for(&argv), expected, "{command}");
    }

    #[test]
    fn procfile_commands() {
        let rack = |f: &str| Some(Run::Rack(f.to_string()));
        check("bundle exec rackup -p $PORT", rack("config.ru"));
        check("rackup", rack("config.ru"));
        check("bundle exec puma -C config/puma.rb", rack("config.ru"));
        check("bundle exec thin start -R ./api.ru", rack("api.ru"));
        check(
            "bundle exec ruby worker.rb --queue mail",
            Some(Run::Script(
                "worker.rb".into(),
                vec!["--queue".into(), "mail".into()],
            )),
        );
        check(
            "ruby ./bin/job.rb",
            Some(Run::Script("bin/job.rb".into(), vec![])),
        );
        check("bundle exec rake jobs:work", None);
        check("ruby", None);
    }

    #[test]
    fn gemfiles() {
        let gems = gemfile_gems(
            "source \"https://rubygems.org\"\nruby '3.4.1'\ngem \"rack\", \"~> 3.0\"\n  gem 'greeter', path: 'vendor/greeter'\n# gem 'x'\n",
        );
        assert_eq!(
            gems,
            vec![("rack".to_string(), false), ("greeter".to_string(), true)]
        );
    }

    /// Builds examples/ruby-rack with the real toolchain (npm, binaryen):
    /// `KUMO_RUBY_TOOLS=/some/dir cargo test -p kumo-builder -- --ignored builds_the_example`.
    #[test]
    #[ignore = "installs from npm and takes a minute"]
    fn builds_the_example() {
        let tools = std::path::PathBuf::from(std::env::var("KUMO_RUBY_TOOLS").unwrap());
        let work = tools.join("work");
        let cache = tools.join("cache");
        std::fs::create_dir_all(&work).unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/ruby-rack");
        let built = crate::buildpack::build(
            &crate::buildpack::BuildRequest {
                src: &src,
                work_dir: &work,
                cache_dir: &cache,
                buildpack: None,
                env: &Default::default(),
                deadline: None,
                tools_dir: &tools,
            },
            &mut |line| eprintln!("{line}"),
        )
        .unwrap();
        eprintln!("{:?}", built.process_types);
    }

    #[test]
    fn vendored_gems() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(
            dir.path()
                .join("vendor/bundle/ruby/3.4.0/gems/rack-3.1.8/lib"),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("vendor/greeter/lib")).unwrap();
        assert!(vendored(dir.path(), "rack"));
        assert!(vendored(dir.path(), "greeter"));
        assert!(!vendored(dir.path(), "rack-test"));
        assert!(!vendored(dir.path(), "sinatra"));
    }
}
