//! Servers sharing one Postgres ledger and one slug store are nodes of one
//! platform: each lists the others, a name is held by one running server, and
//! a killed node shows as down until an operator forgets it.

use crate::support::{Server, backend_flags, has, kumo, stdout};
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn servers_on_one_ledger_list_each_other_and_a_killed_one_goes_down() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let alpha = Server::start(a.path(), &["--node", "alpha"], "Router listening on");
    let beta = Server::start_on(
        b.path(),
        a.path(),
        &["--node", "beta"],
        "Router listening on",
    );

    let out = stdout(&kumo(&beta, &["nodes"]));
    has(
        &out,
        &format!("alpha   up     http://127.0.0.1:{}", alpha.api_port),
    );
    has(
        &out,
        &format!("beta *  up     http://127.0.0.1:{}", beta.api_port),
    );

    // A second server may not take a running node's name.
    let refused = Command::new(env!("CARGO_BIN_EXE_kumo"))
        .args([
            "server",
            "--node",
            "alpha",
            "--router-listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(c.path())
        .args(backend_flags(a.path()))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    has(
        &String::from_utf8_lossy(&refused.stderr),
        &format!(
            "node `alpha` is already running at http://127.0.0.1:{}",
            alpha.api_port
        ),
    );

    // kill -9: its heartbeats stop, and after NODE_TTL it is down.
    drop(beta);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let nodes = alpha.api("GET", "/nodes/beta", None, None).json();
        if nodes["state"] == "down" {
            break;
        }
        assert!(Instant::now() < deadline, "beta never went down: {nodes}");
        std::thread::sleep(Duration::from_millis(500));
    }
    stdout(&kumo(&alpha, &["nodes:remove", "beta"]));
    let out = stdout(&kumo(&alpha, &["nodes"]));
    assert!(!out.contains("beta"), "{out}");
    has(&out, "alpha *");
}

/// `kumo ps --json` from `server`: each dyno's (name, state, node).
pub fn placed(server: &Server, app: &str) -> Vec<(String, String, String)> {
    let out = stdout(&kumo(server, &["ps", "-a", app, "--json"]));
    let dynos: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut list: Vec<(String, String, String)> = dynos
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_string(),
                d["state"].as_str().unwrap().to_string(),
                d["node"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    list.sort();
    list
}

/// Waits until `check` holds for `app`'s dynos as `server` lists them.
fn wait_for_dynos(
    server: &Server,
    app: &str,
    what: &str,
    check: impl Fn(&[(String, String, String)]) -> bool,
) -> Vec<(String, String, String)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let dynos = placed(server, app);
        if check(&dynos) {
            return dynos;
        }
        assert!(Instant::now() < deadline, "never {what}: {dynos:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn formation_dynos_spread_over_the_nodes_and_a_killed_nodes_move() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let alpha = Server::start(dirs[0].path(), &["--node", "alpha"], "Router listening on");
    let beta = Server::start_on(
        dirs[1].path(),
        dirs[0].path(),
        &["--node", "beta"],
        "Router listening on",
    );
    let gamma = Server::start_on(
        dirs[2].path(),
        dirs[0].path(),
        &["--node", "gamma"],
        "Router listening on",
    );
    // Placement uses the nodes that are up: wait for all three.
    let deadline = Instant::now() + Duration::from_secs(30);
    while stdout(&kumo(&alpha, &["nodes"])).matches("  up  ").count() < 3 {
        assert!(Instant::now() < deadline, "the three nodes never came up");
        std::thread::sleep(Duration::from_millis(250));
    }
    stdout(&kumo(&alpha, &["apps:create", "spread"]));
    stdout(&kumo(
        &alpha,
        &[
            "deploy",
            "-a",
            "spread",
            "--wasm",
            kumo_tests::components::HELLO,
        ],
    ));
    // Scaled through one node's API, the three web dynos run one per node,
    // and every node's `ps` says where.
    stdout(&kumo(&alpha, &["ps:scale", "web=3", "-a", "spread"]));
    let up_on_three = |dynos: &[(String, String, String)]| {
        let nodes: std::collections::BTreeSet<&str> =
            dynos.iter().map(|(_, _, n)| n.as_str()).collect();
        dynos.len() == 3 && dynos.iter().all(|(_, s, _)| s == "up") && nodes.len() == 3
    };
    let dynos = wait_for_dynos(&gamma, "spread", "up on three nodes", up_on_three);
    eprintln!("placed: {dynos:?}");
    assert_eq!(placed(&alpha, "spread"), dynos);
    let on_beta = dynos
        .iter()
        .find(|(_, _, n)| n == "beta")
        .map(|(name, _, _)| name.clone())
        .unwrap();
    has(
        &stdout(&kumo(&alpha, &["ps", "-a", "spread"])),
        &format!("{on_beta}: up"),
    );

    // ps:restart through one node restarts the dynos every node runs.
    let since = |server: &Server| -> Vec<(String, String)> {
        let out = stdout(&kumo(server, &["ps", "-a", "spread", "--json"]));
        let dynos: serde_json::Value = serde_json::from_str(&out).unwrap();
        let mut list: Vec<(String, String)> = dynos
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let name = d["name"].as_str().unwrap().to_string();
                (name, d["updated_at"].as_str().unwrap().to_string())
            })
            .collect();
        list.sort();
        list
    };
    let before = since(&alpha);
    std::thread::sleep(Duration::from_millis(1100));
    stdout(&kumo(&alpha, &["ps:restart", "-a", "spread"]));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let after = since(&gamma);
        let restarted = after.len() == 3 && after.iter().zip(&before).all(|(a, b)| a.1 > b.1);
        if restarted && placed(&gamma, "spread").iter().all(|(_, s, _)| s == "up") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every node restarted its dyno: {before:?} → {after:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // kill -9 of beta: its dyno starts on a survivor, within the lease's life.
    let killed = Instant::now();
    drop(beta);
    let dynos = wait_for_dynos(&alpha, "spread", "moved off beta", |dynos| {
        dynos.len() == 3
            && dynos.iter().all(|(_, s, n)| s == "up" && n != "beta")
            && dynos.iter().any(|(name, _, _)| *name == on_beta)
    });
    eprintln!(
        "{on_beta} up again after {:.1?}: {dynos:?}",
        killed.elapsed()
    );

    // Scaled down through another node, the extra dynos stop wherever they run.
    stdout(&kumo(&gamma, &["ps:scale", "web=1", "-a", "spread"]));
    wait_for_dynos(&alpha, "spread", "scaled down to one", |dynos| {
        dynos.len() == 1 && dynos[0].0 == "web.1"
    });
}
