//! Log drains end to end: a syslog receiver, a syslog-over-TLS one and an
//! HTTPS endpoint on loopback get every line of an app's stream, in order,
//! in Heroku's formats; across a receiver's restart nothing is lost and
//! nothing is doubled (beyond an HTTPS frame sent again under its own id).

mod receivers;

use crate::heroku::{Heroku, has};
use crate::support::{Server, http, kumo, stdout};
use receivers::{Kind, Receiver};
use std::time::{Duration, Instant};

/// Router-line paths a receiver got, in order, from its syslog messages.
fn paths_in(messages: &[String]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| {
            let (_, rest) = m.split_once(" path=\"")?;
            Some(rest.split('"').next()?.to_string())
        })
        .collect()
}

/// Waits until the syslog receiver has messages for every path in `want`.
fn wait_syslog(receiver: &Receiver, got: &mut Vec<String>, want: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !want.iter().all(|p| paths_in(got).contains(p)) {
        assert!(
            Instant::now() < deadline,
            "the receiver on {} got only {:?}, not {want:?}",
            receiver.port,
            paths_in(got)
        );
        if let Ok(message) = receiver.messages.recv_timeout(Duration::from_millis(200)) {
            got.push(message);
        }
    }
}

/// The frames of the HTTPS receiver's posts, a frame sent again (same
/// `Logplex-Frame-Id`) counted once.
fn https_frames(receiver: &Receiver) -> Vec<String> {
    let posts = receiver.posts.lock().unwrap();
    let mut seen = std::collections::HashSet::new();
    posts
        .iter()
        .filter(|p| seen.insert(p.header("logplex-frame-id").unwrap_or("").to_string()))
        .flat_map(|p| p.frames.clone())
        .collect()
}

fn wait_https(receiver: &Receiver, want: &[String]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let frames = https_frames(receiver);
        if want.iter().all(|p| paths_in(&frames).contains(p)) {
            return frames;
        }
        assert!(
            Instant::now() < deadline,
            "the HTTPS receiver got only {:?}, not {want:?}",
            paths_in(&frames)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn requests(server: &Server, prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let path = format!("/{prefix}-{i}");
            assert_eq!(
                http(server.router_port, "drapp.localhost", "GET", &path, &[], "").status,
                200
            );
            path
        })
        .collect()
}

/// `got`'s paths from `first` on are exactly `want`, each once, in order.
fn exactly_from(got: &[String], want: &[String]) {
    let paths = paths_in(got);
    let start = paths
        .iter()
        .position(|p| p == &want[0])
        .unwrap_or_else(|| panic!("{:?} not in {paths:?}", want[0]));
    let tail: Vec<&String> = paths[start..].iter().filter(|p| want.contains(p)).collect();
    assert_eq!(
        tail,
        want.iter().collect::<Vec<_>>(),
        "all paths: {paths:?}"
    );
}

#[test]
fn drains_get_every_line_in_order_across_restarts() {
    let certs = receivers::certs();
    let mut plain = Receiver::start(Kind::Syslog, None);
    let tls = Receiver::start(Kind::Syslog, Some(certs.config.clone()));
    let mut https = Receiver::start(Kind::Https, Some(certs.config.clone()));
    let data = tempfile::tempdir().unwrap();
    let ca = data.path().join("drain-ca.pem");
    std::fs::write(&ca, &certs.ca_pem).unwrap();
    let server = Server::start(
        data.path(),
        &["--drain-ca-file", ca.to_str().unwrap()],
        "Router listening on",
    );
    stdout(&kumo(&server, &["apps:create", "drapp"]));
    stdout(&kumo(
        &server,
        &[
            "deploy",
            "-a",
            "drapp",
            "--wasm",
            kumo_tests::components::HELLO,
        ],
    ));

    // Added with kumo and with Heroku's CLI; listed with their tokens.
    let plain_url = format!("syslog://127.0.0.1:{}", plain.port);
    let tls_url = format!("syslog+tls://localhost:{}", tls.port);
    let https_url = format!("https://user:secret@localhost:{}/logs", https.port);
    has(
        &stdout(&kumo(&server, &["drains:add", &plain_url, "-a", "drapp"])),
        &format!("Successfully added drain {plain_url}"),
    );
    let heroku = Heroku::new(&server, data.path());
    let (so, _) = heroku.ok(&["drains:add", &tls_url, "-a", "drapp"]);
    has(&so, &format!("Successfully added drain {tls_url}"));
    heroku.ok(&["drains:add", &https_url, "-a", "drapp"]);
    let (so, _) = heroku.ok(&["drains", "-a", "drapp"]);
    let token_of = |url: &str| -> String {
        let line = so
            .lines()
            .find(|l| l.starts_with(url))
            .unwrap_or_else(|| panic!("{url} not listed:\n{so}"));
        let token = line.rsplit(['(', ')']).nth(1).unwrap().to_string();
        assert!(token.starts_with("d.") && token.len() == 38, "{line}");
        token
    };
    let (plain_token, tls_token, https_token) = (
        token_of(&plain_url),
        token_of(&tls_url),
        token_of(&https_url),
    );

    // Bad URLs and a sixth drain are refused, naming the fix.
    let out = kumo(
        &server,
        &["drains:add", "http://127.0.0.1:1/x", "-a", "drapp"],
    );
    assert!(!out.status.success());
    has(
        &String::from_utf8_lossy(&out.stderr),
        "drains send logs only over HTTPS",
    );
    for port in [1, 2] {
        stdout(&kumo(
            &server,
            &[
                "drains:add",
                &format!("syslog://127.0.0.1:{port}"),
                "-a",
                "drapp",
            ],
        ));
    }
    let out = kumo(
        &server,
        &["drains:add", "syslog://127.0.0.1:3", "-a", "drapp"],
    );
    has(
        &String::from_utf8_lossy(&out.stderr),
        "already has 5 drains",
    );

    // Every router line reaches every drain, in order, in Heroku's layout.
    let first = requests(&server, "first", 20);
    let mut plain_got = Vec::new();
    wait_syslog(&plain, &mut plain_got, &first);
    exactly_from(&plain_got, &first);
    let line = plain_got
        .iter()
        .find(|m| m.contains("path=\"/first-0\""))
        .unwrap();
    assert!(line.starts_with("<158>1 "), "{line}");
    has(
        line,
        &format!(
            " {plain_token} kumo router - - at=info method=GET path=\"/first-0\" host=drapp.localhost"
        ),
    );
    let mut tls_got = Vec::new();
    wait_syslog(&tls, &mut tls_got, &first);
    exactly_from(&tls_got, &first);
    has(
        &tls_got.join("\n"),
        &format!(" {tls_token} kumo router - - at=info"),
    );
    let frames = wait_https(&https, &first);
    exactly_from(&frames, &first);
    has(
        &frames.join("\n"),
        " host kumo router - at=info method=GET path=\"/first-0\"",
    );
    {
        let posts = https.posts.lock().unwrap();
        for post in posts.iter() {
            assert_eq!(post.header("content-type"), Some("application/logplex-1"));
            assert_eq!(
                post.header("logplex-drain-token"),
                Some(https_token.as_str())
            );
            assert_eq!(
                post.header("logplex-msg-count"),
                Some(post.frames.len().to_string().as_str())
            );
            assert!(
                post.header("logplex-frame-id")
                    .is_some_and(|id| !id.is_empty())
            );
            // user:secret, as the URL gave it.
            assert_eq!(post.header("authorization"), Some("Basic dXNlcjpzZWNyZXQ="));
        }
    }

    // The plain receiver and the HTTPS one go away and come back: the lines
    // made meanwhile arrive once, in order, after the ones before.
    plain.stop();
    https.stop();
    let down = requests(&server, "down", 10);
    std::thread::sleep(Duration::from_millis(500));
    plain.restart();
    https.restart();
    let up = requests(&server, "up", 10);
    let all: Vec<String> = down.iter().chain(&up).cloned().collect();
    wait_syslog(&plain, &mut plain_got, &all);
    exactly_from(&plain_got, &all);
    let frames = wait_https(&https, &all);
    exactly_from(&frames, &all);
    // The TLS receiver, never down, got them too.
    wait_syslog(&tls, &mut tls_got, &all);
    exactly_from(
        &tls_got,
        &first.iter().chain(&all).cloned().collect::<Vec<_>>(),
    );

    // Removed, a drain gets nothing more.
    heroku.ok(&["drains:remove", &plain_url, "-a", "drapp"]);
    let after = requests(&server, "after", 3);
    wait_syslog(&tls, &mut tls_got, &after);
    std::thread::sleep(Duration::from_millis(500));
    while let Ok(message) = plain.messages.try_recv() {
        plain_got.push(message);
    }
    assert!(
        !paths_in(&plain_got).contains(&after[0]),
        "{:?}",
        paths_in(&plain_got)
    );
}
