//! Heroku's own clients over Kumo's TLS: `heroku run` through the rendezvous
//! (stdin, `--exit-code`), `git push heroku main` to the `https://` remote
//! `heroku git:remote` writes, the router over HTTPS with the forwarding
//! headers saying so, and an app's own certificate (`certs:add`) served for
//! its custom domain. The local CA is trusted the way the server's start-up
//! line says: `NODE_EXTRA_CA_CERTS`, `GIT_SSL_CAINFO`, `curl --cacert`.

use crate::heroku::{Heroku, command, has, texts};
use crate::support::{Server, git_command, kumo, stdout};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `curl` over HTTPS to the router's port, `host` resolved to loopback.
fn curl(port: u16, host: &str, path: &str, ca: &Path) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "30", "--cacert"])
        .arg(ca)
        .arg("--resolve")
        .arg(format!("{host}:{port}:127.0.0.1"))
        .arg(format!("https://{host}:{port}{path}"))
        .output()
        .expect("curl runs (install it with `apt-get install curl`)")
}

/// A self-signed ECDSA certificate for `cn` in `dir/{stem}.crt` and its key in `dir/{stem}.key`.
fn self_signed(dir: &Path, stem: &str, cn: &str, extra: &[&str]) {
    let (key, crt, subject) = (
        format!("{stem}.key"),
        format!("{stem}.crt"),
        format!("/CN={cn}"),
    );
    let mut args = vec![
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &key,
        "-out",
        &crt,
        "-days",
        "30",
        "-subj",
        &subject,
    ];
    args.extend_from_slice(extra);
    openssl(&args, dir);
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs (install it with `apt-get install openssl`)");
    assert!(out.status.success(), "openssl {args:?}: {:?}", texts(&out));
}

/// Heroku's CLI with Kumo's CA trusted (or not), stdin given.
fn heroku_with(heroku: &Heroku, ca: Option<&Path>, args: &[&str], stdin: &str) -> Output {
    let mut cmd = command(heroku.server, &heroku.home, &heroku.server.token, args);
    if let Some(ca) = ca {
        cmd.env("NODE_EXTRA_CA_CERTS", ca);
    }
    let mut child = cmd.stdin(Stdio::piped()).spawn().expect("run heroku");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn heroku_run_git_push_and_certificates_over_tls() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "HTTPS on both ports too");
    let ca = data.path().join("tls/ca.pem");
    assert!(
        server
            .lines
            .iter()
            .any(|l| l.contains(&format!("Kumo's local CA {}: trust it", ca.display()))),
        "{:?}",
        server.lines
    );
    let heroku = Heroku::new(&server, data.path());
    let home = heroku.home.clone();

    // `heroku run`: the one-off's output, the client's stdin, and its status.
    heroku.ok(&["apps:create", "tlsrun"]);
    stdout(&kumo(
        &server,
        &[
            "deploy",
            "-a",
            "tlsrun",
            "--wasm",
            kumo_tests::components::ONESHOT,
            "--process",
            "console",
        ],
    ));
    let out = heroku_with(
        &heroku,
        Some(&ca),
        &["run", "-a", "tlsrun", "--", "console", "stdin", "two words"],
        "some input\nover two lines\n",
    );
    let (so, se) = texts(&out);
    assert!(out.status.success(), "stdout: {so}\nstderr: {se}");
    assert_eq!(
        so, "hello from a one-off\nSOME INPUT\nOVER TWO LINES\ntwo words\n",
        "stderr: {se}"
    );
    has(
        &se,
        "Running console stdin \"two words\" on tlsrun... up, run.1",
    );
    // `--exit-code`: a failing command fails the CLI. (A WASI preview 1
    // program's non-zero exit reaches the host as 1; see run.rs.)
    let out = heroku_with(
        &heroku,
        Some(&ca),
        &[
            "run",
            "--exit-code",
            "-a",
            "tlsrun",
            "--",
            "console",
            "exit=3",
        ],
        "",
    );
    let (so, se) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "stdout: {so}\nstderr: {se}");
    has(&se, "Process exited with code 1");
    assert!(!so.contains("heroku-command-exit-status"), "{so}");
    let out = heroku_with(
        &heroku,
        Some(&ca),
        &["run", "--exit-code", "-a", "tlsrun", "--", "console"],
        "",
    );
    assert!(out.status.success(), "{:?}", texts(&out));
    assert_eq!(texts(&out).0, "hello from a one-off\n");
    // A command the slug lacks says so.
    let out = heroku_with(
        &heroku,
        Some(&ca),
        &["run", "-a", "tlsrun", "--", "bash"],
        "",
    );
    has(&format!("{:?}", texts(&out)), "bash");
    // Without Kumo's CA the rendezvous is refused: the certificate is checked.
    let out = heroku_with(&heroku, None, &["run", "-a", "tlsrun", "--", "console"], "");
    assert!(!out.status.success(), "{:?}", texts(&out));
    assert!(!texts(&out).0.contains("hello from a one-off"));

    // `git push heroku main` to the HTTPS remote Heroku's CLI writes; git
    // finds the token in ~/.netrc, as `heroku login` leaves it.
    heroku.ok(&["apps:create", "tlsweb"]);
    let repo = data.path().join("tlsweb");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::copy(kumo_tests::components::HELLO, repo.join("hello.wasm")).unwrap();
    std::fs::write(repo.join("Procfile"), "web: hello.wasm\n").unwrap();
    let git_home = server.git_home(data.path());
    let git = |args: &[&str]| {
        let out = git_command(&repo, &git_home)
            .env("GIT_SSL_CAINFO", &ca)
            .args(args)
            .output()
            .expect("git runs (install it with `apt-get install git`)");
        assert!(out.status.success(), "git {args:?}: {:?}", texts(&out));
        texts(&out)
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "hello"]);
    let out = command(
        &server,
        &home,
        &server.token,
        &["git:remote", "-a", "tlsweb"],
    )
    .current_dir(&repo)
    .output()
    .unwrap();
    let (so, _) = texts(&out);
    let remote = format!("https://127.0.0.1:{}/tlsweb.git", server.api_port);
    has(&so, &format!("set git remote heroku to {remote}"));
    let (_, pushed) = git(&["push", "heroku", "main"]);
    has(&pushed, "remote:        Released v1");
    has(&pushed, &format!("To {remote}"));

    // The router over HTTPS: the app's host gets a certificate from the local
    // CA, and the dyno sees the scheme and port the client used.
    let host = "tlsweb.localhost";
    let deadline = Instant::now() + Duration::from_secs(60);
    let headers = loop {
        let out = curl(server.router_port, host, "/headers", &ca);
        let text = texts(&out).0;
        if out.status.success() && text.contains("x-forwarded-proto") {
            break text;
        }
        assert!(Instant::now() < deadline, "{:?}", texts(&out));
        std::thread::sleep(Duration::from_millis(200));
    };
    has(&headers, "x-forwarded-proto: https\n");
    has(
        &headers,
        &format!("x-forwarded-port: {}\n", server.router_port),
    );
    let plain = crate::support::http(server.router_port, host, "GET", "/headers", &[], "");
    has(&plain.body, "x-forwarded-proto: http\n");
    let logs = stdout(&kumo(&server, &["logs", "-a", "tlsweb", "-n", "50"]));
    has(&logs, "path=\"/headers\" host=tlsweb.localhost");
    has(&logs, "protocol=https");

    // `heroku run:inside web.1 …` runs its command beside the named dyno, on
    // its release and size, attached as `heroku run` is.
    let made = server.api(
        "POST",
        "/apps/tlsweb/dynos/web.1",
        Some(r#"{"command":"hello.wasm","attach":false}"#),
        None,
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let dyno = made.json();
    assert!(
        dyno["attach_url"]
            .as_str()
            .unwrap()
            .starts_with("rendezvous://127.0.0.1:"),
        "{dyno}"
    );
    assert_eq!(dyno["size"], "standard-1X");
    let missing = server.api(
        "POST",
        "/apps/tlsweb/dynos/web.9",
        Some(r#"{"command":"hello.wasm"}"#),
        None,
    );
    assert_eq!(missing.status, 404, "{}", missing.body);
    has(&missing.body, "Couldn't find dyno web.9 on tlsweb.");

    // The app's own certificate for its custom domain (`certs:add`), used
    // once `domains:add --cert` names it.
    let certs = data.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    self_signed(
        &certs,
        "www",
        "www.tls.test",
        &["-addext", "subjectAltName=DNS:www.tls.test"],
    );
    self_signed(&certs, "other", "other.test", &[]);
    let crt = certs.join("www.crt");
    let key = certs.join("www.key");
    let (crt, key) = (crt.to_str().unwrap(), key.to_str().unwrap());
    // A key that is not the certificate's is refused, and nothing is added.
    let out = heroku.run_as(
        &server.token,
        &[
            "certs:add",
            crt,
            certs.join("other.key").to_str().unwrap(),
            "-a",
            "tlsweb",
        ],
    );
    assert!(!out.status.success(), "{:?}", texts(&out));
    // (Heroku's CLI wraps the message at 80 columns.)
    has(&texts(&out).1, "the private key does not");
    has(&texts(&out).1, "Error ID: invalid_params");
    let (so, _) = heroku.ok(&["certs", "-a", "tlsweb"]);
    has(&so, "tlsweb has no SSL certificates");

    let (so, _) = heroku.ok(&["certs:add", crt, key, "-a", "tlsweb"]);
    has(&so, "Certificate details:");
    has(&so, "www.tls.test");
    has(&so, "SSL certificate is self signed.");
    let (so, _) = heroku.ok(&["certs", "-a", "tlsweb"]);
    let name = so
        .lines()
        .find(|l| l.contains("www.tls.test"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no certificate listed: {so}"))
        .to_string();
    let (so, _) = heroku.ok(&[
        "domains:add",
        "www.tls.test",
        "--cert",
        &name,
        "-a",
        "tlsweb",
    ]);
    has(&so, "DNS Target tlsweb.localhost");
    let (so, _) = heroku.ok(&["domains:info", "www.tls.test", "-a", "tlsweb"]);
    has(&so, &name);
    // The self-signed certificate is what the router presents for the domain:
    // trusting it alone is enough, and Kumo's CA is not.
    let out = curl(server.router_port, "www.tls.test", "/", Path::new(crt));
    assert!(out.status.success(), "{:?}", texts(&out));
    assert_eq!(texts(&out).0, "hello from kumo\n");
    let out = curl(server.router_port, "www.tls.test", "/", &ca);
    assert!(!out.status.success(), "{:?}", texts(&out));
    let (so, _) = heroku.ok(&["certs:info", "--name", &name, "-a", "tlsweb"]);
    has(&so, "www.tls.test");

    // Removed, the domain is served from the local CA again (each server
    // asks the ledger again within seconds).
    let (_, se) = heroku.ok(&[
        "certs:remove",
        "--name",
        &name,
        "--confirm",
        "tlsweb",
        "-a",
        "tlsweb",
    ]);
    has(
        &se,
        &format!("Removing SSL certificate {name} from tlsweb... done"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = curl(server.router_port, "www.tls.test", "/", &ca);
        if out.status.success() {
            assert_eq!(texts(&out).0, "hello from kumo\n");
            break;
        }
        assert!(Instant::now() < deadline, "{:?}", texts(&out));
        std::thread::sleep(Duration::from_millis(500));
    }
}
