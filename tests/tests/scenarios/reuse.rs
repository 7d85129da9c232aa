//! Web dynos keep their instances warm: in-memory state survives between requests
//! to the same dyno, and two dynos do not share it.

use kumo_runtime::sizes::DynoSize::Standard1X;
use kumo_tests::{Kumo, Process, components, request_id};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_lives_across_requests_to_one_dyno() {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::COUNTER)]);
    kumo.deploy(
        "counter",
        1,
        &slug,
        &[("WEB_CONCURRENCY", "1")],
        &[("web", 1, Standard1X)],
    )
    .await;
    for expected in 1..=5 {
        let reply = kumo.get("counter", "/").await;
        assert_eq!(reply.text(), format!("count={expected}\n"));
    }
    kumo.wait_for_log(
        "counter",
        "app[web.1]: counted 5",
        std::time::Duration::from_secs(5),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dynos_count_separately() {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::COUNTER)]);
    kumo.deploy(
        "counters",
        1,
        &slug,
        &[("WEB_CONCURRENCY", "1")],
        &[("web", 2, Standard1X)],
    )
    .await;
    let mut last = std::collections::BTreeMap::new();
    for i in 0..60 {
        let id = request_id(&format!("c{i}"));
        let reply = kumo
            .request("counters", "GET", "/", &[("x-request-id", &id)], b"")
            .await;
        let count: u64 = reply
            .text()
            .trim()
            .trim_start_matches("count=")
            .parse()
            .expect("a count");
        let line = kumo.router_line("counters", &id).await;
        let dyno = if line.contains("dyno=web.1 ") {
            "web.1"
        } else {
            "web.2"
        };
        let previous = last.insert(dyno, count).unwrap_or(0);
        assert_eq!(
            count,
            previous + 1,
            "{dyno} counts its own requests, one by one"
        );
    }
    assert_eq!(last.len(), 2, "both dynos served requests: {last:?}");
    assert_eq!(last.values().sum::<u64>(), 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_concurrency_instances_serve_in_parallel() {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::HELLO)]);
    kumo.deploy(
        "parallel",
        1,
        &slug,
        &[("WEB_CONCURRENCY", "4")],
        &[("web", 1, Standard1X)],
    )
    .await;
    let started = std::time::Instant::now();
    let replies =
        futures::future::join_all((0..4).map(|_| kumo.get("parallel", "/slow?ms=1000"))).await;
    for reply in &replies {
        assert_eq!(reply.text(), "slept 1000\n");
    }
    // Four 1 s requests on four instances finish together, not one after another.
    assert!(
        started.elapsed() < std::time::Duration::from_millis(3500),
        "took {:?}",
        started.elapsed()
    );
}
