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
