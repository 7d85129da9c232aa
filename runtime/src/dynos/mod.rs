//! Dynos: sandboxed Wasm instances running one process type of a release.
//!
//! A dyno is `type.N` with its own ephemeral filesystem ([`fs`]), its environment
//! (the release's config vars plus `PORT`, `DYNO`, `KUMO_APP_NAME`,
//! `KUMO_RELEASE_VERSION`), stdout and stderr going to Logplex ([`output`]), a
//! memory cap from its size and only the network its app allows ([`outbound`]).
//! How it runs depends on the process kind: [`web`] keeps warm `wasi:http`
//! instances, [`cgi`] runs a command per request, [`command`] runs a worker to
//! completion.

pub mod attach;
pub mod cgi;
pub mod command;
pub mod dial;
mod docroot;
pub mod fs;
pub mod granted;
pub mod host;
mod instance;
pub mod off_limits;
pub mod outbound;
pub mod output;
pub mod spares;
mod spool;
pub mod web;

use crate::engine::{Engine, Prepared};
use crate::logplex::AppLog;
use crate::sizes::DynoSize;
use crate::slugs::UnpackedSlug;
use crate::source::ReleaseSpec;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use kumo_slug::ProcessType;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The body of a request handed to a web dyno.
pub type RequestBody = UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>;
/// The body of a web dyno's response.
pub type ResponseBody = UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>;

/// The states of a dyno, as Heroku names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DynoState {
    Starting,
    Up,
    Crashed,
    Idle,
    Down,
}

impl DynoState {
    pub fn as_str(self) -> &'static str {
        match self {
            DynoState::Starting => "starting",
            DynoState::Up => "up",
            DynoState::Crashed => "crashed",
            DynoState::Idle => "idle",
            DynoState::Down => "down",
        }
    }
}

impl fmt::Display for DynoState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything a dyno is started from.
#[derive(Clone)]
pub struct DynoSpec {
    pub app: String,
    /// `web.1`, `worker.2`, `run.1`.
    pub name: String,
    pub release: ReleaseSpec,
    pub slug: Arc<UnpackedSlug>,
    pub process_type: String,
    pub process: ProcessType,
    pub size: DynoSize,
    pub prepared: Arc<Prepared>,
    pub engine: Arc<Engine>,
    pub log: Arc<AppLog>,
    /// Where dyno filesystems are made.
    pub dynos_dir: std::path::PathBuf,
    /// The router's port, given to web dynos as `PORT`.
    pub port: u16,
    /// How long one request may run before its instance is stopped.
    pub request_deadline: Duration,
    /// How long an instance may take to instantiate (its start function and
    /// the component's own start-up) before the boot fails with R10.
    pub boot_deadline: Duration,
    /// Bytes the dyno's `/app` and `/tmp` may hold before it is restarted.
    pub disk_quota: u64,
    /// Whether the dyno may dial loopback, private and other non-public
    /// addresses its app lists (`ManagerConfig::outbound_private`).
    pub outbound_private: bool,
    /// The server's add-on backends (`ManagerConfig::addons`).
    pub addons: std::sync::Arc<crate::addons::Backends>,
}

impl DynoSpec {
    /// The environment the dyno's guests see.
    pub fn environment(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .release
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if self.process.kind.serves_http() {
            env.push(("PORT".into(), self.port.to_string()));
            if !self.release.config.contains_key("WEB_CONCURRENCY") {
                env.push(("WEB_CONCURRENCY".into(), self.web_concurrency().to_string()));
            }
        }
        env.push(("DYNO".into(), self.name.clone()));
        env.push(("KUMO_APP_NAME".into(), self.app.clone()));
        env.push((
            "KUMO_RELEASE_VERSION".into(),
            format!("v{}", self.release.version),
        ));
        env.push(("HOME".into(), "/app".into()));
        env
    }

    /// The hosts the app lets its dynos reach (`KUMO_ALLOWED_HOSTS`); none when unset.
    pub fn allowed_hosts(&self) -> Result<outbound::AllowedHosts, outbound::BadEntry> {
        let value = self.release.config.get(outbound::ALLOWED_HOSTS);
        outbound::AllowedHosts::parse(value.map_or("", String::as_str))
    }

    /// Instances per web dyno: `WEB_CONCURRENCY` if it is a number from 1 to 64, else the size's default.
    pub fn web_concurrency(&self) -> usize {
        self.release
            .config
            .get("WEB_CONCURRENCY")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| (1..=64).contains(n))
            .unwrap_or_else(|| self.size.default_web_concurrency())
    }

    /// The program name and arguments (`argv`).
    pub fn argv(&self) -> Vec<String> {
        let mut argv = vec![self.process.component.clone()];
        argv.extend(self.process.args.iter().cloned());
        argv
    }
}

/// The engine's instance pool had no free slot for a dyno's instance: the
/// server runs `kumo server --max-instances` instances at most. Not the app's
/// fault, so not a crash: the supervisor frees slots (putting idle eco apps to
/// sleep) and tries again.
#[derive(Debug)]
pub struct NoCapacity(pub String);

impl fmt::Display for NoCapacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no free instance slot on this server ({}): raise `kumo server --max-instances`",
            self.0
        )
    }
}

impl std::error::Error for NoCapacity {}

impl NoCapacity {
    /// The pool's refusal in `error`, if that is what it is.
    pub(crate) fn of(error: &wasmtime::Error) -> Option<NoCapacity> {
        let limit = error
            .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
            .map(ToString::to_string)
            .or_else(|| {
                error.chain().find_map(|e| {
                    e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
                        .map(ToString::to_string)
                })
            })?;
        Some(NoCapacity(limit))
    }
}

/// An instance that did not finish instantiating within the dyno's boot
/// deadline: a start function that never returns. Logged as R10.
#[derive(Debug)]
pub struct BootTimeout(pub Duration);

impl fmt::Display for BootTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Web process failed to start within {} seconds of launch: its component's start did not return",
            self.0.as_secs()
        )
    }
}

impl std::error::Error for BootTimeout {}

/// Why a web dyno did not answer a request.
#[derive(Debug)]
pub enum DispatchError {
    /// The dyno is stopping and took no new work; the request is handed back to try elsewhere.
    Closed(Box<http::Request<RequestBody>>),
    /// The instance failed before it sent a response.
    Crashed(String),
    /// The instance ran past its deadline before it sent a response.
    Deadline,
    /// The app sent a response that is not valid HTTP.
    BadResponse(String),
    /// Something in Kumo failed.
    Platform(String),
}

/// Describes why a guest call failed, for the logs: memory cap, deadline, exit or trap.
pub(crate) fn describe_failure(
    error: &wasmtime::Error,
    memory_denied: bool,
    memory_cap: u64,
) -> String {
    if memory_denied {
        return format!(
            "Error R15 (Memory quota vastly exceeded) -> the dyno reached its {} MB cap",
            memory_cap >> 20
        );
    }
    if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return format!("Process exited with status {}", exit.0);
    }
    let root = error.root_cause().to_string();
    let trap = error
        .downcast_ref::<wasmtime::Trap>()
        .map(|t| t.to_string());
    format!("Process crashed: {}", trap.unwrap_or(root))
}
