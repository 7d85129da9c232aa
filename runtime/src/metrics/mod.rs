//! The platform's metrics: what the router saw per app, kept minute by minute
//! for 24 hours (`GET /apps/{app}/metrics`, `kumo metrics`), and the
//! operator's Prometheus families, served on `--metrics-listen`.
//!
//! One set per process, as Prometheus's own registries are: the router, the
//! dyno manager, the engine, the builds and Logplex count into it wherever
//! they are, with no handle passed around. Each server counts what it
//! served; a platform of several servers sums their scrapes.

mod minutes;

pub use minutes::{AppMinutes, KEPT_MINUTES, Memory, Minute, merge_nodes};

use prometheus::{
    Encoder as _, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

/// Response-time buckets (seconds) of the Prometheus histograms.
const SECONDS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process's metrics.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    codes: IntCounterVec,
    response: HistogramVec,
    pub wakes: IntCounter,
    pub wake_seconds: Histogram,
    pub compiles: IntCounterVec,
    pub builds: HistogramVec,
    pub drain_dropped: IntCounter,
    dynos: IntGaugeVec,
    instances: IntGauge,
    minutes: Mutex<HashMap<String, AppMinutes>>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn global() -> &'static Metrics {
    &METRICS
}

fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: T) -> T {
    registry
        .register(Box::new(metric.clone()))
        .expect("each metric is registered once, under its own name");
    metric
}

impl Metrics {
    fn new() -> Metrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            register(
                &registry,
                IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
            )
        };
        let histogram = |name: &str, help: &str, labels: &[&str], buckets: Vec<f64>| {
            register(
                &registry,
                HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
                    .expect("valid metric"),
            )
        };
        let metrics = Metrics {
            requests: counter(
                "kumo_router_requests_total",
                "Requests the router answered, by app and status class (2xx, 5xx…).",
                &["app", "status"],
            ),
            codes: counter(
                "kumo_router_errors_total",
                "Requests that ended in one of Heroku's error codes (H12, H13…), by app and code.",
                &["app", "code"],
            ),
            response: histogram(
                "kumo_router_response_seconds",
                "Time from a request's arrival to the end of its response, by app.",
                &["app"],
                SECONDS.to_vec(),
            ),
            wakes: register(
                &registry,
                IntCounter::new("kumo_wakes_total", "Sleeping apps woken by a request.")
                    .expect("valid metric"),
            ),
            wake_seconds: register(
                &registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "kumo_wake_seconds",
                        "Time from a wake to the app's first web dyno taking requests.",
                    )
                    .buckets(SECONDS.to_vec()),
                )
                .expect("valid metric"),
            ),
            compiles: counter(
                "kumo_compile_cache_total",
                "Components prepared, by whether their compiled code was cached (hit) or compiled (miss).",
                &["result"],
            ),
            builds: histogram(
                "kumo_build_seconds",
                "How long builds took, by outcome (succeeded, failed).",
                &["outcome"],
                vec![1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0],
            ),
            drain_dropped: register(
                &registry,
                IntCounter::new(
                    "kumo_drain_dropped_lines_total",
                    "Log lines drains lost because their queues were full (L10).",
                )
                .expect("valid metric"),
            ),
            dynos: register(
                &registry,
                IntGaugeVec::new(
                    Opts::new("kumo_dynos", "Dynos on this server, by state."),
                    &["state"],
                )
                .expect("valid metric"),
            ),
            instances: register(
                &registry,
                IntGauge::new(
                    "kumo_instances_in_use",
                    "Dyno instances the engine's pool holds now.",
                )
                .expect("valid metric"),
            ),
            registry,
            minutes: Mutex::new(HashMap::new()),
        };
        // Every series of a fixed label set is there from the start, at zero,
        // so a scrape shows it before it first happens.
        for result in ["hit", "miss"] {
            metrics.compiles.with_label_values(&[result]);
        }
        for outcome in ["succeeded", "failed"] {
            metrics.builds.with_label_values(&[outcome]);
        }
        metrics
    }

    /// Counts one request the router answered.
    pub fn request(&self, app: &str, status: u16, code: Option<&'static str>, service_ms: u128) {
        let class = match status / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        };
        self.requests.with_label_values(&[app, class]).inc();
        if let Some(code) = code {
            self.codes.with_label_values(&[app, code]).inc();
        }
        let ms = u64::try_from(service_ms).unwrap_or(u64::MAX);
        self.response
            .with_label_values(&[app])
            .observe(ms as f64 / 1000.0);
        let now = now_minute();
        let mut minutes = self.minutes.lock().expect("metrics lock poisoned");
        // The app's name is copied only the first time it is seen.
        match minutes.get_mut(app) {
            Some(kept) => kept.record(now, status, code, ms),
            None => minutes
                .entry(app.to_string())
                .or_default()
                .record(now, status, code, ms),
        }
    }

    /// The app's minutes with traffic among the last `count`.
    pub fn app_minutes(&self, app: &str, count: i64) -> Vec<Minute> {
        self.minutes
            .lock()
            .expect("metrics lock poisoned")
            .get(app)
            .map(|m| m.last(now_minute(), count))
            .unwrap_or_default()
    }

    /// Moves an app's minutes to its new name.
    pub fn renamed(&self, old: &str, new: &str) {
        let mut minutes = self.minutes.lock().expect("metrics lock poisoned");
        if let Some(kept) = minutes.remove(old) {
            minutes.insert(new.to_string(), kept);
        }
    }

    /// Notes a sample of the memory `app`'s dynos hold together now.
    pub fn memory(&self, app: &str, sample: Memory) {
        let mut minutes = self.minutes.lock().expect("metrics lock poisoned");
        match minutes.get_mut(app) {
            Some(kept) => kept.sample_memory(now_minute(), sample),
            None => minutes
                .entry(app.to_string())
                .or_default()
                .sample_memory(now_minute(), sample),
        }
    }

    /// The Prometheus text exposition of every family, with the gauges set
    /// from `dynos` (count by state) and `instances` first.
    pub fn render(&self, dynos: &[(&str, i64)], instances: i64) -> String {
        self.dynos.reset();
        for (state, count) in dynos {
            self.dynos.with_label_values(&[state]).set(*count);
        }
        self.instances.set(instances);
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "encoding the metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

fn now_minute() -> i64 {
    time::OffsetDateTime::now_utc()
        .unix_timestamp()
        .div_euclid(60)
}
