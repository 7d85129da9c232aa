//! The Ruby buildpack end to end: `kumo deploy examples/ruby-rack` (a Rack app
//! with a middleware, a vendored gem and a worker) served as a CGI web dyno
//! through the router, config vars in `ENV`, a one-off worker, a build that
//! fails on a gem that is not vendored (the old release keeps answering), an
//! app whose Ruby does not parse (the error is in the logs, the request gets a
//! 500), and `git push kumo main`.

use crate::support::{Server, deploy_dir, git_push_dir, has, kumo, stdout, wait_for_answer};
use std::path::Path;
use std::time::{Duration, Instant};

fn example() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/ruby-rack")
}

/// A copy of the example in `dir`, to break.
fn copy_example(dir: &Path) {
    for entry in ["config.ru", "app.rb", "Gemfile", "Procfile", "worker.rb"] {
        std::fs::copy(example().join(entry), dir.join(entry)).unwrap();
    }
    let greeter = dir.join("vendor/greeter/lib");
    std::fs::create_dir_all(&greeter).unwrap();
    std::fs::copy(
        example().join("vendor/greeter/lib/greeter.rb"),
        greeter.join("greeter.rb"),
    )
    .unwrap();
}

#[test]
fn deploy_serves_a_rack_app_with_config_vars_and_a_worker() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    stdout(&kumo(&server, &["apps:create", "rack"]));
    stdout(&kumo(
        &server,
        &["config:set", "-a", "rack", "GREETING=Hola"],
    ));

    let started = Instant::now();
    let (ok, out) = deploy_dir(&server, "rack", &example());
    assert!(ok, "{out}");
    eprintln!("first Ruby build: {:.1?}", started.elapsed());
    has(&out, "-----> Ruby/Rack app detected");
    has(&out, "greeter: vendored");
    has(&out, "puma: not needed, Kumo serves config.ru itself");
    has(
        &out,
        "Installing @ruby/3.4-wasm-wasi@2.10.1 and binaryen@132.0.0 from npm",
    );
    has(&out, "Pre-initialising it with Wizer");
    has(&out, "`web` serves the Rack app of config.ru");
    has(&out, "`worker` runs worker.rb");
    has(&out, "Procfile declares types -> web, worker");
    has(&out, "Released v2");

    // config.ru with its middleware, the vendored gem, ENV and the request.
    let reply = wait_for_answer(
        &server,
        "rack",
        "/hello",
        "Hola from Ruby 3.4.1 on Kumo: GET /hello",
    );
    has(&reply.head.to_lowercase(), "x-served-by: kumo");
    let echo = crate::support::http(
        server.router_port,
        "rack.localhost",
        "POST",
        "/echo",
        &[],
        "a body to echo",
    );
    assert_eq!((echo.status, echo.body.as_str()), (200, "a body to echo"));
    // ENV holds the config vars, not the request's CGI variables.
    let env = server.get("rack", "/env.json");
    assert_eq!(env.status, 200);
    assert_eq!(env.json()["GREETING"], "Hola");
    let leaked = server.get("rack", "/hello");
    assert!(!leaked.body.contains("HTTP_HOST"));

    // Per-request time through the router (a figure, not an assertion).
    let timed = Instant::now();
    for _ in 0..10 {
        assert_eq!(server.get("rack", "/hello").status, 200);
    }
    eprintln!(
        "Ruby request through Kumo: {:.1?} each",
        timed.elapsed() / 10
    );

    // A config var change is a new release, seen by the next requests.
    stdout(&kumo(
        &server,
        &["config:set", "-a", "rack", "GREETING=Bonjour"],
    ));
    wait_for_answer(&server, "rack", "/", "Bonjour from Ruby");

    // The worker, as a one-off dyno with one more argument.
    let run = kumo(&server, &["run", "-a", "rack", "worker", "--verbose"]);
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "worker says Bonjour with [\"--once\", \"--verbose\"]\n"
    );
    assert_eq!(run.status.code(), Some(0));

    // The next build reuses the interpreter.
    let started = Instant::now();
    let (ok, out) = deploy_dir(&server, "rack", &example());
    assert!(ok, "{out}");
    eprintln!(
        "Ruby build with the interpreter cached: {:.1?}",
        started.elapsed()
    );
    has(&out, "Using the cached Ruby interpreter");

    // A gem that is not vendored fails the build; the app keeps its release.
    let broken = data.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    copy_example(&broken);
    std::fs::write(
        broken.join("Gemfile"),
        "source \"https://rubygems.org\"\ngem \"sinatra\"\ngem \"rack-protection\", \"~> 4\"\ngem \"greeter\", path: \"vendor/greeter\"\n",
    )
    .unwrap();
    let (ok, out) = deploy_dir(&server, "rack", &broken);
    assert!(!ok, "{out}");
    has(
        &out,
        "the Gemfile needs gems that are not vendored: sinatra, rack-protection",
    );
    assert_eq!(
        server.get("rack", "/").body,
        "Bonjour from Ruby 3.4.1 on Kumo: GET /\n"
    );

    // Ruby that does not parse is released (as on Heroku, where such an app
    // crashes at boot); each request answers 500 and the logs say why.
    copy_example(&broken);
    std::fs::write(
        broken.join("app.rb"),
        "class GreetingApp\n  def call(env\nend\n",
    )
    .unwrap();
    let (ok, out) = deploy_dir(&server, "rack", &broken);
    assert!(ok, "{out}");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let reply = server.get("rack", "/");
        if reply.status == 500 {
            assert_eq!(reply.body, "Internal Server Error\n");
            break;
        }
        assert!(Instant::now() < deadline, "{} {}", reply.status, reply.body);
        std::thread::sleep(Duration::from_millis(200));
    }
    let logs = stdout(&kumo(&server, &["logs", "-a", "rack", "-n", "1500"]));
    has(&logs, "syntax error");
    has(&logs, "(SyntaxError)");
}

#[test]
fn git_push_deploys_a_rack_app() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    stdout(&kumo(&server, &["apps:create", "pushed-rack"]));
    let repo = data.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    copy_example(&repo);
    // Without a Procfile, config.ru is served.
    std::fs::remove_file(repo.join("Procfile")).unwrap();
    let (ok, err) = git_push_dir(&server, "pushed-rack", &repo);
    assert!(ok, "{err}");
    has(&err, "remote: -----> Ruby/Rack app detected");
    has(&err, "remote:        No Procfile: serving config.ru");
    has(&err, "remote:        Released v1");
    wait_for_answer(
        &server,
        "pushed-rack",
        "/pushed",
        "Hello from Ruby 3.4.1 on Kumo: GET /pushed",
    );
}
