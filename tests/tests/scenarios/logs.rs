//! Dyno stdout and stderr reach Logplex line by line as `app[web.1]`.

use kumo_runtime::sizes::DynoSize::Standard1X;
use kumo_tests::{Kumo, Process, components};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_and_stderr_become_log_lines() {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::LOGGER)]);
    kumo.deploy("logger", 1, &slug, &[], &[("web", 1, Standard1X)])
        .await;
    assert_eq!(kumo.get("logger", "/").await.text(), "logged\n");
    for text in [
        "app[web.1]: out line 1",
        "app[web.1]: out line 2",
        "app[web.1]: err line 1",
    ] {
        let line = kumo
            .wait_for_log("logger", text, Duration::from_secs(5))
            .await;
        // 2026-11-24T10:00:00.000000+00:00 app[web.1]: out line 1
        let (stamp, rest) = line.split_once(' ').unwrap();
        assert_eq!(rest, text);
        assert_eq!(
            stamp.len(),
            "2026-11-24T10:00:00.000000+00:00".len(),
            "{stamp}"
        );
        assert!(
            stamp.ends_with("+00:00") && stamp.as_bytes()[10] == b'T',
            "{stamp}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynos_see_config_vars_and_their_own_names() {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::ENV)]);
    kumo.deploy(
        "envapp",
        7,
        &slug,
        &[("GREETING", "hi there")],
        &[("web", 1, Standard1X)],
    )
    .await;
    let text = kumo.get("envapp", "/").await.text();
    for expected in [
        "GREETING=hi there\n".to_string(),
        "DYNO=web.1\n".to_string(),
        format!("PORT={}\n", kumo.router.port()),
        "KUMO_APP_NAME=envapp\n".to_string(),
        "KUMO_RELEASE_VERSION=v7\n".to_string(),
        "WEB_CONCURRENCY=2\n".to_string(),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in\n{text}");
    }
    assert!(
        !text.contains("CARGO"),
        "the host's environment does not leak in:\n{text}"
    );
}
