//! `kumo server`: checks its flags, builds the engine, the dyno manager and the
//! router, binds, deploys the demo app if asked, then serves until interrupted.

use crate::ServerArgs;
use anyhow::Context as _;
use kumo_runtime::addons::keyvalue::{EmbeddedProvider, RedisProvider};
use kumo_runtime::addons::{Backends, PostgresServer, Providers};
use kumo_runtime::api::{Platform, RateLimit};
use kumo_runtime::engine::{Engine, EngineConfig};
use kumo_runtime::logplex::Logplex;
use kumo_runtime::manager::{DynoManager, ManagerConfig};
use kumo_runtime::router::{Router, RouterConfig};
use kumo_runtime::slugs::SlugStore;
use kumo_runtime::state::{LedgerSource, State};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Validated settings of `kumo server`.
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: String,
    /// `s3://bucket?endpoint=…&region=…`, or a folder.
    pub slug_store: String,
    pub router_listen: SocketAddr,
    pub api_listen: SocketAddr,
    pub domain: String,
    pub demo: bool,
    pub build_timeout: std::time::Duration,
    pub sleep_after: std::time::Duration,
    /// Platform API requests per hour per account (`--api-rate-limit`); 0: no limit.
    pub api_rate_limit: u32,
    /// The engine's instance pool (`--max-instances`).
    pub max_instances: u32,
    /// Whether dynos may dial loopback and private addresses (`--allow-private-outbound`).
    pub allow_private_outbound: bool,
    /// The benchmark listener that skips the router (`--direct-listen`).
    pub direct_listen: Option<SocketAddr>,
    /// The router's request timeout and the dyno's request deadline (`--request-timeout`, hidden).
    pub request_timeout: std::time::Duration,
    /// The router's idle window once a response began (`--router-idle-timeout`, hidden).
    pub router_idle_timeout: std::time::Duration,
    /// Bytes a dyno's files may take (`--disk-quota-mb`, hidden).
    pub disk_quota: u64,
    /// Where Postgres add-ons are made (`--addons-postgres-url`, else the state
    /// database if it is Postgres, else a private cluster).
    pub addons_postgres: PostgresServer,
    /// The Redis server for key-value add-ons (`--addons-redis-url`).
    pub addons_redis_url: Option<String>,
    /// The S3 endpoint of bucket add-ons (`--addons-s3-listen`).
    pub addons_s3_listen: SocketAddr,
    /// Where the operator's Prometheus metrics are served (`--metrics-listen`).
    pub metrics_listen: Option<SocketAddr>,
    /// Roots TLS drains are checked against besides the public ones (`--drain-ca-file`).
    pub drain_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// Where automated certificates come from (`--acme-directory`, `--acme-ca-file`).
    pub acme: kumo_runtime::api::AcmeSettings,
    /// This server's node name (`--node`).
    pub node: String,
    /// Where other nodes reach its API (`--advertise`); else from the API's address.
    pub advertise: Option<String>,
    /// Where other nodes forward requests to its router (`--advertise-router`);
    /// else from the router's address.
    pub advertise_router: Option<String>,
}

/// Checks the raw flags.
pub fn settings(args: ServerArgs) -> anyhow::Result<Settings> {
    let data_dir = match args.data_dir {
        Some(dir) => dir,
        None => dirs::data_dir()
            .context("no user data folder is known on this system: pass --data-dir")?
            .join("kumo"),
    };
    let router_listen = args.router_listen.parse().with_context(|| {
        format!(
            "invalid --router-listen `{}`: use an address like 127.0.0.1:8080",
            args.router_listen
        )
    })?;
    let api_listen = args.api_listen.parse().with_context(|| {
        format!(
            "invalid --api-listen `{}`: use an address like 127.0.0.1:5000",
            args.api_listen
        )
    })?;
    let database_url = match args.database_url {
        Some(url)
            if url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://") =>
        {
            url
        }
        Some(url) => anyhow::bail!(
            "invalid --database-url `{url}`: use sqlite:///path/kumo.db or postgres://user:pass@host/db"
        ),
        None => format!("sqlite://{}", data_dir.join("kumo.db").display()),
    };
    let slug_store = match args.slug_store {
        Some(spec) if spec.starts_with("s3://") => spec,
        Some(spec) => anyhow::bail!(
            "invalid --slug-store `{spec}`: use s3://BUCKET?endpoint=http://HOST:PORT&region=REGION (slugs stay in the data folder without it)"
        ),
        None => data_dir.join("slug-store").display().to_string(),
    };
    let direct_listen = match &args.direct_listen {
        Some(addr) => Some(addr.parse().with_context(|| {
            format!("invalid --direct-listen `{addr}`: use an address like 127.0.0.1:8081")
        })?),
        None => None,
    };
    let addons_postgres = match args.addons_postgres_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            PostgresServer::Url(url)
        }
        Some(url) => anyhow::bail!(
            "invalid --addons-postgres-url `{url}`: use postgres://USER:PASSWORD@HOST:PORT/DATABASE, a role that may create roles and databases"
        ),
        None if database_url.starts_with("postgres") => PostgresServer::Url(database_url.clone()),
        None => PostgresServer::Cluster(data_dir.join("addons").join("postgres")),
    };
    if let Some(url) = &args.addons_redis_url
        && !(url.starts_with("redis://") || url.starts_with("rediss://"))
    {
        anyhow::bail!("invalid --addons-redis-url `{url}`: use redis://USER:PASSWORD@HOST:PORT");
    }
    let addons_s3_listen = args.addons_s3_listen.parse().with_context(|| {
        format!(
            "invalid --addons-s3-listen `{}`: use an address like 127.0.0.1:9000",
            args.addons_s3_listen
        )
    })?;
    let node = match args.node {
        Some(name) => {
            kumo_runtime::nodes::check_node_name(&name)
                .map_err(|e| anyhow::anyhow!("{e} (--node)"))?;
            name
        }
        None => default_node_name(),
    };
    if let Some(url) = &args.advertise
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        anyhow::bail!(
            "invalid --advertise `{url}`: use the URL other nodes reach this server's API at, like http://10.0.0.2:5000"
        );
    }
    if let Some(url) = &args.advertise_router
        && !url.starts_with("http://")
    {
        anyhow::bail!(
            "invalid --advertise-router `{url}`: use the http:// URL other nodes reach this server's router at, like http://10.0.0.2:8080"
        );
    }
    let domain = args.domain.trim_matches('.').to_ascii_lowercase();
    if domain.is_empty() || domain.contains(['/', ':', ' ']) {
        anyhow::bail!(
            "invalid --domain `{}`: use a host name like localhost or kumo.example.com",
            args.domain
        );
    }
    Ok(Settings {
        data_dir,
        database_url,
        slug_store,
        router_listen,
        api_listen,
        domain,
        demo: args.demo,
        build_timeout: std::time::Duration::from_secs(args.build_timeout),
        sleep_after: args.sleep_after,
        api_rate_limit: args.api_rate_limit,
        max_instances: args.max_instances,
        allow_private_outbound: args.allow_private_outbound,
        direct_listen,
        request_timeout: args.request_timeout,
        router_idle_timeout: args.router_idle_timeout,
        disk_quota: args.disk_quota_mb.saturating_mul(1 << 20),
        addons_postgres,
        addons_redis_url: args.addons_redis_url,
        addons_s3_listen,
        metrics_listen: match &args.metrics_listen {
            None => None,
            Some(addr) => Some(addr.parse().with_context(|| {
                format!("invalid --metrics-listen `{addr}`: use an address like 127.0.0.1:9100")
            })?),
        },
        drain_roots: match &args.drain_ca_file {
            None => Vec::new(),
            Some(file) => {
                use rustls::pki_types::pem::PemObject as _;
                rustls::pki_types::CertificateDer::pem_file_iter(file)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "invalid --drain-ca-file {}: {e}: give a PEM file of CA certificates",
                            file.display()
                        )
                    })?
            }
        },
        acme: kumo_runtime::api::AcmeSettings {
            directory: args.acme_directory,
            ca_file: args.acme_ca_file,
        },
        node,
        advertise: args
            .advertise
            .map(|url| url.trim_end_matches('/').to_string()),
        advertise_router: args
            .advertise_router
            .map(|url| url.trim_end_matches('/').to_string()),
    })
}

/// `http://` and a bound address other nodes can dial (loopback for an unspecified one).
fn reachable_url(addr: SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        addr.ip()
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// The machine's host name as a node name, or `local` if it makes none.
fn default_node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_ascii_lowercase())
        .ok()
        .filter(|name| kumo_runtime::nodes::check_node_name(name).is_ok())
        .unwrap_or_else(|| "local".to_string())
}

pub fn run(settings: Settings) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(serve(settings))
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating the data folder {}", settings.data_dir.display()))?;
    let state = State::open(&settings.database_url).await?;
    let slugs = SlugStore::open(&settings.slug_store).await?;
    if let Some(token) = state.ensure_admin("admin@kumo.local").await? {
        let path = settings.data_dir.join("admin-token");
        write_private(&path, &format!("{token}\n"))?;
        println!(
            "Admin account admin@kumo.local created; its API token (also in {}):",
            path.display()
        );
        println!("  {token}");
    }

    // Work a stop of this node cut short fails, and so does a dead node's.
    let state = state.for_node(&settings.node);
    let (builds, releases) = state.fail_interrupted_work(true).await?;
    for build in builds {
        println!(
            "Build {} was running when Kumo stopped: marked failed",
            build.id
        );
    }
    for release in releases {
        println!(
            "Release v{} was in its release phase when Kumo stopped: marked failed",
            release.version
        );
    }
    remove_leftovers(&settings.data_dir);

    let engine = Engine::new(&EngineConfig {
        max_instances: settings.max_instances,
        ..EngineConfig::new(settings.data_dir.join("compiled"))
    })?;
    let logplex = Logplex::new();
    let source = Arc::new(LedgerSource {
        state: state.clone(),
        slugs: slugs.clone(),
    });
    let addon_backends = Backends::new(settings.data_dir.join("addons"));
    let manager = DynoManager::new(
        ManagerConfig {
            addons: addon_backends.clone(),
            sleep_after: settings.sleep_after,
            request_deadline: settings.request_timeout,
            disk_quota: settings.disk_quota,
            outbound_private: settings.allow_private_outbound,
            ..ManagerConfig::new(&settings.data_dir)
        },
        engine,
        logplex,
        source,
        &settings.domain,
    );

    let embedded: Arc<dyn kumo_runtime::addons::Provider> =
        Arc::new(EmbeddedProvider::new(addon_backends.clone()));
    let keyvalue: Arc<dyn kumo_runtime::addons::Provider> = match &settings.addons_redis_url {
        Some(url) => Arc::new(RedisProvider::new(url, addon_backends.clone())?),
        None => embedded.clone(),
    };
    // Bucket add-ons: Kumo's own S3 endpoint, objects in the slug store,
    // credentials checked against the ledger.
    let buckets_listener = bind_buckets(&settings).await?;
    let buckets_addr = buckets_listener.local_addr()?;
    let bucket_objects = kumo_runtime::addons::bucket::Objects::open(&settings.slug_store)?;
    let bucket_endpoint = if buckets_addr.ip().is_unspecified() {
        format!("http://127.0.0.1:{}", buckets_addr.port())
    } else {
        format!("http://{buckets_addr}")
    };
    let buckets = Arc::new(kumo_runtime::addons::bucket::BucketProvider::new(
        bucket_objects.clone(),
        &bucket_endpoint,
    ));
    tokio::spawn(kumo_runtime::addons::bucket::serve(
        buckets_listener,
        bucket_objects,
        Arc::new(state.clone()),
    ));
    let addon_providers = Arc::new(
        Providers::new(settings.addons_postgres.clone())
            .with_keyvalue(keyvalue, embedded)
            .with_bucket(buckets),
    );
    // Before any dyno starts: the apps' databases must be up when they connect.
    addon_providers
        .start()
        .await
        .context("starting the add-ons' Postgres cluster")?;

    let router_listener = tokio::net::TcpListener::bind(settings.router_listen)
        .await
        .with_context(|| format!("binding the router to {}", settings.router_listen))?;
    let router_addr = router_listener.local_addr()?;
    let router_config = RouterConfig {
        request_timeout: settings.request_timeout,
        idle_timeout: settings.router_idle_timeout,
        ..RouterConfig::default()
    };
    let router = Router::new(manager.clone(), router_config, router_addr.port());
    let tls = start_tls(&settings, &state, &manager).await?;
    router.use_tls(tls.clone());
    router.use_acme_answers(Arc::new(kumo_runtime::api::LedgerAnswers(state.clone())));
    kumo_runtime::api::spawn_issuer(state.clone(), settings.acme.clone());
    // A ledger several nodes can share places formation dynos across them.
    let mut node_channel = None;
    if let Some(leases) = state.lease_ledger() {
        let placement = kumo_runtime::placement::Placement::new(&settings.node, Arc::new(leases));
        manager
            .use_placement(Arc::new(placement))
            .await
            .context("starting dyno placement")?;
        let secret = state
            .platform_secret(kumo_runtime::router::hop::SECRET)
            .await
            .context("reading the nodes' shared token from the ledger")?;
        let channel = Arc::new(kumo_runtime::router::hop::NodeChannel::new(
            &settings.node,
            &secret,
        )?);
        router.use_channel(channel.clone());
        node_channel = Some(channel);
    }
    manager.start().await?;

    let api_listener = tokio::net::TcpListener::bind(settings.api_listen)
        .await
        .with_context(|| format!("binding the API to {}", settings.api_listen))?;
    let api_addr = api_listener.local_addr()?;
    let advertise = settings
        .advertise
        .clone()
        .unwrap_or_else(|| reachable_url(api_addr));
    let advertise_router = settings
        .advertise_router
        .clone()
        .unwrap_or_else(|| reachable_url(router_addr));
    kumo_runtime::api::join_platform(
        &state,
        kumo_runtime::nodes::NodeIdentity {
            name: settings.node.clone(),
            instance: kumo_runtime::nodes::instance_id(&settings.data_dir)
                .context("keeping this node's id in the data folder")?,
            advertise: advertise.clone(),
            router: advertise_router,
        },
        &manager,
    )
    .await?;
    let platform = Arc::new(Platform {
        node: settings.node.clone(),
        state: state.clone(),
        slugs: slugs.clone(),
        manager: manager.clone(),
        domain: settings.domain.clone(),
        router_port: router_addr.port(),
        api_url: advertise.clone(),
        log_sessions: Default::default(),
        attach_sessions: Default::default(),
        release_phases: Default::default(),
        builds_output: Default::default(),
        build_queue: tokio::sync::Semaphore::new(1),
        build_timeout: settings.build_timeout,
        data_dir: settings.data_dir.clone(),
        rate_limit: RateLimit::new(settings.api_rate_limit),
        addon_providers: addon_providers.clone(),
        local_ca_pem: tls.ca_pem().to_string(),
        drains: kumo_runtime::drains::Drains::new(manager.logplex().clone(), &settings.drain_roots),
        node_channel,
    });
    kumo_runtime::api::keep_drains(platform.clone());
    if let Err(e) = platform.clean_stale_addons(STALE_PROVISIONING_SECS).await {
        tracing::warn!(error = %format!("{e:#}"), "could not remove unfinished add-ons");
    }
    let api_listener = kumo_runtime::api::listen(api_listener, Some(tls), platform.clone());
    let api = tokio::spawn(async move {
        axum::serve(api_listener, kumo_runtime::api::router(platform)).await
    });
    let routing = tokio::spawn(router.serve(router_listener));
    if settings.allow_private_outbound {
        println!(
            "Dynos may reach loopback and private addresses their apps allow (--allow-private-outbound)"
        );
    }
    println!("Add-on buckets listening on http://{buckets_addr}");
    println!("API listening on http://{api_addr}");
    println!("Router listening on http://{router_addr}");
    let ca_file = settings.data_dir.join("tls/ca.pem");
    println!(
        "HTTPS on both ports too, with certificates from Kumo's local CA {}: trust it with `curl --cacert {}`, \
         `git config --global http.https://{api_addr}/.sslCAInfo {}` or NODE_EXTRA_CA_CERTS={} (Heroku's CLI)",
        ca_file.display(),
        ca_file.display(),
        ca_file.display(),
        ca_file.display()
    );
    if let Some(addr) = settings.metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the metrics listener to {addr}"))?;
        println!(
            "Metrics listening on http://{}/metrics",
            listener.local_addr()?
        );
        let manager = manager.clone();
        let metrics = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let manager = manager.clone();
                async move {
                    let text = kumo_runtime::metrics::global().render(
                        &manager.dyno_states(),
                        manager.engine().instances_in_use() as i64,
                    );
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        text,
                    )
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, metrics).await });
    }
    if let Some(addr) = settings.direct_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the direct listener to {addr}"))?;
        println!(
            "Direct dyno listener (no router) on http://{}",
            listener.local_addr()?
        );
        tokio::spawn(kumo_runtime::router::direct::serve(
            manager.clone(),
            listener,
        ));
    }

    if settings.demo {
        let url = crate::demo::deploy(
            &settings.data_dir,
            &state,
            &slugs,
            &manager,
            &settings.domain,
            router_addr.port(),
        )
        .await
        .context("deploying the demo app")?;
        println!("Demo app deployed: {url}");
    }

    tokio::select! {
        _ = routing => anyhow::bail!("the router stopped"),
        result = api => anyhow::bail!("the API stopped: {result:?}"),
        _ = tokio::signal::ctrl_c() => {
            println!("Shutting down");
            addon_providers.stop().await;
            Ok(())
        }
    }
}

/// TLS for the API and the router: the ledger's local CA (made at the first
/// start), written to `<data_dir>/tls/ca.pem` for users to trust.
async fn start_tls(
    settings: &Settings,
    state: &kumo_runtime::state::State,
    manager: &Arc<kumo_runtime::manager::DynoManager>,
) -> anyhow::Result<Arc<kumo_runtime::tls::Tls>> {
    use kumo_runtime::tls::{LocalCa, Tls};
    // One crypto provider for every TLS client and server in the process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pem = state
        .local_ca(LocalCa::make)
        .await
        .context("making the local CA")?;
    let ca = LocalCa::load(&pem).context("reading the local CA from the ledger")?;
    let dir = settings.data_dir.join("tls");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let file = dir.join("ca.pem");
    if std::fs::read_to_string(&file).ok().as_deref() != Some(ca.pem()) {
        let partial = dir.join(format!(".ca.pem.partial-{}", std::process::id()));
        std::fs::write(&partial, ca.pem())
            .with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, &file).with_context(|| format!("writing {}", file.display()))?;
    }
    let certificates = Arc::new(kumo_runtime::api::LedgerCertificates {
        state: state.clone(),
        manager: manager.clone(),
        domain: settings.domain.clone(),
    });
    Ok(Arc::new(Tls::new(
        ca,
        certificates,
        std::time::Duration::from_secs(30),
    )))
}

/// The listener of the bucket add-ons' endpoint. Every bucket's
/// `AWS_ENDPOINT_URL` names its port, so a port the server chose (`:0`) is
/// kept in `<data_dir>/addons/s3-port` and taken again at the next start.
async fn bind_buckets(settings: &Settings) -> anyhow::Result<tokio::net::TcpListener> {
    let chosen = settings.addons_s3_listen.port() == 0;
    let kept = settings.data_dir.join("addons").join("s3-port");
    let mut addr = settings.addons_s3_listen;
    if chosen
        && let Some(port) = std::fs::read_to_string(&kept)
            .ok()
            .and_then(|p| p.trim().parse().ok())
    {
        addr.set_port(port);
    }
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!(
            "binding the add-on buckets' endpoint to {addr}, the address their apps' AWS_ENDPOINT_URL names: free it, or give another with --addons-s3-listen (the apps' buckets then need reattaching)"
        )
    })?;
    if chosen {
        let port = listener.local_addr()?.port();
        std::fs::create_dir_all(settings.data_dir.join("addons"))
            .and_then(|()| std::fs::write(&kept, port.to_string()))
            .with_context(|| format!("writing {}", kept.display()))?;
    }
    Ok(listener)
}

/// An add-on still `provisioning` this long after its last change was left by
/// a server that stopped while it provisioned it; a provisioning takes seconds.
const STALE_PROVISIONING_SECS: i64 = 120;

/// Removes what a server that was killed (SIGKILL, a power cut) left in the
/// data folder, before anything runs: the toolchains and folders of its builds,
/// half-uploaded sources, and its dynos' private folders, which a clean stop
/// removes as each dyno ends. None of them is in use yet, and none is state.
fn remove_leftovers(data_dir: &std::path::Path) {
    let builds = data_dir.join("builds");
    stop_orphaned_toolchains(&builds);
    for folder in [builds, data_dir.join("dynos")] {
        match std::fs::remove_dir_all(&folder) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(path = %folder.display(), error = %e, "could not remove a killed server's leftovers");
            }
            _ => {}
        }
    }
    let sources = std::fs::read_dir(data_dir.join("sources"))
        .into_iter()
        .flatten();
    for entry in sources.flatten() {
        if entry.file_name().to_string_lossy().ends_with(".partial") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Kills the build toolchains (make, cargo…) that a killed server left
/// running: each leads a process group of its own, so it outlives the server.
/// They are found by their working folder, inside `builds`, where nothing but
/// a build works (Linux's `/proc`; elsewhere this does nothing). A toolchain's
/// whole group goes, with what it started; a process in a group led by
/// something outside `builds` (the killed server's own group) goes alone.
fn stop_orphaned_toolchains(builds: &std::path::Path) {
    let (Ok(builds), Ok(processes)) = (builds.canonicalize(), std::fs::read_dir("/proc")) else {
        return;
    };
    let in_builds = |pid: &str| {
        std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(&builds))
    };
    let mut targets = std::collections::BTreeSet::new();
    for process in processes.flatten() {
        let pid = process.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || !in_builds(&pid) {
            continue;
        }
        // The group is the 5th field of `stat`, the 3rd after the `(command)`.
        let group = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                Some(
                    stat.rsplit_once(')')?
                        .1
                        .split_whitespace()
                        .nth(2)?
                        .to_string(),
                )
            });
        let toolchain_group = |group: &str| {
            let led_from_elsewhere =
                std::path::Path::new("/proc").join(group).exists() && !in_builds(group);
            group.parse::<u32>().is_ok_and(|g| g > 1) && !led_from_elsewhere
        };
        targets.insert(match group {
            Some(group) if toolchain_group(&group) => format!("-{group}"),
            _ => pid,
        });
    }
    for target in targets {
        let what = match target.strip_prefix('-') {
            Some(group) => format!("process group {group}"),
            None => format!("process {target}"),
        };
        let killed = std::process::Command::new("kill")
            .args(["-KILL", "--", &target])
            .status();
        match killed {
            Ok(status) if status.success() => {
                println!("Stopped the toolchain of an interrupted build ({what})")
            }
            _ => tracing::warn!(%what, "could not stop the toolchain of an interrupted build"),
        }
    }
}

/// Writes a secret readable by its owner only (mode 0600).
fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}
