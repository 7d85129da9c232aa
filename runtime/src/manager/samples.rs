//! Heroku's runtime metrics in the logs: every [`LOG_EVERY`] each running dyno
//! (web, worker or one-off) writes its memory and load to its app's stream,
//! as `log-runtime-metrics` lines:
//!
//! ```text
//! kumo[web.1]: source=web.1 dyno=kumo.myapp.web.1 sample#memory_total=21.50MB sample#memory_rss=21.50MB … sample#memory_quota=512.00MB
//! kumo[web.1]: source=web.1 dyno=kumo.myapp.web.1 sample#load_avg_1m=0.42 sample#load_avg_5m=0.18 sample#load_avg_15m=0.07
//! ```
//!
//! Memory is the dyno's linear memory, from the engine's accounting
//! (`DynoMemory`); a Wasm dyno has no page cache or swap, so those are 0. The
//! load is Linux's formula over what a dyno runs, sampled every
//! [`SAMPLE_EVERY`] and averaged exponentially over 1, 5 and 15 minutes: for a
//! web dyno the requests it is serving, for a command the share of the
//! interval its instance spent running. Each sample also gives the app's
//! minute its dynos' memory together (`metrics::Memory`, the dashboard's chart).

use super::DynoManager;
use crate::dynos::command::Usage;
use crate::dynos::web::WebDyno;
use crate::logplex::Source;
use crate::metrics::Memory;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How often the load is sampled (Linux samples every 5 s too).
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// How often each dyno's lines are logged, as on Heroku.
pub const LOG_EVERY: Duration = Duration::from_secs(20);

/// A dyno's load averages over 1, 5 and 15 minutes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Loads([f64; 3]);

impl Loads {
    /// Folds in one sample of `running` tasks taken `SAMPLE_EVERY` after the last.
    fn sample(&mut self, running: f64) {
        for (load, minutes) in self.0.iter_mut().zip([1.0, 5.0, 15.0]) {
            let decay = (-SAMPLE_EVERY.as_secs_f64() / (minutes * 60.0)).exp();
            *load = *load * decay + running * (1.0 - decay);
        }
    }
}

/// A running dyno the sampler reads.
enum Sampled {
    Web(Arc<WebDyno>),
    Command(Arc<Usage>),
}

/// What the sampler keeps of a dyno between samples.
#[derive(Default)]
struct Kept {
    loads: Loads,
    /// A command's running time at the last sample.
    running: Duration,
}

impl DynoManager {
    /// Samples and logs every running dyno's runtime metrics until the runtime ends.
    pub(super) fn start_sampling(self: &Arc<Self>) {
        let manager = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut kept: HashMap<(String, String), Kept> = HashMap::new();
            let per_log = (LOG_EVERY.as_secs() / SAMPLE_EVERY.as_secs()).max(1);
            let mut tick = 0u64;
            loop {
                tokio::time::sleep(SAMPLE_EVERY).await;
                let Some(manager) = manager.upgrade() else {
                    return;
                };
                tick += 1;
                let apps = manager.running_dynos();
                kept.retain(|(app, name), _| {
                    apps.get(app)
                        .is_some_and(|dynos| dynos.iter().any(|(n, _)| n == name))
                });
                for (app, dynos) in &apps {
                    let mut memory = Memory::default();
                    for (name, dyno) in dynos {
                        let kept = kept.entry((app.clone(), name.clone())).or_default();
                        let (used, quota) = match dyno {
                            Sampled::Web(web) => {
                                kept.loads.sample(web.in_flight() as f64);
                                (web.memory_used(), web.memory_quota())
                            }
                            Sampled::Command(usage) => {
                                let running = usage.running_time();
                                let busy = running.saturating_sub(kept.running);
                                kept.running = running;
                                kept.loads
                                    .sample(busy.as_secs_f64() / SAMPLE_EVERY.as_secs_f64());
                                (usage.memory.used(), usage.memory.cap)
                            }
                        };
                        memory.used += used;
                        memory.quota += quota;
                        if tick.is_multiple_of(per_log) {
                            manager.log_samples(app, name, used, quota, kept.loads);
                        }
                    }
                    if !dynos.is_empty() {
                        crate::metrics::global().memory(app, memory);
                    }
                }
            }
        });
    }

    /// Every app's running dynos by name: web dynos that take requests,
    /// workers that are up, one-offs.
    fn running_dynos(&self) -> HashMap<String, Vec<(String, Sampled)>> {
        let apps: Vec<_> = self
            .apps
            .read()
            .expect("apps lock poisoned")
            .iter()
            .map(|(name, runtime)| (name.clone(), runtime.clone()))
            .collect();
        apps.into_iter()
            .map(|(name, runtime)| {
                let mut dynos: Vec<(String, Sampled)> = runtime
                    .view
                    .read()
                    .expect("view lock poisoned")
                    .dynos
                    .iter()
                    .map(|d| (d.name().to_string(), Sampled::Web(d.clone())))
                    .collect();
                for slot in runtime.slots.lock().expect("slots lock poisoned").iter() {
                    let status = slot.status();
                    if let Some(usage) = status.usage() {
                        dynos.push((status.get().name, Sampled::Command(usage)));
                    }
                }
                for one_off in runtime
                    .one_offs
                    .lock()
                    .expect("one-offs lock poisoned")
                    .iter()
                {
                    let usage = one_off.stop.usage().clone();
                    dynos.push((one_off.status.name.clone(), Sampled::Command(usage)));
                }
                (name, dynos)
            })
            .collect()
    }

    fn log_samples(&self, app: &str, name: &str, used: u64, quota: u64, load: Loads) {
        let head = format!("source={name} dyno=kumo.{app}.{name}");
        let mb = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        let (used, quota) = (mb(used), mb(quota));
        self.logplex.log(
            app,
            Source::Kumo,
            name,
            &format!(
                "{head} sample#memory_total={used:.2}MB sample#memory_rss={used:.2}MB sample#memory_cache=0.00MB \
                 sample#memory_swap=0.00MB sample#memory_pgpgin=0pages sample#memory_pgpgout=0pages \
                 sample#memory_quota={quota:.2}MB"
            ),
        );
        let [one, five, fifteen] = load.0;
        self.logplex.log(
            app,
            Source::Kumo,
            name,
            &format!(
                "{head} sample#load_avg_1m={one:.2} sample#load_avg_5m={five:.2} sample#load_avg_15m={fifteen:.2}"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_follow_linux_averages() {
        let mut loads = Loads::default();
        // A minute of one running task: the 1-minute average nears 1 - 1/e.
        for _ in 0..12 {
            loads.sample(1.0);
        }
        assert!(
            (loads.0[0] - (1.0 - (-1.0f64).exp())).abs() < 1e-9,
            "{loads:?}"
        );
        assert!(
            loads.0[1] < loads.0[0] && loads.0[2] < loads.0[1],
            "{loads:?}"
        );
        for _ in 0..120 {
            loads.sample(0.0);
        }
        assert!(loads.0[0] < 0.001, "{loads:?}");
    }
}
