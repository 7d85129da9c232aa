//! The dashboard in a real browser: headless Chromium (Debian's `chromium`),
//! driven by `playwright-core` (npm) through `dashboard/drive.mjs`, logs in,
//! reads an app's charts, scales it, sets a config var, sees the release,
//! rolls back, watches a router line arrive in the live log and takes a
//! screenshot, which this test reads to check the page drew something.

use crate::support::{Server, http, kumo, stdout};
use std::path::PathBuf;
use std::process::Command;

/// Debian's Chromium, or the one `CHROMIUM` names.
fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.is_file(),
        "no Chromium at {}: install Debian's with `apt-get install chromium` \
         (scripts/test does this), or set CHROMIUM to a Chromium binary",
        path.display()
    );
    path
}

/// Where `scripts/test` installs playwright-core.
fn playwright_prefix() -> PathBuf {
    let cache = std::env::var_os("KUMO_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/kumo")
        });
    let prefix = cache.join("browser-test");
    assert!(
        prefix
            .join("node_modules/playwright-core/package.json")
            .is_file(),
        "playwright-core is not installed under {}: run `npm install --prefix {} playwright-core@1.65.2` \
         (scripts/test does this)",
        prefix.display(),
        prefix.display()
    );
    prefix
}

#[test]
fn a_user_scales_configures_rolls_back_and_tails_logs_in_the_dashboard() {
    let (browser, prefix) = (chromium(), playwright_prefix());
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    stdout(&kumo(&server, &["apps:create", "dashapp"]));
    stdout(&kumo(
        &server,
        &[
            "deploy",
            "-a",
            "dashapp",
            "--wasm",
            kumo_tests::components::HELLO,
        ],
    ));
    for _ in 0..12 {
        let reply = http(server.router_port, "dashapp.localhost", "GET", "/", &[], "");
        assert_eq!(reply.status, 200);
    }

    let printed = stdout(&kumo(&server, &["dashboard", "-a", "dashapp"]));
    let url = format!("http://127.0.0.1:{}/dashboard/", server.api_port);
    assert!(printed.contains(&format!("Dashboard: {url}")), "{printed}");
    let link = printed
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(&format!("{url}#token=")))
        .unwrap_or_else(|| panic!("no login link in:\n{printed}"))
        .to_string();
    assert!(link.ends_with("&app=dashapp"), "{link}");

    let screenshot = data.path().join("dashboard.png");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/dashboard/drive.mjs");
    let out = Command::new("node")
        .arg(script)
        .env("KUMO_API", format!("http://127.0.0.1:{}", server.api_port))
        .env("KUMO_TOKEN", &server.token)
        .env("KUMO_APP", "dashapp")
        .env("KUMO_LINK", &link)
        .env(
            "KUMO_ROUTER",
            format!("http://127.0.0.1:{}", server.router_port),
        )
        .env("KUMO_APP_HOST", "dashapp.localhost")
        .env("KUMO_SCREENSHOT", &screenshot)
        .env("CHROMIUM", &browser)
        .env("PLAYWRIGHT_PREFIX", &prefix)
        .output()
        .expect("node runs (install Node.js with `apt-get install nodejs`)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the browser run failed:\n{said}");
    for step in [
        "ok link",
        "ok login",
        "ok charts",
        "ok scale",
        "ok config",
        "ok release",
        "ok rollback",
        "ok logs",
        "ok screenshot",
    ] {
        assert!(said.contains(step), "{step} missing from:\n{said}");
    }

    // What the browser did is what the platform now holds.
    let formation = server.api("GET", "/apps/dashapp/formation/web", None, None);
    assert_eq!(formation.json()["quantity"], 2, "{}", formation.body);
    let releases = server.api("GET", "/apps/dashapp/releases", None, None);
    let descriptions: Vec<String> = releases
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["description"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        descriptions.iter().any(|d| d == "Set GREETING config vars"),
        "{descriptions:?}"
    );
    assert_eq!(
        descriptions.last().map(String::as_str),
        Some("Rollback to v1"),
        "{descriptions:?}"
    );
    // Rolled back to v1: the config var the dashboard set is gone again.
    let config = server.api("GET", "/apps/dashapp/config-vars", None, None);
    assert!(config.json().get("GREETING").is_none(), "{}", config.body);

    assert_not_blank(&screenshot);
}

/// The screenshot is a page with charts and text: many colours, and a fair
/// share of its pixels not the background's.
fn assert_not_blank(path: &std::path::Path) {
    let file = std::fs::File::open(path).expect("the browser wrote its screenshot");
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    assert!(frame.width >= 1000 && frame.height >= 600, "{frame:?}");
    let channels = frame.color_type.samples();
    let mut counts = std::collections::HashMap::<&[u8], usize>::new();
    for pixel in pixels[..frame.buffer_size()].chunks(channels) {
        *counts.entry(&pixel[..3.min(channels)]).or_default() += 1;
    }
    let total = (frame.width * frame.height) as usize;
    let background = counts.values().max().copied().unwrap_or(0);
    assert!(
        counts.len() >= 50,
        "only {} colours in {}",
        counts.len(),
        path.display()
    );
    assert!(
        total - background >= total / 20,
        "{} of {total} pixels differ from the background in {}",
        total - background,
        path.display()
    );
}
