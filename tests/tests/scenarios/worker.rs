//! Worker dynos run to completion; any exit is a crash, restarted at once the
//! first time and after growing cool-offs when it keeps crashing.

use kumo_runtime::dynos::DynoState;
use kumo_runtime::sizes::DynoSize::Standard1X;
use kumo_slug::ProcessKind;
use kumo_tests::{Kumo, Options, Process, components};
use std::time::Duration;

fn stamp_seconds(line: &str) -> f64 {
    // 2026-11-24T10:00:05.123456+00:00 → seconds within the day
    let time = &line[11..26];
    let (h, rest) = time.split_once(':').unwrap();
    let (m, s) = rest.split_once(':').unwrap();
    h.parse::<f64>().unwrap() * 3600.0
        + m.parse::<f64>().unwrap() * 60.0
        + s.parse::<f64>().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_worker_is_restarted_with_backoff() {
    let mut options = Options::default();
    options.backoff.first_cooloff = Duration::from_millis(1500);
    let kumo = Kumo::start_with(options).await;
    let slug = kumo.slug(&[Process {
        name: "worker",
        wasm: components::WORKER,
        kind: ProcessKind::Command,
        args: &["--verbose", "fast"],
    }]);
    kumo.deploy(
        "jobs",
        1,
        &slug,
        &[("QUEUE", "mail")],
        &[("worker", 1, Standard1X)],
    )
    .await;

    kumo.wait_for_log(
        "jobs",
        "app[worker.1]: working on mail",
        Duration::from_secs(10),
    )
    .await;
    kumo.wait_for_log(
        "jobs",
        "app[worker.1]: args: --verbose fast",
        Duration::from_secs(10),
    )
    .await;
    kumo.wait_for_log(
        "jobs",
        "app[worker.1]: worker failing",
        Duration::from_secs(10),
    )
    .await;
    // The preview 1 adapter reports any non-zero exit as status 1.
    kumo.wait_for_log(
        "jobs",
        "kumo[worker.1]: Process exited with status 1",
        Duration::from_secs(10),
    )
    .await;

    // Wait for the third start: crash 1 → at once, crash 2 → 1.5 s cool-off.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let starts = loop {
        let starts: Vec<String> = kumo
            .logs("jobs")
            .into_iter()
            .filter(|l| l.contains("kumo[worker.1]: State changed from crashed to starting"))
            .collect();
        if starts.len() >= 2 {
            break starts;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            kumo.logs("jobs").join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let crashes: Vec<String> = kumo
        .logs("jobs")
        .into_iter()
        .filter(|l| l.contains("kumo[worker.1]: State changed from up to crashed"))
        .collect();
    let first_restart = stamp_seconds(&starts[0]) - stamp_seconds(&crashes[0]);
    let second_restart = stamp_seconds(&starts[1]) - stamp_seconds(&crashes[1]);
    assert!(
        first_restart < 0.5,
        "the first crash restarts at once, took {first_restart}s"
    );
    assert!(
        second_restart >= 1.4,
        "the second waits the cool-off, took {second_restart}s"
    );

    let ps = kumo.manager.dynos("jobs");
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0].name, "worker.1");
    assert_eq!(ps[0].command, "worker.wasm --verbose fast");
    assert!(
        matches!(
            ps[0].state,
            DynoState::Crashed | DynoState::Starting | DynoState::Up
        ),
        "{:?}",
        ps[0].state
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_a_worker_down_stops_it() {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process {
        name: "worker",
        wasm: components::WORKER,
        kind: ProcessKind::Command,
        args: &[],
    }]);
    kumo.deploy("scaled", 1, &slug, &[], &[("worker", 2, Standard1X)])
        .await;
    kumo.wait_for_log(
        "scaled",
        "app[worker.2]: worker starting",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(kumo.manager.dynos("scaled").len(), 2);
    kumo.update("scaled", |app| {
        app.formation.get_mut("worker").unwrap().quantity = 0;
    })
    .await;
    assert!(kumo.manager.dynos("scaled").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_worker_logs_its_runtime_metrics() {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process {
        name: "worker",
        wasm: components::ONESHOT,
        kind: ProcessKind::Command,
        args: &["sleep-env=NAP"],
    }]);
    kumo.deploy(
        "sampled",
        1,
        &slug,
        &[("NAP", "120")],
        &[("worker", 1, Standard1X)],
    )
    .await;
    // Every 20 s, as a web dyno's: its linear memory and its load.
    let memory = kumo
        .wait_for_log(
            "sampled",
            "kumo[worker.1]: source=worker.1 dyno=kumo.sampled.worker.1 sample#memory_total=",
            Duration::from_secs(40),
        )
        .await;
    assert!(memory.ends_with("sample#memory_quota=512.00MB"), "{memory}");
    let used: f64 = memory
        .split("sample#memory_total=")
        .nth(1)
        .and_then(|rest| rest.split("MB").next())
        .and_then(|mb| mb.parse().ok())
        .unwrap();
    assert!(used > 0.0, "{memory}");
    let load = kumo
        .wait_for_log(
            "sampled",
            "kumo[worker.1]: source=worker.1 dyno=kumo.sampled.worker.1 sample#load_avg_1m=",
            Duration::from_secs(10),
        )
        .await;
    // A worker asleep in `thread::sleep` runs nothing: its load stays near 0.
    let one_minute: f64 = load
        .split("sample#load_avg_1m=")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(one_minute < 0.5, "{load}");
}
