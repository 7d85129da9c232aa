//! Any node's router serves any app: a request reaching a node that runs none
//! of the app's web dynos is forwarded to one that does, with the first
//! router's headers, limits and router line; a killed node's GETs go to the
//! dyno's new node without the client seeing a failure.

use crate::support::{Server, has, http_at, kumo, stdout};
use std::time::{Duration, Instant};

/// Nodes alpha, beta, … on 127.0.0.2, .3, … (one per folder of `dirs`, the
/// first holding the ledger) with `extra` flags, once all are up.
pub fn start_nodes(dirs: &[tempfile::TempDir], extra: &[&str]) -> Vec<Server> {
    let ledger = dirs[0].path();
    let servers: Vec<Server> = NAMES
        .iter()
        .zip(dirs)
        .enumerate()
        .map(|(i, (name, dir))| {
            let mut flags = vec!["--node", name];
            flags.extend_from_slice(extra);
            // Each node on its own loopback address: 127.0.0.2, .3, .4.
            let ip = format!("127.0.0.{}", i + 2);
            Server::start_at(&ip, dir.path(), ledger, &flags, "Router listening on")
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while stdout(&kumo(&servers[0], &["nodes"]))
        .matches("  up  ")
        .count()
        < servers.len()
    {
        assert!(Instant::now() < deadline, "the nodes never came up");
        std::thread::sleep(Duration::from_millis(250));
    }
    servers
}

/// Three nodes on one ledger, once all are up.
pub fn three_nodes(dirs: &[tempfile::TempDir]) -> Vec<Server> {
    start_nodes(dirs, &[])
}

/// The node `app`'s `dyno` runs on, once it is up, as `server`'s `ps` says.
pub fn node_of(server: &Server, app: &str, dyno: &str) -> String {
    node_of_but(server, app, dyno, "")
}

/// [`node_of`], once that is not `not`.
pub fn node_of_but(server: &Server, app: &str, dyno: &str, not: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = stdout(&kumo(server, &["ps", "-a", app, "--json"]));
        let dynos: serde_json::Value = serde_json::from_str(&out).unwrap();
        if let Some(d) = dynos.as_array().unwrap().iter().find(|d| {
            d["name"] == dyno && d["state"] == "up" && d["node"].as_str().is_some_and(|n| n != not)
        }) {
            return d["node"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "{dyno} never came up: {out}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

const NAMES: [&str; 3] = ["alpha", "beta", "gamma"];

#[test]
fn every_nodes_router_serves_the_app_and_a_killed_nodes_gets_go_elsewhere() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut servers = three_nodes(&dirs);
    stdout(&kumo(&servers[0], &["apps:create", "routed"]));
    stdout(&kumo(
        &servers[1],
        &[
            "deploy",
            "-a",
            "routed",
            "--wasm",
            kumo_tests::components::HELLO,
        ],
    ));
    let holder = node_of(&servers[2], "routed", "web.1");
    let held = NAMES.iter().position(|n| *n == holder).unwrap();
    eprintln!("web.1 runs on {holder}");

    // Through each node's router, with that router's forwarding headers and
    // nothing of the hop for the dyno or the client to see.
    for (name, server) in NAMES.iter().zip(&servers) {
        let reply = server.route(
            "GET",
            "routed.localhost",
            "/headers",
            &[(
                "X-Request-Id".to_string(),
                format!("through-{name}-0123456789abcdef"),
            )],
            "",
        );
        assert_eq!(reply.status, 200, "through {name}: {}", reply.body);
        let body = &reply.body;
        assert!(
            body.contains(&format!("x-forwarded-port: {}\n", server.router_port)),
            "through {name}: {body}"
        );
        assert!(body.contains("x-forwarded-for: 127.0.0.1\n"), "{body}");
        assert!(body.contains("x-forwarded-proto: http\n"), "{body}");
        assert!(
            body.contains(&format!("x-request-id: through-{name}-0123456789abcdef\n")),
            "{body}"
        );
        assert!(
            !body.contains("kumo-"),
            "the hop's headers reached the dyno: {body}"
        );
        let head = reply.head.to_ascii_lowercase();
        assert!(
            !head.contains("kumo-"),
            "the hop's headers reached the client: {head}"
        );
        assert_eq!(head.matches("via: 1.1 kumo").count(), 1, "{head}");
        // A body streams across the hop both ways.
        let echoed = server.route("POST", "routed.localhost", "/echo", &[], "across the hop");
        assert_eq!(
            (echoed.status, echoed.body.as_str()),
            (200, "across the hop"),
            "through {name}"
        );
    }
    // The router line is the first router's, naming the dyno that answered.
    let edge = (held + 1) % 3;
    let logs = stdout(&kumo(
        &servers[edge],
        &["logs", "-a", "routed", "-n", "1500"],
    ));
    let line = logs
        .lines()
        .find(|l| l.contains(&format!("request_id=through-{}-", NAMES[edge])))
        .unwrap_or_else(|| {
            panic!(
                "no router line for the request through {}: {logs}",
                NAMES[edge]
            )
        });
    assert!(
        line.contains("kumo[router]: at=info method=GET path=\"/headers\""),
        "{line}"
    );
    assert!(
        line.contains("dyno=web.1") && line.contains("status=200"),
        "{line}"
    );

    // Every node's `kumo logs` is one stream of all three nodes' lines: the
    // router lines each edge wrote and the holder's dyno lines, in time
    // order, none twice.
    for server in &servers {
        let logs = stdout(&kumo(server, &["logs", "-a", "routed", "-n", "1500"]));
        for name in NAMES {
            assert_eq!(
                logs.matches(&format!("request_id=through-{name}-")).count(),
                1,
                "the router line through {name}, once: {logs}"
            );
        }
        has(&logs, "kumo[web.1]: State changed from starting to up");
        let times: Vec<&str> = logs.lines().filter_map(|l| l.split(' ').next()).collect();
        let mut sorted = times.clone();
        sorted.sort();
        assert_eq!(times, sorted, "lines out of time order: {logs}");
        let mut seen = std::collections::HashSet::new();
        for line in logs.lines() {
            assert!(seen.insert(line), "a line twice: {line}");
        }
    }
    // Every node's metrics count the six requests, whichever router served them.
    for server in &servers {
        let metrics = server
            .api("GET", "/apps/routed/metrics?minutes=5", None, None)
            .json();
        assert_eq!(metrics["summary"]["requests"], 6, "{metrics}");
        assert_eq!(metrics["summary"]["status"]["2xx"], 6, "{metrics}");
    }
    // A tail on one node shows requests routed by the two others as they come.
    let watcher = &servers[held];
    let mut tail = std::process::Command::new(env!("CARGO_BIN_EXE_kumo"))
        .args([
            "logs", "-a", "routed", "--tail", "-n", "0", "--source", "kumo",
        ])
        .env(
            "KUMO_HOST",
            format!("http://{}:{}", watcher.ip, watcher.api_port),
        )
        .env("KUMO_API_KEY", &watcher.token)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut tailed = std::io::BufRead::lines(std::io::BufReader::new(tail.stdout.take().unwrap()));
    std::thread::sleep(Duration::from_millis(1500));
    for (name, server) in NAMES.iter().zip(&servers) {
        let id = format!("tailed-{name}-0123456789abcdef");
        let reply = server.route(
            "GET",
            "routed.localhost",
            "/",
            &[("X-Request-Id".to_string(), id)],
            "",
        );
        assert_eq!(reply.status, 200);
    }
    let mut got = Vec::new();
    while got.len() < 3 {
        let line = tailed.next().expect("the tail ended").unwrap();
        if let Some(name) = NAMES
            .iter()
            .find(|n| line.contains(&format!("request_id=tailed-{n}-")))
        {
            got.push(*name);
        }
    }
    let _ = tail.kill();
    let _ = tail.wait();
    got.sort();
    assert_eq!(got, NAMES, "each node's router line once in the tail");

    // A forged node token is refused, and never reaches a dyno.
    let forged = servers[edge].route(
        "GET",
        "routed.localhost",
        "/headers",
        &[("kumo-node-token".to_string(), "guessed".to_string())],
        "",
    );
    assert_eq!(forged.status, 403, "{}", forged.body);

    // kill -9 of the dyno's node under a client sending GETs through another
    // node: the dyno comes up elsewhere and no GET fails.
    let killed_at = Instant::now();
    let (ip, port) = (servers[edge].ip.clone(), servers[edge].router_port);
    let client = std::thread::spawn(move || {
        let mut failures = Vec::new();
        let mut slowest = Duration::ZERO;
        let mut served = 0;
        let until = Instant::now() + Duration::from_secs(25);
        while Instant::now() < until && served < 20_000 {
            let sent = Instant::now();
            let reply = http_at(&ip, port, "routed.localhost", "GET", "/", &[], b"");
            slowest = slowest.max(sent.elapsed());
            if reply.status == 200 {
                served += 1;
            } else {
                failures.push((reply.status, reply.body));
            }
        }
        (served, failures, slowest)
    });
    std::thread::sleep(Duration::from_millis(500));
    let killed = servers.remove(held);
    drop(killed);
    let survivor = &servers[0];
    let new_holder = node_of_but(survivor, "routed", "web.1", &holder);
    eprintln!(
        "web.1 up on {new_holder} {:.1?} after the kill",
        killed_at.elapsed()
    );
    let (served, failures, slowest) = client.join().unwrap();
    eprintln!("{served} GETs served, slowest {slowest:.1?}, failures {failures:?}");
    assert!(
        failures.is_empty(),
        "GETs failed during the failover: {failures:?}"
    );
    assert!(served > 100, "only {served} GETs were served");

    // The killed node comes back under its name and starts no second web.1.
    let back = Server::start_on(
        dirs[held].path(),
        dirs[0].path(),
        &["--node", &holder],
        "Router listening on",
    );
    std::thread::sleep(Duration::from_secs(3));
    let out = stdout(&kumo(&back, &["ps", "-a", "routed", "--json"]));
    let dynos: serde_json::Value = serde_json::from_str(&out).unwrap();
    let web: Vec<_> = dynos
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["type"] == "web")
        .collect();
    assert_eq!(web.len(), 1, "{out}");
    assert_eq!(web[0]["node"], new_holder.as_str(), "{out}");
    let reply = back.get("routed", "/");
    assert_eq!(
        reply.status, 200,
        "through the node that came back: {}",
        reply.body
    );
}

/// The ids of `app`'s builds whose status is `status`.
fn builds(server: &Server, app: &str, status: &str) -> Vec<String> {
    let builds = server
        .api("GET", &format!("/apps/{app}/builds"), None, None)
        .json();
    builds
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["status"] == status)
        .map(|b| b["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_restarted_node_fails_only_its_own_cut_short_builds_and_a_dead_nodes_fail_later() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut servers = start_nodes(&dirs, &[]).into_iter();
    let (alpha, beta) = (servers.next().unwrap(), servers.next().unwrap());
    stdout(&kumo(&alpha, &["apps:create", "slowbuild"]));

    // A C app whose make sleeps, built by beta.
    let sources = tempfile::tempdir().unwrap();
    let sleep = format!("sleep 3600.{}", std::process::id());
    std::fs::write(
        sources.path().join("Makefile"),
        format!("app.wasm:\n\t{sleep}\n"),
    )
    .unwrap();
    std::fs::write(sources.path().join("Procfile"), "web: app.wasm\n").unwrap();
    let mut deploy = std::process::Command::new(env!("CARGO_BIN_EXE_kumo"))
        .args([
            "deploy",
            "-a",
            "slowbuild",
            &sources.path().display().to_string(),
        ])
        .env("KUMO_HOST", format!("http://{}:{}", beta.ip, beta.api_port))
        .env("KUMO_API_KEY", &beta.token)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let kill_sleep = || {
        let _ = std::process::Command::new("pkill")
            .args(["-KILL", "-f", &sleep])
            .status();
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while builds(&alpha, "slowbuild", "pending").is_empty() {
        assert!(Instant::now() < deadline, "the build never started");
        std::thread::sleep(Duration::from_millis(200));
    }
    let [id] = &builds(&alpha, "slowbuild", "pending")[..] else {
        panic!("one build runs")
    };
    let id = id.clone();

    // alpha restarts: beta's build still runs.
    drop(alpha);
    let alpha = Server::start_on(
        dirs[0].path(),
        dirs[0].path(),
        &["--node", "alpha"],
        "Router listening on",
    );
    assert_eq!(
        builds(&alpha, "slowbuild", "pending"),
        std::slice::from_ref(&id),
        "alpha's restart failed beta's build"
    );
    assert!(
        !alpha.lines.iter().any(|l| l.contains(&id)),
        "{:?}",
        alpha.lines
    );

    // beta dies: once it is down, a live node fails its build.
    drop(beta);
    kill_sleep();
    let _ = deploy.kill();
    let _ = deploy.wait();
    let deadline = Instant::now() + Duration::from_secs(60);
    while builds(&alpha, "slowbuild", "failed") != [id.clone()] {
        assert!(
            Instant::now() < deadline,
            "the dead node's build was never failed"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let build = alpha
        .api("GET", &format!("/apps/slowbuild/builds/{id}"), None, None)
        .json();
    eprintln!("{build}");
}

/// `kumo ps --json` names of `app`'s one-offs, each with its node.
fn one_offs(server: &Server, app: &str) -> Vec<(String, String)> {
    let out = stdout(&kumo(server, &["ps", "-a", app, "--json"]));
    let dynos: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut list: Vec<(String, String)> = dynos
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["name"].as_str().unwrap().starts_with("run."))
        .map(|d| {
            let field = |k: &str| d[k].as_str().unwrap_or("?").to_string();
            (field("name"), field("node"))
        })
        .collect();
    list.sort();
    list
}

#[test]
fn one_offs_started_through_two_nodes_have_their_own_names_and_every_node_lists_and_stops_them() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut servers = start_nodes(&dirs, &[]).into_iter();
    let (alpha, beta) = (servers.next().unwrap(), servers.next().unwrap());
    stdout(&kumo(&alpha, &["apps:create", "napping"]));
    stdout(&kumo(
        &alpha,
        &[
            "deploy",
            "-a",
            "napping",
            "--wasm",
            kumo_tests::components::ONESHOT,
            "--process",
            "console",
        ],
    ));
    stdout(&kumo(&alpha, &["config:set", "-a", "napping", "NAP=120"]));
    let first = stdout(&kumo(
        &alpha,
        &["run:detached", "-a", "napping", "console", "sleep-env=NAP"],
    ));
    has(&first, "up, run.1\n");
    let second = stdout(&kumo(
        &beta,
        &["run:detached", "-a", "napping", "console", "sleep-env=NAP"],
    ));
    has(&second, "up, run.2\n");
    let both = vec![
        ("run.1".to_string(), "alpha".to_string()),
        ("run.2".to_string(), "beta".to_string()),
    ];
    assert_eq!(one_offs(&alpha, "napping"), both);
    assert_eq!(one_offs(&beta, "napping"), both);
    // Stopped through the node that does not run it.
    stdout(&kumo(&beta, &["ps:stop", "run.1", "-a", "napping"]));
    let deadline = Instant::now() + Duration::from_secs(30);
    while one_offs(&alpha, "napping").len() != 1 {
        assert!(
            Instant::now() < deadline,
            "run.1 never stopped: {:?}",
            one_offs(&alpha, "napping")
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(one_offs(&beta, "napping"), both[1..]);
}

#[test]
fn a_sleeping_app_wakes_through_a_node_that_does_not_run_it() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let servers = start_nodes(&dirs, &["--sleep-after", "1s"]);
    stdout(&kumo(&servers[0], &["apps:create", "dozy"]));
    stdout(&kumo(
        &servers[0],
        &[
            "deploy",
            "-a",
            "dozy",
            "--wasm",
            kumo_tests::components::HELLO,
        ],
    ));
    stdout(&kumo(&servers[0], &["ps:scale", "-a", "dozy", "web=1:eco"]));
    let holder = node_of(&servers[1], "dozy", "web.1");
    let edge = &servers[if holder == "alpha" { 1 } else { 0 }];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ps = stdout(&kumo(edge, &["ps", "-a", "dozy"]));
        if ps.contains("web.1: idle") {
            break;
        }
        assert!(Instant::now() < deadline, "web.1 never went to sleep: {ps}");
        std::thread::sleep(Duration::from_millis(250));
    }
    let reply = edge.get("dozy", "/");
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "hello from kumo\n")
    );
    let logs = stdout(&kumo(edge, &["logs", "-a", "dozy", "-n", "200"]));
    has(&logs, "kumo[web.1]: Unidling");
    has(&logs, "kumo[router]: at=info method=GET path=\"/\"");
}

#[test]
fn a_deploy_through_one_node_fails_no_request_through_another() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let servers = three_nodes(&dirs);
    stdout(&kumo(&servers[0], &["apps:create", "rolling"]));
    stdout(&kumo(
        &servers[0],
        &[
            "deploy",
            "-a",
            "rolling",
            "--wasm",
            kumo_tests::components::ENV,
        ],
    ));
    stdout(&kumo(&servers[0], &["ps:scale", "web=2", "-a", "rolling"]));
    node_of(&servers[0], "rolling", "web.2");
    // The node running neither dyno (or, if both share one, any other) routes.
    let out = stdout(&kumo(&servers[0], &["ps", "-a", "rolling", "--json"]));
    let busy: Vec<String> = serde_json::from_str::<serde_json::Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["node"].as_str().unwrap().to_string())
        .collect();
    let edge = NAMES
        .iter()
        .position(|n| !busy.iter().any(|b| b == n))
        .unwrap_or(0);
    let (ip, port) = (servers[edge].ip.clone(), servers[edge].router_port);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let client = {
        let (stop, ip) = (stop.clone(), ip.clone());
        std::thread::spawn(move || {
            let (mut served, mut failures, mut last) = (0, Vec::new(), String::new());
            let until = Instant::now() + Duration::from_secs(60);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < until {
                let reply = http_at(&ip, port, "rolling.localhost", "GET", "/", &[], b"");
                if reply.status == 200 {
                    served += 1;
                    last = reply.body;
                } else {
                    failures.push((reply.status, reply.body));
                }
            }
            (served, failures, last)
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    // A new release through a node whose API is neither the edge's nor (if
    // possible) a dyno's.
    let api = (edge + 1) % 3;
    stdout(&kumo(
        &servers[api],
        &["config:set", "-a", "rolling", "WAVE=two"],
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = http_at(&ip, port, "rolling.localhost", "GET", "/", &[], b"");
        if reply.body.contains("WAVE=two\n") && reply.body.contains("KUMO_RELEASE_VERSION=v2\n") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new release never answered: {}",
            reply.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (served, failures, last) = client.join().unwrap();
    assert!(
        failures.is_empty(),
        "requests failed during the deploy: {failures:?}"
    );
    assert!(served > 50, "only {served} requests were served");
    has(&last, "KUMO_RELEASE_VERSION=v2\n");
}
