//! `kumo server` as a user runs it: the stable start-up lines, the demo app
//! answering through the router, and clear errors for bad flags.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn kumo() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kumo"))
}

/// A raw HTTP/1.1 GET with a Host header, returning the whole response.
fn get(port: u16, host: &str, path: &str) -> String {
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the router");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// Kills the server when the test ends, even when it fails.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn server_demo_deploys_an_app_that_answers() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Running(
        kumo()
            .args([
                "server",
                "--demo",
                "--router-listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(data.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start kumo server"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(300);
    let (mut port, mut url) = (None, None);
    let mut seen = Vec::new();
    while url.is_none() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(remaining).unwrap_or_else(|_| {
            panic!(
                "kumo server printed no demo URL; it printed:\n{}",
                seen.join("\n")
            )
        });
        if let Some(addr) = line.strip_prefix("Router listening on http://127.0.0.1:") {
            port = addr.parse::<u16>().ok();
        }
        if let Some(u) = line.strip_prefix("Demo app deployed: ") {
            url = Some(u.to_string());
        }
        seen.push(line);
    }
    let port = port.expect("the router line comes first");
    assert_eq!(
        url.as_deref(),
        Some(format!("http://demo.localhost:{port}/").as_str())
    );
    assert!(
        seen.iter()
            .any(|l| l == "-----> Building the demo app (Rust, wasm32-wasip2)"),
        "{seen:?}"
    );

    let response = get(port, "demo.localhost", "/");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        response.contains("Hello from Kumo! Served by web.1 of release v1.\n"),
        "{response}"
    );
    let response = get(port, "nothing.localhost", "/");
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
}

#[test]
fn bad_flags_are_refused_with_the_fix() {
    let output = kumo()
        .args(["server", "--router-listen", "nonsense"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid --router-listen `nonsense`: use an address like 127.0.0.1:8080"),
        "{stderr}"
    );
    let output = kumo().args(["server", "--domain", "a/b"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid --domain `a/b`"));
}
