//! Hostile HTTP at the router, written as raw bytes on a socket: oversized and
//! too many headers, request smuggling (`Content-Length` against
//! `Transfer-Encoding`), bad chunked bodies, unknown or missing `Host`,
//! slowloris clients, and clients that vanish mid-request. The router answers
//! as Heroku does and every test ends by showing that another client is still
//! served promptly.

use kumo_runtime::sizes::DynoSize::Standard1X;
use kumo_tests::{Kumo, Options, Process, components, request_id};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts a router with `options` and one app, `app`, running the hello program.
async fn kumo_with(app: &str, options: Options) -> Kumo {
    let kumo = Kumo::start_with(options).await;
    let slug = kumo.slug(&[Process::web(components::HELLO)]);
    kumo.deploy(app, 1, &slug, &[], &[("web", 1, Standard1X)])
        .await;
    kumo
}

/// Writes `request` as raw bytes and returns everything the router sends before it closes.
async fn raw(kumo: &Kumo, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(kumo.router).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_all(&mut stream, Duration::from_secs(10)).await
}

async fn read_all(stream: &mut TcpStream, timeout: Duration) -> String {
    let mut response = Vec::new();
    let _ = tokio::time::timeout(timeout, stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}

/// A well-behaved client on its own connection gets 200 within a second.
async fn others_are_served(kumo: &Kumo, app: &str) {
    let started = Instant::now();
    let reply = tokio::time::timeout(Duration::from_secs(5), kumo.get(app, "/"))
        .await
        .expect("a normal request is answered");
    assert_eq!(reply.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a normal request took {:?}",
        started.elapsed()
    );
}

fn status_line(reply: &str) -> &str {
    reply.lines().next().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_header_lines_and_too_many_headers_are_refused() {
    let kumo = kumo_with("bighead", Options::default()).await;
    let head = "GET / HTTP/1.1\r\nHost: bighead.localhost\r\nConnection: close\r\n";

    // A header line of exactly 8192 bytes (`X-Big: ` and the value) passes; one more byte is 431.
    let exactly = format!("{head}X-Big: {}\r\n\r\n", "b".repeat(8192 - 7));
    assert_eq!(
        status_line(&raw(&kumo, exactly.as_bytes()).await),
        "HTTP/1.1 200 OK"
    );
    let over = format!("{head}X-Big: {}\r\n\r\n", "b".repeat(8192 - 6));
    let reply = raw(&kumo, over.as_bytes()).await;
    assert_eq!(
        status_line(&reply),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    assert!(
        reply.contains("the limit is 8192 bytes per header"),
        "{reply}"
    );

    // A header line far past the read buffer: hyper refuses it before the router sees it.
    let huge = format!("{head}X-Huge: {}\r\n\r\n", "h".repeat(200_000));
    assert_eq!(
        status_line(&raw(&kumo, huge.as_bytes()).await),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );

    // 1000 header fields pass, 1001 are 431.
    let fields = |n: usize| {
        let mut request = String::from(head);
        for i in 0..n - 2 {
            request.push_str(&format!("X-H{i}: v\r\n"));
        }
        request.push_str("\r\n");
        request
    };
    assert_eq!(
        status_line(&raw(&kumo, fields(1000).as_bytes()).await),
        "HTTP/1.1 200 OK"
    );
    assert_eq!(
        status_line(&raw(&kumo, fields(1001).as_bytes()).await),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    others_are_served(&kumo, "bighead").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_content_length_and_transfer_encoding_cannot_smuggle() {
    let kumo = kumo_with("smuggle", Options::default()).await;
    let host = "Host: smuggle.localhost\r\n";

    // Both headers, in either order: chunked wins (as on Heroku) and the dyno
    // sees the chunked body with no `Content-Length` beside it.
    for headers in [
        "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
    ] {
        let request = format!(
            "POST /headers HTTP/1.1\r\n{host}{headers}Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        );
        let reply = raw(&kumo, request.as_bytes()).await;
        assert_eq!(status_line(&reply), "HTTP/1.1 200 OK", "{reply}");
        assert!(!reply.contains("content-length: 4"), "{headers}: {reply}");
        let request = format!(
            "POST /echo HTTP/1.1\r\n{host}{headers}Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        );
        let reply = raw(&kumo, request.as_bytes()).await;
        assert_eq!(status_line(&reply), "HTTP/1.1 200 OK", "{reply}");
        assert!(
            reply.ends_with("\r\nhello\r\n0\r\n\r\n"),
            "{headers}: {reply}"
        );
    }

    // The classic CL.TE attack: a front end trusting Content-Length would pass
    // `0\r\n\r\nGET /smuggled…` as one body. Here chunked wins, so the body ends
    // at `0`, and hyper closes the connection after answering (RFC 9112 §6.3),
    // so the smuggled request is never read, let alone sent to a dyno.
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: smuggle.localhost\r\n\r\n";
    let request = format!(
        "POST /echo HTTP/1.1\r\n{host}Content-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}",
        5 + smuggled.len()
    );
    let reply = raw(&kumo, request.as_bytes()).await;
    assert_eq!(reply.matches("HTTP/1.1 200 OK").count(), 1, "{reply:?}");
    assert!(reply.contains("connection: close"), "{reply:?}");
    assert!(!reply.contains("hello from kumo"), "{reply:?}");
    assert!(
        !kumo.logs("smuggle").iter().any(|l| l.contains("/smuggled")),
        "{:#?}",
        kumo.logs("smuggle")
    );

    // Two different Content-Lengths, or an invalid one: 400, before any dyno.
    for headers in [
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Content-Length: 5, 6\r\n",
        "Content-Length: -5\r\n",
        "Content-Length: five\r\n",
        "Transfer-Encoding: gzip\r\n",
        "Transfer-Encoding: chunked, gzip\r\n",
    ] {
        let request =
            format!("POST /echo HTTP/1.1\r\n{host}{headers}Connection: close\r\n\r\nhello!");
        let reply = raw(&kumo, request.as_bytes()).await;
        assert_eq!(status_line(&reply), "HTTP/1.1 400 Bad Request", "{headers}");
    }
    // Transfer-Encoding is not HTTP/1.0.
    let request = format!(
        "POST /echo HTTP/1.0\r\n{host}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    );
    assert_eq!(
        status_line(&raw(&kumo, request.as_bytes()).await),
        "HTTP/1.1 400 Bad Request"
    );
    // Two identical Content-Lengths are one (Heroku merges them).
    let request = format!(
        "POST /echo HTTP/1.1\r\n{host}Content-Length: 5\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    );
    let reply = raw(&kumo, request.as_bytes()).await;
    assert_eq!(status_line(&reply), "HTTP/1.1 200 OK");
    assert!(reply.contains("\r\nhello\r\n"), "{reply}");
    others_are_served(&kumo, "smuggle").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_chunked_encoding_is_refused() {
    let kumo = kumo_with("chunky", Options::default()).await;
    // hyper stops reading at the broken chunk and closes the connection; the
    // dyno's read of the body fails, and the router line blames the client
    // (H26, cause="bad chunk") rather than the dyno (H18/H13).
    for body in [
        "zz\r\nhello\r\n0\r\n\r\n",                 // size is not hex
        "5\r\nhelloXX0\r\n\r\n",                    // no CRLF after the data
        "ffffffffffffffffff\r\nhello\r\n0\r\n\r\n", // size overflows u64
    ] {
        let id = request_id("chunk");
        let request = format!(
            "POST /echo HTTP/1.1\r\nHost: chunky.localhost\r\nX-Request-Id: {id}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{body}"
        );
        let reply = raw(&kumo, request.as_bytes()).await;
        // Nothing past the broken framing reaches the dyno. A chunk that was
        // whole before it (`hello` in the second body) may be echoed already:
        // the echo guest streams its answer as it reads.
        assert!(!reply.contains("XX"), "{body:?}: {reply}");
        if !body.starts_with('5') {
            assert!(!reply.contains("hello"), "{body:?}: {reply}");
        }
        let line = kumo.router_line("chunky", &id).await;
        assert!(
            line.contains("at=error code=H26 desc=\"Request Error\""),
            "{body:?}: {line}"
        );
        assert!(line.contains("status=400"), "{line}");
        assert!(line.ends_with("cause=\"bad chunk\""), "{line}");
    }
    others_are_served(&kumo, "chunky").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_or_missing_hosts() {
    let kumo = kumo_with("hosted", Options::default()).await;
    let reply = raw(
        &kumo,
        b"GET / HTTP/1.1\r\nHost: nosuchapp.localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_line(&reply), "HTTP/1.1 404 Not Found");
    assert!(reply.contains("No such app"), "{reply}");
    // HTTP/1.1 without a Host, or with one that is not a host name: 400.
    for request in [
        &b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: hosted.localhost\xff\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n",
    ] {
        let reply = raw(&kumo, request).await;
        assert_eq!(
            status_line(&reply),
            "HTTP/1.1 400 Bad Request",
            "{}",
            String::from_utf8_lossy(request)
        );
    }
    // An empty Host, or HTTP/1.0 without one, names no app.
    for request in [
        &b"GET / HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n"[..],
        b"GET / HTTP/1.0\r\n\r\n",
    ] {
        let reply = raw(&kumo, request).await;
        assert!(status_line(&reply).ends_with(" 404 Not Found"), "{reply}");
    }
    // An absolute-form target names the host.
    let reply = raw(
        &kumo,
        b"GET http://hosted.localhost/ HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_line(&reply), "HTTP/1.1 200 OK", "{reply}");
    others_are_served(&kumo, "hosted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_clients_are_closed_at_the_header_timeout() {
    let header_timeout = Duration::from_secs(1);
    let kumo = kumo_with(
        "loris",
        Options {
            header_timeout,
            max_connections: 8,
            ..Options::default()
        },
    )
    .await;
    // Fill every connection slot with clients that send half a request and then
    // a byte every 200 ms, never finishing their headers; and more beyond the cap.
    let started = Instant::now();
    let mut slow = Vec::new();
    for i in 0..12 {
        let mut stream = TcpStream::connect(kumo.router).await.unwrap();
        stream
            .write_all(format!("GET /{i} HTTP/1.1\r\nHost: loris.localhost\r\nX-A: ").as_bytes())
            .await
            .unwrap();
        slow.push(stream);
    }
    let trickle = tokio::spawn(async move {
        let mut closed_at = vec![None; slow.len()];
        while closed_at.iter().any(Option::is_none) && started.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            for (stream, closed) in slow.iter_mut().zip(closed_at.iter_mut()) {
                if closed.is_none() {
                    let mut buf = [0u8; 1024];
                    let gone =
                        match tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf))
                            .await
                        {
                            Ok(Ok(0)) | Ok(Err(_)) => true,
                            Ok(Ok(_)) => true,
                            Err(_) => stream.write_all(b"a").await.is_err(),
                        };
                    if gone {
                        *closed = Some(started.elapsed());
                    }
                }
            }
        }
        closed_at
    });
    // A real client arriving while the cap is full is served once the idle
    // half-requests are closed: within the header timeout, not after them.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = Instant::now();
    let reply = tokio::time::timeout(Duration::from_secs(5), kumo.get("loris", "/"))
        .await
        .expect("a real client is served while slow clients hold the cap");
    let waited = before.elapsed();
    assert_eq!(reply.status, 200);
    assert!(
        waited < header_timeout + Duration::from_millis(800),
        "a real client waited {waited:?} behind the slow ones"
    );
    // Each slow client is closed once it has had the header timeout: the first
    // eight at about 1 s, the four queued behind the cap at about 2 s. Closed
    // at the 200 ms polls, so up to 200 ms late, plus scheduling.
    let closed_at = trickle.await.unwrap();
    let closed_at: Vec<Duration> = closed_at
        .into_iter()
        .map(|c| c.expect("every slow client is closed"))
        .collect();
    for (i, at) in closed_at.iter().enumerate() {
        let expected = if i < 8 {
            header_timeout
        } else {
            2 * header_timeout
        };
        assert!(
            *at >= expected && *at < expected + Duration::from_millis(900),
            "slow client {i} closed at {at:?}: {closed_at:?}"
        );
    }
    others_are_served(&kumo, "loris").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_vanish_mid_request() {
    let kumo = kumo_with("vanish", Options::default()).await;
    // Mid-headers: nothing reaches a dyno, nothing is logged.
    for _ in 0..20 {
        let mut stream = TcpStream::connect(kumo.router).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: vanish.localhost\r\nX-Half: ")
            .await
            .unwrap();
        drop(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Mid-body: the dyno's read of the body fails; the router logs H27 (the
    // client's fault), not H18 (the dyno's).
    let id = request_id("midbody");
    let mut stream = TcpStream::connect(kumo.router).await.unwrap();
    let request = format!(
        "POST /echo HTTP/1.1\r\nHost: vanish.localhost\r\nX-Request-Id: {id}\r\nContent-Length: 100000\r\n\r\n{}",
        "x".repeat(1000)
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(stream);
    let line = kumo.router_line("vanish", &id).await;
    assert!(
        line.contains("at=warning code=H27 desc=\"Client Request Interrupted\""),
        "{line}"
    );
    assert!(line.contains("status=499"), "{line}");
    // Mid-chunked-body: the same.
    let id = request_id("midchunk");
    let mut stream = TcpStream::connect(kumo.router).await.unwrap();
    let request = format!(
        "POST /echo HTTP/1.1\r\nHost: vanish.localhost\r\nX-Request-Id: {id}\r\nTransfer-Encoding: chunked\r\n\r\n100\r\nabc"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(stream);
    let line = kumo.router_line("vanish", &id).await;
    assert!(line.contains("code=H27"), "{line}");
    // None of the clients that left mid-headers reached the app.
    assert_eq!(
        kumo.logs("vanish")
            .iter()
            .filter(|l| l.contains("kumo[router]"))
            .count(),
        2,
        "{:#?}",
        kumo.logs("vanish")
    );
    others_are_served(&kumo, "vanish").await;
}
