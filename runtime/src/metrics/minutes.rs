//! What the router saw of one app, minute by minute, for the last 24 hours:
//! requests, status classes, H-codes and response times (as a histogram, so a
//! minute's percentiles cost a fixed few bytes whatever its traffic), and the
//! most memory its dynos held together in the minute, from the dyno manager's
//! samples.

use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};

/// Minutes kept per app.
pub const KEPT_MINUTES: i64 = 24 * 60;
/// Upper bounds (ms) of the response-time buckets; the last is open.
const BOUNDS_MS: [u32; 27] = [
    1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000,
    5000, 7500, 10_000, 15_000, 20_000, 30_000,
];

/// One minute of one app.
#[derive(Clone, Debug, Default)]
pub struct Minute {
    /// Minutes since the Unix epoch.
    pub at: i64,
    pub requests: u64,
    /// 1xx … 5xx.
    pub statuses: [u64; 5],
    /// H-codes (and L-codes) by name.
    pub codes: BTreeMap<&'static str, u64>,
    buckets: [u32; BOUNDS_MS.len() + 1],
    total_ms: u64,
    /// The most bytes the app's dynos held at one sample, and their quota
    /// then; `None` when no dyno ran in the minute.
    pub memory: Option<Memory>,
}

/// The memory of an app's dynos at one sample: used and the sum of their quotas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    pub used: u64,
    pub quota: u64,
}

impl Memory {
    fn max(self, other: Option<Memory>) -> Memory {
        match other {
            Some(other) if other.used > self.used => other,
            _ => self,
        }
    }
}

impl Minute {
    fn record(&mut self, status: u16, code: Option<&'static str>, service_ms: u64) {
        self.requests += 1;
        if let Some(class) = (status / 100).checked_sub(1).filter(|c| *c < 5) {
            self.statuses[usize::from(class)] += 1;
        }
        if let Some(code) = code {
            *self.codes.entry(code).or_default() += 1;
        }
        let bucket = BOUNDS_MS
            .iter()
            .position(|&b| service_ms <= u64::from(b))
            .unwrap_or(BOUNDS_MS.len());
        self.buckets[bucket] += 1;
        self.total_ms += service_ms;
    }

    /// The response time under which `fraction` of the minute's requests
    /// finished: the upper bound of the bucket it falls in (ms).
    pub fn percentile(&self, fraction: f64) -> Option<u64> {
        let wanted = (self.requests as f64 * fraction).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, count) in self.buckets.iter().enumerate() {
            seen += u64::from(*count);
            if seen >= wanted {
                // Past the last bound: at least that long.
                let bound = BOUNDS_MS.get(i).unwrap_or(&BOUNDS_MS[BOUNDS_MS.len() - 1]);
                return Some(u64::from(*bound));
            }
        }
        None
    }

    /// The minutes of `all` as one: their counts and histograms added.
    pub fn sum(all: &[Minute]) -> Minute {
        let mut total = Minute {
            at: all.first().map_or(0, |m| m.at),
            ..Minute::default()
        };
        for minute in all {
            total.requests += minute.requests;
            for (t, m) in total.statuses.iter_mut().zip(minute.statuses) {
                *t += m;
            }
            for (code, count) in &minute.codes {
                *total.codes.entry(code).or_default() += count;
            }
            for (t, m) in total.buckets.iter_mut().zip(minute.buckets) {
                *t += m;
            }
            total.total_ms += minute.total_ms;
            if let Some(memory) = minute.memory {
                total.memory = Some(memory.max(total.memory));
            }
        }
        total
    }

    pub fn json(&self) -> Value {
        let at = time::OffsetDateTime::from_unix_timestamp(self.at * 60)
            .map(crate::state::format_time)
            .unwrap_or_default();
        json!({
            "at": at,
            "requests": self.requests,
            "throughput_rps": (self.requests as f64 / 60.0 * 1000.0).round() / 1000.0,
            "status": {
                "1xx": self.statuses[0], "2xx": self.statuses[1], "3xx": self.statuses[2],
                "4xx": self.statuses[3], "5xx": self.statuses[4],
            },
            "errors": self.codes,
            "response_time_ms": {
                "p50": self.percentile(0.50),
                "p95": self.percentile(0.95),
                "p99": self.percentile(0.99),
                "mean": (self.requests > 0).then(|| self.total_ms / self.requests),
            },
            "memory_mb": self.memory.map(|m| json!({
                "total": mb(m.used),
                "quota": mb(m.quota),
            })),
        })
    }
}

impl Minute {
    /// The minute as one node sends it to another (`GET /node-metrics`).
    pub fn wire(&self) -> Value {
        json!({
            "at": self.at,
            "requests": self.requests,
            "statuses": self.statuses,
            "codes": self.codes,
            "buckets": self.buckets,
            "total_ms": self.total_ms,
            "memory": self.memory.map(|m| [m.used, m.quota]),
        })
    }

    /// A minute another node sent; its codes are those `code` knows.
    pub fn from_wire(value: &Value, code: &dyn Fn(&str) -> Option<&'static str>) -> Option<Minute> {
        let mut minute = Minute {
            at: value["at"].as_i64()?,
            requests: value["requests"].as_u64()?,
            total_ms: value["total_ms"].as_u64()?,
            ..Minute::default()
        };
        for (slot, count) in minute
            .statuses
            .iter_mut()
            .zip(value["statuses"].as_array()?)
        {
            *slot = count.as_u64()?;
        }
        for (slot, count) in minute.buckets.iter_mut().zip(value["buckets"].as_array()?) {
            *slot = u32::try_from(count.as_u64()?).ok()?;
        }
        for (name, count) in value["codes"].as_object()? {
            *minute.codes.entry(code(name)?).or_default() += count.as_u64()?;
        }
        if let Some([used, quota]) = value["memory"].as_array().map(Vec::as_slice) {
            minute.memory = Some(Memory {
                used: used.as_u64()?,
                quota: quota.as_u64()?,
            });
        }
        Some(minute)
    }

    /// Adds another node's count of the same minute: requests and histograms
    /// add, and so do the memory peaks (each node's dynos are its own).
    pub fn add_node(&mut self, other: &Minute) {
        let memory = match (self.memory, other.memory) {
            (Some(a), Some(b)) => Some(Memory {
                used: a.used + b.used,
                quota: a.quota + b.quota,
            }),
            (a, b) => a.or(b),
        };
        *self = Minute::sum(&[self.clone(), other.clone()]);
        self.memory = memory;
    }
}

/// Minutes of several nodes merged by minute, oldest first.
pub fn merge_nodes(nodes: Vec<Vec<Minute>>) -> Vec<Minute> {
    let mut by_minute: BTreeMap<i64, Minute> = BTreeMap::new();
    for minute in nodes.into_iter().flatten() {
        match by_minute.get_mut(&minute.at) {
            Some(kept) => kept.add_node(&minute),
            None => {
                by_minute.insert(minute.at, minute);
            }
        }
    }
    by_minute.into_values().collect()
}

/// Bytes in MB, to two places, as the runtime metrics lines give them.
fn mb(bytes: u64) -> f64 {
    (bytes as f64 / (1024.0 * 1024.0) * 100.0).round() / 100.0
}

/// One app's minutes with traffic or dynos, oldest first.
#[derive(Debug, Default)]
pub struct AppMinutes {
    minutes: VecDeque<Minute>,
}

impl AppMinutes {
    pub fn record(
        &mut self,
        now_minute: i64,
        status: u16,
        code: Option<&'static str>,
        service_ms: u64,
    ) {
        self.minute(now_minute).record(status, code, service_ms);
    }

    /// Keeps the larger of the minute's memory and this sample.
    pub fn sample_memory(&mut self, now_minute: i64, sample: Memory) {
        let minute = self.minute(now_minute);
        minute.memory = Some(sample.max(minute.memory));
    }

    /// The minute `now_minute`, made (and the minutes past 24 hours dropped)
    /// the first time it is asked for.
    fn minute(&mut self, now_minute: i64) -> &mut Minute {
        if self.minutes.back().is_none_or(|m| m.at != now_minute) {
            while self
                .minutes
                .front()
                .is_some_and(|m| m.at <= now_minute - KEPT_MINUTES)
            {
                self.minutes.pop_front();
            }
            self.minutes.push_back(Minute {
                at: now_minute,
                ..Minute::default()
            });
        }
        self.minutes
            .back_mut()
            .expect("the current minute was just pushed")
    }

    /// The minutes with traffic among the last `count` before `now_minute` (included).
    pub fn last(&self, now_minute: i64, count: i64) -> Vec<Minute> {
        self.minutes
            .iter()
            .filter(|m| m.at > now_minute - count.clamp(1, KEPT_MINUTES))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_count_and_rank() {
        let mut app = AppMinutes::default();
        for ms in 1..=100 {
            app.record(1000, 200, None, ms);
        }
        app.record(1000, 503, Some("H12"), 30_000);
        app.record(1001, 404, None, 3);
        let minutes = app.last(1001, 60);
        assert_eq!(minutes.len(), 2);
        let first = &minutes[0];
        assert_eq!(first.requests, 101);
        assert_eq!(first.statuses, [0, 100, 0, 0, 1]);
        assert_eq!(first.codes.get("H12"), Some(&1));
        // The 51st fastest took 51 ms: its bucket ends at 75.
        assert_eq!(first.percentile(0.5), Some(75));
        assert_eq!(first.percentile(0.95), Some(100));
        assert_eq!(first.percentile(1.0), Some(30_000));
        // Past 24 hours a minute is gone.
        app.record(1000 + KEPT_MINUTES, 200, None, 1);
        assert_eq!(app.last(1000 + KEPT_MINUTES, KEPT_MINUTES).len(), 2);
        assert_eq!(app.last(1000 + KEPT_MINUTES, 1).len(), 1);
    }

    #[test]
    fn nodes_minutes_cross_the_wire_and_add_up() {
        let mut here = AppMinutes::default();
        let mut there = AppMinutes::default();
        here.record(10, 200, None, 3);
        here.record(10, 503, Some("H13"), 40);
        here.sample_memory(
            10,
            Memory {
                used: 100,
                quota: 512,
            },
        );
        there.record(10, 200, None, 400);
        there.sample_memory(
            10,
            Memory {
                used: 50,
                quota: 512,
            },
        );
        there.record(11, 200, None, 1);
        let known = |name: &str| ["H13"].into_iter().find(|c| *c == name);
        let sent: Vec<Minute> = there
            .last(11, 60)
            .iter()
            .map(|m| Minute::from_wire(&m.wire(), &known).unwrap())
            .collect();
        assert_eq!(sent.len(), 2);
        let merged = merge_nodes(vec![here.last(11, 60), sent]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].requests, 3);
        assert_eq!(merged[0].statuses, [0, 2, 0, 0, 1]);
        assert_eq!(merged[0].codes.get("H13"), Some(&1));
        assert_eq!(merged[0].percentile(1.0), Some(500));
        assert_eq!(
            merged[0].memory,
            Some(Memory {
                used: 150,
                quota: 1024
            })
        );
        assert_eq!(merged[1].requests, 1);
        assert!(Minute::from_wire(&json!({"at": 1}), &known).is_none());
    }

    #[test]
    fn memory_keeps_the_minutes_peak() {
        let mut app = AppMinutes::default();
        let sample = |used| Memory { used, quota: 512 };
        app.sample_memory(5, sample(10));
        app.sample_memory(5, sample(30));
        app.sample_memory(5, sample(20));
        app.record(6, 200, None, 1);
        app.sample_memory(6, sample(15));
        let minutes = app.last(6, 60);
        assert_eq!(minutes[0].memory, Some(sample(30)));
        assert_eq!(minutes[0].requests, 0);
        assert_eq!(minutes[1].memory, Some(sample(15)));
        assert_eq!(Minute::sum(&minutes).memory, Some(sample(30)));
        app.record(7, 200, None, 1);
        assert_eq!(app.last(7, 1)[0].memory, None);
    }
}
