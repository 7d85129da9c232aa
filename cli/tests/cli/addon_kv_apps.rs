//! A Python app that keeps data in a key-value add-on: `examples/python-keyvalue`
//! (Flask and Spin's Python SDK, `key_value.open_default()`) built from source
//! by the Python buildpack, given the embedded key-value store with `kumo
//! addons:create kumo-keyvalue`, served through the router, and its count
//! surviving a restart of its dynos and of Kumo; and a JavaScript app counting
//! through `wasi:keyvalue`, which the JavaScript buildpack hosts.

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

/// A Python app counting visits in its Postgres add-on through Spin's
/// `spin:postgres/postgres@3.0.0` (`wit_world.imports.postgres`, what
/// componentize-py generates for it: Spin's Python SDK 3.4.1 binds
/// `spin_sdk.postgres` to fermyon:spin/postgres@2.0.0, which Kumo does not
/// host), a raw wasi:http handler with no dependencies.
#[test]
fn a_python_app_counts_in_postgres() {
    let pg = crate::addon_apps::addons_postgres();
    let data = tempfile::tempdir().unwrap();
    let flags = ["--addons-postgres-url", pg.as_str()];
    let server = Server::start(data.path(), &flags, "Router listening on");

    let src = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(src.path().join(name), text).unwrap();
    write("requirements.txt", "# no dependencies\n");
    write("Procfile", "web: python app.py\n");
    write(
        "app.py",
        r#"import os

from componentize_py_types import Ok
from wit_world import exports
from wit_world.imports import postgres
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        db = postgres.Connection.open(os.environ["DATABASE_URL"])
        db.execute("CREATE TABLE IF NOT EXISTS pyvisits (id bigserial PRIMARY KEY)", [])
        db.execute("INSERT INTO pyvisits DEFAULT VALUES", [])
        count = db.query("SELECT count(*) FROM pyvisits", []).rows[0][0].value
        response = OutgoingResponse(Fields.from_list([("content-type", b"text/plain")]))
        body = response.body()
        ResponseOutparam.set(response_out, Ok(response))
        stream = body.write()
        stream.blocking_write_and_flush(f"Visit number {count}\n".encode())
        stream.__exit__(None, None, None)
        OutgoingBody.finish(body, None)
"#,
    );

    stdout(&kumo(&server, &["apps:create", "pyvisits"]));
    let created = kumo(
        &server,
        &["addons:create", "kumo-postgresql", "-a", "pyvisits"],
    );
    assert!(created.status.success(), "{created:?}");
    let source = src.path().display().to_string();
    let (ok, out, err) = deploy(&server, &["-a", "pyvisits", &source]);
    assert!(ok, "deploy failed:\n{out}\n{err}");
    has(&out, "-----> Python app detected");
    has(
        &out,
        "app.py imports wit_world.imports.postgres: building with Spin's Postgres interface spin:postgres/postgres@3.0.0",
    );

    let visit = || {
        let body = wait_for(&server, "pyvisits", "/", "Visit number ");
        body.trim()
            .strip_prefix("Visit number ")
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("pyvisits answered {body:?}"))
    };
    assert_eq!(visit(), 1);
    assert_eq!(visit(), 2);
}

/// The visit count a JavaScript app answers, once it answers one.
fn visits(server: &Server, app: &str) -> u64 {
    let body = wait_for(server, app, "/", "Visits: ");
    body.trim()
        .strip_prefix("Visits: ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{app} answered {body:?}"))
}

#[test]
fn a_javascript_app_counts_in_the_key_value_store() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");

    // A counter on `wasi:keyvalue`: a bucket (a resource) and an atomic
    // increment (a u64, so a BigInt), no dependencies.
    let src = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(src.path().join(name), text).unwrap();
    write(
        "package.json",
        r#"{ "name": "jscount", "version": "1.0.0", "type": "module" }"#,
    );
    write("Procfile", "web: node index.js\n");
    write(
        "index.js",
        r#"import { open } from "wasi:keyvalue/store@0.2.0-draft2";
import { increment } from "wasi:keyvalue/atomics@0.2.0-draft2";

export default {
  async fetch() {
    const bucket = open("default");
    const visits = increment(bucket, "visits", 1n);
    return new Response(`Visits: ${visits}\n`);
  },
};
"#,
    );

    stdout(&kumo(&server, &["apps:create", "jscount"]));
    let created = kumo(
        &server,
        &["addons:create", "kumo-keyvalue", "-a", "jscount"],
    );
    assert!(created.status.success(), "{created:?}");
    let source = src.path().display().to_string();
    let (ok, out, err) = deploy(&server, &["-a", "jscount", &source]);
    assert!(ok, "deploy failed:\n{out}\n{err}");
    has(&out, "-----> Node.js app detected");
    has(
        &out,
        "web.wasm imports wasi:keyvalue/store@0.2.0-draft2 and wasi:keyvalue/atomics@0.2.0-draft2: the app needs a key-value add-on (kumo addons:create kumo-keyvalue)",
    );

    assert_eq!(visits(&server, "jscount"), 1);
    assert_eq!(visits(&server, "jscount"), 2);
}
