//! Eco web dynos sleep after the idle time and release their instances; the next
//! request wakes them and is answered, not dropped.

use kumo_runtime::dynos::DynoState;
use kumo_runtime::sizes::DynoSize::{Eco, Standard1X};
use kumo_tests::{Kumo, Options, Process, components};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eco_apps_sleep_and_wake_on_the_next_request() {
    let kumo = Kumo::start_with(Options {
        sleep_after: Duration::from_millis(400),
        ..Options::default()
    })
    .await;
    let slug = kumo.slug(&[Process::web(components::COUNTER)]);
    kumo.deploy(
        "sleepy",
        1,
        &slug,
        &[("WEB_CONCURRENCY", "1")],
        &[("web", 1, Eco)],
    )
    .await;
    kumo.deploy("awake", 1, &slug, &[], &[("web", 1, Standard1X)])
        .await;
    assert_eq!(kumo.get("sleepy", "/").await.text(), "count=1\n");
    assert_eq!(kumo.get("sleepy", "/").await.text(), "count=2\n");

    kumo.wait_for_log("sleepy", "kumo[web.1]: Idling", Duration::from_secs(10))
        .await;
    kumo.wait_for_log(
        "sleepy",
        "kumo[web.1]: State changed from up to idle",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(kumo.manager.dynos("sleepy")[0].state, DynoState::Idle);

    // The wake starts a fresh dyno: memory was released, so the count starts over.
    let reply = kumo.get("sleepy", "/").await;
    assert_eq!((reply.status, reply.text().as_str()), (200, "count=1\n"));
    kumo.wait_for_log("sleepy", "kumo[web.1]: Unidling", Duration::from_secs(1))
        .await;
    kumo.wait_for_log(
        "sleepy",
        "kumo[web.1]: State changed from idle to starting",
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(kumo.manager.dynos("sleepy")[0].state, DynoState::Up);

    // Standard dynos never sleep.
    assert!(!kumo.logs("awake").iter().any(|l| l.contains("Idling")));
}
