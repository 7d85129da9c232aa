//! One dyno's supervisor: starts it, publishes a web dyno to the router once it
//! is up, restarts it after a crash with the backoff, and stops it gracefully.

use super::{AppRuntime, DynoManager, DynoStatus};
use crate::dynos::command::{self, Exit};
use crate::dynos::web::WebDyno;
use crate::dynos::{BootTimeout, DynoSpec, DynoState, NoCapacity};
use crate::sizes::DynoSize;
use crate::slugs::UnpackedSlug;
use crate::source::ReleaseSpec;
use kumo_slug::{ProcessKind, ProcessType};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What a dyno should be running; a dyno whose `Want` differs is replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Want {
    pub release: u64,
    pub size: DynoSize,
    /// Bumped by `ps:restart`.
    pub restart: u64,
}

pub(super) struct SlotSpec {
    pub name: String,
    pub process_type: String,
    pub process: ProcessType,
    pub want: Want,
    pub release: ReleaseSpec,
    pub slug: Arc<UnpackedSlug>,
    /// The state `ps` shows until the supervisor runs: `down` for a new dyno,
    /// `starting` for one a wake has logged as starting already.
    pub shown_as: DynoState,
}

/// How a supervisor is told to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Run {
    Running,
    Stop,
    /// Stop because the app sleeps: the dyno ends `idle`, not `down`.
    Idle,
}

/// A dyno under supervision.
pub(super) struct Slot {
    name: String,
    process_type: String,
    want: Want,
    status: Arc<SlotStatus>,
    run: watch::Sender<Run>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// A dyno's current status, shared with its supervisor.
pub(super) struct SlotStatus {
    status: Mutex<DynoStatus>,
    /// Becomes true once the dyno first comes up, crashes or ends.
    settled: watch::Sender<bool>,
    /// What a running worker uses, for its runtime metrics.
    usage: Mutex<Option<Arc<command::Usage>>>,
}

impl SlotStatus {
    pub fn get(&self) -> DynoStatus {
        self.status.lock().expect("status lock poisoned").clone()
    }

    /// What the dyno's command uses while it runs (workers only).
    pub fn usage(&self) -> Option<Arc<command::Usage>> {
        self.usage.lock().expect("usage lock poisoned").clone()
    }

    fn set_usage(&self, usage: Option<Arc<command::Usage>>) {
        *self.usage.lock().expect("usage lock poisoned") = usage;
    }

    /// Waits until the dyno is up or crashed, or `deadline` passes.
    pub async fn wait_settled(&self, deadline: tokio::time::Instant) {
        let mut rx = self.settled.subscribe();
        let _ = tokio::time::timeout_at(deadline, rx.wait_for(|settled| *settled)).await;
    }
}

impl Slot {
    pub fn start(manager: Arc<DynoManager>, runtime: Arc<AppRuntime>, spec: SlotSpec) -> Slot {
        let command = std::iter::once(spec.process.component.as_str())
            .chain(spec.process.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        let status = Arc::new(SlotStatus {
            status: Mutex::new(DynoStatus {
                name: spec.name.clone(),
                process_type: spec.process_type.clone(),
                state: spec.shown_as,
                release: spec.release.version,
                size: spec.want.size,
                command,
                since: OffsetDateTime::now_utc(),
            }),
            settled: watch::channel(false).0,
            usage: Mutex::new(None),
        });
        let (run, run_rx) = watch::channel(Run::Running);
        let slot = Slot {
            name: spec.name.clone(),
            process_type: spec.process_type.clone(),
            want: spec.want,
            status: status.clone(),
            run,
            task: Mutex::new(None),
        };
        let supervisor = Supervisor {
            manager,
            runtime,
            spec,
            status,
            run: run_rx,
        };
        *slot.task.lock().expect("task lock poisoned") = Some(tokio::spawn(supervisor.run()));
        slot
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn process_type(&self) -> &str {
        &self.process_type
    }

    pub fn want(&self) -> Want {
        self.want
    }

    pub fn status(&self) -> Arc<SlotStatus> {
        self.status.clone()
    }

    /// Asks the dyno to stop; `idle` when the app goes to sleep.
    pub fn stop(&self, idle: bool) {
        let _ = self.run.send(if idle { Run::Idle } else { Run::Stop });
    }

    /// Waits for the supervisor to end.
    pub async fn stopped(self) {
        let task = self.task.lock().expect("task lock poisoned").take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// How long a dyno waits for a free instance slot when no idle eco app could be put to sleep.
const CAPACITY_RETRY: Duration = Duration::from_secs(1);

/// How a run of the dyno ended.
enum Ended {
    /// Stopped on request, in this state (`down`, or `idle` when put to sleep).
    As(DynoState),
    /// Crashed: restarted after the backoff.
    Crashed,
    /// The server had no free instance slot ([`NoCapacity`]).
    NoCapacity(String),
}

struct Supervisor {
    manager: Arc<DynoManager>,
    runtime: Arc<AppRuntime>,
    spec: SlotSpec,
    status: Arc<SlotStatus>,
    run: watch::Receiver<Run>,
}

impl Supervisor {
    async fn run(mut self) {
        let mut consecutive_crashes = 0u32;
        // Set once the dyno has found no free slot: its retries start quietly,
        // and it says it is waiting (R99) once.
        let mut waiting_for_capacity = false;
        let mut said_waiting = false;
        loop {
            self.set_state(DynoState::Starting);
            if !waiting_for_capacity {
                let command = self.status.get().command;
                self.log(&format!("Starting process with command `{command}`"));
            }
            let launched = Instant::now();
            let ended = match self.spec.process.kind {
                ProcessKind::Http | ProcessKind::Cgi => self.run_web().await,
                ProcessKind::Command => self.run_command().await,
            };
            match ended {
                Ended::As(final_state) => {
                    self.set_state(final_state);
                    return;
                }
                Ended::NoCapacity(why) => {
                    // Not the app's fault: no crash, no backoff. Free a slot by
                    // putting the least recently used idle eco app to sleep, or
                    // wait a moment for one; meanwhile requests wait (H20 past
                    // the boot timeout).
                    // A stop (or sleep) asked meanwhile ends the wait at once.
                    let mut run = self.run.clone();
                    let stop = async move {
                        let _ = run.wait_for(|r| *r != Run::Running).await;
                    };
                    tokio::pin!(stop);
                    // A reclaimed app's dynos have dropped their instances by the
                    // time it is asleep (`WebDyno::wait_stopped`), so the slot is
                    // free for the retry at once: a wake on a full server costs
                    // one reclaim, not a pause, and nothing in this app's log.
                    let reclaimed = tokio::select! {
                        () = &mut stop => None,
                        reclaimed = self.manager.reclaim_instances(&self.runtime.name) => Some(reclaimed),
                    };
                    waiting_for_capacity = true;
                    if reclaimed == Some(false) {
                        if !said_waiting {
                            self.log(&format!(
                                "Error R99 (Platform error) -> {why}; waiting for one"
                            ));
                            said_waiting = true;
                        }
                        tokio::select! {
                            () = &mut stop => {}
                            () = tokio::time::sleep(CAPACITY_RETRY) => {}
                        }
                    }
                    match *self.run.borrow() {
                        Run::Running => continue,
                        Run::Idle => self.set_state(DynoState::Idle),
                        Run::Stop => self.set_state(DynoState::Down),
                    }
                    return;
                }
                Ended::Crashed => (waiting_for_capacity, said_waiting) = (false, false),
            }
            // Crashed.
            self.set_state(DynoState::Crashed);
            let backoff = self.manager.config.backoff;
            consecutive_crashes = if launched.elapsed() < backoff.boot_window {
                consecutive_crashes + 1
            } else {
                1
            };
            let cooloff = backoff.cooloff(consecutive_crashes);
            let mut run = self.run.clone();
            let stop = async move { run.wait_for(|r| *r != Run::Running).await.is_ok() };
            if let Ok(true) = tokio::time::timeout(cooloff, stop).await {
                self.set_state(DynoState::Down);
                return;
            }
            if *self.run.borrow() != Run::Running {
                self.set_state(DynoState::Down);
                return;
            }
        }
    }

    fn dyno_spec(&self, prepared: Arc<crate::engine::Prepared>) -> DynoSpec {
        DynoSpec {
            app: self.runtime.name.clone(),
            name: self.spec.name.clone(),
            release: self.spec.release.clone(),
            slug: self.spec.slug.clone(),
            process_type: self.spec.process_type.clone(),
            process: self.spec.process.clone(),
            size: self.spec.want.size,
            prepared,
            engine: self.manager.engine.clone(),
            log: self.manager.logplex.app(&self.runtime.name),
            dynos_dir: self.manager.config.data_dir.join("dynos"),
            port: self
                .manager
                .router_port
                .load(std::sync::atomic::Ordering::Relaxed),
            request_deadline: self.manager.config.request_deadline,
            boot_deadline: self.manager.config.boot_timeout,
            disk_quota: self.manager.config.disk_quota,
            outbound_private: self.manager.config.outbound_private,
            addons: self.manager.config.addons.clone(),
        }
    }

    async fn prepare(&self) -> Option<DynoSpec> {
        match self
            .manager
            .engine
            .prepare(&self.spec.slug, &self.spec.process)
            .await
        {
            Ok(prepared) => Some(self.dyno_spec(prepared)),
            Err(e) => {
                self.log(&format!("Error R10 (Boot failure) -> {e}"));
                None
            }
        }
    }

    /// Runs a web dyno until told to stop.
    async fn run_web(&mut self) -> Ended {
        // Checked first, so that waiting for a slot copies no files.
        if let Some(full) = self.manager.engine.pool_full() {
            return Ended::NoCapacity(full.to_string());
        }
        let Some(spec) = self.prepare().await else {
            return Ended::Crashed;
        };
        let dyno = match WebDyno::start(spec).await {
            Ok(dyno) => dyno,
            Err(e) if e.downcast_ref::<BootTimeout>().is_some() => {
                self.log(&format!("Error R10 (Boot timeout) -> {e:#}"));
                self.log("Stopping process with SIGKILL");
                return Ended::Crashed;
            }
            Err(e) => {
                if let Some(full) = e.downcast_ref::<NoCapacity>() {
                    return Ended::NoCapacity(full.to_string());
                }
                self.log(&format!("Error R10 (Boot failure) -> {e:#}"));
                return Ended::Crashed;
            }
        };
        self.set_state(DynoState::Up);
        self.runtime.publish(dyno.clone());
        let mut run = self.run.clone();
        let asked = async move {
            match run.wait_for(|r| *r != Run::Running).await {
                Ok(mode) => *mode,
                Err(_) => Run::Stop,
            }
        };
        let mode = tokio::select! {
            mode = asked => mode,
            why = dyno.over_disk_quota() => {
                self.runtime.unpublish(&dyno);
                self.log(&format!("{why}; stopping process with SIGKILL"));
                dyno.kill();
                self.log("Process exited with status 137");
                return Ended::Crashed;
            }
        };
        self.runtime.unpublish(&dyno);
        self.log("Stopping all processes with SIGTERM");
        dyno.stop();
        let grace = self.manager.config.shutdown_grace;
        if dyno.wait_stopped(grace).await {
            self.log("Process exited with status 143");
        } else {
            self.log(&Exit::Killed.describe(grace));
        }
        if mode == Run::Idle {
            // Asleep: its wake will find a fresh copy of the slug's files ready,
            // this very folder if the dyno changed none of them.
            dyno.keep_files_as_spare();
            return Ended::As(DynoState::Idle);
        }
        Ended::As(DynoState::Down)
    }

    /// Runs a worker until it ends (a crash: `None`) or is told to stop.
    async fn run_command(&mut self) -> Ended {
        let Some(spec) = self.prepare().await else {
            return Ended::Crashed;
        };
        let grace = self.manager.config.shutdown_grace;
        let (stop, mut task) = command::start(spec, grace);
        self.status.set_usage(Some(stop.usage().clone()));
        self.set_state(DynoState::Up);
        let mut run = self.run.clone();
        let stop_asked = async move {
            let _ = run.wait_for(|r| *r != Run::Running).await;
        };
        let ended = tokio::select! {
            exit = &mut task => Some(exit),
            () = stop_asked => None,
        };
        if let Some(exit) = ended {
            self.status.set_usage(None);
            let exit = exit
                .unwrap_or_else(|e| Exit::Crashed(format!("Error R99 (Platform error) -> {e}")));
            self.log(&exit.describe(grace));
            return Ended::Crashed;
        }
        self.log("Stopping all processes with SIGTERM");
        stop.stop();
        let exit = task.await.unwrap_or(Exit::Killed);
        self.status.set_usage(None);
        self.log(&exit.describe(grace));
        Ended::As(DynoState::Down)
    }

    fn set_state(&self, state: DynoState) {
        let previous = {
            let mut status = self.status.status.lock().expect("status lock poisoned");
            let previous = status.state;
            status.state = state;
            status.since = OffsetDateTime::now_utc();
            previous
        };
        if previous != state {
            self.log(&format!("State changed from {previous} to {state}"));
            // A dyno told to stop was replaced or scaled away: what it says
            // now must not overwrite its successor's word in the lease.
            if *self.run.borrow() != Run::Stop {
                self.manager
                    .report_status(&self.runtime.name, &self.status.get());
            }
        }
        if state != DynoState::Starting {
            self.status.settled.send_replace(true);
        }
        self.runtime.state_changed();
    }

    fn log(&self, text: &str) {
        self.manager.log(&self.runtime.name, &self.spec.name, text);
    }
}
