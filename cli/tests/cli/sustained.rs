//! Sustained load against a real `kumo server`: keep-alive clients on several
//! apps for `KUMO_SUSTAINED_SECS` (60 by default) while the apps are redeployed
//! and scaled; no request may fail, and the server's memory stays flat (its RSS
//! at the end within 1.5× of what it was after a warm-up).

use crate::support::{Server, kumo, stdout};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const APPS: [&str; 3] = ["load-a", "load-b", "load-c"];

#[test]
fn sustained_load_with_deploys_and_scaling_fails_nothing_and_memory_stays_flat() {
    let secs: u64 = std::env::var("KUMO_SUSTAINED_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    let deploy = |app: &str| {
        let out = stdout(&kumo(
            &server,
            &["deploy", "-a", app, "--wasm", kumo_tests::components::HELLO],
        ));
        assert!(out.contains("-----> Releasing... done"), "{out}");
    };
    for app in APPS {
        stdout(&kumo(&server, &["apps:create", app]));
        deploy(app);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let port = server.router_port;
    let clients: Vec<_> = (0..6)
        .map(|n| {
            let (stop, ok) = (stop.clone(), ok.clone());
            std::thread::spawn(move || client(port, APPS[n % APPS.len()], &stop, &ok))
        })
        .collect();

    std::thread::sleep(Duration::from_secs((secs / 6).max(2)));
    let warm = rss_kb(&server);
    let end = Instant::now() + Duration::from_secs(secs);
    let mut round = 0usize;
    while Instant::now() < end {
        let app = APPS[round % APPS.len()];
        if round.is_multiple_of(2) {
            deploy(app);
        } else {
            let quantity = if round % 4 == 1 { "web=2" } else { "web=1" };
            kumo(&server, &["ps:scale", quantity, "-a", app]);
        }
        round += 1;
        std::thread::sleep(Duration::from_secs(2));
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("client thread");
    }
    let last = rss_kb(&server);
    assert!(ok.load(Ordering::Relaxed) > 100, "too few requests served");
    assert!(
        last * 2 <= warm * 3,
        "server RSS grew from {warm} kB after warm-up to {last} kB"
    );
}

/// Sends `GET /` on one keep-alive connection after another until `stop`; panics on any failure.
fn client(port: u16, app: &str, stop: &AtomicBool, ok: &AtomicU64) {
    let host = format!("{app}.localhost");
    while !stop.load(Ordering::Relaxed) {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        for _ in 0..200 {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            write!(writer, "GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").expect("write");
            let mut status = String::new();
            reader.read_line(&mut status).expect("status line");
            let mut length = 0usize;
            let mut close = false;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("header");
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().expect("content-length");
                }
                close |= lower.starts_with("connection: close");
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).expect("body");
            assert!(
                status.starts_with("HTTP/1.1 200"),
                "{app}: {status} {}",
                String::from_utf8_lossy(&body)
            );
            ok.fetch_add(1, Ordering::Relaxed);
            if close {
                break;
            }
        }
    }
}

/// The server's resident memory, found by its data folder on its command line.
fn rss_kb(server: &Server) -> u64 {
    let data = server.data.to_string_lossy().into_owned();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains("server") && cmdline.contains(&data) {
            let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
            if let Some(kb) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            {
                return kb;
            }
        }
    }
    panic!("no kumo server process for {data}")
}
