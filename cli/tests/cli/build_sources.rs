//! Builds from other sources than `kumo deploy DIR`: the Build API with a
//! tarball URL and a git repository, `git push`, and every way a build can fail
//! leaving the app as it was.

use super::builds::{deploy, example, has, wait_for};
use crate::support::{Server, http_bytes, kumo, stdout};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Serves the files under `root` over HTTP on a free loopback port while the
/// test runs (git's "dumb" HTTP protocol needs no more).
fn serve_files(root: PathBuf) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) <= 2 {
                    break;
                }
            }
            let path = line.split(' ').nth(1).unwrap_or("/");
            let path = path
                .split('?')
                .next()
                .unwrap_or(path)
                .trim_start_matches('/');
            let file = root.join(path);
            let mut stream = stream;
            match std::fs::read(&file) {
                Ok(bytes) if !path.contains("..") && file.is_file() => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        bytes.len()
                    );
                    let _ = stream.write_all(&bytes);
                }
                _ => {
                    let _ = stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        }
    });
    port
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Kumo Test")
        .env("GIT_AUTHOR_EMAIL", "test@kumo.local")
        .env("GIT_COMMITTER_NAME", "Kumo Test")
        .env("GIT_COMMITTER_EMAIL", "test@kumo.local")
        .output()
        .expect("git is installed");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn wait_for_build(server: &Server, app: &str, id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let build = server
            .api("GET", &format!("/apps/{app}/builds/{id}"), None, None)
            .json();
        if build["status"] != "pending" {
            return build;
        }
        assert!(Instant::now() < deadline, "build {id} never ended");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Uploads `archive` as a source and starts a build of it; returns the build when it ends.
fn build_archive(server: &Server, app: &str, archive: &[u8]) -> serde_json::Value {
    let headers = vec![
        (
            "Accept".to_string(),
            "application/vnd.heroku+json; version=3".to_string(),
        ),
        (
            "Authorization".to_string(),
            format!("Bearer {}", server.token),
        ),
    ];
    let uploaded = http_bytes(
        server.api_port,
        "127.0.0.1",
        "POST",
        &format!("/apps/{app}/sources"),
        &headers,
        archive,
    );
    assert_eq!(uploaded.status, 201, "{}", uploaded.body);
    let url = uploaded.json()["source_blob"]["get_url"]
        .as_str()
        .unwrap()
        .to_string();
    let build = server.api(
        "POST",
        &format!("/apps/{app}/builds"),
        Some(&format!(r#"{{"source_blob":{{"url":"{url}"}}}}"#)),
        None,
    );
    assert_eq!(build.status, 201, "{}", build.body);
    wait_for_build(server, app, build.json()["id"].as_str().unwrap())
}

#[test]
fn failed_builds_say_why_and_change_nothing() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    let src = data.path().join("prebuilt");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(kumo_tests::components::HELLO, src.join("hello.wasm")).unwrap();
    std::fs::write(src.join("Procfile"), "web: hello.wasm\n").unwrap();
    let src_arg = src.display().to_string();

    stdout(&kumo(&server, &["apps:create", "prebuilt-app"]));
    let (ok, out, err) = deploy(&server, &["-a", "prebuilt-app", &src_arg]);
    assert!(ok, "stdout: {out}\nstderr: {err}");
    has(&out, "-----> Prebuilt Wasm app detected");
    wait_for(&server, "prebuilt-app", "/", "hello from kumo");

    let failing = |procfile: &str, extra: Option<(&str, &[u8])>, want: &str| {
        std::fs::write(src.join("Procfile"), procfile).unwrap();
        if let Some((name, bytes)) = extra {
            std::fs::write(src.join(name), bytes).unwrap();
        }
        let (ok, out, err) = deploy(&server, &["-a", "prebuilt-app", &src_arg]);
        assert!(!ok, "a build with {procfile:?} succeeded:\n{out}");
        has(&out, want);
        has(&out, "Push rejected, failed to compile the app.");
        has(&err, "the build failed");
        if let Some((name, _)) = extra {
            std::fs::remove_file(src.join(name)).unwrap();
        }
    };
    failing(
        "web: hello.wasm\nworker hello.wasm\n",
        None,
        "Procfile line 2: `worker hello.wasm` is not `type: command`: write it like `web: app.wasm`",
    );
    failing(
        "web: hello.wasm\nweb: hello.wasm\n",
        None,
        "Procfile line 2: process type `web` is declared twice (first on line 1)",
    );
    failing(
        "web: nosuch.wasm\n",
        None,
        "Procfile line 1: `web: nosuch.wasm` runs `nosuch.wasm`, which the build did not produce",
    );
    failing(
        "web: hello.wasm\nworker: fake.wasm\n",
        Some(("fake.wasm", b"this is text, not Wasm")),
        "`fake.wasm` cannot run on Kumo: not a Wasm file",
    );
    std::fs::write(src.join("Procfile"), "web: hello.wasm\n").unwrap();

    // A pinned buildpack that does not fit fails; cleared, detection works again.
    stdout(&kumo(
        &server,
        &["buildpacks:set", "-a", "prebuilt-app", "rust"],
    ));
    has(
        &stdout(&kumo(&server, &["buildpacks", "-a", "prebuilt-app"])),
        "rust",
    );
    let (ok, out, _) = deploy(&server, &["-a", "prebuilt-app", &src_arg]);
    assert!(!ok);
    has(
        &out,
        "the pinned buildpack `rust` does not recognise this source",
    );
    let unknown = kumo(&server, &["buildpacks:set", "-a", "prebuilt-app", "cobol"]);
    assert!(!unknown.status.success());
    has(
        &String::from_utf8_lossy(&unknown.stderr),
        "unknown buildpack `cobol`: Kumo has rust, go, ruby, python, php, nodejs, clojure, java, scala, c, prebuilt",
    );
    stdout(&kumo(&server, &["buildpacks:clear", "-a", "prebuilt-app"]));

    // Sources no buildpack knows, and hostile or broken archives.
    let empty = data.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("README.md"), "nothing to run\n").unwrap();
    let (ok, out, _) = deploy(
        &server,
        &["-a", "prebuilt-app", &empty.display().to_string()],
    );
    assert!(!ok);
    has(&out, "no buildpack recognises this app");
    let build = build_archive(&server, "prebuilt-app", b"garbage, not an archive at all");
    assert_eq!(build["status"], "failed");
    let (_, log) = crate::release_phase::fetch(build["output_stream_url"].as_str().unwrap());
    has(&log, "the source archive is not a tar archive");
    let mut evil = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(1);
    header.set_mode(0o644);
    header.as_old_mut().name[..9].copy_from_slice(b"../escape");
    header.set_cksum();
    evil.append(&header, &b"x"[..]).unwrap();
    let build = build_archive(&server, "prebuilt-app", &evil.into_inner().unwrap());
    assert_eq!(build["status"], "failed");
    let (_, log) = crate::release_phase::fetch(build["output_stream_url"].as_str().unwrap());
    has(&log, "the source archive's entry `../escape` is refused");
    assert!(!data.path().join("escape").exists());

    // Nothing of that changed the app: one release, still serving.
    let releases = server
        .api("GET", "/apps/prebuilt-app/releases", None, None)
        .json();
    assert_eq!(releases.as_array().unwrap().len(), 1, "{releases}");
    wait_for(&server, "prebuilt-app", "/", "hello from kumo");

    // A tarball at a URL, and a git repository, build through the API and the CLI.
    let served = data.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let port = serve_files(served.clone());
    let mut tarball = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    tarball.append_dir_all("app-1.0", &src).unwrap();
    std::fs::write(
        served.join("app.tar.gz"),
        tarball.into_inner().unwrap().finish().unwrap(),
    )
    .unwrap();
    let created = server.api(
        "POST",
        "/apps/prebuilt-app/builds",
        Some(&format!(
            r#"{{"source_blob":{{"url":"http://127.0.0.1:{port}/app.tar.gz","version":"v1.0"}}}}"#
        )),
        None,
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let build = wait_for_build(
        &server,
        "prebuilt-app",
        created.json()["id"].as_str().unwrap(),
    );
    assert_eq!(build["status"], "succeeded", "{build}");
    assert_eq!(build["buildpacks"][0]["name"], "prebuilt");
    wait_for(&server, "prebuilt-app", "/", "hello from kumo");

    git(&src, &["init", "--quiet", "--initial-branch", "main"]);
    git(&src, &["add", "."]);
    git(&src, &["commit", "--quiet", "-m", "first"]);
    let bare = served.join("app.git");
    let out = Command::new("git")
        .args(["clone", "--quiet", "--bare"])
        .arg(&src)
        .arg(&bare)
        .output()
        .unwrap();
    assert!(out.status.success());
    git(&bare, &["update-server-info"]);
    let sha = String::from_utf8(
        Command::new("git")
            .arg("-C")
            .arg(&src)
            .args(["rev-parse", "HEAD"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let url = format!("http://127.0.0.1:{port}/app.git");
    let (ok, out, err) = deploy(
        &server,
        &["-a", "prebuilt-app", "--git", &url, "--ref", "main"],
    );
    assert!(ok, "stdout: {out}\nstderr: {err}");
    has(&out, &format!("-----> Cloning {url} at main"));
    let (ok, out, _) = deploy(
        &server,
        &["-a", "prebuilt-app", "--git", &url, "--ref", "nosuch"],
    );
    assert!(!ok);
    has(&out, "has no branch, tag or commit `nosuch`");
    let releases = server
        .api("GET", "/apps/prebuilt-app/releases", None, None)
        .json();
    let last = releases.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["version"], 3, "{releases}");
    assert_eq!(
        last["description"],
        format!("Deploy {}", &sha.trim()[..7]),
        "{last}"
    );
}

#[test]
fn git_push_builds_main_and_refuses_the_rest() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    stdout(&kumo(&server, &["apps:create", "pushed"]));
    let home = server.git_home(data.path());
    let repo = data.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    for file in ["hello.c", "Procfile", "README.md"] {
        std::fs::copy(Path::new(&example("c-hello")).join(file), repo.join(file)).unwrap();
    }
    let git_in = |args: &[&str]| {
        crate::support::git_command(&repo, &home)
            .args(args)
            .env("KUMO_HOST", format!("http://127.0.0.1:{}", server.api_port))
            .output()
            .unwrap()
    };
    assert!(
        git_in(&["init", "--quiet", "--initial-branch", "main"])
            .status
            .success()
    );
    assert!(git_in(&["add", "."]).status.success());
    assert!(
        git_in(&["commit", "--quiet", "-m", "first"])
            .status
            .success()
    );
    let remote = Command::new(env!("CARGO_BIN_EXE_kumo"))
        .current_dir(&repo)
        .args(["git:remote", "-a", "pushed"])
        .env("KUMO_HOST", format!("http://127.0.0.1:{}", server.api_port))
        .env("KUMO_API_KEY", &server.token)
        .output()
        .unwrap();
    let remote_out = String::from_utf8_lossy(&remote.stdout);
    assert!(remote.status.success(), "{remote_out}");
    has(
        &remote_out,
        &format!(
            "set git remote kumo to http://127.0.0.1:{}/pushed.git",
            server.api_port
        ),
    );

    let push = git_in(&["push", "kumo", "main"]);
    let err = String::from_utf8_lossy(&push.stderr);
    assert!(push.status.success(), "{err}");
    has(&err, "remote: -----> Building ");
    has(&err, "remote: -----> C app detected");
    has(&err, "remote:        Released v1");
    wait_for(&server, "pushed", "/", "Hello from C on Kumo");

    // Another branch, a failing build and a missing token are refused.
    let push = git_in(&["push", "kumo", "main:feature"]);
    let err = String::from_utf8_lossy(&push.stderr);
    assert!(!push.status.success());
    has(
        &err,
        "pushing to `feature` is not supported: Kumo builds `main`. Deploy this branch with `git push kumo feature:main`.",
    );
    std::fs::write(repo.join("Procfile"), "web app.wasm\n").unwrap();
    assert!(
        git_in(&["commit", "--quiet", "-am", "broken"])
            .status
            .success()
    );
    let push = git_in(&["push", "kumo", "main"]);
    let err = String::from_utf8_lossy(&push.stderr);
    assert!(!push.status.success(), "{err}");
    has(
        &err,
        "Procfile line 1: `web app.wasm` is not `type: command`",
    );
    has(&err, "pre-receive hook declined");
    std::fs::remove_file(home.join(".netrc")).unwrap();
    let push = git_in(&["push", "kumo", "main"]);
    assert!(!push.status.success());
    // Without a token the server asks for credentials (401), which git cannot give here.
    has(
        &String::from_utf8_lossy(&push.stderr),
        "could not read Username",
    );

    // The app's repository holds only what was accepted.
    let releases = server
        .api("GET", "/apps/pushed/releases", None, None)
        .json();
    assert_eq!(releases.as_array().unwrap().len(), 1, "{releases}");
}
