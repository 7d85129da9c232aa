//! heroku3 (PyPI), Heroku's Python client, unchanged against a live `kumo server`:
//! apps, config, releases and rollback, formation and dynos, domains,
//! maintenance, add-ons, log drains, and one-offs detached and attached (Heroku's
//! rendezvous over TLS). The client's side is `heroku3/client.py`.
//!
//! `scripts/test` installs heroku3 into a venv at `~/.cache/kumo/py-clients`;
//! `KUMO_HEROKU3_PYTHON` may name another Python that has it.

use crate::support::{Server, kumo, stdout};
use std::path::{Path, PathBuf};
use std::process::Command;

fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("KUMO_HEROKU3_PYTHON") {
        return path.into();
    }
    crate::metrics::client_python("heroku3.api, six")
}

#[test]
fn heroku3_drives_kumo() {
    let python = python();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "HTTPS on both ports too");
    for (app, component, process) in [
        ("h3web", kumo_tests::components::HELLO, "web"),
        ("h3run", kumo_tests::components::ONESHOT, "console"),
    ] {
        stdout(&kumo(&server, &["apps:create", app]));
        stdout(&kumo(
            &server,
            &[
                "deploy",
                "-a",
                app,
                "--wasm",
                component,
                "--process",
                process,
            ],
        ));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/heroku3/client.py");
    let out = Command::new(python)
        .arg(script)
        .arg(format!("http://127.0.0.1:{}", server.api_port))
        .arg(&server.token)
        .arg(data.path().join("tls/ca.pem"))
        .output()
        .expect("run python");
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "stdout:\n{so}\nstderr:\n{se}");
    assert!(so.ends_with("heroku3 ok\n"), "{so}");
}
