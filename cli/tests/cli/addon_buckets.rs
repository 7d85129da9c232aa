//! The bucket add-on end to end: `kumo addons:create kumo-bucket` gives an
//! app the five S3 config vars; a guest built from source
//! (`tests/components/bucket`, SigV4 by hand over `wasi:http`) puts and gets
//! an object through the server's endpoint with them; a second app's add-on
//! gets `AccessDenied` on the first one's bucket, and so does an unsigned
//! request; `addons:destroy` removes the bucket's objects and its keys.

use crate::support::{Server, http, kumo, stdout};
use std::time::{Duration, Instant};

const VARS: [&str; 5] = [
    "BUCKETEER_BUCKET_NAME",
    "BUCKETEER_AWS_ACCESS_KEY_ID",
    "BUCKETEER_AWS_SECRET_ACCESS_KEY",
    "BUCKETEER_AWS_ENDPOINT_URL",
    "BUCKETEER_AWS_REGION",
];

fn config_var(server: &Server, app: &str, key: &str) -> String {
    stdout(&kumo(server, &["config:get", "-a", app, key]))
        .trim()
        .to_string()
}

/// `METHOD PATH` through the router to `app`, retried until the app answers
/// something other than a router error.
fn send(server: &Server, app: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = http(
            server.router_port,
            &format!("{app}.localhost"),
            method,
            path,
            &[],
            body,
        );
        let routed = !reply.head.contains("Heroku-Error") && reply.status != 503;
        if routed || Instant::now() > deadline {
            return (reply.status, reply.body);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_app_keeps_objects_in_its_own_bucket() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    assert!(
        server
            .lines
            .iter()
            .any(|l| l.starts_with("Add-on buckets listening on http://127.0.0.1:")),
        "{:?}",
        server.lines
    );

    // Two apps, a bucket each (by Kumo's name and by Heroku's alias).
    let mut names = Vec::new();
    for (app, service) in [("photos", "kumo-bucket"), ("other", "bucketeer")] {
        stdout(&kumo(&server, &["apps:create", app]));
        let out = stdout(&kumo(&server, &["addons:create", service, "-a", app]));
        assert!(
            out.contains(&format!("Creating {service}:hobbyist on ⬢ {app}... done")),
            "{out}"
        );
        let name = out
            .lines()
            .find_map(|l| l.strip_prefix("Created "))
            .and_then(|l| l.split(' ').next())
            .unwrap_or_else(|| panic!("no `Created NAME` line in:\n{out}"))
            .to_string();
        names.push(name);
        let config = stdout(&kumo(&server, &["config", "-a", app]));
        for var in VARS {
            assert!(
                config.contains(&format!("{var}:")),
                "{var} not in:\n{config}"
            );
        }
        let deployed = kumo(
            &server,
            &[
                "deploy",
                "-a",
                app,
                "--wasm",
                kumo_tests::components::BUCKET,
            ],
        );
        assert!(deployed.status.success(), "{deployed:?}");
    }
    let bucket = config_var(&server, "photos", "BUCKETEER_BUCKET_NAME");
    let endpoint = config_var(&server, "photos", "BUCKETEER_AWS_ENDPOINT_URL");
    assert_eq!(
        config_var(&server, "photos", "BUCKETEER_AWS_REGION"),
        "us-east-1"
    );
    assert_ne!(
        bucket,
        config_var(&server, "other", "BUCKETEER_BUCKET_NAME")
    );

    // The app puts an object and reads it back through its endpoint.
    let (status, body) = send(&server, "photos", "PUT", "/own/notes/hello.txt", "hi there");
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(&server, "photos", "GET", "/own/notes/hello.txt", "");
    assert_eq!((status, body.as_str()), (200, "hi there"));
    let (status, body) = send(&server, "photos", "GET", "/own/missing", "");
    assert!(
        status == 404 && body.contains("NoSuchKey"),
        "{status} {body}"
    );
    let out = stdout(&kumo(&server, &["addons:info", &names[0]]));
    assert!(out.contains("Objects:") && out.contains("1"), "{out}");

    // The other app's credentials open its own bucket only.
    let (status, body) = send(&server, "other", "PUT", "/own/mine.txt", "other's");
    assert_eq!(status, 200, "{body}");
    let path = format!("/{bucket}/notes/hello.txt");
    for method in ["GET", "PUT", "DELETE"] {
        let (status, body) = send(&server, "other", method, &path, "overwritten");
        assert!(
            status == 403 && body.contains("AccessDenied"),
            "{method}: {status} {body}"
        );
    }
    // Nor does an unsigned request, from anywhere.
    let port: u16 = endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {endpoint}"));
    let reply = http(port, "127.0.0.1", "GET", &path, &[], "");
    assert!(
        reply.status == 403 && reply.body.contains("AccessDenied"),
        "{} {}",
        reply.status,
        reply.body
    );
    let (status, body) = send(&server, "photos", "GET", "/own/notes/hello.txt", "");
    assert_eq!((status, body.as_str()), (200, "hi there"));

    // Destroying the add-on removes its objects (kept in the slug store's
    // folder on this server) and its keys.
    let objects = data.path().join("slug-store/addons/buckets").join(&bucket);
    assert!(
        objects.join("notes/hello.txt").is_file(),
        "{}",
        objects.display()
    );
    let out = kumo(
        &server,
        &[
            "addons:destroy",
            &names[0],
            "-a",
            "photos",
            "--confirm",
            "photos",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        !objects.join("notes/hello.txt").exists(),
        "{} still holds the object",
        objects.display()
    );
    let (status, body) = send(&server, "other", "GET", "/own/mine.txt", "");
    assert_eq!((status, body.as_str()), (200, "other's"));
}
