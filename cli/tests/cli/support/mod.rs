//! Starting the real `kumo server` for a test and talking to its API and router.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `kumo server`; killed when dropped.
pub struct Server {
    child: Child,
    /// The loopback address its API and router listen on (127.0.0.1 unless
    /// started with [`Server::start_at`]).
    pub ip: String,
    pub api_port: u16,
    pub router_port: u16,
    pub token: String,
    pub lines: Vec<String>,
    pub data: std::path::PathBuf,
    rx: mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// A home folder under `dir` whose `.netrc` holds this server's admin token
    /// for `127.0.0.1`, where git finds it when it pushes, as Heroku's git pushes do.
    pub fn git_home(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let home = dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(
            home.join(".netrc"),
            format!(
                "machine 127.0.0.1\n  login admin@kumo.local\n  password {}\n",
                self.token
            ),
        )
        .unwrap();
        home
    }

    /// Starts `kumo server` on free ports with its data in `data`, plus `extra` flags;
    /// waits until it prints `until` (default: the router line).
    pub fn start(data: &std::path::Path, extra: &[&str], until: &str) -> Server {
        Server::start_on(data, data, extra, until)
    }

    /// Starts another node of the platform whose first server has its data
    /// in `ledger_of`: its own data in `data`, the same database and slug
    /// store, and that server's admin token.
    pub fn start_on(
        data: &std::path::Path,
        ledger_of: &std::path::Path,
        extra: &[&str],
        until: &str,
    ) -> Server {
        Server::start_at("127.0.0.1", data, ledger_of, extra, until)
    }

    /// [`Server::start_on`] with the API and router on loopback address `ip`.
    pub fn start_at(
        ip: &str,
        data: &std::path::Path,
        ledger_of: &std::path::Path,
        extra: &[&str],
        until: &str,
    ) -> Server {
        let listen = format!("{ip}:0");
        let mut child = Command::new(env!("CARGO_BIN_EXE_kumo"))
            .args([
                "server",
                "--router-listen",
                &listen,
                "--api-listen",
                &listen,
                "--data-dir",
            ])
            .arg(data)
            .args(backend_flags(ledger_of))
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start kumo server");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut server = Server {
            child,
            ip: ip.to_string(),
            api_port: 0,
            router_port: 0,
            token: String::new(),
            lines: Vec::new(),
            data: data.into(),
            rx,
        };
        server.wait_for_line(until, Duration::from_secs(300));
        for line in &server.lines {
            if let Some(port) = line.strip_prefix(&format!("API listening on http://{ip}:")) {
                server.api_port = port.parse().unwrap();
            }
            if let Some(port) = line.strip_prefix(&format!("Router listening on http://{ip}:")) {
                server.router_port = port.parse().unwrap();
            }
        }
        server.token = std::fs::read_to_string(ledger_of.join("admin-token"))
            .unwrap()
            .trim()
            .to_string();
        server
    }

    /// Waits until the server prints a line containing `needle`.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> String {
        if let Some(line) = self.lines.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(remaining) {
                Ok(line) => {
                    self.lines.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "kumo server never printed {needle:?}; it printed:\n{}",
                    self.lines.join("\n")
                ),
            }
        }
    }

    /// Calls the API with the admin token (or `token`) and returns (status, headers, body).
    pub fn api(&self, method: &str, path: &str, body: Option<&str>, token: Option<&str>) -> Reply {
        let token = token.unwrap_or(&self.token);
        let mut headers = vec![(
            "Accept".to_string(),
            "application/vnd.heroku+json; version=3".to_string(),
        )];
        if !token.is_empty() {
            headers.push(("Authorization".to_string(), format!("Bearer {token}")));
        }
        if body.is_some() {
            headers.push(("Content-Type".to_string(), "application/json".to_string()));
        }
        http_at(
            &self.ip,
            self.api_port,
            "127.0.0.1",
            method,
            path,
            &headers,
            body.unwrap_or("").as_bytes(),
        )
    }

    /// Uploads a slug archive to `app` with the admin token; returns its id.
    pub fn upload_slug(&self, app: &str, archive: &std::path::Path) -> String {
        let headers = vec![
            (
                "Accept".to_string(),
                "application/vnd.heroku+json; version=3".to_string(),
            ),
            (
                "Authorization".to_string(),
                format!("Bearer {}", self.token),
            ),
            ("Content-Type".to_string(), "application/zstd".to_string()),
        ];
        let reply = http_at(
            &self.ip,
            self.api_port,
            "127.0.0.1",
            "POST",
            &format!("/apps/{app}/slugs"),
            &headers,
            &std::fs::read(archive).unwrap(),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.json()["id"].as_str().unwrap().to_string()
    }

    /// A GET through the router to `<app>.localhost`.
    pub fn get(&self, app: &str, path: &str) -> Reply {
        self.route("GET", &format!("{app}.localhost"), path, &[], "")
    }

    /// A request through the router for `host`.
    pub fn route(
        &self,
        method: &str,
        host: &str,
        path: &str,
        headers: &[(String, String)],
        body: &str,
    ) -> Reply {
        http_at(
            &self.ip,
            self.router_port,
            host,
            method,
            path,
            headers,
            body.as_bytes(),
        )
    }

    /// `POST path` to `app` through the router, with `Content-Type` if given.
    pub fn post(&self, app: &str, path: &str, content_type: Option<&str>, body: &str) -> Reply {
        let headers: Vec<(String, String)> = content_type
            .map(|t| ("Content-Type".to_string(), t.to_string()))
            .into_iter()
            .collect();
        self.route("POST", &format!("{app}.localhost"), path, &headers, body)
    }
}

/// The copy of the suite whose servers keep their state in Postgres and
/// their slugs in an S3-compatible store (see `main.rs`).
pub const ON_POSTGRES_AND_S3: &str = "on_postgres_and_s3::";

/// The storage flags of a test's server. Tests in the [`ON_POSTGRES_AND_S3`]
/// copy of the suite (libtest names each test's thread after the test) get a
/// Postgres database and an S3 bucket of their own, one per data folder, so a
/// restarted server finds its state again; the others use the embedded
/// defaults, SQLite and a local slug folder.
pub fn backend_flags(data: &std::path::Path) -> Vec<String> {
    let test = std::thread::current()
        .name()
        .unwrap_or_default()
        .to_string();
    if !test.starts_with(ON_POSTGRES_AND_S3) {
        return Vec::new();
    }
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut hasher);
    let key = format!("{:016x}", hasher.finish());

    let admin = std::env::var("KUMO_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "{test} needs a Postgres server: run scripts/test, which starts one \
             (initdb and pg_ctl as the postgres user, from Debian's postgresql package), \
             or set KUMO_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:PORT/postgres"
        )
    });
    let database = format!("kumo_{key}");
    let created = Command::new("psql")
        .args([
            admin.as_str(),
            "-q",
            "-c",
            &format!("CREATE DATABASE {database}"),
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!("{test}: cannot run psql ({e}): install Debian's postgresql-client")
        });
    let stderr = String::from_utf8_lossy(&created.stderr);
    assert!(
        created.status.success() || stderr.contains("already exists"),
        "creating the database {database} failed: {stderr}"
    );
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);

    let (endpoint, root) = match (
        std::env::var("KUMO_TEST_S3_ENDPOINT"),
        std::env::var("KUMO_TEST_S3_ROOT"),
    ) {
        (Ok(endpoint), Ok(root)) => (endpoint, root),
        _ => panic!(
            "{test} needs an S3-compatible server: run scripts/test, which starts s3s-fs \
             (cargo install s3s-fs@0.14.1 --features binary), or set KUMO_TEST_S3_ENDPOINT \
             to its URL and KUMO_TEST_S3_ROOT to the folder it serves"
        ),
    };
    // s3s-fs serves each folder under its root as a bucket: making one is
    // the operator's step, done here directly.
    let bucket = format!("kumo-{key}");
    std::fs::create_dir_all(std::path::Path::new(&root).join(&bucket)).unwrap();
    vec![
        "--database-url".to_string(),
        format!("{base}/{database}"),
        "--slug-store".to_string(),
        format!("s3://{bucket}?endpoint={endpoint}&region=us-east-1"),
    ]
}

pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request over a fresh connection, `Connection: close`.
pub fn http(
    port: u16,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &str,
) -> Reply {
    http_bytes(port, host, method, path, headers, body.as_bytes())
}

/// [`http`] with a binary body.
pub fn http_bytes(
    port: u16,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Reply {
    http_at("127.0.0.1", port, host, method, path, headers, body)
}

/// [`http_bytes`] to loopback address `ip`.
pub fn http_at(
    ip: &str,
    port: u16,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Reply {
    let mut stream = std::net::TcpStream::connect((ip, port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Reply {
        status,
        head: head.to_string(),
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Runs the `kumo` CLI against `server` with the admin's token.
pub fn kumo(server: &Server, args: &[&str]) -> std::process::Output {
    kumo_as(server, &server.token, args, None)
}

/// Runs the `kumo` CLI against `server` with `token` (none: `KUMO_API_KEY` is
/// unset, so `~/.netrc` is read) and `stdin`. `NETRC` points into the server's
/// data folder and `KUMO_DATA_DIR` at a folder with no admin token, so nothing
/// of the machine's own set-up is used.
pub fn kumo_as(
    server: &Server,
    token: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    kumo_env(server, token, args, stdin, &[])
}

/// [`kumo_as`] with extra environment variables.
pub fn kumo_env(
    server: &Server,
    token: &str,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kumo"));
    command.envs(env.iter().copied());
    command
        .args(args)
        .env(
            "KUMO_HOST",
            format!("http://{}:{}", server.ip, server.api_port),
        )
        .env("NETRC", server.data.join("netrc"))
        .env("KUMO_DATA_DIR", server.data.join("no-such-folder"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if token.is_empty() {
        command.env_remove("KUMO_API_KEY");
    } else {
        command.env("KUMO_API_KEY", token);
    }
    let mut child = command.spawn().expect("run kumo");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// The stdout of a command that must have succeeded.
pub fn stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Fails unless `text` contains `needle`, showing the text.
pub fn has(text: &str, needle: &str) {
    assert!(text.contains(needle), "{needle:?} not in:\n{text}");
}

/// Runs `kumo deploy -a APP DIR`; returns (success, stdout + stderr).
pub fn deploy_dir(server: &Server, app: &str, dir: &std::path::Path) -> (bool, String) {
    let out = kumo(server, &["deploy", "-a", app, &dir.display().to_string()]);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Copies `from` into `to`, folders and files.
pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// `git` in `repo` as a test's user: `home` (see [`Server::git_home`]) for its
/// credentials, a fixed author, and no prompt.
pub fn git_command(repo: &std::path::Path, home: &std::path::Path) -> Command {
    let mut git = Command::new("git");
    git.current_dir(repo)
        .env("HOME", home)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "Kumo Test")
        .env("GIT_AUTHOR_EMAIL", "test@kumo.local")
        .env("GIT_COMMITTER_NAME", "Kumo Test")
        .env("GIT_COMMITTER_EMAIL", "test@kumo.local");
    git
}

/// POSTs to the JVM examples' `/echo` route and checks its answer: method,
/// target, content type and body echoed, an `X-Echo` header set.
pub fn check_echo(server: &Server, app: &str) {
    let echo = server.post(app, "/echo?x=1&y=two", Some("text/plain"), "a body to echo");
    assert_eq!(
        (echo.status, echo.body.as_str()),
        (
            200,
            "POST /echo?x=1&y=two type=text/plain body=a body to echo\n"
        )
    );
    has(&echo.head.to_lowercase(), "x-echo: yes");
}

/// POSTs lines one at a time to the JVM examples' `/chat` route (chunked, over
/// one connection through the router) and reads each answer before sending the
/// next line: it passes only if the request body reaches the handler and the
/// response reaches the client while both are still open.
pub fn check_chat(server: &Server, app: &str) {
    let mut socket =
        std::net::TcpStream::connect(("127.0.0.1", server.router_port)).expect("the router");
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        socket,
        "POST /chat HTTP/1.1\r\nHost: {app}.localhost\r\nContent-Type: text/plain\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    )
    .unwrap();
    let mut seen = Vec::new();
    let mut read_until = |needle: &str, socket: &mut std::net::TcpStream| {
        let mut buffer = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains(needle) {
            match socket.read(&mut buffer) {
                Ok(0) => panic!(
                    "the connection closed before `{needle}`: {}",
                    String::from_utf8_lossy(&seen)
                ),
                Ok(n) => seen.extend_from_slice(&buffer[..n]),
                Err(e) => panic!(
                    "no `{needle}` while the request was still open ({e}): the bodies did not \
                     stream; got {}",
                    String::from_utf8_lossy(&seen)
                ),
            }
        }
    };
    for i in 1..=3 {
        let line = format!("line {i}\n");
        write!(socket, "{:x}\r\n{line}\r\n", line.len()).unwrap();
        read_until(&format!("you said: line {i}\n"), &mut socket);
    }
    socket.write_all(b"0\r\n\r\n").unwrap();
    read_until("\r\n0\r\n\r\n", &mut socket);
    let text = String::from_utf8_lossy(&seen).to_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    has(&text, "transfer-encoding: chunked");
}

/// `GET /fail` of a JVM example, whose handler throws `IllegalStateException("this
/// route always fails")`: a 500, the exception in the app's logs; returns the
/// logs (where the caller looks for its language's frame).
pub fn failing_route_logs(server: &Server, app: &str) -> String {
    let failed = server.get(app, "/fail");
    assert_eq!(failed.status, 500, "{}", failed.body);
    let logs = stdout(&kumo(server, &["logs", "-a", app, "-n", "1500"]));
    has(
        &logs,
        "java.lang.IllegalStateException: this route always fails",
    );
    logs
}

/// `kumo run -a APP -- COMMAND… ARGS…`, attached, with `stdin`.
pub fn run_one_off(
    server: &Server,
    app: &str,
    command: &[&str],
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    let argv: Vec<&str> = ["run", "-a", app, "--"]
        .iter()
        .chain(command)
        .chain(args)
        .copied()
        .collect();
    kumo_as(server, &server.token, &argv, stdin)
}

/// `git push kumo main` of the files in `dir`, committed to a new repository,
/// as a user deploys: whether it succeeded, and what git printed (the build's
/// lines come back prefixed `remote: `).
pub fn git_push_dir(server: &Server, app: &str, dir: &std::path::Path) -> (bool, String) {
    let scratch = server.data.join(format!("push-{app}"));
    let _ = std::fs::remove_dir_all(&scratch);
    let repo = scratch.join("repo");
    copy_tree(dir, &repo);
    let home = server.git_home(&scratch);
    let git = |args: &[&str]| {
        git_command(&repo, &home)
            .args(args)
            .output()
            .expect("git runs (install it with `apt-get install git`)")
    };
    let remote = format!("http://127.0.0.1:{}/{app}.git", server.api_port);
    for step in [
        &["init", "--quiet", "--initial-branch", "main"][..],
        &["add", "."],
        &["commit", "--quiet", "-m", "deploy"],
        &["remote", "add", "kumo", &remote],
    ] {
        let out = git(step);
        assert!(
            out.status.success(),
            "git {step:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let push = git(&["push", "kumo", "main"]);
    (
        push.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&push.stdout),
            String::from_utf8_lossy(&push.stderr)
        ),
    )
}

/// What `app` answers at `path` once it is a 200 containing `needle`. Waits up
/// to 300 s: the first request after a language's first build waits for its
/// dyno to compile the interpreter or runtime component.
pub fn wait_for_answer(server: &Server, app: &str, path: &str, needle: &str) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let reply = server.get(app, path);
        if reply.status == 200 && reply.body.contains(needle) {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "{app} never answered with {needle:?}: {} {}",
            reply.status,
            reply.body
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
