//! Isolation, with the guest as the attacker: a dyno sees its own app's config
//! vars and no other app's, and cannot reach the network, neither with
//! `wasi:http/outgoing-handler` nor with a `wasi:sockets` TCP connect, even to
//! a server listening on the host's loopback.

use kumo_runtime::sizes::DynoSize::Standard1X;
use kumo_tests::{Kumo, Process, components};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dyno_sees_no_other_apps_environment() {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::ENV)]);
    kumo.deploy(
        "alpha",
        1,
        &slug,
        &[("DATABASE_URL", "postgres://alpha-secret-0f3a")],
        &[("web", 1, Standard1X)],
    )
    .await;
    kumo.deploy(
        "beta",
        1,
        &slug,
        &[
            ("DATABASE_URL", "postgres://beta-secret-7c21"),
            ("BETA_ONLY", "b-9d4e"),
        ],
        &[("web", 1, Standard1X)],
    )
    .await;

    let alpha = kumo.get("alpha", "/").await.text();
    let beta = kumo.get("beta", "/").await.text();
    assert!(
        alpha.contains("DATABASE_URL=postgres://alpha-secret-0f3a\n"),
        "{alpha}"
    );
    assert!(
        beta.contains("DATABASE_URL=postgres://beta-secret-7c21\n"),
        "{beta}"
    );
    for leaked in [
        "beta-secret-7c21",
        "BETA_ONLY",
        "b-9d4e",
        "KUMO_ADMIN",
        "PATH=",
    ] {
        assert!(!alpha.contains(leaked), "alpha sees `{leaked}`:\n{alpha}");
    }
    assert!(
        !beta.contains("alpha-secret-0f3a"),
        "beta sees alpha's secret:\n{beta}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_network_is_off() {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::HOSTILE)]);
    kumo.deploy("caller", 1, &slug, &[], &[("web", 1, Standard1X)])
        .await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");

    let http = kumo
        .get("caller", &format!("/outbound-http?url=http://{addr}/"))
        .await;
    assert_eq!(http.status, 200);
    assert!(http.text().starts_with("refused: "), "{}", http.text());

    let tcp = kumo
        .get("caller", &format!("/outbound-tcp?addr={addr}"))
        .await;
    assert_eq!(tcp.status, 200);
    assert!(tcp.text().starts_with("refused: "), "{}", tcp.text());

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        listener.accept().is_err(),
        "a guest connected to the host's loopback"
    );
}
