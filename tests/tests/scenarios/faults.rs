//! Guest faults are contained: a request that loops forever gets H12 and its
//! instance is replaced; a guest that allocates without bound is stopped at its
//! dyno's memory cap (R15); a trap gets H13. The dyno keeps serving after each.

use kumo_runtime::sizes::DynoSize::{Standard1X, Standard2X};
use kumo_tests::{Kumo, Options, Process, components, request_id};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_loops_forever_gets_h12_and_the_dyno_recovers() {
    let kumo = Kumo::start_with(Options {
        request_timeout: Duration::from_secs(2),
        ..Options::default()
    })
    .await;
    let slug = kumo.slug(&[Process::web(components::SPIN)]);
    kumo.deploy(
        "spin",
        1,
        &slug,
        &[("WEB_CONCURRENCY", "1")],
        &[("web", 1, Standard1X)],
    )
    .await;

    let id = request_id("loop");
    let reply = kumo
        .request("spin", "GET", "/loop", &[("x-request-id", &id)], b"")
        .await;
    assert_eq!(reply.status, 503);
    assert!(
        reply.text().contains("Application Error"),
        "{}",
        reply.text()
    );
    let line = kumo.router_line("spin", &id).await;
    assert!(
        line.contains("at=error code=H12 desc=\"Request timeout\""),
        "{line}"
    );
    assert!(line.contains("status=503"), "{line}");

    // The only instance was stuck; it is replaced and the dyno answers again.
    let reply = kumo.get("spin", "/").await;
    assert_eq!((reply.status, reply.text().as_str()), (200, "alive\n"));
    kumo.wait_for_log(
        "spin",
        "kumo[web.1]: Request ran past the 2s deadline",
        Duration::from_secs(5),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_allocation_stops_at_the_dyno_cap() {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::ALLOC)]);
    kumo.deploy(
        "alloc",
        1,
        &slug,
        &[("WEB_CONCURRENCY", "1")],
        &[("web", 1, Standard1X)],
    )
    .await;

    let id = request_id("grow");
    let reply = kumo
        .request("alloc", "GET", "/grow", &[("x-request-id", &id)], b"")
        .await;
    assert_eq!(reply.status, 503);
    let line = kumo.router_line("alloc", &id).await;
    assert!(line.contains("code=H13"), "{line}");
    let r15 = kumo
        .wait_for_log(
            "alloc",
            "Error R15 (Memory quota vastly exceeded) -> the dyno reached its 512 MB cap",
            Duration::from_secs(5),
        )
        .await;
    assert!(r15.contains("kumo[web.1]"), "{r15}");
    let grown = kumo
        .logs("alloc")
        .iter()
        .filter(|l| l.contains("app[web.1]: allocated"))
        .count();
    assert!(
        (5..=8).contains(&grown),
        "it got to about 512 MB in 64 MB steps, not further: {grown} lines"
    );

    assert_eq!(
        kumo.get("alloc", "/").await.text(),
        "alive\n",
        "the dyno serves again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bigger_size_gets_more_memory() {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::ALLOC)]);
    kumo.deploy(
        "alloc2x",
        1,
        &slug,
        &[("WEB_CONCURRENCY", "1")],
        &[("web", 1, Standard2X)],
    )
    .await;
    assert_eq!(kumo.get("alloc2x", "/grow").await.status, 503);
    kumo.wait_for_log("alloc2x", "reached its 1024 MB cap", Duration::from_secs(5))
        .await;
    let grown = kumo
        .logs("alloc2x")
        .iter()
        .filter(|l| l.contains("app[web.1]: allocated"))
        .count();
    assert!(
        (13..=16).contains(&grown),
        "about 1 GB in 64 MB steps: {grown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_gets_h13_and_the_next_request_is_served() {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::TRAP)]);
    kumo.deploy(
        "trap",
        1,
        &slug,
        &[("WEB_CONCURRENCY", "1")],
        &[("web", 1, Standard1X)],
    )
    .await;

    let id = request_id("panic");
    let reply = kumo
        .request("trap", "GET", "/panic", &[("x-request-id", &id)], b"")
        .await;
    assert_eq!(reply.status, 503);
    let line = kumo.router_line("trap", &id).await;
    assert!(
        line.contains("at=error code=H13 desc=\"Connection closed without response\""),
        "{line}"
    );
    assert!(line.contains("dyno=web.1"), "{line}");
    kumo.wait_for_log(
        "trap",
        "kumo[web.1]: Error H13 (Connection closed without response) -> the request crashed: ",
        Duration::from_secs(5),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(kumo.get("trap", "/").await.text(), "fine\n");
    }
}
