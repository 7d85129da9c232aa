//! The router's protocol edges: Heroku's line and header limits, custom domains,
//! a client that goes away (H27), and a dyno that fails mid-response (H18).

use kumo_runtime::sizes::DynoSize::Standard1X;
use kumo_tests::{Kumo, Process, components, request_id};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Writes `request` as raw bytes and returns what the router answers before closing.
async fn raw(kumo: &Kumo, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(kumo.router).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_and_header_limits() {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::HELLO)]);
    kumo.deploy("limits", 1, &slug, &[], &[("web", 1, Standard1X)])
        .await;

    let ok = raw(
        &kumo,
        b"GET / HTTP/1.1\r\nHost: limits.localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200 OK"), "{ok}");

    let long_path = format!(
        "GET /{} HTTP/1.1\r\nHost: limits.localhost\r\nConnection: close\r\n\r\n",
        "a".repeat(8200)
    );
    let reply = raw(&kumo, long_path.as_bytes()).await;
    assert!(reply.starts_with("HTTP/1.1 414"), "{reply}");

    let long_header = format!(
        "GET / HTTP/1.1\r\nHost: limits.localhost\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "b".repeat(8200)
    );
    let reply = raw(&kumo, long_header.as_bytes()).await;
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply}");

    let mut many = String::from("GET / HTTP/1.1\r\nHost: limits.localhost\r\n");
    for i in 0..1001 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("Connection: close\r\n\r\n");
    let reply = raw(&kumo, many.as_bytes()).await;
    assert!(
        reply.starts_with("HTTP/1.1 431"),
        "more than 1000 headers: {reply}"
    );

    let reply = raw(&kumo, b"GET / HTTP/1.1\r\nHost: a.localhost\r\nHost: limits.localhost\r\nConnection: close\r\n\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");

    // The router still serves everyone else.
    assert_eq!(kumo.get("limits", "/").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_domains_route_to_their_app() {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::HELLO)]);
    kumo.deploy("branded", 1, &slug, &[], &[("web", 1, Standard1X)])
        .await;
    kumo.update("branded", |app| {
        app.domains = vec!["www.example.test".into()]
    })
    .await;
    let reply = kumo_tests::send(
        kumo.router,
        "www.example.test:8080",
        "GET",
        "/",
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (200, "hello from kumo\n")
    );
    kumo.update("branded", |app| app.domains.clear()).await;
    let reply =
        kumo_tests::send(kumo.router, "www.example.test", "GET", "/", &[], Vec::new()).await;
    assert_eq!(reply.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_is_logged_as_h27() {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::HELLO)]);
    kumo.deploy("leaver", 1, &slug, &[], &[("web", 1, Standard1X)])
        .await;
    let id = request_id("gone");
    let mut stream = tokio::net::TcpStream::connect(kumo.router).await.unwrap();
    let request = format!(
        "GET /slow?ms=3000 HTTP/1.1\r\nHost: leaver.localhost\r\nX-Request-Id: {id}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(stream);
    let line = kumo.router_line("leaver", &id).await;
    assert!(
        line.contains("at=warning code=H27 desc=\"Client Request Interrupted\""),
        "{line}"
    );
    assert!(line.contains("status=499"), "{line}");
    assert_eq!(kumo.get("leaver", "/").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dyno_that_fails_mid_response_is_logged_as_h18() {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::TRAP)]);
    kumo.deploy("halfway", 1, &slug, &[], &[("web", 1, Standard1X)])
        .await;
    let id = request_id("half");
    let mut stream = tokio::net::TcpStream::connect(kumo.router).await.unwrap();
    let request = format!(
        "GET /half HTTP/1.1\r\nHost: halfway.localhost\r\nX-Request-Id: {id}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.contains("the first half"), "{response}");
    let line = kumo.router_line("halfway", &id).await;
    assert!(
        line.contains("at=error code=H18 desc=\"Server Request Interrupted\""),
        "{line}"
    );
    assert!(line.ends_with("sock=backend"), "{line}");
    assert_eq!(kumo.get("halfway", "/").await.text(), "fine\n");
}
