//! Crash safety: `kumo server` is killed with SIGKILL at random moments while
//! a client deploys, changes config, scales and rolls back as fast as it can.
//! After each restart the ledger holds exactly the changes the client was told
//! were made, plus at most the one in flight, all or nothing; no release
//! points at a missing slug; and the dynos run the current release again.
//!
//! `KUMO_CRASH_ROUNDS` sets the number of kills (default 100).

use crate::support::{Server, kumo, stdout};
use serde_json::Value;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// One API call on a fresh connection; `None` when the server is gone
/// before it answered (the call may or may not have been made).
fn call(port: u16, token: &str, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    call_with(port, token, method, path, "", body).map(|(status, _, body)| (status, body))
}

/// [`call`] with extra header lines (`Name: value\r\n` each); returns the head too.
fn call_with(
    port: u16,
    token: &str,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> Option<(u16, String, String)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Accept: application/vnd.heroku+json; version=3\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, head.to_string(), body.to_string()))
}

/// Every release of the app, oldest first, following `Next-Range`.
fn all_releases(port: u16, token: &str) -> Option<Vec<Value>> {
    let mut releases = Vec::new();
    let mut range = "version ..; max=1000".to_string();
    loop {
        let (status, head, body) = call_with(
            port,
            token,
            "GET",
            "/apps/crashy/releases",
            &format!("Range: {range}\r\n"),
            "",
        )?;
        assert!(status == 200 || status == 206, "{status}: {body}");
        releases.extend(serde_json::from_str::<Vec<Value>>(&body).ok()?);
        match head.lines().find_map(|l| {
            l.strip_prefix("Next-Range: ")
                .or(l.strip_prefix("next-range: "))
        }) {
            Some(next) => range = next.trim().to_string(),
            None => return Some(releases),
        }
    }
}

/// A change the client makes.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// `COUNTER=n`: a new release with the current slug.
    SetCounter(i64),
    /// `web=n`: no release.
    Scale(i64),
    /// The stored slug again: a new release with the current config.
    Deploy,
    /// Back to the release before the current one: a new release with its config.
    Rollback,
}

/// What the ledger must hold: each release's `COUNTER` (`None`: unset), and `web`'s quantity.
#[derive(Clone, Debug, PartialEq)]
struct Model {
    releases: Vec<Option<i64>>,
    web: i64,
}

impl Model {
    fn apply(&mut self, op: Op) {
        let current = *self.releases.last().expect("a release");
        match op {
            Op::SetCounter(n) => self.releases.push(Some(n)),
            Op::Scale(n) => self.web = n,
            Op::Deploy => self.releases.push(current),
            Op::Rollback => {
                let target = self.releases[self.releases.len() - 2];
                self.releases.push(target);
            }
        }
    }
}

/// A small deterministic generator, seeded per run and printed, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

/// The ledger as the restarted server reports it, for the releases from `from` on.
fn observe(server: &Server, from: usize) -> (usize, Vec<Option<i64>>, i64, Vec<String>) {
    let list = all_releases(server.api_port, &server.token).expect("the releases");
    let versions: Vec<i64> = list
        .iter()
        .map(|r| r["version"].as_i64().unwrap())
        .collect();
    let expected: Vec<i64> = (1..=list.len() as i64).collect();
    assert_eq!(versions, expected, "versions are contiguous from v1");
    let mut slugs = Vec::new();
    for release in &list {
        assert_eq!(release["status"], "succeeded", "{release}");
        slugs.push(release["slug"]["id"].as_str().unwrap().to_string());
    }
    let counters = (from..=list.len())
        .map(|v| {
            let config = server
                .api(
                    "GET",
                    &format!("/apps/crashy/releases/{v}/config-vars"),
                    None,
                    None,
                )
                .json();
            config["COUNTER"].as_str().map(|c| c.parse().unwrap())
        })
        .collect();
    let formation = server
        .api("GET", "/apps/crashy/formation/web", None, None)
        .json();
    (
        list.len(),
        counters,
        formation["quantity"].as_i64().unwrap(),
        slugs,
    )
}

#[test]
fn sigkill_loses_nothing_committed() {
    let rounds: usize = std::env::var("KUMO_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let seed = std::env::var("KUMO_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("crash test: {rounds} rounds, KUMO_CRASH_SEED={seed}");
    let mut rng = Rng(seed);

    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(data.path(), &[], "Router listening on");
    stdout(&kumo(&server, &["apps:create", "crashy"]));
    stdout(&kumo(
        &server,
        &[
            "deploy",
            "-a",
            "crashy",
            "--wasm",
            kumo_tests::components::ENV,
        ],
    ));
    let mut model = Model {
        releases: vec![None],
        web: 1,
    };
    let digest = server
        .api("GET", "/apps/crashy/releases/1", None, None)
        .json()["slug"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut counter = 0;
    let mut kills_with_a_change_in_flight = 0;

    for round in 0..rounds {
        // A client changes the app as fast as it can, one call at a time,
        // until the server is killed under it.
        let (port, token) = (server.api_port, server.token.clone());
        let kill_after = Duration::from_millis(20 + rng.next(400));
        let ops: Vec<Op> = (0..10_000)
            .map(|_| match rng.next(4) {
                0 => {
                    counter += 1;
                    Op::SetCounter(counter)
                }
                1 => Op::Scale(1 + rng.next(3) as i64),
                2 => Op::Deploy,
                _ => Op::Rollback,
            })
            .collect();
        let digest_for_client = digest.clone();
        let client = std::thread::spawn(move || {
            let mut acked = Vec::new();
            for op in ops {
                let (method, path, body) = match op {
                    Op::SetCounter(n) => (
                        "PATCH",
                        "/apps/crashy/config-vars",
                        format!(r#"{{"COUNTER":"{n}"}}"#),
                    ),
                    Op::Scale(n) => (
                        "PATCH",
                        "/apps/crashy/formation",
                        format!(r#"{{"updates":[{{"type":"web","quantity":{n}}}]}}"#),
                    ),
                    Op::Deploy => (
                        "POST",
                        "/apps/crashy/releases",
                        format!(r#"{{"slug":"{digest_for_client}"}}"#),
                    ),
                    Op::Rollback => (
                        "POST",
                        "/apps/crashy/releases",
                        // The release before the current one, by its place in the ledger.
                        String::new(),
                    ),
                };
                let body = if let Op::Rollback = op {
                    let Some((_, _, newest)) = call_with(
                        port,
                        &token,
                        "GET",
                        "/apps/crashy/releases",
                        "Range: version ..; order=desc, max=1\r\n",
                        "",
                    ) else {
                        return (acked, None);
                    };
                    let Ok(newest) = serde_json::from_str::<Value>(&newest) else {
                        return (acked, None);
                    };
                    let previous = newest[0]["version"].as_i64().unwrap() - 1;
                    if previous == 0 {
                        continue;
                    }
                    format!(r#"{{"release":"{previous}"}}"#)
                } else {
                    body
                };
                match call(port, &token, method, path, &body) {
                    Some((status, _)) if (200..300).contains(&status) => acked.push(op),
                    Some((status, body)) => panic!("{op:?} answered {status}: {body}"),
                    None => return (acked, Some(op)),
                }
            }
            (acked, None)
        });
        std::thread::sleep(kill_after);
        drop(server); // SIGKILL
        let (acked, in_flight) = client.join().unwrap();
        for op in acked {
            model.apply(op);
        }

        server = Server::start(data.path(), &[], "Router listening on");
        let from = model.releases.len().saturating_sub(1).max(1);
        let (count, counters, web, slugs) = observe(&server, from);
        // The call in flight when the server died happened entirely or not at all.
        if let Some(op) = in_flight {
            let mut with = model.clone();
            with.apply(op);
            let applied = match op {
                Op::Scale(n) => web == n && n != model.web,
                _ => count == with.releases.len(),
            };
            if applied {
                model = with;
                kills_with_a_change_in_flight += 1;
            }
        }
        assert_eq!(count, model.releases.len(), "round {round}: the releases");
        assert_eq!(
            counters,
            model.releases[from - 1..],
            "round {round}: each release's config"
        );
        assert_eq!(web, model.web, "round {round}: the formation");
        for slug in slugs {
            let hex = slug.trim_start_matches("sha256:");
            assert!(
                data.path()
                    .join(format!("slug-store/slugs/{hex}.tar.zst"))
                    .is_file(),
                "round {round}: a release points at the missing slug {slug}"
            );
        }
    }

    // The dynos come back and serve the last committed release.
    let version = model.releases.len();
    let want_counter = match model.releases[version - 1] {
        Some(n) => format!("COUNTER={n}\n"),
        None => "KUMO_APP_NAME=crashy".to_string(),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = server.get("crashy", "/");
        if reply.status == 200
            && reply
                .body
                .contains(&format!("KUMO_RELEASE_VERSION=v{version}\n"))
            && reply.body.contains(&want_counter)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the app never served v{version} with {want_counter:?}: {} {}",
            reply.status,
            reply.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    loop {
        let dynos = server.api("GET", "/apps/crashy/dynos", None, None).json();
        let web: Vec<&Value> = dynos
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["type"] == "web")
            .collect();
        if web.len() as i64 == model.web && web.iter().all(|d| d["state"] == "up") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the formation's {} web dynos never all ran: {dynos}",
            model.web
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "crash test: {rounds} kills, {} releases, {kills_with_a_change_in_flight} changes made as the server died",
        version
    );
}
