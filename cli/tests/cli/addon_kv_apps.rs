//! A Python app that keeps data in a key-value add-on: `examples/python-keyvalue`
//! (Flask and Spin's Python SDK, `key_value.open_default()`) built from source
//! by the Python buildpack, given the embedded key-value store with `kumo
//! addons:create kumo-keyvalue`, served through the router, and its count
//! surviving a restart of its dynos and of Kumo.

use crate::builds::{deploy, example, has, wait_for};
use crate::support::{Server, kumo, stdout};

/// The page count the app answers, once it answers one.
fn views(server: &Server, app: &str) -> u64 {
    let body = wait_for(server, app, "/", "Page views: ");
    body.trim()
        .strip_prefix("Page views: ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{app} answered {body:?}"))
}

#[test]
fn a_python_app_counts_in_the_key_value_store() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(data.path(), &[], "Router listening on");

    stdout(&kumo(&server, &["apps:create", "pycount"]));
    let created = kumo(
        &server,
        &["addons:create", "kumo-keyvalue", "-a", "pycount"],
    );
    assert!(created.status.success(), "{created:?}");
    let (ok, out, err) = deploy(&server, &["-a", "pycount", &example("python-keyvalue")]);
    assert!(ok, "deploy failed:\n{out}\n{err}");
    has(&out, "-----> Python app detected");
    has(
        &out,
        "app.py imports spin_sdk.key_value: building with the key-value interfaces",
    );

    assert_eq!(views(&server, "pycount"), 1);
    assert_eq!(views(&server, "pycount"), 2);

    // A restart of the app's dynos and a restart of Kumo keep the count.
    stdout(&kumo(&server, &["ps:restart", "-a", "pycount"]));
    assert_eq!(views(&server, "pycount"), 3);
    drop(server);
    server = Server::start(data.path(), &[], "Router listening on");
    assert_eq!(views(&server, "pycount"), 4);
}
