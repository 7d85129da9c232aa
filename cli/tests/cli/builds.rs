//! Builds from source: `kumo deploy DIR` for the Rust, Go, Python, JavaScript and C examples and a
//! folder of prebuilt `.wasm`, and a build past its time limit. The Build API's
//! other sources, `git push` and failed builds are in `build_sources.rs`.

use crate::support::{Server, kumo, stdout};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub(super) fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
        .display()
        .to_string()
}

/// What the app answers at `path` once it contains `needle`.
pub(super) fn wait_for(server: &Server, app: &str, path: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = server.get(app, path);
        if reply.status == 200 && reply.body.contains(needle) {
            return reply.body;
        }
        assert!(
            Instant::now() < deadline,
            "{app} never answered with {needle:?}: {} {}",
            reply.status,
            reply.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `kumo logs -a APP` shows `needle`.
fn wait_for_log(server: &Server, app: &str, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let logs = stdout(&kumo(server, &["logs", "-a", app, "-n", "500"]));
        if logs.contains(needle) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{app}'s logs never showed {needle:?}:\n{logs}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Runs `kumo deploy …`; returns (success, stdout, stderr).
pub(super) fn deploy(server: &Server, args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["deploy"];
    all.extend_from_slice(args);
    let out = kumo(server, &all);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub(super) fn has(text: &str, needle: &str) {
    assert!(text.contains(needle), "{needle:?} not in:\n{text}");
}

#[test]
fn deploy_builds_the_rust_go_and_c_examples_from_source() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");

    stdout(&kumo(&server, &["apps:create", "rust-src"]));
    let (ok, out, err) = deploy(&server, &["-a", "rust-src", &example("rust-hello")]);
    assert!(ok, "stdout: {out}\nstderr: {err}");
    has(&out, "-----> Packing ");
    has(&out, "-----> Rust app detected");
    has(&out, "Compiled rust-hello");
    has(&out, "Procfile declares types -> web");
    has(&out, "Released v1");
    has(
        &out,
        &format!(
            "http://rust-src.localhost:{}/ deployed to Kumo",
            server.router_port
        ),
    );
    wait_for(&server, "rust-src", "/", "Served by web.1 of release v1");

    // Config vars reach C through getenv; the build is a release like any other.
    stdout(&kumo(&server, &["apps:create", "c-src"]));
    stdout(&kumo(
        &server,
        &["config:set", "-a", "c-src", "GREETING=Howdy"],
    ));
    let (ok, out, err) = deploy(&server, &["-a", "c-src", &example("c-hello")]);
    assert!(ok, "stdout: {out}\nstderr: {err}");
    has(&out, "-----> C app detected");
    has(&out, "Compiling hello.c into app.wasm");
    has(&out, "Released v2");
    wait_for(&server, "c-src", "/hi", "Howdy from C on Kumo: GET /hi");

    // Go, as CGI through net/http/cgi.
    stdout(&kumo(&server, &["apps:create", "go-src"]));
    stdout(&kumo(
        &server,
        &["config:set", "-a", "go-src", "GREETING=Hej"],
    ));
    let (ok, out, err) = deploy(&server, &["-a", "go-src", &example("go-hello")]);
    assert!(ok, "stdout: {out}\nstderr: {err}");
    has(&out, "-----> Go app detected");
    has(&out, "Building . into go-hello.wasm");
    wait_for(&server, "go-src", "/path", "Hej from Go on Kumo: GET /path");
    has(&out, "Procfile declares types -> web, worker");

    // Workers: `cmd/worker` of the Go example, and a C program of its own.
    stdout(&kumo(&server, &["ps:scale", "-a", "go-src", "worker=1"]));
    wait_for_log(
        &server,
        "go-src",
        "app[worker.1]: Hej from the Go worker worker.1: round 1",
    );
    let worker_c = tempfile::tempdir().unwrap();
    std::fs::write(
        worker_c.path().join("worker.c"),
        "#include <stdio.h>\n#include <stdlib.h>\n#include <unistd.h>\n\
         int main(void) {\n  for (int round = 1;; round++) {\n\
         printf(\"%s from the C worker: round %d\\n\", getenv(\"GREETING\"), round);\n\
         fflush(stdout);\n    sleep(5);\n  }\n}\n",
    )
    .unwrap();
    std::fs::write(worker_c.path().join("Procfile"), "worker: app.wasm\n").unwrap();
    let (ok, out, err) = deploy(
        &server,
        &["-a", "c-src", &worker_c.path().display().to_string()],
    );
    assert!(ok, "stdout: {out}\nstderr: {err}");
    has(&out, "Compiling worker.c into app.wasm");
    stdout(&kumo(&server, &["ps:scale", "-a", "c-src", "worker=1"]));
    wait_for_log(
        &server,
        "c-src",
        "app[worker.1]: Howdy from the C worker: round 1",
    );

    let builds = stdout(&kumo(&server, &["builds", "-a", "c-src"]));
    has(&builds, "succeeded  c");
    let output = stdout(&kumo(&server, &["builds:output", "-a", "c-src"]));
    has(&output, "-----> C app detected");
    let releases = stdout(&kumo(&server, &["releases", "-a", "c-src"]));
    has(&releases, "Deploy ");
}

#[test]
fn deploy_builds_a_flask_app_from_pypi() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    stdout(&kumo(&server, &["apps:create", "flask-src"]));
    stdout(&kumo(
        &server,
        &["config:set", "-a", "flask-src", "GREETING=Ciao"],
    ));
    let (ok, out, err) = deploy(&server, &["-a", "flask-src", &example("python-flask")]);
    assert!(ok, "stdout: {out}\nstderr: {err}");
    has(&out, "-----> Python app detected");
    has(&out, "Installing componentize-py==0.25.1 from PyPI");
    has(&out, "Successfully installed");
    has(&out, "Building `web` to serve the WSGI callable app:app");
    has(&out, "Released v2");
    // Flask unchanged: routing, os.environ, request bodies.
    wait_for(&server, "flask-src", "/", "Ciao from Flask on Kumo: GET /");
    let echo = server.post("flask-src", "/echo", None, "a body to echo");
    assert_eq!((echo.status, echo.body.as_str()), (200, "a body to echo"));
    assert_eq!(server.get("flask-src", "/nosuch").status, 404);

    // The next build reuses the installed requirements.
    let (ok, out, _) = deploy(&server, &["-a", "flask-src", &example("python-flask")]);
    assert!(ok);
    has(
        &out,
        "Using the cached dependencies (the requirements did not change)",
    );

    // A module with its own wasi:http handler, no dependencies.
    let raw = data.path().join("raw-python");
    std::fs::create_dir_all(&raw).unwrap();
    std::fs::write(raw.join("requirements.txt"), "# nothing\n").unwrap();
    std::fs::write(
        raw.join("Procfile"),
        "web: python handler.py\nworker: python -u worker.py --once\n",
    )
    .unwrap();
    // A worker script, as on Heroku: its own module, the app's, arguments and os.environ.
    std::fs::write(
        raw.join("shout.py"),
        "def shout(text):\n    return text.upper()\n",
    )
    .unwrap();
    std::fs::write(
        raw.join("worker.py"),
        r#"import json, os, sys
from shout import shout

def main():
    print(f"worker says {shout(os.environ.get('GREETING', ''))} with {json.dumps(sys.argv)}")
    if "--fail" in sys.argv:
        raise RuntimeError("asked to fail")
    if "--exit" in sys.argv:
        sys.exit(4)

if __name__ == "__main__":
    main()
"#,
    )
    .unwrap();
    std::fs::write(
        raw.join("handler.py"),
        r#"import os
from componentize_py_types import Ok
from wit_world import exports
from wit_world.imports.types import Fields, OutgoingBody, OutgoingResponse, ResponseOutparam


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request, response_out):
        response = OutgoingResponse(Fields.from_list([("content-type", b"text/plain")]))
        body = response.body()
        ResponseOutparam.set(response_out, Ok(response))
        stream = body.write()
        stream.blocking_write_and_flush(f"raw handler says {os.environ.get('GREETING')}\n".encode())
        stream.__exit__(None, None, None)
        OutgoingBody.finish(body, None)
"#,
    )
    .unwrap();
    let (ok, out, err) = deploy(&server, &["-a", "flask-src", &raw.display().to_string()]);
    assert!(ok, "stdout: {out}\nstderr: {err}");
    has(&out, "Building `web` from the wasi:http handler in handler");
    has(&out, "Building `worker` to run worker.py");
    has(&out, "Procfile declares types -> web, worker");
    wait_for(&server, "flask-src", "/", "raw handler says Ciao");

    // The worker as a one-off dyno, with one more argument.
    let (ok, run, shown) = worker_run(&server, "flask-src", "--verbose");
    assert!(ok, "{shown}");
    assert_eq!(
        run,
        "worker says CIAO with [\"worker.py\", \"--once\", \"--verbose\"]\n"
    );
    // An exception or a non-zero sys.exit fails the one-off, with the traceback shown.
    let (ok, _, shown) = worker_run(&server, "flask-src", "--fail");
    assert!(!ok, "{shown}");
    has(&shown, "RuntimeError: asked to fail");
    has(&shown, "/app/worker.py");
    let (ok, _, exited) = worker_run(&server, "flask-src", "--exit");
    assert!(!ok, "{exited}");

    // A worker command that names no script is refused, and names the fix.
    std::fs::write(
        raw.join("Procfile"),
        "web: python handler.py\nclock: celery -A app beat\n",
    )
    .unwrap();
    let (ok, out, err) = deploy(&server, &["-a", "flask-src", &raw.display().to_string()]);
    assert!(!ok, "stdout: {out}\nstderr: {err}");
    has(
        &format!("{out}{err}"),
        "Procfile line 2: `clock: celery -A app beat` names no Python script to run",
    );
}

#[test]
fn deploy_builds_a_hono_app_from_npm() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    stdout(&kumo(&server, &["apps:create", "hono-src"]));
    stdout(&kumo(
        &server,
        &["config:set", "-a", "hono-src", "GREETING=Ahoj"],
    ));
    let (ok, out, err) = deploy(&server, &["-a", "hono-src", &example("js-hono")]);
    assert!(ok, "stdout: {out}\nstderr: {err}");
    has(&out, "-----> Node.js app detected");
    has(&out, "Installing dependencies with npm install");
    has(&out, "Bundling app.js with esbuild");
    has(&out, "Released v2");
    // Hono unchanged: routing, parameters, JSON, request bodies, process.env.
    wait_for(&server, "hono-src", "/", "Ahoj from Hono on Kumo: GET /");
    let json = server.get("hono-src", "/json/kumo");
    assert_eq!(
        (json.status, json.body.as_str()),
        (200, r#"{"name":"kumo"}"#)
    );
    let echo = server.post("hono-src", "/echo", None, "a body to echo");
    assert_eq!((echo.status, echo.body.as_str()), (200, "a body to echo"));
    assert_eq!(server.get("hono-src", "/nosuch").status, 404);

    // A module that answers fetch events itself, no dependencies.
    let listener = data.path().join("listener");
    std::fs::create_dir_all(&listener).unwrap();
    std::fs::write(
        listener.join("package.json"),
        r#"{ "name": "listener", "version": "1.0.0", "main": "index.js" }"#,
    )
    .unwrap();
    std::fs::write(
        listener.join("index.js"),
        "addEventListener(\"fetch\", (event) =>\n  event.respondWith(new Response(`listener says ${process.env.GREETING}\\n`)),\n);\n",
    )
    .unwrap();
    // A worker script, as Node runs it: an import, arguments, process.env, and
    // timers that keep it alive until they are done.
    std::fs::write(
        listener.join("Procfile"),
        "web: node index.js\nworker: node worker.js --once\n",
    )
    .unwrap();
    std::fs::write(
        listener.join("shout.js"),
        "export const shout = (text) => text.toUpperCase();\n",
    )
    .unwrap();
    std::fs::write(
        listener.join("worker.js"),
        r#"import { shout } from "./shout.js";
console.log(`worker says ${shout(process.env.GREETING)} with ${JSON.stringify(process.argv.slice(2))}`);
let ticks = 0;
const timer = setInterval(() => {
  ticks += 1;
  console.log(`tick ${ticks}`);
  if (ticks === 2) {
    clearInterval(timer);
    setTimeout(() => {
      if (process.argv.includes("--fail")) throw new Error("asked to fail");
      if (process.argv.includes("--exit")) process.exit(4);
      console.log("done");
    }, 20);
  }
}, 20);
"#,
    )
    .unwrap();
    let (ok, out, err) = deploy(
        &server,
        &["-a", "hono-src", &listener.display().to_string()],
    );
    assert!(ok, "stdout: {out}\nstderr: {err}");
    has(&out, "Bundling index.js with esbuild");
    has(&out, "Bundling worker.js with esbuild");
    has(&out, "Building worker.wasm with componentize-js");
    has(&out, "Procfile declares types -> web, worker");
    wait_for(&server, "hono-src", "/", "listener says Ahoj");

    // The worker as a one-off dyno, with one more argument.
    let (ok, run, shown) = worker_run(&server, "hono-src", "--verbose");
    assert!(ok, "{shown}");
    assert_eq!(
        run,
        "worker says AHOJ with [\"--once\",\"--verbose\"]\ntick 1\ntick 2\ndone\n"
    );
    // A thrown error or a non-zero process.exit fails the one-off, the error shown.
    let (ok, _, shown) = worker_run(&server, "hono-src", "--fail");
    assert!(!ok, "{shown}");
    has(&shown, "Error: asked to fail");
    assert!(!shown.contains("done"), "{shown}");
    let (ok, _, exited) = worker_run(&server, "hono-src", "--exit");
    assert!(!ok, "{exited}");

    // A worker command that names no script is refused, and names the fix.
    std::fs::write(
        listener.join("Procfile"),
        "web: node index.js\nclock: npm run clock\n",
    )
    .unwrap();
    let (ok, out, err) = deploy(
        &server,
        &["-a", "hono-src", &listener.display().to_string()],
    );
    assert!(!ok, "stdout: {out}\nstderr: {err}");
    has(
        &format!("{out}{err}"),
        "Procfile line 2: `clock: npm run clock` names no JavaScript file to run",
    );
}

#[test]
fn a_build_past_its_time_limit_is_stopped() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &["--build-timeout", "3"],
        "Router listening on",
    );
    stdout(&kumo(&server, &["apps:create", "slow-build"]));
    let src = data.path().join("slow");
    std::fs::create_dir_all(&src).unwrap();
    // A sleep no other test runs, to look for afterwards.
    let sleep = format!("sleep 120.{}", std::process::id());
    std::fs::write(src.join("Makefile"), format!("all:\n\t{sleep}\n")).unwrap();
    let started = Instant::now();
    let (ok, out, _) = deploy(&server, &["-a", "slow-build", &src.display().to_string()]);
    assert!(!ok, "{out}");
    has(&out, "-----> C (make) app detected");
    has(&out, "make was stopped: the build ran past its time limit");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the build was not stopped at its limit"
    );
    // The sleeping toolchain went with it.
    let ps = Command::new("pgrep").args(["-f", &sleep]).output().unwrap();
    assert!(
        ps.stdout.is_empty(),
        "left running: {}",
        String::from_utf8_lossy(&ps.stdout)
    );
}

/// `kumo run -a APP worker ARG`: whether it succeeded, its stdout, and its stdout then stderr.
fn worker_run(server: &Server, app: &str, arg: &str) -> (bool, String, String) {
    let run = kumo(server, &["run", "-a", app, "worker", arg]);
    let out = String::from_utf8_lossy(&run.stdout).into_owned();
    let shown = format!("{out}{}", String::from_utf8_lossy(&run.stderr));
    (run.status.success(), out, shown)
}
