//! A hello component behind the router: the body, Heroku's forwarding headers,
//! the router log line, streaming both ways, and hosts that name no app.

use kumo_runtime::sizes::DynoSize::Standard1X;
use kumo_tests::{Kumo, Process, components, request_id};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_through_the_router() {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::HELLO)]);
    kumo.deploy("hello", 1, &slug, &[], &[("web", 1, Standard1X)])
        .await;

    let id = request_id("hello");
    let reply = kumo
        .request("hello", "GET", "/", &[("x-request-id", &id)], b"")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "hello from kumo\n");
    assert_eq!(reply.header("via"), Some("1.1 kumo"));

    let line = kumo.router_line("hello", &id).await;
    assert!(
        line.contains("kumo[router]: at=info method=GET path=\"/\" host=hello.localhost"),
        "{line}"
    );
    assert!(
        line.contains("fwd=\"127.0.0.1\" dyno=web.1 connect=0ms"),
        "{line}"
    );
    assert!(line.contains("status=200 bytes=16 protocol=http"), "{line}");
    assert!(
        kumo.logs("hello")
            .iter()
            .any(|l| l.contains("kumo[web.1]: State changed from starting to up"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_reach_the_dyno() {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::HELLO)]);
    kumo.deploy("headers", 1, &slug, &[], &[("web", 1, Standard1X)])
        .await;

    let id = request_id("kept");
    let reply = kumo
        .request(
            "headers",
            "GET",
            "/headers",
            &[("x-request-id", &id), ("x-forwarded-for", "10.9.8.7")],
            b"",
        )
        .await;
    let text = reply.text();
    assert!(text.contains(&format!("x-request-id: {id}\n")), "{text}");
    assert!(
        text.contains("x-forwarded-for: 10.9.8.7, 127.0.0.1\n"),
        "{text}"
    );
    assert!(text.contains("x-forwarded-proto: http\n"), "{text}");
    assert!(
        text.contains(&format!("x-forwarded-port: {}\n", kumo.router.port())),
        "{text}"
    );
    assert!(text.contains("via: 1.1 kumo\n"), "{text}");
    let start: u128 = text
        .lines()
        .find_map(|l| l.strip_prefix("x-request-start: "))
        .expect("x-request-start")
        .parse()
        .expect("epoch ms");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert!(start <= now && now - start < 60_000, "{start} vs {now}");

    // A client id that is too short is replaced by a generated one.
    let reply = kumo
        .request(
            "headers",
            "GET",
            "/headers",
            &[("x-request-id", "short")],
            b"",
        )
        .await;
    let id = reply
        .text()
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: ").map(str::to_string))
        .unwrap();
    assert_ne!(id, "short");
    assert_eq!(id.len(), 36, "a UUID: {id}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_stream_both_ways() {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::HELLO)]);
    kumo.deploy("stream", 1, &slug, &[], &[("web", 1, Standard1X)])
        .await;

    let upload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let reply = kumo.request("stream", "POST", "/echo", &[], &upload).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.body == upload,
        "the echoed body differs ({} bytes back)",
        reply.body.len()
    );

    let id = request_id("big");
    let reply = kumo
        .request(
            "stream",
            "GET",
            "/big?n=5000000",
            &[("x-request-id", &id)],
            b"",
        )
        .await;
    assert_eq!(reply.body.len(), 5_000_000);
    assert_eq!(
        reply.header("transfer-encoding"),
        Some("chunked"),
        "streamed, not buffered with a length"
    );
    let line = kumo.router_line("stream", &id).await;
    assert!(line.contains("status=200 bytes=5000000 "), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_hosts_get_404_and_status_passes_through() {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::HELLO)]);
    kumo.deploy("codes", 1, &slug, &[], &[("web", 1, Standard1X)])
        .await;

    let reply = kumo.get("nosuchapp", "/").await;
    assert_eq!(reply.status, 404);
    assert!(reply.text().contains("No such app"), "{}", reply.text());
    let reply = kumo_tests::send(kumo.router, "localhost", "GET", "/", &[], Vec::new()).await;
    assert_eq!(reply.status, 404);

    let reply = kumo.get("codes", "/status?code=418").await;
    assert_eq!(reply.status, 418, "app statuses pass through untouched");
    assert_eq!(reply.text(), "status 418\n");
}
