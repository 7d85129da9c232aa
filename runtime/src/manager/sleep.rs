//! Eco sleep: the sweeper that puts idle apps to sleep, early sleep to free
//! instance slots for another app (`reclaim_instances`), and the wake.

use super::{AppRuntime, DynoManager, DynoStatus, slot};
use crate::dynos::DynoState;
use slot::Slot;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use time::OffsetDateTime;

/// The web dynos of a sleeping app, listed by `dynos` in place of its slots: from
/// the moment it starts to sleep (shown as they stop, then `idle`) until a wake
/// has started their successors (shown as `starting` since the wake).
#[derive(Default)]
pub(super) struct Asleep {
    dynos: Vec<Arc<slot::SlotStatus>>,
    woke: Option<OffsetDateTime>,
}

impl Asleep {
    /// The statuses `dynos` lists for the web dynos that have no slot (of the
    /// same name) in `slots`.
    pub(super) fn listed(&self, slots: &[Slot]) -> Vec<DynoStatus> {
        self.dynos
            .iter()
            .map(|status| status.get())
            .filter(|status| !slots.iter().any(|s| s.name() == status.name))
            .map(|mut status| {
                if let Some(woke) = self.woke {
                    (status.state, status.since) = (DynoState::Starting, woke);
                }
                status
            })
            .collect()
    }

    /// The state a new slot named `name` shows until its supervisor runs:
    /// `starting` for a dyno a wake has logged as starting already, else `down`.
    pub(super) fn shown_as(&self, name: &str) -> DynoState {
        if self.woke.is_some() && self.dynos.iter().any(|s| s.get().name == name) {
            DynoState::Starting
        } else {
            DynoState::Down
        }
    }
}

impl DynoManager {
    /// Every `sleep_after / 4`, clamped between 50 ms and 30 s, puts the apps idle
    /// for `sleep_after` to sleep, for as long as the manager lives.
    pub(super) fn start_sleep_sweeper(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let every =
            (self.config.sleep_after / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(manager) = weak.upgrade() else {
                    return;
                };
                manager.put_idle_apps_to_sleep().await;
            }
        });
    }

    /// Wakes a sleeping app for a request: logs `Unidling` and converges it from
    /// the desired state it last converged to. Returns whether this call woke it.
    pub(super) fn wake(self: &Arc<Self>, runtime: &Arc<AppRuntime>) -> bool {
        {
            let mut view = runtime.view.write().expect("view lock poisoned");
            if !view.sleeping {
                return false;
            }
            view.sleeping = false;
        }
        crate::metrics::global().wakes.inc();
        runtime.asleep.lock().expect("asleep lock poisoned").woke = Some(OffsetDateTime::now_utc());
        for index in 1..=runtime
            .view
            .read()
            .expect("view lock poisoned")
            .web_quantity
        {
            let dyno = format!("web.{index}");
            self.log(&runtime.name, &dyno, "Unidling");
            self.log(&runtime.name, &dyno, "State changed from idle to starting");
        }
        let manager = self.clone();
        let app = runtime.name.clone();
        tokio::spawn(async move { manager.converge_on_wake(&app).await });
        true
    }

    async fn put_idle_apps_to_sleep(self: &Arc<Self>) {
        let now = self.now_us();
        let idle_us = self.config.sleep_after.as_micros() as u64;
        for runtime in self.awake_sleepers() {
            if now.saturating_sub(runtime.last_request_us.load(Ordering::Relaxed)) >= idle_us {
                self.put_to_sleep(&runtime, "Idling").await;
            }
        }
    }

    /// Apps whose web dynos sleep (eco) and are awake now.
    fn awake_sleepers(&self) -> Vec<Arc<AppRuntime>> {
        self.apps
            .read()
            .expect("apps lock poisoned")
            .values()
            .filter(|runtime| {
                let view = runtime.view.read().expect("view lock poisoned");
                view.sleeps && !view.sleeping && !view.dynos.is_empty()
            })
            .cloned()
            .collect()
    }

    /// Frees instance slots for `app`'s dyno when the engine's pool is full: puts
    /// to sleep early, as its idle time would later, the awake eco app whose last
    /// request is oldest among those that hold pooled instances, are idle (no
    /// request waiting or being served, no body still streaming) and have every
    /// web dyno up. Returns whether one was.
    ///
    /// It never waits for another app's converge lock (an app busy converging is
    /// skipped), and an app with a web dyno still starting (perhaps waiting for a
    /// slot itself, inside this very function) is never chosen, so two apps
    /// reclaiming from each other cannot wait on each other.
    pub(crate) async fn reclaim_instances(self: &Arc<Self>, app: &str) -> bool {
        let mut candidates: Vec<(u64, Arc<AppRuntime>)> = self
            .awake_sleepers()
            .into_iter()
            .filter(|runtime| runtime.name != app && runtime.reclaimable())
            .map(|runtime| (runtime.last_request_us.load(Ordering::Relaxed), runtime))
            .collect();
        candidates.sort_by_key(|(last, _)| *last);
        for (_, runtime) in candidates {
            let Ok(guard) = runtime.converging.try_lock() else {
                continue;
            };
            // Checked again under the lock: a request may have come in meanwhile.
            if !runtime.reclaimable() {
                continue;
            }
            let line = "Idling early: the server needs its instance slots for another app";
            if self.sleep_locked(&runtime, line, guard).await {
                return true;
            }
        }
        false
    }

    /// Stops `runtime`'s web dynos as asleep (`idle`), logging `line` for each;
    /// false if it was asleep already.
    async fn put_to_sleep(self: &Arc<Self>, runtime: &Arc<AppRuntime>, line: &str) -> bool {
        let guard = runtime.converging.lock().await;
        self.sleep_locked(runtime, line, guard).await
    }

    async fn sleep_locked(
        self: &Arc<Self>,
        runtime: &Arc<AppRuntime>,
        line: &str,
        _converging: tokio::sync::MutexGuard<'_, ()>,
    ) -> bool {
        {
            let mut view = runtime.view.write().expect("view lock poisoned");
            if view.sleeping || !view.sleeps || view.dynos.is_empty() {
                return false;
            }
            view.sleeping = true;
        }
        let web: Vec<Slot> = {
            let mut slots = runtime.slots.lock().expect("slots lock poisoned");
            let (web, rest): (Vec<Slot>, Vec<Slot>) = std::mem::take(&mut *slots)
                .into_iter()
                .partition(|s| s.process_type() == "web");
            *slots = rest;
            // Under the slots lock, as `dynos` reads both under it.
            *runtime.asleep.lock().expect("asleep lock poisoned") = Asleep {
                dynos: web.iter().map(Slot::status).collect(),
                woke: None,
            };
            web
        };
        for slot in &web {
            self.log(&runtime.name, slot.name(), line);
            slot.stop(true);
        }
        for slot in web {
            slot.stopped().await;
        }
        true
    }
}

impl AppRuntime {
    /// Whether putting this app to sleep would free pooled instances and cut off
    /// nothing: every web dyno is up and holds instances, and none is busy.
    fn reclaimable(&self) -> bool {
        let all_up = {
            let slots = self.slots.lock().expect("slots lock poisoned");
            slots
                .iter()
                .filter(|s| s.process_type() == "web")
                .all(|s| s.status().get().state == DynoState::Up)
        };
        let view = self.view.read().expect("view lock poisoned");
        all_up
            && !view.dynos.is_empty()
            && view
                .dynos
                .iter()
                .all(|dyno| dyno.holds_instances() && !dyno.busy())
    }
}
