//! `kumo`: the command users type. `kumo server` runs the platform in one process.

mod client;
mod commands;
mod demo;
mod server;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Kumo: Heroku's application model on WebAssembly.
#[derive(Parser)]
#[command(name = "kumo", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform: Platform API, dyno manager, router and Logplex in one process.
    Server(ServerArgs),
    /// List your apps.
    Apps {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create an app (a name is generated if you give none).
    #[command(name = "apps:create")]
    AppsCreate { name: Option<String> },
    /// Show an app's config vars.
    Config {
        #[arg(short, long)]
        app: String,
        #[arg(long)]
        json: bool,
    },
    /// Set config vars: a new release, and the dynos restart.
    #[command(name = "config:set")]
    ConfigSet {
        #[arg(short, long)]
        app: String,
        /// KEY=value pairs.
        #[arg(required = true)]
        pairs: Vec<String>,
    },
    /// List an app's releases.
    Releases {
        #[arg(short, long)]
        app: String,
        #[arg(long)]
        json: bool,
    },
    /// Show an app's details.
    #[command(name = "apps:info")]
    AppsInfo {
        #[arg(short, long)]
        app: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete an app, its releases and its dynos.
    #[command(name = "apps:destroy")]
    AppsDestroy {
        #[arg(short, long)]
        app: String,
        /// The app's name again, to confirm.
        #[arg(long)]
        confirm: Option<String>,
    },
    /// Print one config var's value.
    #[command(name = "config:get")]
    ConfigGet {
        #[arg(short, long)]
        app: String,
        key: String,
    },
    /// Remove config vars: a new release, and the dynos restart.
    #[command(name = "config:unset")]
    ConfigUnset {
        #[arg(short, long)]
        app: String,
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Make a new release copying an old one's slug and config (default: the previous release).
    Rollback {
        #[arg(short, long)]
        app: String,
        /// The release to go back to, like v3.
        release: Option<String>,
    },
    /// List an app's dynos.
    Ps {
        #[arg(short, long)]
        app: String,
        #[arg(long)]
        json: bool,
    },
    /// Scale process types: `web=3`, `worker=1`, `web=2:standard-2X`.
    #[command(name = "ps:scale")]
    PsScale {
        #[arg(short, long)]
        app: String,
        #[arg(required = true)]
        changes: Vec<String>,
    },
    /// Restart all dynos, a process type (`web`) or one dyno (`web.1`).
    #[command(name = "ps:restart")]
    PsRestart {
        #[arg(short, long)]
        app: String,
        dyno: Option<String>,
    },
    /// Put an app in maintenance mode: the router answers 503 (H80).
    #[command(name = "maintenance:on")]
    MaintenanceOn {
        #[arg(short, long)]
        app: String,
    },
    /// Take an app out of maintenance mode.
    #[command(name = "maintenance:off")]
    MaintenanceOff {
        #[arg(short, long)]
        app: String,
    },
    /// Show an app's logs: the recent lines, and with --tail every new one.
    Logs {
        #[arg(short, long)]
        app: String,
        /// How many recent lines (at most 1500). Default: 100.
        #[arg(short = 'n', long = "num", default_value_t = 100)]
        num: usize,
        /// Keep streaming new lines.
        #[arg(short, long)]
        tail: bool,
        /// Only lines from this source: app or kumo.
        #[arg(short, long)]
        source: Option<String>,
        /// Only lines from this dyno (web.1) or process type (web).
        #[arg(short, long)]
        dyno: Option<String>,
    },
    /// List an app's domains.
    Domains {
        #[arg(short, long)]
        app: String,
        #[arg(long)]
        json: bool,
    },
    /// Route a custom hostname to an app.
    #[command(name = "domains:add")]
    DomainsAdd {
        #[arg(short, long)]
        app: String,
        hostname: String,
    },
    /// Stop routing a custom hostname to an app.
    #[command(name = "domains:remove")]
    DomainsRemove {
        #[arg(short, long)]
        app: String,
        hostname: String,
    },
    /// Show one release (default: the current one) and its config vars.
    #[command(name = "releases:info")]
    ReleasesInfo {
        #[arg(short, long)]
        app: String,
        release: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Stop a dyno; a dyno of the formation starts again (use ps:scale to remove it).
    #[command(name = "ps:stop")]
    PsStop {
        #[arg(short, long)]
        app: String,
        dyno: String,
    },
    /// Deploy to an app. So far: a prebuilt component with --wasm.
    Deploy {
        #[arg(short, long)]
        app: String,
        /// A Wasm component, or a WASI preview 1 module, to deploy as it is.
        #[arg(long, required = true)]
        wasm: PathBuf,
        /// The process type it runs as. Default: web.
        #[arg(long, default_value = "web")]
        process: String,
    },
}

#[derive(clap::Args)]
struct ServerArgs {
    /// Where Kumo keeps slugs, compiled components and dyno filesystems.
    /// Default: the user's data folder, `~/.local/share/kumo`.
    #[arg(long, env = "KUMO_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address the router listens on; port 0 picks a free port. Default: 127.0.0.1:8080.
    #[arg(long, default_value = "127.0.0.1:8080")]
    router_listen: String,
    /// Address the Platform API listens on; port 0 picks a free port. Default: 127.0.0.1:5000.
    #[arg(long, default_value = "127.0.0.1:5000")]
    api_listen: String,
    /// Where state is kept: `sqlite:///path/kumo.db` or `postgres://user:pass@host/db`.
    /// Default: SQLite in the data folder.
    #[arg(long, env = "KUMO_DATABASE_URL")]
    database_url: Option<String>,
    /// Apps are served at `<app>.<domain>`. Default: localhost, so `http://myapp.localhost:8080/` works in a browser.
    #[arg(long, default_value = "localhost")]
    domain: String,
    /// Build and deploy the demo app (`examples/rust-hello`) as `demo` and print its URL.
    #[arg(long)]
    demo: bool,
}

/// Runs a command that talks to the Platform API.
fn run_user_command(command: Command) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = client::Client::from_env()?;
        match command {
            Command::Server(_) => unreachable!("handled in main"),
            Command::Apps { json } => commands::apps::list(&client, json).await,
            Command::AppsCreate { name } => commands::apps::create(&client, name).await,
            Command::Config { app, json } => commands::config::show(&client, &app, json).await,
            Command::ConfigSet { app, pairs } => commands::config::set(&client, &app, &pairs).await,
            Command::Releases { app, json } => commands::releases::list(&client, &app, json).await,
            Command::AppsInfo { app, json } => commands::apps::info(&client, &app, json).await,
            Command::AppsDestroy { app, confirm } => {
                commands::apps::destroy(&client, &app, confirm.as_deref()).await
            }
            Command::ConfigGet { app, key } => commands::config::get(&client, &app, &key).await,
            Command::ConfigUnset { app, keys } => {
                commands::config::unset(&client, &app, &keys).await
            }
            Command::Rollback { app, release } => {
                commands::releases::rollback(&client, &app, release.as_deref()).await
            }
            Command::Ps { app, json } => commands::ps::list(&client, &app, json).await,
            Command::PsScale { app, changes } => commands::ps::scale(&client, &app, &changes).await,
            Command::PsRestart { app, dyno } => {
                commands::ps::restart(&client, &app, dyno.as_deref()).await
            }
            Command::MaintenanceOn { app } => {
                commands::apps::maintenance(&client, &app, true).await
            }
            Command::MaintenanceOff { app } => {
                commands::apps::maintenance(&client, &app, false).await
            }
            Command::Logs {
                app,
                num,
                tail,
                source,
                dyno,
            } => {
                commands::logs::show(&client, &app, num, tail, source.as_deref(), dyno.as_deref())
                    .await
            }
            Command::Domains { app, json } => commands::domains::list(&client, &app, json).await,
            Command::DomainsAdd { app, hostname } => {
                commands::domains::add(&client, &app, &hostname).await
            }
            Command::DomainsRemove { app, hostname } => {
                commands::domains::remove(&client, &app, &hostname).await
            }
            Command::ReleasesInfo { app, release, json } => {
                commands::releases::info(&client, &app, release.as_deref(), json).await
            }
            Command::PsStop { app, dyno } => commands::ps::stop(&client, &app, &dyno).await,
            Command::Deploy { app, wasm, process } => {
                commands::deploy::wasm(&client, &app, &wasm, &process).await
            }
        }
    })
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KUMO_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Server(args) => server::settings(args).and_then(server::run),
        command => run_user_command(command),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
