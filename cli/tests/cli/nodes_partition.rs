//! A node cut off from the ledger is fenced: with its link down (a network
//! namespace whose veth pair the test takes down), it stops its formation
//! dynos before its leases expire, the other nodes start them, and once the
//! link is back it rejoins without running a dyno twice.

use super::nodes_routing::start_nodes;
use super::nodes_shared::placed;
use crate::support::{Server, backend_flags, kumo, stdout};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Runs `ip ARGS`, failing the test with how to get `ip` if it cannot.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap_or_else(|e| {
        panic!("cannot run `ip` ({e}): the partition test needs iproute2 (apt-get install iproute2) and root")
    });
    assert!(
        out.status.success(),
        "ip {}: {}(the partition test needs root for network namespaces)",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace joined to this one by a veth pair on its own /30.
struct Netns {
    name: String,
    host_if: String,
    host_ip: String,
    inner_ip: String,
}

impl Netns {
    fn new() -> Netns {
        let tag = std::process::id() % 100_000;
        let net = 1 + std::process::id() % 250;
        let ns = Netns {
            name: format!("kumo-part-{tag}"),
            host_if: format!("kph{tag}"),
            host_ip: format!("10.231.{net}.1"),
            inner_ip: format!("10.231.{net}.2"),
        };
        let inner_if = format!("kpn{tag}");
        ip(&["netns", "add", &ns.name]);
        ip(&[
            "link",
            "add",
            &ns.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &inner_if,
        ]);
        ip(&["link", "set", &inner_if, "netns", &ns.name]);
        ip(&[
            "addr",
            "add",
            &format!("{}/30", ns.host_ip),
            "dev",
            &ns.host_if,
        ]);
        ip(&["link", "set", &ns.host_if, "up"]);
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &ns.name, "ip"];
            all.extend_from_slice(args);
            ip(&all);
        };
        inside(&[
            "addr",
            "add",
            &format!("{}/30", ns.inner_ip),
            "dev",
            &inner_if,
        ]);
        inside(&["link", "set", &inner_if, "up"]);
        inside(&["link", "set", "lo", "up"]);
        ns
    }

    /// Takes the link down (`false`) or up again (`true`).
    fn link(&self, up: bool) {
        ip(&["link", "set", &self.host_if, if up { "up" } else { "down" }]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Forwards connections to `listen` (an address on the host's side of the
/// veth pair) to `to`, so a node in the namespace reaches a server bound to
/// loopback. Returns the address it listens on.
fn forward(listen_ip: &str, to: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind((listen_ip, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            let Ok(server) = TcpStream::connect(to) else {
                continue;
            };
            for (mut from, mut into) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut into);
                    let _ = into.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
    addr
}

/// The `host:port` of a loopback URL in `flag`'s value.
fn loopback_addr(value: &str) -> SocketAddr {
    let start = value.find("127.0.0.1:").expect("a loopback address");
    let port: String = value[start + "127.0.0.1:".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    format!("127.0.0.1:{port}").parse().unwrap()
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < timeout, "never {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
    started.elapsed()
}

/// A node started in the namespace, its stderr lines with when they came.
struct Inside {
    child: Child,
    stderr: mpsc::Receiver<(Instant, String)>,
}

impl Drop for Inside {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_node_cut_off_from_the_ledger_stops_its_dynos_before_others_start_them() {
    let netns = Netns::new();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut servers = start_nodes(&dirs[..2], &[]).into_iter();
    let (alpha, beta) = (servers.next().unwrap(), servers.next().unwrap());

    // gamma runs in the namespace: it reaches Postgres and S3 through
    // forwarders on the host's end of its link, so the link is its only way.
    let flags: Vec<String> = backend_flags(dirs[0].path())
        .into_iter()
        .map(|flag| {
            if !flag.contains("127.0.0.1:") {
                return flag;
            }
            let through = forward(&netns.host_ip, loopback_addr(&flag));
            flag.replace(&loopback_addr(&flag).to_string(), &through.to_string())
        })
        .collect();
    let listen = format!("{}:0", netns.inner_ip);
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &netns.name,
            env!("CARGO_BIN_EXE_kumo"),
            "server",
            "--node",
            "gamma",
        ])
        .args([
            "--router-listen",
            &listen,
            "--api-listen",
            &listen,
            "--addons-s3-listen",
            &listen,
        ])
        .arg("--data-dir")
        .arg(dirs[2].path())
        .args(&flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, stderr) = mpsc::channel();
    let lines = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in lines.lines().map_while(Result::ok) {
            eprintln!("gamma: {line}");
            let _ = tx.send((Instant::now(), line));
        }
    });
    let out = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || for _ in out.lines().map_while(Result::ok) {});
    let gamma = Inside { child, stderr };
    wait_for("three nodes up", Duration::from_secs(60), || {
        stdout(&kumo(&alpha, &["nodes"])).matches("  up  ").count() == 3
    });

    stdout(&kumo(&alpha, &["apps:create", "parted"]));
    stdout(&kumo(
        &alpha,
        &[
            "deploy",
            "-a",
            "parted",
            "--wasm",
            kumo_tests::components::HELLO,
        ],
    ));
    stdout(&kumo(&beta, &["ps:scale", "web=3", "-a", "parted"]));
    wait_for("web=3 up on three nodes", Duration::from_secs(60), || {
        let dynos = placed(&alpha, "parted");
        let nodes: std::collections::BTreeSet<&str> = dynos.iter().map(|d| d.2.as_str()).collect();
        dynos.len() == 3 && dynos.iter().all(|d| d.1 == "up") && nodes.len() == 3
    });
    let on_gamma = placed(&alpha, "parted")
        .into_iter()
        .find(|d| d.2 == "gamma")
        .unwrap()
        .0;

    // The link goes down: gamma cannot renew its leases.
    let cut = Instant::now();
    netns.link(false);
    let moved = wait_for("gamma's dyno up elsewhere", Duration::from_secs(30), || {
        placed(&alpha, "parted")
            .iter()
            .any(|d| d.0 == on_gamma && d.1 == "up" && d.2 != "gamma")
    });
    let fenced = loop {
        let (at, line) = gamma
            .stderr
            .recv_timeout(Duration::from_secs(10))
            .expect("gamma never said it was fenced");
        if line.contains("stopping this node's formation dynos") {
            break at.duration_since(cut);
        }
    };
    eprintln!("gamma fenced {fenced:.1?} after the cut; {on_gamma} up elsewhere after {moved:.1?}");
    assert!(
        fenced < moved,
        "gamma stopped its dynos ({fenced:?}) after another node ran them ({moved:?})"
    );

    // The link comes back: gamma rejoins and starts nothing twice; its lines
    // join the app's one stream again, showing its dyno stopped before the
    // other node's started.
    netns.link(true);
    std::thread::sleep(Duration::from_secs(4));
    let dynos = placed(&beta, "parted");
    assert_eq!(dynos.len(), 3, "{dynos:?}");
    assert!(dynos.iter().all(|d| d.1 == "up"), "{dynos:?}");
    let logs = wait_for_logs(
        &alpha,
        &format!("kumo[{on_gamma}]: Stopping all processes with SIGTERM"),
    );
    let stamp = |needle: &str| -> String {
        logs.lines()
            .rfind(|l| l.contains(&format!("kumo[{on_gamma}]: {needle}")))
            .unwrap_or_else(|| panic!("no `{needle}` of {on_gamma}: {logs}"))
            .split(' ')
            .next()
            .unwrap()
            .to_string()
    };
    let stopped = stamp("State changed from up to down");
    let restarted = stamp("State changed from down to starting");
    assert!(
        stopped < restarted,
        "gamma's {on_gamma} stopped at {stopped}, after another node started it at {restarted}"
    );
}

/// `kumo logs` of `parted` through `server`, once it has `needle`.
fn wait_for_logs(server: &Server, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logs = stdout(&kumo(server, &["logs", "-a", "parted", "-n", "1500"]));
        if logs.contains(needle) {
            return logs;
        }
        assert!(Instant::now() < deadline, "never `{needle}` in: {logs}");
        std::thread::sleep(Duration::from_millis(500));
    }
}
