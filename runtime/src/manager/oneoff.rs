//! One-off dynos (`kumo run`, `run:detached`): `run.N`, started from the app's
//! current release with a process type or a component of its slug, run once to
//! completion, shown by `ps` while they run and never restarted.

use super::{AppRuntime, DynoManager, DynoStatus};
use crate::dynos::DynoSpec;
use crate::dynos::DynoState;
use crate::dynos::command::{self, Exit, Stdio, StopHandle};
use crate::engine::Prepared;
use crate::sizes::DynoSize;
use crate::source::ReleaseSpec;
use kumo_slug::{ProcessKind, ProcessType};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::oneshot;

/// The longest a one-off dyno may run, as on Heroku: 24 hours.
pub const MAX_TIME_TO_LIVE: Duration = Duration::from_secs(86_400);

/// What to run.
pub struct OneOffRequest {
    /// The name reserved with [`DynoManager::reserve_one_off_name`], or none for the next `run.N`.
    pub name: Option<String>,
    /// A process type of the release, or the path of a `.wasm` component in the
    /// slug, then its arguments.
    pub argv: Vec<String>,
    /// Extra environment on top of the release's config vars.
    pub env: BTreeMap<String, String>,
    pub size: DynoSize,
    pub stdio: Stdio,
    pub time_to_live: Duration,
    /// The release to run; the app's current release when `None`. The release
    /// phase runs a release that is not yet current.
    pub release: Option<ReleaseSpec>,
}

/// A running one-off dyno.
pub(super) struct OneOff {
    pub status: DynoStatus,
    pub stop: StopHandle,
}

/// A started one-off dyno: its name, its release, and how it ended, once it has.
pub struct Started {
    pub name: String,
    pub release: u64,
    pub command: String,
    pub exit: oneshot::Receiver<Exit>,
}

impl DynoManager {
    /// Starts a one-off dyno of `app`'s current release. The error says what
    /// to fix: no release, an unknown command, a component that is no command.
    pub async fn run_one_off(
        self: &Arc<Self>,
        app: &str,
        request: OneOffRequest,
    ) -> Result<Started, String> {
        let Some(program) = request.argv.first().cloned() else {
            return Err(
                "no command given: name a process type or a .wasm component of the slug".into(),
            );
        };
        let spec = self
            .source
            .app(app)
            .await
            .map_err(|e| format!("{e:#}"))?
            .ok_or_else(|| format!("Couldn't find the app {app}."))?;
        let mut release = request
            .release
            .or(spec.release)
            .ok_or_else(|| format!("{app} has no release yet: deploy it first"))?;
        let slug = self
            .slugs
            .get(&release.slug)
            .await
            .map_err(|e| format!("release v{} cannot start: {e:#}", release.version))?;
        // A program of the slug may be named without `.wasm`, as its users type
        // it: `java …` runs the JVM buildpack's `java.wasm`.
        let program = match slug.manifest.process_types.contains_key(&program) {
            false
                if !program.ends_with(".wasm")
                    && !program.contains('/')
                    && slug.app_dir().join(format!("{program}.wasm")).is_file() =>
            {
                format!("{program}.wasm")
            }
            _ => program,
        };
        let (process_type, mut process) = match slug.manifest.process_types.get(&program) {
            Some(process) => (program.clone(), process.clone()),
            None if program.ends_with(".wasm")
                && !program
                    .split('/')
                    .any(|part| part == ".." || part.is_empty())
                && slug.app_dir().join(&program).is_file() =>
            {
                (
                    "run".to_string(),
                    ProcessType {
                        component: program.clone(),
                        args: Vec::new(),
                        kind: ProcessKind::Command,
                    },
                )
            }
            None => {
                let types: Vec<&str> = slug
                    .manifest
                    .process_types
                    .keys()
                    .map(String::as_str)
                    .collect();
                return Err(format!(
                    "`{program}` is neither a process type of release v{} ({}) nor a .wasm component in its slug",
                    release.version,
                    types.join(", ")
                ));
            }
        };
        if process.kind == ProcessKind::Http {
            return Err(format!(
                "process type `{process_type}` serves HTTP and cannot run as a one-off: run a command (a wasi:cli component)"
            ));
        }
        process.kind = ProcessKind::Command;
        process.args.extend(request.argv[1..].iter().cloned());
        let prepared = self
            .engine
            .prepare(&slug, &process)
            .await
            .map_err(|e| format!("`{program}`: {e}"))?;
        if !matches!(*prepared, Prepared::Command(_)) {
            return Err(format!("`{program}` is not a wasi:cli command"));
        }
        release.config.extend(request.env);

        let runtime = self.runtime(app);
        let name = match request.name {
            Some(name) => name,
            None => self.reserve_one_off_name(app),
        };
        let command = request.argv.join(" ");
        let dyno = DynoSpec {
            app: app.to_string(),
            name: name.clone(),
            release: release.clone(),
            slug,
            process_type,
            process,
            size: request.size,
            prepared,
            engine: self.engine.clone(),
            log: self.logplex.app(app),
            dynos_dir: self.config.data_dir.join("dynos"),
            port: self.router_port.load(Ordering::Relaxed),
            request_deadline: self.config.request_deadline,
            boot_deadline: self.config.boot_timeout,
            disk_quota: self.config.disk_quota,
            outbound_private: self.config.outbound_private,
            addons: self.config.addons.clone(),
        };
        self.log(
            app,
            &name,
            &format!("Starting process with command `{command}`"),
        );
        let (stop, task) = command::start_with(dyno, self.config.shutdown_grace, request.stdio);
        self.log(app, &name, "State changed from starting to up");
        runtime
            .one_offs
            .lock()
            .expect("one-offs lock poisoned")
            .push(OneOff {
                status: DynoStatus {
                    name: name.clone(),
                    process_type: "run".to_string(),
                    state: DynoState::Up,
                    release: release.version,
                    size: request.size,
                    command: command.clone(),
                    since: OffsetDateTime::now_utc(),
                },
                stop: stop.clone(),
            });
        let (tx, rx) = oneshot::channel();
        let manager = self.clone();
        let ttl = request.time_to_live.min(MAX_TIME_TO_LIVE);
        let watched = name.clone();
        tokio::spawn(async move {
            let mut task = task;
            let exit = match tokio::time::timeout(ttl, &mut task).await {
                Ok(joined) => {
                    joined.unwrap_or_else(|e| Exit::Crashed(format!("Process crashed: {e}")))
                }
                Err(_) => {
                    manager.log(
                        &runtime.name,
                        &watched,
                        &format!(
                            "Stopping process: its time to live of {} s ran out",
                            ttl.as_secs()
                        ),
                    );
                    stop.stop();
                    task.await.unwrap_or(Exit::Killed)
                }
            };
            manager.log(
                &runtime.name,
                &watched,
                &exit.describe(manager.config.shutdown_grace),
            );
            manager.log(&runtime.name, &watched, "State changed from up to complete");
            runtime
                .one_offs
                .lock()
                .expect("one-offs lock poisoned")
                .retain(|o| o.status.name != watched);
            let _ = tx.send(exit);
        });
        Ok(Started {
            name,
            release: release.version,
            command,
            exit: rx,
        })
    }

    /// Whether slug `digest` declares a `release` process type, which must
    /// succeed before a release of it goes live.
    pub async fn has_release_phase(&self, digest: &kumo_slug::Digest) -> Result<bool, String> {
        let slug = self.slugs.get(digest).await.map_err(|e| format!("{e:#}"))?;
        Ok(slug.manifest.process_types.contains_key("release"))
    }

    /// The name of the next one-off dyno of `app`: `run.1`, `run.2`, …
    pub fn reserve_one_off_name(&self, app: &str) -> String {
        let number = self
            .runtime(app)
            .one_off_counter
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        format!("run.{number}")
    }

    /// Stops the one-off dyno `name` of `app`; false if there is none.
    pub fn stop_one_off(&self, app: &str, name: &str) -> bool {
        let Some(runtime) = self
            .apps
            .read()
            .expect("apps lock poisoned")
            .get(app)
            .cloned()
        else {
            return false;
        };
        let one_offs = runtime.one_offs.lock().expect("one-offs lock poisoned");
        match one_offs.iter().find(|o| o.status.name == name) {
            Some(one_off) => {
                one_off.stop.stop();
                true
            }
            None => false,
        }
    }
}

impl AppRuntime {
    pub(super) fn one_off_statuses(&self) -> Vec<DynoStatus> {
        self.one_offs
            .lock()
            .expect("one-offs lock poisoned")
            .iter()
            .map(|o| o.status.clone())
            .collect()
    }

    pub(super) fn stop_one_offs(&self) {
        for one_off in self.one_offs.lock().expect("one-offs lock poisoned").iter() {
            one_off.stop.stop();
        }
    }
}
