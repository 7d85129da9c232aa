//! The router's answers when no dyno can serve: maintenance (H80), nothing
//! deployed (H81), no web dynos (H14), crashed web dynos (H10), each with its
//! status, page and router line.

use kumo_runtime::sizes::DynoSize::Standard1X;
use kumo_runtime::source::AppSpec;
use kumo_slug::ProcessKind;
use kumo_tests::{Kumo, Process, components, request_id};
use std::time::Duration;

async fn expect_code(kumo: &Kumo, app: &str, status: u16, code: &str, page: &str) {
    let id = request_id(code);
    let reply = kumo
        .request(app, "GET", "/", &[("x-request-id", &id)], b"")
        .await;
    assert_eq!(reply.status, status, "{app}: {}", reply.text());
    assert!(reply.text().contains(page), "{}", reply.text());
    let line = kumo.router_line(app, &id).await;
    assert!(line.contains(&format!("code={code} ")), "{line}");
    assert!(line.contains(&format!("status={status} ")), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_blank_app_and_no_web_dynos() {
    let kumo = Kumo::start().await;
    kumo.source.put_app(AppSpec::new("blank"));
    kumo.manager.converge("blank").await;
    expect_code(&kumo, "blank", 502, "H81", "Nothing deployed").await;

    let slug = kumo.slug(&[Process::web(components::HELLO)]);
    kumo.deploy("maint", 1, &slug, &[], &[("web", 1, Standard1X)])
        .await;
    kumo.update("maint", |app| app.maintenance = true).await;
    expect_code(&kumo, "maint", 503, "H80", "Maintenance").await;
    let line = kumo
        .wait_for_log("maint", "code=H80", Duration::from_secs(1))
        .await;
    assert!(
        line.contains("at=info code=H80 desc=\"Maintenance mode\""),
        "{line}"
    );
    kumo.update("maint", |app| app.maintenance = false).await;
    assert_eq!(kumo.get("maint", "/").await.status, 200);

    kumo.update("maint", |app| {
        app.formation.get_mut("web").unwrap().quantity = 0
    })
    .await;
    expect_code(&kumo, "maint", 503, "H14", "Application Error").await;
    let line = kumo
        .wait_for_log("maint", "code=H14", Duration::from_secs(1))
        .await;
    assert!(line.contains("desc=\"No web processes running\""), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_process_that_cannot_start_crashes_with_h10() {
    let kumo = Kumo::start().await;
    // A command component declared as an http process: it does not export the handler.
    let slug = kumo.slug(&[Process {
        name: "web",
        wasm: components::WORKER,
        kind: ProcessKind::Http,
        args: &[],
    }]);
    kumo.deploy("broken", 1, &slug, &[], &[("web", 1, Standard1X)])
        .await;
    let line = kumo
        .wait_for_log(
            "broken",
            "kumo[web.1]: Error R10 (Boot failure)",
            Duration::from_secs(10),
        )
        .await;
    assert!(
        line.contains("does not export wasi:http/incoming-handler"),
        "{line}"
    );
    kumo.wait_for_log(
        "broken",
        "kumo[web.1]: State changed from starting to crashed",
        Duration::from_secs(10),
    )
    .await;
    expect_code(&kumo, "broken", 503, "H10", "Application Error").await;
}
