//! A new release replaces the web dynos while a client sends requests in a loop:
//! not one request fails, and the new release ends up serving.

use kumo_runtime::sizes::DynoSize::Standard1X;
use kumo_tests::{Kumo, Process, components};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_roll_with_zero_failed_requests() {
    let kumo = Arc::new(Kumo::start().await);
    let slug = kumo.slug(&[Process::web(components::ENV)]);
    kumo.deploy(
        "rolling",
        1,
        &slug,
        &[("COLOR", "blue")],
        &[("web", 2, Standard1X)],
    )
    .await;

    let done = Arc::new(AtomicBool::new(false));
    let client = {
        let (kumo, done) = (kumo.clone(), done.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while !done.load(Ordering::Relaxed)
                && std::time::Instant::now() < deadline
                && seen.len() < 20_000
            {
                let reply = kumo.get("rolling", "/").await;
                assert_eq!(
                    reply.status,
                    200,
                    "request {} failed: {}",
                    seen.len(),
                    reply.text()
                );
                let color = reply
                    .text()
                    .lines()
                    .find_map(|l| l.strip_prefix("COLOR="))
                    .unwrap_or("")
                    .to_string();
                seen.push(color);
            }
            seen
        })
    };
    for (version, color) in [(2, "green"), (3, "red"), (4, "yellow")] {
        tokio::time::sleep(Duration::from_millis(300)).await;
        kumo.deploy(
            "rolling",
            version,
            &slug,
            &[("COLOR", color)],
            &[("web", 2, Standard1X)],
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    done.store(true, Ordering::Relaxed);
    let seen = client.await.expect("the client saw no failure");
    assert!(seen.len() > 50, "the loop ran: {} requests", seen.len());
    assert_eq!(seen.last().map(String::as_str), Some("yellow"));
    for color in ["blue", "green", "red", "yellow"] {
        assert!(seen.iter().any(|c| c == color), "release {color} served");
    }
    // Old colours never come back once a newer release served.
    let order = ["blue", "green", "red", "yellow"];
    let ranks: Vec<usize> = seen
        .iter()
        .map(|c| order.iter().position(|o| o == c).unwrap())
        .collect();
    let first_of = |rank: usize| ranks.iter().position(|r| *r == rank).unwrap();
    assert!(
        ranks[first_of(3)..].iter().all(|r| *r >= 2),
        "after yellow only red (draining) or yellow"
    );
    let logs = kumo.logs("rolling");
    assert!(
        logs.iter()
            .any(|l| l.contains("kumo[web.1]: Stopping all processes with SIGTERM"))
    );
}
