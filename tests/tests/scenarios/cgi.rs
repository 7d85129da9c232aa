//! CGI web dynos: a WASI command per request, RFC 3875 variables in, a CGI
//! response out, through the router like any web dyno.

use kumo_runtime::sizes::DynoSize::Standard1X;
use kumo_slug::ProcessKind;
use kumo_tests::{Kumo, Process, components, request_id};
use std::time::Duration;

async fn cgi_app(kumo: &Kumo, name: &str) {
    let slug = kumo.slug(&[Process {
        name: "web",
        wasm: components::CGI,
        kind: ProcessKind::Cgi,
        args: &[],
    }]);
    kumo.deploy(name, 1, &slug, &[], &[("web", 1, Standard1X)])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cgi_program_answers_through_the_router() {
    let kumo = Kumo::start().await;
    cgi_app(&kumo, "cgi").await;
    let id = request_id("cgi");
    let reply = kumo
        .request(
            "cgi",
            "POST",
            "/hello/world?x=1&y=2",
            &[("x-request-id", &id), ("content-type", "text/plain")],
            b"the body",
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-cgi"), Some("yes"));
    assert_eq!(reply.header("content-type"), Some("text/plain"));
    let text = reply.text();
    for expected in [
        "method=POST\n",
        "path=/hello/world\n",
        "query=x=1&y=2\n",
        "body=the body\n",
        &format!("server=cgi.localhost:{}\n", kumo.router.port()),
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let line = kumo.router_line("cgi", &id).await;
    assert!(
        line.contains("dyno=web.1") && line.contains("status=200"),
        "{line}"
    );
    kumo.wait_for_log(
        "cgi",
        "app[web.1]: cgi handled /hello/world",
        Duration::from_secs(5),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cgi_status_and_location_headers() {
    let kumo = Kumo::start().await;
    cgi_app(&kumo, "cgicodes").await;
    let reply = kumo.get("cgicodes", "/notfound").await;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (404, "no such page\n")
    );
    let reply = kumo.get("cgicodes", "/redirect").await;
    assert_eq!(reply.status, 302);
    assert_eq!(reply.header("location"), Some("/elsewhere"));
}
