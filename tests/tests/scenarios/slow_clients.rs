//! The router against slow and misbehaving clients and guests, over real
//! sockets: a client that stops reading holds no dyno hostage and is cut off by
//! the idle window (H28); a guest's deadline or unfinished body mid-response
//! aborts the response on the wire (H18); a guest silent past the idle window
//! gets H15; a guest that returns without a response gets H13 and a line in the
//! app's log; a client that leaves mid-upload is H27; absolute-form requests go
//! to the app their target names.

use kumo_runtime::sizes::DynoSize::Standard1X;
use kumo_tests::{Kumo, Options, Process, components, request_id};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

async fn deploy_stream(kumo: &Kumo, app: &str, concurrency: &str) {
    let slug = kumo.slug(&[Process::web(components::STREAM)]);
    kumo.deploy(
        app,
        1,
        &slug,
        &[("WEB_CONCURRENCY", concurrency)],
        &[("web", 1, Standard1X)],
    )
    .await;
}

/// A connection to the router whose receive buffer is as small as the kernel
/// allows, so a client that does not read stops the response quickly.
async fn connect_small(addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket.connect(addr).await.expect("connect to router")
}

/// Everything the router sends on `stream` until it closes the connection.
async fn read_all(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut got));
    match read.await {
        Ok(Ok(_)) => {}
        // A reset after the response was cut short is as good as a close.
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Ok(Err(e)) => panic!("reading the response: {e}"),
        Err(_) => panic!(
            "the router did not close the connection within 30 s; got so far:\n{}",
            String::from_utf8_lossy(&got)
        ),
    }
    got
}

/// Reads up to the end of the response head, and returns it.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut byte))
            .await
            .expect("a response head within 30 s")
            .expect("read");
        assert!(
            n == 1,
            "the connection closed before the head ended: {head:?}"
        );
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A chunked response as it came off the wire: whether it ended with its last
/// chunk, and the body's bytes.
fn dechunk(raw: &[u8]) -> (bool, Vec<u8>) {
    let text_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    let mut rest = &raw[text_end..];
    let mut body = Vec::new();
    loop {
        let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else {
            return (false, body);
        };
        let size = std::str::from_utf8(&rest[..line_end]).ok();
        let Some(size) = size.and_then(|s| usize::from_str_radix(s.trim(), 16).ok()) else {
            return (false, body);
        };
        rest = &rest[line_end + 2..];
        if size == 0 {
            return (rest.starts_with(b"\r\n"), body);
        }
        if rest.len() < size + 2 {
            body.extend_from_slice(&rest[..size.min(rest.len())]);
            return (false, body);
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// Sends a `Connection: close` GET of `path` on a new connection and returns
/// everything the router sends until it closes it.
async fn get_raw(kumo: &Kumo, path: &str, host: &str, id: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(kumo.router).await.expect("connect");
    stream
        .write_all(get(path, host, id).as_bytes())
        .await
        .expect("send");
    read_all(&mut stream).await
}

fn get(path: &str, host: &str, id: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nX-Request-Id: {id}\r\nConnection: close\r\n\r\n"
    )
}

/// Waits until none of `counters` has moved for a second.
async fn until_still(counters: &[Arc<AtomicUsize>]) {
    let read = || {
        counters
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect::<Vec<_>>()
    };
    let mut last = read();
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = read();
        if now == last && now.iter().all(|&n| n > 0) {
            return;
        }
        last = now;
    }
    panic!("the uploads never stopped: {last:?} bytes sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_stop_reading_hold_no_dyno_and_are_cut_off_with_h28() {
    let kumo = Kumo::start_with(Options {
        idle_timeout: Duration::from_secs(4),
        ..Options::default()
    })
    .await;
    deploy_stream(&kumo, "echo", "2").await;

    // Two clients POST far more than every buffer on the way holds to the echo
    // app, and never read a byte of the answer.
    const BODY: usize = 64 << 20;
    let mut slow = Vec::new();
    for n in 0..2 {
        let id = request_id(&format!("slow{n}"));
        let mut stream = connect_small(kumo.router).await;
        let head = format!(
            "POST /echo HTTP/1.1\r\nHost: echo.localhost\r\nX-Request-Id: {id}\r\nContent-Length: {BODY}\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.expect("send head");
        let (read_half, mut write_half) = stream.into_split();
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = sent.clone();
        let upload = tokio::spawn(async move {
            let chunk = vec![b'e'; 64 << 10];
            while counter.load(Ordering::Relaxed) < BODY {
                if write_half.write_all(&chunk).await.is_err() {
                    return;
                }
                counter.fetch_add(chunk.len(), Ordering::Relaxed);
            }
        });
        slow.push((id, read_half, sent, upload));
    }
    // Once the uploads stop, both guests are blocked writing to clients that do not read.
    let counters: Vec<_> = slow.iter().map(|s| s.2.clone()).collect();
    until_still(&counters).await;
    for counter in &counters {
        assert!(
            counter.load(Ordering::Relaxed) < BODY,
            "an upload finished: the echo did not block"
        );
    }

    // Meanwhile a third client is served, request after request.
    for _ in 0..20 {
        let started = std::time::Instant::now();
        let reply = kumo.get("echo", "/").await;
        assert_eq!((reply.status, reply.text().as_str()), (200, "alive\n"));
        eprintln!("neighbour served in {:?}", started.elapsed());
    }

    // The idle window closes both slow connections, logged as the client's
    // silence (with Heroku's 499 for it).
    for (id, _, _, _) in &slow {
        let line = kumo.router_line("echo", id).await;
        assert!(
            line.contains("at=warning code=H28 desc=\"Client Connection Idle\""),
            "{line}"
        );
        assert!(
            line.contains("status=499") && line.contains("dyno=web.1"),
            "{line}"
        );
    }
    for (_, _, _, upload) in slow {
        tokio::time::timeout(Duration::from_secs(10), upload)
            .await
            .expect("the upload ends once its connection is closed")
            .expect("upload task");
    }
    let reply = kumo.get("echo", "/").await;
    assert_eq!(reply.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_mid_body_aborts_the_response_with_h18() {
    let kumo = Kumo::start_with(Options {
        request_timeout: Duration::from_secs(2),
        ..Options::default()
    })
    .await;
    deploy_stream(&kumo, "stall", "1").await;

    let id = request_id("stall");
    let raw = get_raw(&kumo, "/stall-mid-body?secs=6", "stall.localhost", &id).await;
    assert!(
        raw.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    let (complete, body) = dechunk(&raw);
    assert_eq!(body, b"first part\n");
    assert!(
        !complete,
        "the body must be cut short, not end with its last chunk"
    );

    let line = kumo.router_line("stall", &id).await;
    assert!(
        line.contains("at=error code=H18 desc=\"Server Request Interrupted\""),
        "{line}"
    );
    assert!(
        line.contains("status=200") && line.contains("sock=backend"),
        "{line}"
    );
    kumo.wait_for_log(
        "stall",
        "kumo[web.1]: Request ran past the 2s deadline",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(kumo.get("stall", "/").await.text(), "alive\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_silent_past_the_idle_window_gets_h15() {
    let kumo = Kumo::start_with(Options {
        request_timeout: Duration::from_secs(20),
        idle_timeout: Duration::from_secs(2),
        ..Options::default()
    })
    .await;
    deploy_stream(&kumo, "quiet", "1").await;

    let id = request_id("quiet");
    let raw = get_raw(&kumo, "/stall-mid-body?secs=8", "quiet.localhost", &id).await;
    let (complete, body) = dechunk(&raw);
    assert_eq!((complete, body.as_slice()), (false, &b"first part\n"[..]));
    let line = kumo.router_line("quiet", &id).await;
    assert!(
        line.contains("at=error code=H15 desc=\"Idle connection\""),
        "{line}"
    );
    assert!(line.contains("status=200"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_waiting_for_a_slow_reader_is_not_stopped_by_its_deadline() {
    let kumo = Kumo::start_with(Options {
        request_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(30),
        ..Options::default()
    })
    .await;
    deploy_stream(&kumo, "big", "1").await;

    // The client reads the head, then nothing for twice the deadline: the guest
    // waits for it with its spool full, which its deadline does not count.
    let id = request_id("big");
    let mut stream = connect_small(kumo.router).await;
    let request = get("/big?mb=16", "big.localhost", &id);
    stream.write_all(request.as_bytes()).await.expect("send");
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut raw = head.into_bytes();
    raw.extend(read_all(&mut stream).await);
    let (complete, body) = dechunk(&raw);
    assert_eq!(body.len(), 16 << 20);
    assert!(complete, "the whole body, with its last chunk");
    let line = kumo.router_line("big", &id).await;
    assert!(line.contains("at=info method=GET"), "{line}");
    assert!(line.contains(&format!("bytes={}", 16 << 20)), "{line}");
    assert!(
        !kumo.logs("big").iter().any(|l| l.contains("deadline")),
        "{:#?}",
        kumo.logs("big")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_returns_without_a_response_gets_h13_and_says_so() {
    let kumo = Kumo::start().await;
    deploy_stream(&kumo, "mute", "1").await;

    let id = request_id("mute");
    let reply = kumo
        .request("mute", "GET", "/no-response", &[("x-request-id", &id)], b"")
        .await;
    assert_eq!(reply.status, 503);
    let line = kumo.router_line("mute", &id).await;
    assert!(
        line.contains("at=error code=H13 desc=\"Connection closed without response\""),
        "{line}"
    );
    kumo.wait_for_log(
        "mute",
        "kumo[web.1]: Error H13 (Connection closed without response) -> the app's handler returned without setting a response",
        Duration::from_secs(5),
    )
    .await;
    // Only the request failed: the same instance serves the next one.
    assert_eq!(kumo.get("mute", "/").await.text(), "alive\n");
    assert!(!kumo.logs("mute").iter().any(|l| l.contains("crashed")));

    // A handler that returns with its body unfinished: cut short on the wire, H18.
    let id = request_id("unfinished");
    let raw = get_raw(&kumo, "/unfinished", "mute.localhost", &id).await;
    let (complete, body) = dechunk(&raw);
    assert_eq!((complete, body.as_slice()), (false, &b"some of it\n"[..]));
    let line = kumo.router_line("mute", &id).await;
    assert!(
        line.contains("code=H18") && line.contains("status=200"),
        "{line}"
    );
    kumo.wait_for_log(
        "mute",
        "returned before finishing its response body",
        Duration::from_secs(5),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_mid_upload_while_the_response_streams_is_h27() {
    let kumo = Kumo::start().await;
    deploy_stream(&kumo, "leaver", "2").await;

    for n in 0..5 {
        let id = request_id(&format!("leave{n}"));
        let mut stream = TcpStream::connect(kumo.router).await.expect("connect");
        let head = format!(
            "POST /echo HTTP/1.1\r\nHost: leaver.localhost\r\nX-Request-Id: {id}\r\nContent-Length: {}\r\n\r\n",
            1 << 20
        );
        stream.write_all(head.as_bytes()).await.expect("send head");
        stream
            .write_all(&[b'u'; 64 << 10])
            .await
            .expect("send some");
        let head = read_head(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let mut echoed = [0u8; 1024];
        let n = stream.read(&mut echoed).await.expect("read echo");
        assert!(n > 0);
        drop(stream);

        let line = kumo.router_line("leaver", &id).await;
        assert!(
            line.contains("at=warning code=H27 desc=\"Client Request Interrupted\""),
            "{line}"
        );
    }
    assert_eq!(kumo.get("leaver", "/").await.text(), "alive\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absolute_form_request_goes_to_the_app_its_target_names() {
    let kumo = Kumo::start().await;
    deploy_stream(&kumo, "alpha", "1").await;
    deploy_stream(&kumo, "beta", "1").await;

    // The target names beta, the Host header alpha: the target wins (RFC 9112 §3.2.2).
    let id = request_id("absolute");
    let raw = get_raw(
        &kumo,
        "http://beta.localhost/whoami?x=1",
        "alpha.localhost",
        &id,
    )
    .await;
    let (_, body) = dechunk(&raw);
    assert_eq!(
        String::from_utf8_lossy(&body),
        "authority=beta.localhost path=/whoami?x=1\n"
    );
    let line = kumo.router_line("beta", &id).await;
    assert!(line.contains("host=beta.localhost"), "{line}");
    assert!(!kumo.logs("alpha").iter().any(|l| l.contains(&id)));

    // Origin-form: the Host header names the app, and the app sees it.
    let id = request_id("origin");
    let (_, body) = dechunk(&get_raw(&kumo, "/whoami", "alpha.localhost", &id).await);
    assert_eq!(
        String::from_utf8_lossy(&body),
        "authority=alpha.localhost path=/whoami\n"
    );
}
