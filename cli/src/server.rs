//! `kumo server`: checks its flags, builds the engine, the dyno manager and the
//! router, binds, deploys the demo app if asked, then serves until interrupted.

use crate::ServerArgs;
use anyhow::Context as _;
use kumo_runtime::engine::{Engine, EngineConfig};
use kumo_runtime::logplex::Logplex;
use kumo_runtime::manager::{DynoManager, ManagerConfig};
use kumo_runtime::router::{Router, RouterConfig};
use kumo_runtime::source::MemorySource;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Validated settings of `kumo server`.
pub struct Settings {
    pub data_dir: PathBuf,
    pub router_listen: SocketAddr,
    pub domain: String,
    pub demo: bool,
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
    let domain = args.domain.trim_matches('.').to_ascii_lowercase();
    if domain.is_empty() || domain.contains(['/', ':', ' ']) {
        anyhow::bail!(
            "invalid --domain `{}`: use a host name like localhost or kumo.example.com",
            args.domain
        );
    }
    Ok(Settings {
        data_dir,
        router_listen,
        domain,
        demo: args.demo,
    })
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
    let engine = Engine::new(&EngineConfig::new(settings.data_dir.join("compiled")))?;
    let logplex = Logplex::new();
    let source = Arc::new(MemorySource::new());
    let manager = DynoManager::new(
        ManagerConfig::new(&settings.data_dir),
        engine,
        logplex,
        source.clone(),
        &settings.domain,
    );
    manager.start().await?;

    let listener = tokio::net::TcpListener::bind(settings.router_listen)
        .await
        .with_context(|| format!("binding the router to {}", settings.router_listen))?;
    let router_addr = listener.local_addr()?;
    let router = Router::new(manager.clone(), RouterConfig::default(), router_addr.port());
    let serving = tokio::spawn(router.serve(listener));
    println!("Router listening on http://{router_addr}");

    if settings.demo {
        let url = crate::demo::deploy(
            &settings.data_dir,
            &source,
            &manager,
            &settings.domain,
            router_addr.port(),
        )
        .await
        .context("deploying the demo app")?;
        println!("Demo app deployed: {url}");
    }

    tokio::select! {
        _ = serving => anyhow::bail!("the router stopped"),
        _ = tokio::signal::ctrl_c() => {
            println!("Shutting down");
            Ok(())
        }
    }
}
