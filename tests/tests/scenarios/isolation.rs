//! Isolation, with the guest as the attacker: a dyno sees its own app's config
//! vars and no other app's, and cannot reach the network, neither with
//! `wasi:http/outgoing-handler` nor with a `wasi:sockets` TCP connect, even to
//! a server listening on the host's loopback; unless its app allows hosts with
//! `KUMO_ALLOWED_HOSTS`, and then it reaches those and nothing else. Even a
//! listed host is refused when the address dialled is loopback or private,
//! unless the server allows private outbound.

use kumo_runtime::sizes::DynoSize::Standard1X;
use kumo_tests::{Kumo, Options, Process, components};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

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

    let http = outbound_http(&kumo, &format!("http://{addr}/")).await;
    assert_eq!(http, "refused: ErrorCode::HttpRequestDenied\n");

    let tcp = outbound_tcp(&kumo, &addr.to_string()).await;
    assert!(tcp.starts_with("refused: "), "{}", tcp);

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        listener.accept().is_err(),
        "a guest connected to the host's loopback"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_hosts_open_outbound_network_to_them_only() {
    // The listed server is on this machine's loopback, which only a server
    // that allows private outbound lets dynos dial.
    let kumo = Kumo::start_with(Options {
        outbound_private: true,
        ..Options::default()
    })
    .await;
    let slug = kumo.slug(&[Process::web(components::HOSTILE)]);
    let allowed = Peer::start().await;
    let unlisted = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    unlisted.set_nonblocking(true).expect("nonblocking");
    let other = unlisted.local_addr().expect("addr");
    let list = format!(" 127.0.0.1:{} , nowhere.invalid", allowed.addr.port());
    kumo.deploy(
        "caller",
        1,
        &slug,
        &[("KUMO_ALLOWED_HOSTS", &list)],
        &[("web", 1, Standard1X)],
    )
    .await;
    // A name that does not resolve is said on the app's log and skipped.
    kumo.wait_for_log(
        "caller",
        "kumo[web.1]: Allowed host `nowhere.invalid` did not resolve",
        Duration::from_secs(10),
    )
    .await;

    let http = outbound_http(&kumo, &format!("http://{}/hello", allowed.addr)).await;
    assert_eq!(http, "reached: 200\nhello from the allowed host\n");
    let tcp = outbound_tcp(&kumo, &allowed.addr.to_string()).await;
    assert_eq!(tcp, "reached: pong\n");
    assert_eq!(allowed.seen(), ["GET /hello HTTP/1.1", "ping"]);

    // The same host on a port the list does not name, and the host by a name
    // the list does not give: denied, and nothing connects.
    for url in [
        format!("http://{other}/"),
        format!("http://localhost:{}/", allowed.addr.port()),
    ] {
        let http = outbound_http(&kumo, &url).await;
        assert_eq!(http, "refused: ErrorCode::HttpRequestDenied\n", "{url}");
    }
    let tcp = outbound_tcp(&kumo, &other.to_string()).await;
    assert!(tcp.starts_with("refused: "), "{}", tcp);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        unlisted.accept().is_err(),
        "a guest connected to the unlisted port"
    );
    assert_eq!(allowed.seen().len(), 2, "{:?}", allowed.seen());

    // Unsetting the list is a new release, and its dyno is back to no network.
    kumo.update("caller", |app| {
        let release = app.release.as_mut().expect("a release");
        release.version = 2;
        release.config.remove("KUMO_ALLOWED_HOSTS");
    })
    .await;
    let http = outbound_http(&kumo, &format!("http://{}/hello", allowed.addr)).await;
    assert_eq!(http, "refused: ErrorCode::HttpRequestDenied\n");
    let tcp = outbound_tcp(&kumo, &allowed.addr.to_string()).await;
    assert!(tcp.starts_with("refused: "), "{}", tcp);
    assert_eq!(allowed.seen().len(), 2, "{:?}", allowed.seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_is_refused_even_when_listed() {
    // The server's default: an app's list cannot open the machine's own ports.
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::HOSTILE)]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    let port = addr.port();
    let list = format!("127.0.0.1:{port}, [::ffff:127.0.0.1]:{port}");
    kumo.deploy(
        "caller",
        1,
        &slug,
        &[("KUMO_ALLOWED_HOSTS", &list)],
        &[("web", 1, Standard1X)],
    )
    .await;
    kumo.wait_for_log(
        "caller",
        "kumo[web.1]: Allowed host `127.0.0.1` is off limits (127.0.0.1 is loopback): this Kumo server lets dynos reach public addresses only, so connects to it are refused",
        Duration::from_secs(10),
    )
    .await;
    refused_both_ways(&kumo, addr).await;

    // `*` is every public host, still not this one.
    kumo.update("caller", |app| {
        let release = app.release.as_mut().expect("a release");
        release.version = 2;
        release
            .config
            .insert("KUMO_ALLOWED_HOSTS".into(), "*".into());
    })
    .await;
    refused_both_ways(&kumo, addr).await;

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        listener.accept().is_err(),
        "a guest connected to the host's loopback"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_name_resolving_to_loopback_is_refused_when_dialled() {
    // A name the owner controls may resolve (or rebind) to loopback: what is
    // checked is the address dialled, not the name.
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::HOSTILE)]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    kumo.deploy(
        "caller",
        1,
        &slug,
        &[("KUMO_ALLOWED_HOSTS", &format!("localhost:{port}"))],
        &[("web", 1, Standard1X)],
    )
    .await;
    let line = kumo
        .wait_for_log(
            "caller",
            "kumo[web.1]: Allowed host `localhost` is off limits (",
            Duration::from_secs(10),
        )
        .await;
    assert!(line.contains("127.0.0.1 is loopback"), "{line}");

    let http = outbound_http(&kumo, &format!("http://localhost:{port}/")).await;
    assert_eq!(http, "refused: ErrorCode::DestinationIpProhibited\n");
    // The address the name had at the dyno's start, connected to directly.
    let tcp = outbound_tcp(&kumo, &format!("127.0.0.1:{port}")).await;
    assert!(tcp.starts_with("refused: "), "{}", tcp);

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        listener.accept().is_err(),
        "a guest connected to the host's loopback"
    );
}

/// What the `caller` app's guest answers when asked to fetch `url` with
/// `wasi:http` (`reached: …` or `refused: …`).
async fn outbound_http(kumo: &Kumo, url: &str) -> String {
    let reply = kumo
        .get("caller", &format!("/outbound-http?url={url}"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.text()
}

/// What the `caller` app's guest answers when asked to connect to `addr` with
/// `wasi:sockets` TCP (`reached: …` or `refused: …`).
async fn outbound_tcp(kumo: &Kumo, addr: &str) -> String {
    let reply = kumo
        .get("caller", &format!("/outbound-tcp?addr={addr}"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.text()
}

/// Asserts that the `caller` app's guest reaches `addr`, a loopback address,
/// neither over `wasi:http` (as it is and in its IPv4-mapped form) nor over
/// `wasi:sockets`.
async fn refused_both_ways(kumo: &Kumo, addr: SocketAddr) {
    let mapped = format!("%5B::ffff:{}%5D:{}", addr.ip(), addr.port());
    for authority in [addr.to_string(), mapped] {
        let http = outbound_http(kumo, &format!("http://{authority}/")).await;
        assert_eq!(
            http, "refused: ErrorCode::DestinationIpProhibited\n",
            "{authority}"
        );
    }
    let tcp = outbound_tcp(kumo, &addr.to_string()).await;
    assert!(tcp.starts_with("refused: "), "{}", tcp);
}

/// A loopback server for the allowed-hosts test. It answers an HTTP request
/// with `hello from the allowed host` and any other line with `pong`, then
/// closes, and keeps the first line of each connection.
struct Peer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Peer {
    async fn start() -> Peer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    let mut first = String::new();
                    if stream.read_line(&mut first).await.is_err() {
                        return;
                    }
                    let first = first.trim_end().to_string();
                    let reply = if first.starts_with("GET ") {
                        // Read the head to its blank line, then answer.
                        let mut line = String::new();
                        while stream.read_line(&mut line).await.is_ok_and(|n| n > 2) {
                            line.clear();
                        }
                        let body = "hello from the allowed host\n";
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    } else {
                        "pong\n".to_string()
                    };
                    record.lock().expect("seen lock").push(first);
                    let mut stream = stream.into_inner();
                    let _ = stream.write_all(reply.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Peer { addr, seen, task }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("seen lock").clone()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
