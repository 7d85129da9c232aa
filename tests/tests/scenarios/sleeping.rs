//! Eco web dynos sleep after the idle time and release their instances; the next
//! request wakes them and is answered, not dropped.

use kumo_runtime::dynos::DynoState;
use kumo_runtime::sizes::DynoSize::{Eco, Standard1X};
use kumo_slug::ProcessKind;
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
    // Meanwhile `ps` lists web.1 throughout.
    let answered = std::sync::atomic::AtomicBool::new(false);
    let request = async {
        let reply = kumo.get("sleepy", "/").await;
        answered.store(true, std::sync::atomic::Ordering::Release);
        reply
    };
    let watch = async {
        let mut seen = Vec::new();
        while !answered.load(std::sync::atomic::Ordering::Acquire) {
            let dynos = kumo.manager.dynos("sleepy");
            let states: Vec<DynoState> = dynos.iter().map(|d| d.state).collect();
            assert_eq!(states.len(), 1, "after {seen:?}, ps listed {dynos:?}");
            if seen.last() != Some(&states[0]) {
                seen.push(states[0]);
            }
            tokio::task::yield_now().await;
        }
        seen
    };
    let (reply, seen) = tokio::join!(request, watch);
    assert!(
        seen.iter()
            .all(|s| [DynoState::Idle, DynoState::Starting, DynoState::Up].contains(s)),
        "ps showed web.1 as {seen:?} while it woke"
    );
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
    let logs = kumo.logs("sleepy");
    let woke = logs.iter().position(|l| l.contains("Unidling")).unwrap();
    let transitions: Vec<&str> = logs[woke..]
        .iter()
        .filter_map(|l| {
            l.split_once("kumo[web.1]: State changed from ")
                .map(|(_, t)| t)
        })
        .collect();
    assert_eq!(
        transitions,
        ["idle to starting", "starting to up"],
        "{logs:#?}"
    );

    // Standard dynos never sleep.
    assert!(!kumo.logs("awake").iter().any(|l| l.contains("Idling")));
}

/// Every wake gets the slug's files as they were, however many times the app
/// sleeps: a folder left unchanged is kept for the next wake, one that was
/// written to is thrown away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_wake_starts_from_the_slugs_own_files() {
    let kumo = Kumo::start_with(Options {
        sleep_after: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    let slug = kumo.slug(&[Process::web(components::FILES)]);
    let one = [("WEB_CONCURRENCY", "1")];
    kumo.deploy("napper", 1, &slug, &one, &[("web", 1, Eco)])
        .await;
    for round in 0..6 {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while kumo.manager.dynos("napper")[0].state != DynoState::Idle {
            assert!(
                std::time::Instant::now() < deadline,
                "round {round}: never asleep"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Woken: nothing an earlier dyno wrote is there, and the slug's files are.
        let reply = kumo.get("napper", "/read?name=note.txt").await;
        assert_eq!(
            (reply.status, reply.text().as_str()),
            (404, "missing note.txt\n"),
            "round {round}"
        );
        let listing = kumo.get("napper", "/ls?dir=/app").await.text();
        assert!(listing.contains("files.wasm"), "round {round}: {listing}");
        assert!(!listing.contains("note.txt"), "round {round}: {listing}");
        // Every other round the dyno writes before it sleeps again.
        if round % 2 == 0 {
            let wrote = kumo.get("napper", "/write?name=note.txt&data=mine").await;
            assert_eq!(wrote.text(), "wrote note.txt\n", "round {round}");
        }
    }
}

/// A wake starts the dynos the app last converged to, without waiting to read the
/// source; a change the source holds that was never converged here (as one made
/// through another server over the same ledger) is followed right after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wake_follows_a_change_the_source_made_while_asleep() {
    let kumo = Kumo::start_with(Options {
        sleep_after: Duration::from_millis(400),
        ..Options::default()
    })
    .await;
    let slug = kumo.slug(&[Process::web(components::ENV)]);
    let one = [("WEB_CONCURRENCY", "1"), ("GREETING", "first")];
    kumo.deploy("elsewhere", 1, &slug, &one, &[("web", 1, Eco)])
        .await;
    let first = kumo.get("elsewhere", "/").await.text();
    assert!(first.contains("GREETING=first\n"), "{first}");
    kumo.wait_for_log(
        "elsewhere",
        "kumo[web.1]: State changed from up to idle",
        Duration::from_secs(10),
    )
    .await;

    // The source moves on without this manager being told.
    assert!(kumo.source.update_app("elsewhere", |spec| {
        let release = spec.release.as_mut().expect("a release");
        release.version = 2;
        release.config.insert("GREETING".into(), "second".into());
    }));
    // The wake answers at once (from v1, or from v2 if it is up by then)…
    let woken = kumo.get("elsewhere", "/").await;
    assert_eq!(woken.status, 200, "{}", woken.text());
    // …and the new release replaces it, as any release does.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let reply = kumo.get("elsewhere", "/").await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        if reply.text().contains("KUMO_RELEASE_VERSION=v2\n") {
            assert!(
                reply.text().contains("GREETING=second\n"),
                "{}",
                reply.text()
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "release v2 never served after the wake"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// With the engine's instance pool full, a dyno that needs a slot is not a crash:
/// the least recently used idle eco app is put to sleep early to free one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_instance_pool_puts_the_least_recently_used_eco_app_to_sleep() {
    let kumo = Kumo::start_with(Options {
        max_instances: 2,
        boot_timeout: Duration::from_secs(5),
        ..Options::default()
    })
    .await;
    let slug = kumo.slug(&[Process::web(components::COUNTER)]);
    let one = &[("WEB_CONCURRENCY", "1")];
    for app in ["first", "second"] {
        kumo.deploy(app, 1, &slug, one, &[("web", 1, Eco)]).await;
        assert_eq!(kumo.get(app, "/").await.text(), "count=1\n");
    }
    assert_eq!(kumo.get("second", "/").await.text(), "count=2\n");

    // Both slots are taken; `first` was used least recently.
    kumo.deploy("third", 1, &slug, one, &[("web", 1, Eco)])
        .await;
    let reply = kumo.get("third", "/").await;
    assert_eq!((reply.status, reply.text().as_str()), (200, "count=1\n"));
    kumo.wait_for_log(
        "first",
        "kumo[web.1]: Idling early: the server needs its instance slots for another app",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(kumo.manager.dynos("first")[0].state, DynoState::Idle);
    assert_eq!(kumo.get("second", "/").await.text(), "count=3\n");
    // A slot freed at once is no error of `third`'s: it starts once, quietly.
    let third = kumo.logs("third");
    assert!(
        !third
            .iter()
            .any(|l| l.contains("crashed") || l.contains("R99")),
        "{third:#?}"
    );
    let starts = third
        .iter()
        .filter(|l| l.contains("Starting process"))
        .count();
    assert_eq!(starts, 1, "{third:#?}");

    // `first` wakes on its next request; now `third` is the least recently used.
    let reply = kumo.get("first", "/").await;
    assert_eq!((reply.status, reply.text().as_str()), (200, "count=1\n"));
    kumo.wait_for_log("third", "Idling early", Duration::from_secs(5))
        .await;
    assert_eq!(kumo.get("second", "/").await.text(), "count=4\n");
}

/// With the pool full of dynos that never sleep, a new dyno waits in `starting`
/// (requests get H20 past the boot timeout, no crash and no backoff) and comes
/// up as soon as a slot is freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dyno_waits_for_a_free_instance_slot_without_crashing() {
    let kumo = Kumo::start_with(Options {
        max_instances: 1,
        boot_timeout: Duration::from_secs(2),
        ..Options::default()
    })
    .await;
    let slug = kumo.slug(&[Process::web(components::COUNTER)]);
    let one = &[("WEB_CONCURRENCY", "1")];
    kumo.deploy("holder", 1, &slug, one, &[("web", 1, Standard1X)])
        .await;
    assert_eq!(kumo.get("holder", "/").await.status, 200);

    kumo.deploy("waiter", 1, &slug, one, &[("web", 1, Standard1X)])
        .await;
    let reply = kumo.get("waiter", "/").await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    kumo.wait_for_log("waiter", "code=H20", Duration::from_secs(5))
        .await;
    assert_eq!(kumo.manager.dynos("waiter")[0].state, DynoState::Starting);
    let waiting = kumo
        .logs("waiter")
        .iter()
        .filter(|l| l.contains("Error R99 (Platform error)"))
        .count();
    assert_eq!(waiting, 1, "logged once while it waits");

    // Scaling the holder down frees its slot; the waiter comes up on its own.
    kumo.deploy("holder", 2, &slug, one, &[("web", 0, Standard1X)])
        .await;
    kumo.wait_for_log(
        "waiter",
        "kumo[web.1]: State changed from starting to up",
        Duration::from_secs(5),
    )
    .await;
    let reply = kumo.get("waiter", "/").await;
    assert_eq!((reply.status, reply.text().as_str()), (200, "count=1\n"));
    assert!(!kumo.logs("waiter").iter().any(|l| l.contains("crashed")));
}

/// Two apps each waiting for a slot reclaim from each other without waiting on
/// each other: both converges return (they used to deadlock on each other's
/// converge lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_scaling_up_at_once_on_a_full_pool_do_not_wait_on_each_other() {
    let kumo = Kumo::start_with(Options {
        max_instances: 2,
        boot_timeout: Duration::from_secs(2),
        shutdown_grace: Duration::from_secs(2),
        ..Options::default()
    })
    .await;
    let slug = kumo.slug(&[Process::web(components::COUNTER)]);
    let one = &[("WEB_CONCURRENCY", "1")];
    for app in ["a", "b"] {
        kumo.deploy(app, 1, &slug, one, &[("web", 1, Eco)]).await;
        assert_eq!(kumo.get(app, "/").await.status, 200);
    }
    tokio::join!(
        kumo.deploy("a", 1, &slug, one, &[("web", 2, Eco)]),
        kumo.deploy("b", 1, &slug, one, &[("web", 2, Eco)]),
    );
    for app in ["a", "b"] {
        let converged =
            tokio::time::timeout(Duration::from_secs(10), kumo.manager.converge(app)).await;
        assert!(
            converged.is_ok(),
            "converge {app} never returned: {:?}",
            kumo.logs(app)
        );
    }
    let reply = tokio::time::timeout(Duration::from_secs(10), kumo.get("a", "/"))
        .await
        .expect("a request to `a` is answered");
    assert!(
        reply.status == 200 || reply.status == 503,
        "{}",
        reply.text()
    );
}

/// A dyno published before its second instance could be made (the pool was
/// full) makes the request that needs it wait for a slot, not fail it (H13).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waits_for_a_slot_for_the_dynos_next_instance() {
    let kumo = Kumo::start_with(Options {
        max_instances: 2,
        request_timeout: Duration::from_secs(5),
        boot_timeout: Duration::from_secs(5),
        ..Options::default()
    })
    .await;
    let counter = kumo.slug(&[Process::web(components::COUNTER)]);
    let one = &[("WEB_CONCURRENCY", "1")];
    kumo.deploy("holder", 1, &counter, one, &[("web", 1, Standard1X)])
        .await;
    assert_eq!(kumo.get("holder", "/").await.status, 200);
    let spin = kumo.slug(&[Process::web(components::SPIN)]);
    let two = &[("WEB_CONCURRENCY", "2")];
    kumo.deploy("busy", 1, &spin, two, &[("web", 1, Standard1X)])
        .await;

    // `busy` has one instance and a second turn waiting for a slot: a looping
    // request takes the instance, so the next request needs the second.
    let looping = kumo.get("busy", "/loop");
    let next = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let freeing = async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            kumo.deploy("holder", 2, &counter, one, &[("web", 0, Standard1X)])
                .await;
        };
        let (reply, ()) = tokio::join!(kumo.get("busy", "/"), freeing);
        reply
    };
    let (_, next) = tokio::join!(looping, next);
    assert_eq!(next.status, 200, "{}: {:?}", next.text(), kumo.logs("busy"));
    assert!(
        !kumo
            .logs("busy")
            .iter()
            .any(|l| l.contains("Instance failed to start") || l.contains("code=H13")),
        "{:?}",
        kumo.logs("busy")
    );
}

/// An idle CGI dyno holds no instance between requests: putting its app to sleep
/// would free nothing, so a dyno waiting for a slot leaves it awake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_that_hold_no_slot_are_not_put_to_sleep_for_one() {
    let kumo = Kumo::start_with(Options {
        max_instances: 1,
        boot_timeout: Duration::from_secs(2),
        ..Options::default()
    })
    .await;
    let counter = kumo.slug(&[Process::web(components::COUNTER)]);
    let cgi = kumo.slug(&[Process {
        name: "web",
        wasm: components::CGI,
        kind: ProcessKind::Cgi,
        args: &[],
    }]);
    let one = &[("WEB_CONCURRENCY", "1")];
    kumo.deploy("cgi", 1, &cgi, &[], &[("web", 1, Eco)]).await;
    assert_eq!(kumo.get("cgi", "/").await.status, 200);
    kumo.deploy("holder", 1, &counter, one, &[("web", 1, Standard1X)])
        .await;
    assert_eq!(kumo.get("holder", "/").await.status, 200);
    kumo.deploy("waiter", 1, &counter, one, &[("web", 1, Standard1X)])
        .await;
    kumo.wait_for_log("waiter", "Error R99", Duration::from_secs(5))
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!kumo.logs("cgi").iter().any(|l| l.contains("Idling")));
    assert_eq!(kumo.manager.dynos("waiter")[0].state, DynoState::Starting);
    assert_eq!(kumo.manager.dynos("cgi")[0].state, DynoState::Up);
}
