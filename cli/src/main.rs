//! `kumo`: the command users type. `kumo server` runs the platform in one process.

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
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
