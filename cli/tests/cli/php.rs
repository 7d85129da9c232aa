//! The PHP buildpack end to end: `examples/php-hello` (composer.json, a
//! `public/` document root served by `heroku-php-apache2`, a front controller)
//! run by Zend PHP 8.2's php-cgi built for WASI and pre-initialised with
//! Wizer: a config var, a form into `$_POST`, cookies and a session, `$_GET`,
//! `php://input`, an upload in `$_FILES`, a `.user.ini`, PDO SQLite on `/tmp`,
//! static files and hidden ones, `PATH_INFO`; a fatal error (500, the PHP
//! error in the logs, the dyno still serving); the worker script as one-offs
//! with arguments and exit status; and apps the build refuses (a composer.lock
//! whose packages are not vendored, an extension Kumo's PHP lacks) while the
//! release keeps serving; an app with no Procfile serving its own folder.
//!
//! The first PHP build on a machine compiles PHP from Debian's sources
//! (3 to 10 minutes on two cores), so this server allows long builds; the
//! result is kept in `~/.cache/kumo/php-wasi` for every later run.

use crate::support::{Server, deploy_dir, has, http, kumo, kumo_as, stdout, wait_for_answer};
use std::path::Path;

fn example() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/php-hello")
}

/// A request to the app with a `Cookie` header (and a form body, if any).
fn with_cookie(
    server: &Server,
    method: &str,
    path: &str,
    cookie: &str,
    form: Option<&str>,
) -> crate::support::Reply {
    let mut headers = vec![("Cookie".to_string(), cookie.to_string())];
    if form.is_some() {
        headers.push((
            "Content-Type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ));
    }
    http(
        server.router_port,
        "php.localhost",
        method,
        path,
        &headers,
        form.unwrap_or(""),
    )
}

/// The value of the cookie `name` the reply sets.
fn set_cookie(reply: &crate::support::Reply, name: &str) -> String {
    reply
        .head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .filter_map(|(_, v)| v.trim().split(';').next())
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")).map(str::to_string))
        .unwrap_or_else(|| panic!("no {name} cookie in {}", reply.head))
}

#[test]
fn a_php_app_serves_its_document_root_with_forms_sessions_and_workers() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &["--build-timeout", "3600"],
        "Router listening on",
    );
    stdout(&kumo(&server, &["apps:create", "php"]));
    stdout(&kumo(&server, &["config:set", "-a", "php", "GREETING=Hei"]));
    let (ok, out) = deploy_dir(&server, "php", &example());
    assert!(ok, "{out}");
    has(&out, "-----> PHP app detected");
    has(&out, "Using PHP 8.2.");
    has(
        &out,
        "`web` serves public/, sending paths that name no file to index.php",
    );
    has(&out, "`worker` runs worker.php");

    // The front controller, a config var and a session.
    let reply = wait_for_answer(&server, "php", "/", "Hei, stranger, from PHP 8.2.");
    has(&reply.body, "Visit 1 of this session.");
    let session = set_cookie(&reply, "PHPSESSID");
    let again = with_cookie(&server, "GET", "/", &format!("PHPSESSID={session}"), None);
    has(&again.body, "Visit 2 of this session.");

    // A form into $_POST, setcookie(), and the cookie read back.
    let posted = with_cookie(&server, "POST", "/greet", "", Some("name=ada+lovelace"));
    assert_eq!(
        (posted.status, posted.body.as_str()),
        (200, "Hei, ADA LOVELACE!\n")
    );
    assert_eq!(set_cookie(&posted, "name"), "ada%20lovelace");
    let named = with_cookie(&server, "GET", "/", "name=ada", None);
    has(&named.body, "Hei, ada, from PHP");
    let wrong = server.get("php", "/greet");
    assert_eq!(wrong.status, 405);
    has(&wrong.head.to_lowercase(), "allow: post");

    // $_GET, php://input, the .user.ini, and SCRIPT_NAME of the front controller.
    let info = server
        .post("php", "/info?x=1&y%5B%5D=a", Some("text/plain"), "raw body")
        .json();
    assert_eq!(info["script"], "/index.php");
    assert_eq!(info["uri"], "/info?x=1&y%5B%5D=a");
    assert_eq!(info["query"]["x"], "1");
    assert_eq!(info["query"]["y"][0], "a");
    assert_eq!(info["body"], "raw body");
    assert_eq!(info["timezone"], "Europe/Oslo");
    for extension in ["mbstring", "pdo_sqlite", "session", "filter", "tokenizer"] {
        assert!(
            info["extensions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e == extension),
            "{extension} in {info}"
        );
    }

    // An upload into $_FILES.
    let boundary = "kumo-boundary";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"note.txt\"\r\n\
         Content-Type: text/plain\r\n\r\nuploaded words\r\n--{boundary}--\r\n"
    );
    let upload = server.post(
        "php",
        "/upload",
        Some(&format!("multipart/form-data; boundary={boundary}")),
        &multipart,
    );
    assert_eq!(
        (upload.status, upload.body.as_str()),
        (200, "note.txt (14 bytes): uploaded words\n")
    );

    // PDO SQLite on the dyno's /tmp, across requests.
    server.post("php", "/notes", Some("text/plain"), "first");
    let notes = server.post("php", "/notes", Some("text/plain"), "second");
    assert_eq!(notes.body, "1: first\n2: second\n");

    // Static files as they are, hidden files never, scripts with PATH_INFO.
    let css = server.get("php", "/style.css");
    assert_eq!(css.status, 200);
    has(&css.head.to_lowercase(), "content-type: text/css");
    has(&css.body, "font-family");
    assert_eq!(server.get("php", "/.user.ini").status, 404);
    assert_eq!(
        server.get("php", "/about.php/extra/path").body,
        "about: script=/about.php path_info=/extra/path\n"
    );
    let missing = server.get("php", "/no/such/page");
    assert_eq!(
        (missing.status, missing.body.as_str()),
        (404, "no page at /no/such/page\n")
    );

    // A fatal error: a 500, PHP's message in the logs, the dyno serving on.
    let failed = server.get("php", "/fail");
    assert_eq!(failed.status, 500, "{}", failed.body);
    let logs = stdout(&kumo(&server, &["logs", "-a", "php", "-n", "1500"]));
    has(&logs, "app[web.1]: greeted ada lovelace");
    has(
        &logs,
        "PHP Fatal error:  Uncaught RuntimeException: this route always fails in /app/public/index.php",
    );
    assert_eq!(server.get("php", "/style.css").status, 200);
    has(&server.get("php", "/").body, "Hei, stranger");

    // The worker script as one-offs: arguments, output, exit status.
    let run = kumo_as(
        &server,
        &server.token,
        &[
            "run",
            "-a",
            "php",
            "--",
            "php",
            "worker.php",
            "once",
            "a",
            "b",
        ],
        None,
    );
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "Hei from the PHP worker: args=a,b\n"
    );
    assert_eq!(run.status.code(), Some(0));
    let run = kumo_as(
        &server,
        &server.token,
        &["run", "-a", "php", "--", "php", "worker.php", "fail"],
        None,
    );
    assert_ne!(run.status.code(), Some(0));
    has(
        &String::from_utf8_lossy(&run.stderr),
        "worker: asked to fail",
    );

    // What the build refuses, naming it; the release keeps serving.
    let refused = data.path().join("refused");
    crate::support::copy_tree(&example(), &refused);
    std::fs::write(
        refused.join("composer.lock"),
        r#"{"packages": [{"name": "monolog/monolog", "version": "3.5.0"}], "packages-dev": []}"#,
    )
    .unwrap();
    let (ok, out) = deploy_dir(&server, "php", &refused);
    assert!(!ok, "{out}");
    has(
        &out,
        "composer.lock lists packages that are not in vendor/: monolog/monolog 3.5.0",
    );
    std::fs::remove_file(refused.join("composer.lock")).unwrap();
    std::fs::write(
        refused.join("composer.json"),
        r#"{"require": {"php": "^8.2", "ext-gd": "*"}}"#,
    )
    .unwrap();
    let (ok, out) = deploy_dir(&server, "php", &refused);
    assert!(!ok, "{out}");
    has(
        &out,
        "composer.json requires the PHP extension gd, which Kumo's PHP 8.2.",
    );
    has(&server.get("php", "/").body, "Hei, stranger");

    // No Procfile: the app folder is the document root; a cached PHP build.
    stdout(&kumo(&server, &["apps:create", "php-plain"]));
    let plain = data.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::write(
        plain.join("index.php"),
        "<?php echo 'plain ', $_SERVER['REQUEST_METHOD'], ' ', $_GET['q'] ?? '', \"\\n\";",
    )
    .unwrap();
    let (ok, out) = deploy_dir(&server, "php-plain", &plain);
    assert!(ok, "{out}");
    has(
        &out,
        "No Procfile: serving the app folder as the document root",
    );
    wait_for_answer(&server, "php-plain", "/?q=x", "plain GET x");
}
