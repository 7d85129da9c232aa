//! Automated certificates (Heroku's ACM) from a real ACME CA on loopback:
//! Let's Encrypt's test server `pebble` validates the custom domain over
//! HTTP-01 through Kumo's router (its DNS from `pebble-challtestsrv`, which
//! answers every name with 127.0.0.1), and the router then serves the
//! certificate pebble issued.
//!
//! `scripts/test` installs both programs from the Go module proxy into
//! `~/.cache/kumo/tools/bin` and sets `KUMO_PEBBLE_DIR` to the module's folder
//! (its test certificates for pebble's own HTTPS).

use crate::heroku::{Heroku, has, texts};
use crate::support::{Server, kumo, stdout};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PEBBLE: &str = "github.com/letsencrypt/pebble/v2@v2.10.3";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A program of pebble's module, installed by `scripts/test`.
fn pebble_program(name: &str) -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    let cache = std::env::var_os("KUMO_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&home).join(".cache/kumo"));
    let path = cache.join("tools/bin").join(name);
    assert!(
        path.exists(),
        "{name} is not installed at {}: install it with \
         `GOBIN={} go install github.com/letsencrypt/pebble/v2/cmd/{name}@v2.10.3` (scripts/test does this)",
        path.display(),
        cache.join("tools/bin").display(),
    );
    path
}

/// The pebble module's folder, for its test certificates.
fn pebble_dir() -> PathBuf {
    let dir = std::env::var_os("KUMO_PEBBLE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let out = Command::new("go")
                .args(["env", "GOMODCACHE"])
                .output()
                .expect("go runs");
            Path::new(String::from_utf8_lossy(&out.stdout).trim()).join(PEBBLE)
        });
    assert!(
        dir.join("test/certs/pebble.minica.pem").exists(),
        "pebble's module is not at {}: `go install {PEBBLE}`'s module folder, as scripts/test sets KUMO_PEBBLE_DIR",
        dir.display()
    );
    dir
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn heroku_certs_auto_gets_a_certificate_from_an_acme_ca() {
    let (pebble, challtestsrv, module) = (
        pebble_program("pebble"),
        pebble_program("pebble-challtestsrv"),
        pebble_dir(),
    );
    let data = tempfile::tempdir().unwrap();
    let (acme_port, management_port, dns_port, dns_management_port) =
        (free_port(), free_port(), free_port(), free_port());
    let minica = module.join("test/certs/pebble.minica.pem");
    let server = Server::start(
        data.path(),
        &[
            "--acme-directory",
            &format!("https://127.0.0.1:{acme_port}/dir"),
            "--acme-ca-file",
            minica.to_str().unwrap(),
        ],
        "HTTPS on both ports too",
    );
    // pebble validates HTTP-01 on the router's port, the names resolved by challtestsrv.
    let config = data.path().join("pebble.json");
    std::fs::write(
        &config,
        serde_json::json!({ "pebble": {
            "listenAddress": format!("127.0.0.1:{acme_port}"),
            "managementListenAddress": format!("127.0.0.1:{management_port}"),
            "certificate": module.join("test/certs/localhost/cert.pem"),
            "privateKey": module.join("test/certs/localhost/key.pem"),
            "httpPort": server.router_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "retryAfter": { "authz": 1, "order": 1 },
            "keyAlgorithm": "ecdsa",
        }})
        .to_string(),
    )
    .unwrap();
    let _dns = Killed(
        Command::new(challtestsrv)
            .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", ""])
            .args(["-management", &format!("127.0.0.1:{dns_management_port}")])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pebble-challtestsrv"),
    );
    let _ca = Killed(
        Command::new(pebble)
            .arg("-config")
            .arg(&config)
            .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pebble"),
    );

    let heroku = Heroku::new(&server, data.path());
    heroku.ok(&["apps:create", "acmeapp"]);
    stdout(&kumo(
        &server,
        &[
            "deploy",
            "-a",
            "acmeapp",
            "--wasm",
            kumo_tests::components::HELLO,
        ],
    ));
    let (so, _) = heroku.ok(&["certs:auto", "-a", "acmeapp"]);
    has(
        &so,
        "Automatic Certificate Management is disabled on acmeapp",
    );
    heroku.ok(&["domains:add", "www.acme.test", "-a", "acmeapp"]);
    let (_, se) = heroku.ok(&["certs:auto:enable", "-a", "acmeapp"]);
    has(&se, "Enabling Automatic Certificate Management... starting");

    // The order is placed, validated through the router and issued.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (so, _) = heroku.ok(&["certs:auto", "-a", "acmeapp"]);
        has(
            &so,
            "Automatic Certificate Management is enabled on acmeapp",
        );
        if so.contains("Cert issued") {
            has(&so, "www.acme.test");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no certificate was issued:\n{so}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // The router serves it: it chains to pebble's root (fetched from pebble's
    // management port), not to Kumo's local CA.
    let root = data.path().join("pebble-root.pem");
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30", "--cacert"])
        .arg(&minica)
        .arg(format!("https://127.0.0.1:{management_port}/roots/0"))
        .output()
        .expect("curl runs (install it with `apt-get install curl`)");
    assert!(out.status.success(), "{:?}", texts(&out));
    std::fs::write(&root, &out.stdout).unwrap();
    let get = |ca: &Path| {
        Command::new("curl")
            .args(["-sS", "--max-time", "30", "--cacert"])
            .arg(ca)
            .arg("--resolve")
            .arg(format!("www.acme.test:{}:127.0.0.1", server.router_port))
            .arg(format!("https://www.acme.test:{}/", server.router_port))
            .output()
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = get(&root);
        if out.status.success() {
            assert_eq!(texts(&out).0, "hello from kumo\n");
            break;
        }
        assert!(Instant::now() < deadline, "{:?}", texts(&out));
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(!get(&data.path().join("tls/ca.pem")).status.success());

    // Disabled, the domain goes back to the local CA's certificate.
    heroku.ok(&[
        "certs:auto:disable",
        "--confirm",
        "acmeapp",
        "-a",
        "acmeapp",
    ]);
    let (so, _) = heroku.ok(&["certs:auto", "-a", "acmeapp"]);
    has(
        &so,
        "Automatic Certificate Management is disabled on acmeapp",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !get(&data.path().join("tls/ca.pem")).status.success() {
        assert!(
            Instant::now() < deadline,
            "the local CA's certificate never came back"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
