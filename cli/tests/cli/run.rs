//! One-off dynos: `kumo run` attached to stdin, stdout and stderr with the
//! remote exit status, and `kumo run:detached` with its output in the logs.

use crate::support::{Server, kumo, kumo_as, stdout};
use std::time::{Duration, Instant};

fn deploy_console(server: &Server, app: &str) {
    stdout(&kumo(server, &["apps:create", app]));
    stdout(&kumo(
        server,
        &[
            "deploy",
            "-a",
            app,
            "--wasm",
            kumo_tests::components::ONESHOT,
            "--process",
            "console",
        ],
    ));
}

#[test]
fn run_attaches_stdio_and_returns_the_exit_status() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    deploy_console(&server, "oneoff-app");
    stdout(&kumo(
        &server,
        &["config:set", "-a", "oneoff-app", "GREETING=hi"],
    ));

    let out = kumo_as(
        &server,
        &server.token,
        &[
            "run",
            "-a",
            "oneoff-app",
            "-e",
            "EXTRA=more",
            "--",
            "console",
            "stdin",
            "env=GREETING",
            "env=EXTRA",
            "err=to stderr",
            "exit=3",
            "never printed",
        ],
        Some("some input\nover two lines\n"),
    );
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    // The guest calls exit(3). A WASI preview 1 module's exit goes through the
    // preview 1 adapter, which reports any non-zero status as wasi:cli/exit's
    // `err`: status 1. (A component calling `exit-with-code` keeps its code.)
    assert_eq!(out.status.code(), Some(1), "stdout: {so}\nstderr: {se}");
    assert_eq!(
        so,
        "hello from a one-off\nSOME INPUT\nOVER TWO LINES\nGREETING=hi\nEXTRA=more\n"
    );
    assert!(se.contains("on ⬢ oneoff-app... up, run.1"), "{se}");
    assert!(se.contains("to stderr\n"), "{se}");

    // Exit 0, with arguments a shell would have split.
    let out = kumo(
        &server,
        &["run", "-a", "oneoff-app", "console", "two words"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from a one-off\ntwo words\n"
    );

    // Bad commands say what exists.
    let out = kumo(&server, &["run", "-a", "oneoff-app", "--", "nosuch"]);
    assert_ne!(out.status.code(), Some(0));
    let se = String::from_utf8_lossy(&out.stderr);
    assert!(
        se.contains("`nosuch` is neither a process type of release v2 (console)"),
        "{se}"
    );

    // The start and the end are logged under the dyno's name.
    let logs = stdout(&kumo(
        &server,
        &["logs", "-a", "oneoff-app", "--dyno", "run.1"],
    ));
    assert!(
        logs.contains("kumo[run.1]: Starting process with command `console stdin"),
        "{logs}"
    );
    assert!(
        logs.contains("kumo[run.1]: Process exited with status 1"),
        "{logs}"
    );
    assert!(
        logs.contains("kumo[run.1]: State changed from up to complete"),
        "{logs}"
    );
}

#[test]
fn run_detached_sends_output_to_the_logs() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    deploy_console(&server, "detached-app");

    let out = stdout(&kumo(
        &server,
        &[
            "run:detached",
            "-a",
            "detached-app",
            "console",
            "in the logs",
        ],
    ));
    assert!(out.contains("on ⬢ detached-app... up, run.1\n"), "{out}");
    assert!(
        out.contains("Use 'kumo logs -a detached-app --dyno run.1' to view the output."),
        "{out}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logs = stdout(&kumo(
            &server,
            &["logs", "-a", "detached-app", "--dyno", "run.1"],
        ));
        if logs.contains("app[run.1]: in the logs")
            && logs.contains("kumo[run.1]: Process exited with status 0")
        {
            assert!(logs.contains("app[run.1]: hello from a one-off"), "{logs}");
            break;
        }
        assert!(Instant::now() < deadline, "no output in the logs: {logs}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // A web process cannot run as a one-off.
    stdout(&kumo(&server, &["apps:create", "web-only"]));
    stdout(&kumo(
        &server,
        &[
            "deploy",
            "-a",
            "web-only",
            "--wasm",
            kumo_tests::components::HELLO,
        ],
    ));
    let out = kumo(&server, &["run:detached", "-a", "web-only", "web"]);
    assert!(!out.status.success());
    let se = String::from_utf8_lossy(&out.stderr);
    assert!(
        se.contains("serves HTTP and cannot run as a one-off"),
        "{se}"
    );
}
