//! `kumo`: the command users type. `kumo server` runs the platform in one process.

mod client;
mod commands;
mod demo;
mod netrc;
mod server;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// mimalloc's thread-local heaps keep the router and the dynos' many small
/// per-request allocations off glibc malloc's shared arenas.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Kumo: Heroku's application model on WebAssembly.
#[derive(Parser)]
#[command(name = "kumo", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const APP_HELP: &str = "The app to act on (default: the app of the git remote `kumo`)";

/// The app named by the git remote `kumo` of the current folder, if there is one:
/// the last part of its URL, without `.git`.
fn git_app() -> Option<&'static str> {
    static APP: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    APP.get_or_init(|| {
        let output = std::process::Command::new("git")
            .args(["remote", "get-url", "kumo"])
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        if !output.status.success() {
            return None;
        }
        let url = String::from_utf8(output.stdout).ok()?;
        let last = url.trim().trim_end_matches('/').rsplit(['/', ':']).next()?;
        let name = last.strip_suffix(".git").unwrap_or(last);
        Some(name.to_string()).filter(|n| !n.is_empty())
    })
    .as_deref()
}

#[derive(Subcommand)]
enum Command {
    /// Store an API key in ~/.netrc for KUMO_HOST's host (read from stdin, hidden on a terminal).
    Login,
    /// Remove the stored API key for KUMO_HOST's host.
    Logout,
    /// Print the email of the account you are using.
    #[command(name = "auth:whoami")]
    AuthWhoami,
    /// Print the API key you are using.
    #[command(name = "auth:token")]
    AuthToken,
    /// Print the dashboard's address and a link that logs your browser in.
    Dashboard {
        /// Open this app's page.
        #[arg(short, long)]
        app: Option<String>,
    },
    /// List every account (admin only).
    Accounts {
        #[arg(long)]
        json: bool,
    },
    /// Create an account and print its API key, once (admin only).
    #[command(name = "accounts:create")]
    AccountsCreate { email: String },
    /// List your API tokens (authorizations), the one you are using included.
    Authorizations {
        #[arg(long)]
        json: bool,
    },
    /// Create an API token and print it, once.
    #[command(name = "authorizations:create")]
    AuthorizationsCreate {
        /// What the token is for.
        #[arg(short, long)]
        description: Option<String>,
        /// Seconds until the token stops working (1 to 31536000, one year). Default: it does not expire.
        #[arg(short, long, allow_hyphen_values = true)]
        expires_in: Option<String>,
        /// Scopes, comma-separated; Kumo has only `global`. Default: global.
        #[arg(short, long)]
        scope: Option<String>,
        /// Print only the token.
        #[arg(short = 'S', long)]
        short: bool,
        #[arg(long)]
        json: bool,
    },
    /// Show one of your API tokens (not the token itself).
    #[command(name = "authorizations:info")]
    AuthorizationsInfo {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke one of your API tokens: it stops working at once.
    #[command(name = "authorizations:revoke")]
    AuthorizationsRevoke { id: String },
    /// List who can use an app: its owner and collaborators.
    Access {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        #[arg(long)]
        json: bool,
    },
    /// Let another account use an app (everything but destroying it).
    #[command(name = "access:add")]
    AccessAdd {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        email: String,
    },
    /// Take away another account's use of an app.
    #[command(name = "access:remove")]
    AccessRemove {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        email: String,
    },
    /// Run the platform: Platform API, dyno manager, router and Logplex in one process.
    Server(Box<ServerArgs>),
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
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        #[arg(long)]
        json: bool,
    },
    /// Set config vars: a new release, and the dynos restart.
    #[command(name = "config:set")]
    ConfigSet {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        /// KEY=value pairs.
        #[arg(required = true)]
        pairs: Vec<String>,
    },
    /// List an app's releases.
    Releases {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        #[arg(long)]
        json: bool,
    },
    /// Show an app's details.
    #[command(name = "apps:info")]
    AppsInfo {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete an app, its releases and its dynos.
    #[command(name = "apps:destroy")]
    AppsDestroy {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        /// The app's name again, to confirm.
        #[arg(long)]
        confirm: Option<String>,
    },
    /// Rename an app: its URL, git remote path and log stream follow the new name.
    #[command(name = "apps:rename")]
    AppsRename {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        /// The app's new name.
        newname: String,
    },
    /// Print one config var's value.
    #[command(name = "config:get")]
    ConfigGet {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        key: String,
    },
    /// Remove config vars: a new release, and the dynos restart.
    #[command(name = "config:unset")]
    ConfigUnset {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Make a new release copying an old one's slug and config (default: the previous release).
    Rollback {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        /// The release to go back to, like v3.
        release: Option<String>,
    },
    /// List an app's dynos.
    Ps {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        #[arg(long)]
        json: bool,
    },
    /// Scale process types: `web=3`, `worker=1`, `web=2:standard-2X`.
    #[command(name = "ps:scale")]
    PsScale {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        #[arg(required = true)]
        changes: Vec<String>,
    },
    /// Restart all dynos, a process type (`web`) or one dyno (`web.1`).
    #[command(name = "ps:restart")]
    PsRestart {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        dyno: Option<String>,
    },
    /// Put an app in maintenance mode: the router answers 503 (H80).
    #[command(name = "maintenance:on")]
    MaintenanceOn {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
    },
    /// Take an app out of maintenance mode.
    #[command(name = "maintenance:off")]
    MaintenanceOff {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
    },
    /// Open an app's URL (plus PATH) in a web browser: `$BROWSER`, else xdg-open.
    Open {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        path: Option<String>,
    },
    /// Show an app's logs: the recent lines, and with --tail every new one.
    Logs {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
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
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        #[arg(long)]
        json: bool,
    },
    /// Route a custom hostname to an app.
    #[command(name = "domains:add")]
    DomainsAdd {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        hostname: String,
    },
    /// Stop routing a custom hostname to an app.
    #[command(name = "domains:remove")]
    DomainsRemove {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        hostname: String,
    },
    /// Show one release (default: the current one) and its config vars.
    #[command(name = "releases:info")]
    ReleasesInfo {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        release: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show the output of a release's release phase (default: the newest release).
    #[command(name = "releases:output")]
    ReleasesOutput {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        release: Option<String>,
    },
    /// Stop a dyno; a dyno of the formation starts again (use ps:scale to remove it).
    #[command(name = "ps:stop")]
    PsStop {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        dyno: String,
    },
    /// Run a process type or a .wasm component of the current release as a one-off
    /// dyno, attached to this terminal; exits with its exit status.
    Run {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        /// Dyno size, like standard-2X.
        #[arg(short, long)]
        size: Option<String>,
        /// Extra environment: 'A=1;B=2'.
        #[arg(short, long)]
        env: Option<String>,
        /// Exit with the dyno's exit status (always the case; kept for Heroku's scripts).
        #[arg(short = 'x', long)]
        exit_code: bool,
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Run a one-off dyno in the background; its output goes to the logs as run.N.
    #[command(name = "run:detached")]
    RunDetached {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        #[arg(short, long)]
        size: Option<String>,
        #[arg(short, long)]
        env: Option<String>,
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Deploy an app: build the folder's source on the server (default: the
    /// current folder), a git repository with --git, or a prebuilt component with --wasm.
    Deploy {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        /// The app's source folder. Default: the current folder.
        #[arg(conflicts_with_all = ["wasm", "git"])]
        dir: Option<PathBuf>,
        /// A Wasm component, or a WASI preview 1 module, to deploy as it is.
        #[arg(long, conflicts_with = "git")]
        wasm: Option<PathBuf>,
        /// With --wasm, the process type it runs as. Default: web.
        #[arg(long, default_value = "web")]
        process: String,
        /// A git repository URL to build.
        #[arg(long)]
        git: Option<String>,
        /// With --git, the branch, tag or commit. Default: the repository's default branch.
        #[arg(long = "ref", requires = "git")]
        reference: Option<String>,
    },
    /// Add the git remote `kumo` for an app, so `git push kumo main` deploys it.
    #[command(name = "git:remote")]
    GitRemote {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        /// The remote's name.
        #[arg(short, long, default_value = "kumo")]
        remote: String,
    },
    /// git's credential helper for Kumo's repositories, which `kumo git:remote`
    /// configures: it answers git with the token the kumo CLI would use.
    #[command(name = "git:credentials")]
    GitCredentials {
        /// What git asks: `get` (answered), `store` or `erase` (ignored).
        action: String,
    },
    /// The hook Kumo's app repositories run on a push (not for direct use).
    #[command(name = "git-hook", hide = true)]
    GitHook { hook: String },
    /// Pin the buildpack an app's builds use.
    #[command(name = "buildpacks:set")]
    BuildpacksSet {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        buildpack: String,
    },
    /// Let an app's builds detect their buildpack again.
    #[command(name = "buildpacks:clear")]
    BuildpacksClear {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
    },
    /// Show the buildpack an app is pinned to.
    Buildpacks {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
    },
    /// List an app's builds.
    Builds {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        #[arg(long)]
        json: bool,
    },
    /// Show the output of a build (default: the newest).
    #[command(name = "builds:output")]
    BuildsOutput {
        #[arg(short, long, default_value = git_app(), help = APP_HELP)]
        app: String,
        build: Option<String>,
    },
    #[command(flatten)]
    Addons(commands::addons::AddonsCommand),
    #[command(flatten)]
    Pg(commands::pg::PgCommand),
    #[command(flatten)]
    Drains(commands::drains::DrainsCommand),
    #[command(flatten)]
    Metrics(commands::metrics::MetricsCommand),
    #[command(flatten)]
    Nodes(commands::nodes::NodesCommand),
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
    /// Where slug archives are kept: `s3://BUCKET?endpoint=http://HOST:PORT&region=REGION`
    /// for any S3-compatible store (credentials from AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY). Default: a folder in the data folder.
    #[arg(long, env = "KUMO_SLUG_STORE")]
    slug_store: Option<String>,
    /// This server's name among the nodes sharing its database (`kumo nodes`).
    /// Default: the machine's host name.
    #[arg(long, env = "KUMO_NODE")]
    node: Option<String>,
    /// The URL other nodes reach this server's API at. Default: http:// and the
    /// address --api-listen bound (127.0.0.1 for an unspecified address).
    #[arg(long, env = "KUMO_ADVERTISE")]
    advertise: Option<String>,
    /// The URL other nodes forward requests for this node's dynos to: its
    /// router, over plain HTTP on the nodes' private network. Default: http://
    /// and the address --router-listen bound (127.0.0.1 for an unspecified address).
    #[arg(long, env = "KUMO_ADVERTISE_ROUTER")]
    advertise_router: Option<String>,
    /// Apps are served at `<app>.<domain>`. Default: localhost, so `http://myapp.localhost:8080/` works in a browser.
    #[arg(long, default_value = "localhost")]
    domain: String,
    /// Build and deploy the demo app (`examples/rust-hello`) as `demo` and print its URL.
    #[arg(long)]
    demo: bool,
    /// Seconds a build may run before it is stopped. Default: 900 (15 minutes, as on Heroku).
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..))]
    build_timeout: u64,
    /// Idle time after which `eco` web dynos sleep, like `30m`, `2s` or `250ms`. Default: 30m.
    #[arg(long, default_value = "30m", value_parser = parse_idle)]
    sleep_after: std::time::Duration,
    /// Platform API requests per hour per account: a token bucket that holds an hour's
    /// worth and refills continuously, kept in memory (a restart refills it); over it,
    /// 429 `rate_limit`. 0 turns the limit off. Default: 4500, as on Heroku.
    #[arg(long, default_value_t = 4500, value_parser = clap::value_parser!(u32))]
    api_rate_limit: u32,
    /// The ACME directory automated certificates (`heroku certs:auto:enable`) are
    /// ordered from, with HTTP-01 validation through the router (which must be
    /// reachable on port 80 under the domains' names). Default: Let's Encrypt.
    #[arg(long, default_value = "https://acme-v02.api.letsencrypt.org/directory")]
    acme_directory: String,
    /// A PEM root certificate to trust for the ACME directory's own HTTPS, for a
    /// test CA such as pebble. Default: the public roots.
    #[arg(long)]
    acme_ca_file: Option<PathBuf>,
    /// Serve the operator's Prometheus metrics at http://ADDR/metrics (request
    /// counts and latencies per app, H-codes, dynos by state, instance pool,
    /// wakes, compile cache, builds, drain drops). Default: not served.
    #[arg(long)]
    metrics_listen: Option<String>,
    /// A PEM file of CA certificates TLS drains (`syslog+tls://`, `https://`) are
    /// checked against besides the public roots, for a private log service.
    #[arg(long)]
    drain_ca_file: Option<PathBuf>,
    /// Dyno instances the server holds at once (a web dyno holds WEB_CONCURRENCY of
    /// them; workers and CGI runs one each): the size of the engine's instance pool,
    /// reserved as address space (about 8 GiB each), not memory. When all are in use,
    /// idle eco apps are put to sleep early to free them. Default: 1000.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    max_instances: u32,
    /// Let dynos reach loopback, private, link-local and other non-public addresses
    /// that their app lists in KUMO_ALLOWED_HOSTS: this machine's own ports (Kumo's
    /// API, its database), its networks and a cloud's metadata service. For a
    /// single-tenant server or a test setup only: on a shared server it lets any
    /// app's owner reach them. Default: off, dynos reach public addresses only.
    #[arg(long)]
    allow_private_outbound: bool,
    /// The Postgres server where `kumo-postgresql` add-ons get their databases, as
    /// a role that may create roles and databases: postgres://USER:PASSWORD@HOST:PORT/DB.
    /// Default: the --database-url server when that is Postgres, else a private
    /// cluster under the data folder (Debian's `postgresql` package, started on demand).
    #[arg(long, env = "KUMO_ADDONS_POSTGRES_URL")]
    addons_postgres_url: Option<String>,
    /// The Redis server where `kumo-keyvalue` add-ons get their namespaces (an ACL
    /// user each), as an administrator: redis://USER:PASSWORD@HOST:PORT. Default:
    /// the embedded store under the data folder.
    #[arg(long, env = "KUMO_ADDONS_REDIS_URL")]
    addons_redis_url: Option<String>,
    /// Address of the S3-compatible endpoint of `kumo-bucket` add-ons, the
    /// `AWS_ENDPOINT_URL` their apps get; port 0 picks a free port at the first
    /// start and keeps it (in the data folder) for the next. Objects are kept in
    /// the slug store. Default: 127.0.0.1:0.
    #[arg(long, env = "KUMO_ADDONS_S3_LISTEN", default_value = "127.0.0.1:0")]
    addons_s3_listen: String,
    /// For benchmarks: a second listener that sends each request for `<app>.<domain>`
    /// straight to one of the app's web dynos, without the router's checks, forwarding
    /// headers, H-codes or router log line, to measure what the router adds.
    #[arg(long, hide = true)]
    direct_listen: Option<String>,
    /// For benchmarks: how long a request may run before the router answers H12
    /// and the dyno replaces the instance, like `1s`. Default: 30s, as on Heroku.
    #[arg(long, hide = true, default_value = "30s", value_parser = parse_idle)]
    request_timeout: std::time::Duration,
    /// For tests: once a response has begun, how long the router lets a
    /// connection move no byte either way before it closes it (H15/H28), like
    /// `2s`. Default: 55s, as on Heroku.
    #[arg(long, hide = true, default_value = "55s", value_parser = parse_idle)]
    router_idle_timeout: std::time::Duration,
    /// For benchmarks: MiB a dyno's `/app` and `/tmp` may hold before it is
    /// restarted with fresh files. Default: 4096.
    #[arg(long, hide = true, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..))]
    disk_quota_mb: u64,
}

/// A `--sleep-after` value: a duration of at least 10 ms.
fn parse_idle(text: &str) -> Result<std::time::Duration, String> {
    let idle = humantime::parse_duration(text)
        .map_err(|e| format!("{e}: use a duration like 30m, 2s or 250ms"))?;
    if idle < std::time::Duration::from_millis(10) {
        return Err("too short: use at least 10ms".to_string());
    }
    Ok(idle)
}

/// Runs a command that talks to the Platform API.
fn run_user_command(command: Command) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match command {
            Command::Login => return commands::auth::login().await,
            Command::Logout => return commands::auth::logout(),
            Command::GitHook { hook } => return commands::git::hook(&hook).await,
            Command::GitCredentials { action } => return commands::git::credentials(&action),
            _ => {}
        }
        let client = client::Client::from_env()?;
        match command {
            Command::GitRemote { app, remote } => {
                commands::git::add_remote(&client, &app, &remote).await
            }
            Command::Server(_)
            | Command::Login
            | Command::Logout
            | Command::GitHook { .. }
            | Command::GitCredentials { .. } => {
                unreachable!("handled before")
            }
            Command::AuthWhoami => commands::auth::whoami(&client).await,
            Command::AuthToken => {
                commands::auth::token(&client);
                Ok(())
            }
            Command::Dashboard { app } => commands::auth::dashboard(&client, app.as_deref()).await,
            Command::Accounts { json } => commands::auth::accounts(&client, json).await,
            Command::AccountsCreate { email } => {
                commands::auth::create_account(&client, &email).await
            }
            Command::Authorizations { json } => commands::authorizations::list(&client, json).await,
            Command::AuthorizationsCreate {
                description,
                expires_in,
                scope,
                short,
                json,
            } => {
                commands::authorizations::create(
                    &client,
                    description.as_deref(),
                    expires_in.as_deref(),
                    scope.as_deref(),
                    short,
                    json,
                )
                .await
            }
            Command::AuthorizationsInfo { id, json } => {
                commands::authorizations::info(&client, &id, json).await
            }
            Command::AuthorizationsRevoke { id } => {
                commands::authorizations::revoke(&client, &id).await
            }
            Command::Access { app, json } => commands::access::list(&client, &app, json).await,
            Command::AccessAdd { app, email } => commands::access::add(&client, &app, &email).await,
            Command::AccessRemove { app, email } => {
                commands::access::remove(&client, &app, &email).await
            }
            Command::Apps { json } => commands::apps::list(&client, json).await,
            Command::AppsCreate { name } => commands::apps::create(&client, name).await,
            Command::Config { app, json } => commands::config::show(&client, &app, json).await,
            Command::ConfigSet { app, pairs } => commands::config::set(&client, &app, &pairs).await,
            Command::Releases { app, json } => commands::releases::list(&client, &app, json).await,
            Command::AppsInfo { app, json } => commands::apps::info(&client, &app, json).await,
            Command::AppsDestroy { app, confirm } => {
                commands::apps::destroy(&client, &app, confirm.as_deref()).await
            }
            Command::AppsRename { app, newname } => {
                commands::apps::rename(&client, &app, &newname).await
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
            Command::Open { app, path } => {
                commands::apps::open(&client, &app, path.as_deref()).await
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
            Command::ReleasesOutput { app, release } => {
                commands::releases::output(&client, &app, release.as_deref()).await
            }
            Command::Run {
                app,
                size,
                env,
                exit_code: _,
                command,
            } => {
                let code = commands::run::attached(
                    &client,
                    &app,
                    &command,
                    size.as_deref(),
                    env.as_deref(),
                )
                .await?;
                use std::io::Write as _;
                let _ = std::io::stdout().flush();
                // The dyno's status is this command's; the stdin reader may still be blocked.
                std::process::exit(code);
            }
            Command::RunDetached {
                app,
                size,
                env,
                command,
            } => {
                commands::run::detached(&client, &app, &command, size.as_deref(), env.as_deref())
                    .await
            }
            Command::PsStop { app, dyno } => commands::ps::stop(&client, &app, &dyno).await,
            Command::Deploy {
                app,
                dir,
                wasm,
                process,
                git,
                reference,
            } => match (wasm, git) {
                (Some(wasm), _) => commands::deploy::wasm(&client, &app, &wasm, &process).await,
                (None, Some(url)) => {
                    commands::deploy::git(&client, &app, &url, reference.as_deref()).await
                }
                (None, None) => {
                    let dir = dir.unwrap_or_else(|| PathBuf::from("."));
                    commands::deploy::source(&client, &app, &dir).await
                }
            },
            Command::BuildpacksSet { app, buildpack } => {
                commands::builds::set_buildpack(&client, &app, Some(&buildpack)).await
            }
            Command::BuildpacksClear { app } => {
                commands::builds::set_buildpack(&client, &app, None).await
            }
            Command::Buildpacks { app } => commands::builds::buildpacks(&client, &app).await,
            Command::Builds { app, json } => commands::builds::list(&client, &app, json).await,
            Command::BuildsOutput { app, build } => {
                commands::builds::output(&client, &app, build.as_deref()).await
            }
            Command::Addons(command) => commands::addons::run(&client, command).await,
            Command::Drains(command) => commands::drains::run(&client, command).await,
            Command::Metrics(command) => commands::metrics::run(&client, command).await,
            Command::Nodes(command) => commands::nodes::run(&client, command).await,
            Command::Pg(command) => commands::pg::run(&client, command).await,
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
        Command::Server(args) => server::settings(*args).and_then(server::run),
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
