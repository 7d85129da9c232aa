//! Metrics: what the router saw of an app (`GET /apps/{app}/metrics`, `kumo
//! metrics`), and the operator's Prometheus endpoint (`--metrics-listen`),
//! scraped and read with Prometheus's official Python client's parser.

use crate::support::{Server, http, kumo, stdout};
use std::io::Write as _;
use std::process::{Command, Stdio};

/// The venv `scripts/test` makes with Python's API clients (prometheus_client, heroku3).
pub(crate) fn client_python(module: &str) -> std::path::PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    let cache = std::env::var_os("KUMO_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(&home).join(".cache/kumo"));
    let venv = cache.join("py-clients");
    let python = venv.join("bin/python");
    let has = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(
        has,
        "{module} is not installed in {}: run `python3 -m venv {} && {}/bin/pip install heroku3==5.2.1 six==1.17.0 prometheus-client==0.21.1` \
         (scripts/test does this)",
        venv.display(),
        venv.display(),
        venv.display()
    );
    python
}

#[test]
fn the_router_counts_what_it_answers_per_app_and_for_prometheus() {
    let python = client_python("prometheus_client");
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        data.path(),
        &["--metrics-listen", "127.0.0.1:0"],
        "Router listening on",
    );
    let line = server.wait_for_line("Metrics listening on", std::time::Duration::from_secs(30));
    let metrics_url = line.split_whitespace().last().unwrap().to_string();
    stdout(&kumo(&server, &["apps:create", "metapp"]));
    stdout(&kumo(
        &server,
        &[
            "deploy",
            "-a",
            "metapp",
            "--wasm",
            kumo_tests::components::HELLO,
        ],
    ));
    let host = "metapp.localhost";
    for (path, status, times) in [
        ("/", 200, 30),
        ("/status?code=404", 404, 3),
        ("/status?code=503", 503, 2),
    ] {
        for _ in 0..times {
            assert_eq!(
                http(server.router_port, host, "GET", path, &[], "").status,
                status
            );
        }
    }
    stdout(&kumo(&server, &["maintenance:on", "-a", "metapp"]));
    // The dynos converge on maintenance in the background: requests answered
    // before it takes hold are counted too.
    let mut before = 0u64;
    while http(server.router_port, host, "GET", "/", &[], "").status != 503 {
        before += 1;
        assert!(before < 200, "maintenance never took hold");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    stdout(&kumo(&server, &["maintenance:off", "-a", "metapp"]));

    // The app's own view, summed over the last hour.
    let reply = server.api("GET", "/apps/metapp/metrics?minutes=60", None, None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let summary = &reply.json()["summary"];
    assert_eq!(summary["requests"], 36 + before, "{summary}");
    assert_eq!(summary["status"]["2xx"], 30 + before);
    assert_eq!(summary["status"]["4xx"], 3);
    assert_eq!(summary["status"]["5xx"], 3);
    assert_eq!(summary["errors"]["H80"], 1);
    assert!(
        summary["response_time_ms"]["p99"].as_u64().is_some(),
        "{summary}"
    );
    let series = reply.json()["series"].as_array().unwrap().clone();
    let per_minute: u64 = series.iter().map(|m| m["requests"].as_u64().unwrap()).sum();
    assert_eq!(per_minute, 36 + before);
    let reply = server.api("GET", "/apps/metapp/metrics?minutes=0", None, None);
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert!(
        reply.body.contains("minutes must be between 1 and 1440"),
        "{}",
        reply.body
    );

    let out = stdout(&kumo(&server, &["metrics", "-a", "metapp"]));
    assert!(out.contains("=== metapp metrics, last 60 minutes"), "{out}");
    assert!(
        out.contains(&format!("Requests:       {} (", 36 + before)),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "Status:         2xx {}, 4xx 3, 5xx 3",
            30 + before
        )),
        "{out}"
    );
    assert!(out.contains("Errors:         H80 1"), "{out}");

    // Each web dyno's runtime metrics, every 20 s in its app's log stream.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let samples_line = loop {
        let logs = stdout(&kumo(&server, &["logs", "-a", "metapp", "-n", "500"]));
        if let Some(line) = logs.lines().find(|l| l.contains("sample#memory_total=")) {
            assert!(
                logs.contains(
                    "kumo[web.1]: source=web.1 dyno=kumo.metapp.web.1 sample#load_avg_1m="
                ),
                "{logs}"
            );
            break line.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no runtime metrics line in:\n{logs}"
        );
        std::thread::sleep(std::time::Duration::from_secs(1));
    };
    assert!(
        samples_line
            .contains("kumo[web.1]: source=web.1 dyno=kumo.metapp.web.1 sample#memory_total="),
        "{samples_line}"
    );
    assert!(
        samples_line.ends_with("sample#memory_quota=512.00MB"),
        "{samples_line}"
    );
    let total: f64 = samples_line
        .split("sample#memory_total=")
        .nth(1)
        .and_then(|rest| rest.split("MB").next())
        .and_then(|mb| mb.parse().ok())
        .unwrap();
    assert!(total > 0.0, "{samples_line}");
    // The same samples give each minute its dynos' peak memory.
    let reply = server.api("GET", "/apps/metapp/metrics?minutes=5", None, None);
    let memory = &reply.json()["summary"]["memory_mb"];
    assert!(memory["total"].as_f64().unwrap() > 0.0, "{memory}");
    assert_eq!(memory["quota"].as_f64(), Some(512.0), "{memory}");
    let out = stdout(&kumo(
        &server,
        &["metrics", "-a", "metapp", "--minutes", "5"],
    ));
    assert!(out.contains("Memory:         peak "), "{out}");
    assert!(out.contains(" MB of 512.0 MB"), "{out}");

    // The operator's scrape, read by Prometheus's own parser.
    let scrape = Command::new("curl")
        .args(["-sS", "--max-time", "30", &metrics_url])
        .output()
        .expect("curl runs (install it with `apt-get install curl`)");
    assert!(scrape.status.success());
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/metrics/scrape.py");
    let mut parse = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    parse
        .stdin
        .take()
        .unwrap()
        .write_all(&scrape.stdout)
        .unwrap();
    let parsed = parse.wait_with_output().unwrap();
    assert!(
        parsed.status.success(),
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let samples: Vec<serde_json::Value> = String::from_utf8_lossy(&parsed.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        samples
            .iter()
            .find(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
            .and_then(|s| s["value"].as_f64())
            .unwrap_or_else(|| panic!("no sample {name} {labels:?} in the scrape"))
    };
    assert_eq!(
        value(
            "kumo_router_requests_total",
            &[("app", "metapp"), ("status", "2xx")]
        ),
        30.0 + before as f64
    );
    assert_eq!(
        value(
            "kumo_router_requests_total",
            &[("app", "metapp"), ("status", "5xx")]
        ),
        3.0
    );
    assert_eq!(
        value(
            "kumo_router_errors_total",
            &[("app", "metapp"), ("code", "H80")]
        ),
        1.0
    );
    assert_eq!(
        value("kumo_router_response_seconds_count", &[("app", "metapp")]),
        36.0 + before as f64
    );
    assert!(value("kumo_dynos", &[("state", "up")]) >= 1.0);
    assert!(
        value("kumo_compile_cache_total", &[("result", "miss")])
            + value("kumo_compile_cache_total", &[("result", "hit")])
            >= 1.0
    );
    assert!(
        samples
            .iter()
            .any(|s| s["family"] == "kumo_instances_in_use")
    );
    assert!(
        samples
            .iter()
            .any(|s| s["family"] == "kumo_wake_seconds" && s["type"] == "histogram")
    );
}
