//! Worker dynos: run a `wasi:cli/run` command to completion. Any end of the
//! process, an exit with any status or a trap, is a crash that the dyno manager
//! answers with a restart; stopping gives the guest a grace period, then ends it.
//! A command whose files pass the dyno's disk quota is killed (status 137).

use super::attach::AttachOutput;
use super::fs::DynoFs;
use super::host::{DynoHost, DynoMemory, new_store};
use super::outbound::Outbound;
use super::output::LogOutput;
use super::{DynoSpec, describe_failure};
use crate::engine::Prepared;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use wasmtime_wasi::WasiCtxBuilder;

/// How a worker's run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The process returned or exited with this status.
    Status(i32),
    /// The process trapped or could not start; the text says why (R15 for memory).
    Crashed(String),
    /// The dyno was stopped and the process ended within its grace period.
    Stopped,
    /// The dyno was stopped and the process outlived its grace period (R12).
    Killed,
}

impl Exit {
    /// The line the dyno manager logs for this exit.
    pub fn describe(&self, grace: Duration) -> String {
        match self {
            Exit::Status(code) => format!("Process exited with status {code}"),
            Exit::Crashed(why) => why.clone(),
            Exit::Stopped => "Process exited with status 143".to_string(),
            Exit::Killed => format!(
                "Error R12 (Exit timeout) -> At least one process failed to exit within {} seconds of SIGTERM",
                grace.as_secs()
            ),
        }
    }
}

/// Tells a running worker to stop; it gets `grace` to finish. It also reads
/// what the worker uses, for its runtime metrics.
#[derive(Clone)]
pub struct StopHandle {
    stop: watch::Sender<bool>,
    usage: Arc<Usage>,
}

impl StopHandle {
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    pub fn usage(&self) -> &Arc<Usage> {
        &self.usage
    }
}

/// What a running command uses: its linear memory and the time its instance
/// has spent running (the command's task being polled: the guest runs inside
/// those polls, and waits for I/O or timers outside them).
#[derive(Debug)]
pub struct Usage {
    pub memory: Arc<DynoMemory>,
    running_nanos: AtomicU64,
}

impl Usage {
    pub fn running_time(&self) -> Duration {
        Duration::from_nanos(self.running_nanos.load(Ordering::Relaxed))
    }
}

/// A future whose time inside `poll` counts in a [`Usage`].
struct Timed<F> {
    inner: Pin<Box<F>>,
    usage: Arc<Usage>,
}

impl<F: Future> Future for Timed<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let start = Instant::now();
        let polled = self.inner.as_mut().poll(cx);
        let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.usage.running_nanos.fetch_add(nanos, Ordering::Relaxed);
        polled
    }
}

/// Where a command's stdin, stdout and stderr go.
pub enum Stdio {
    /// No stdin; output becomes log lines of the dyno.
    Logs,
    /// An attached client's stream (`kumo run`).
    Attached {
        stdin: wasmtime_wasi::cli::AsyncStdinStream,
        stdout: AttachOutput,
        stderr: AttachOutput,
    },
}

/// Runs `spec`'s command with its own filesystem until it ends or is stopped;
/// its output goes to the logs.
pub fn start(spec: DynoSpec, grace: Duration) -> (StopHandle, tokio::task::JoinHandle<Exit>) {
    start_with(spec, grace, Stdio::Logs)
}

/// Runs `spec`'s command with the given stdio until it ends or is stopped.
pub fn start_with(
    spec: DynoSpec,
    grace: Duration,
    stdio: Stdio,
) -> (StopHandle, tokio::task::JoinHandle<Exit>) {
    let (tx, rx) = watch::channel(false);
    let usage = Arc::new(Usage {
        memory: DynoMemory::new(spec.size.memory_bytes()),
        running_nanos: AtomicU64::new(0),
    });
    let task = tokio::spawn(Timed {
        inner: Box::pin(run(spec, rx, grace, stdio, usage.memory.clone())),
        usage: usage.clone(),
    });
    (StopHandle { stop: tx, usage }, task)
}

async fn run(
    spec: DynoSpec,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
    stdio: Stdio,
    memory: Arc<DynoMemory>,
) -> Exit {
    let Prepared::Command(pre) = &*spec.prepared else {
        return Exit::Crashed(format!(
            "process type `{}` is not a command",
            spec.process_type
        ));
    };
    let fs =
        match DynoFs::create(&spec.dynos_dir, &spec.app, &spec.name, &spec.slug.app_dir()).await {
            Ok(fs) => fs,
            Err(e) => return Exit::Crashed(format!("Error R99 (Platform error) -> {e:#}")),
        };
    let stdout = LogOutput::new(spec.log.clone(), &spec.name);
    let stderr = stdout.sibling();
    let mut builder = WasiCtxBuilder::new();
    builder.envs(&spec.environment()).args(&spec.argv());
    match stdio {
        Stdio::Logs => {
            builder.stdout(stdout.clone()).stderr(stderr.clone());
        }
        Stdio::Attached {
            stdin,
            stdout,
            stderr,
        } => {
            builder.stdin(stdin).stdout(stdout).stderr(stderr);
        }
    }
    if let Err(e) = fs.preopen(&mut builder) {
        return Exit::Crashed(format!("Error R99 (Platform error) -> {e:#}"));
    }
    // A worker has no request deadline: its outgoing requests end with it.
    let outbound = Outbound::start(&spec, None).await;
    outbound.configure(&mut builder);
    let mut store = new_store(
        spec.engine.wasmtime(),
        DynoHost::new(builder.build(), memory.clone(), outbound),
    );

    let run = async {
        let command = pre.instantiate_async(&mut store).await?;
        command.wasi_cli_run().call_run(&mut store).await
    };
    let stopped = async {
        let _ = stop.wait_for(|stop| *stop).await;
        tokio::time::sleep(grace).await;
    };
    let mut over_quota = false;
    let outcome = tokio::select! {
        result = run => Some(result),
        () = stopped => None,
        why = fs.quota_exceeded(spec.disk_quota) => {
            let line = format!("{why}; stopping process with SIGKILL");
            spec.log.log(crate::logplex::Source::Kumo, &spec.name, &line);
            over_quota = true;
            None
        }
    };
    let stop_requested = *stop.borrow();
    stdout.flush_partial();
    stderr.flush_partial();
    let exit = match outcome {
        // Killed at once, as a web dyno is: SIGKILL's status.
        None if over_quota => Exit::Status(137),
        None => Exit::Killed,
        Some(_) if stop_requested => Exit::Stopped,
        Some(Ok(Ok(()))) => Exit::Status(0),
        Some(Ok(Err(()))) => Exit::Status(1),
        Some(Err(e)) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(code) => Exit::Status(code.0),
            None => Exit::Crashed(describe_failure(
                &e,
                store.data().limiter.denied,
                memory.cap,
            )),
        },
    };
    drop(store);
    drop(fs);
    exit
}
