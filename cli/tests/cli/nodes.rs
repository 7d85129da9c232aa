//! `kumo nodes`: a server is a node of its platform, listed with its state,
//! address and capacity, to operators only. (A bad `--node` or `--advertise`
//! is in `server::bad_flags_are_refused_with_the_fix`.)

use crate::support::{Server, has, kumo, kumo_as, stdout};

#[test]
fn a_server_is_a_node_of_its_platform_that_operators_see() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--node", "solo"], "Router listening on");
    let out = stdout(&kumo(&server, &["nodes"]));
    has(&out, "=== Nodes");
    has(
        &out,
        &format!("solo *  up     http://127.0.0.1:{}", server.api_port),
    );

    let reply = server.api("GET", "/nodes", None, None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let nodes = reply.json();
    let node = &nodes[0];
    assert_eq!(nodes.as_array().unwrap().len(), 1, "{nodes}");
    assert_eq!(node["name"], "solo");
    assert_eq!(node["state"], "up");
    assert_eq!(node["this_node"], true);
    assert_eq!(node["capacity"]["instance_slots"], 1000);
    assert!(
        node["capacity"]["memory_mb"].as_i64().unwrap() > 0,
        "{node}"
    );
    assert_eq!(
        server.api("GET", "/nodes/solo", None, None).json()["name"],
        "solo"
    );

    // A node that is up keeps its row; an unknown one is a 404.
    let removed = kumo(&server, &["nodes:remove", "solo"]);
    assert!(!removed.status.success());
    has(
        &String::from_utf8_lossy(&removed.stderr),
        "node `solo` is up",
    );
    let missing = server.api("GET", "/nodes/nowhere", None, None);
    assert_eq!(missing.status, 404, "{}", missing.body);
    has(&missing.body, "Couldn't find that node (nowhere)");

    // Only operators see the nodes.
    let created = stdout(&kumo(&server, &["accounts:create", "dev@example.com"]));
    let token = created.rsplit(": ").next().unwrap().trim().to_string();
    let denied = kumo_as(&server, &token, &["nodes"], None);
    assert!(!denied.status.success());
    has(
        &String::from_utf8_lossy(&denied.stderr),
        "Only an operator (an admin account) can see the platform's nodes.",
    );
}
