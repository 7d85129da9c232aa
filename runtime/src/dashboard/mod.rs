//! The dashboard: a web UI at `/dashboard/` on the API port, for what a
//! Heroku user does in Heroku's Dashboard — the apps list, and per app its
//! metrics charts, formation (scale), dynos, add-ons, releases (rollback),
//! config vars (edit), domains and a live log tail.
//!
//! Its pages are static files compiled into the binary (`static/`); the page
//! logs in with an API key, as `kumo login` does (or takes one from the URL's
//! fragment, which `kumo dashboard` writes and browsers never send), and
//! speaks the Platform API with it, as any client does: the dashboard has no
//! endpoint of its own and sees nothing a token could not.
//!
//! Charts are drawn by uPlot, from npm, vendored in `static/vendor/` with its
//! licence. To update it: change the version in `package.json`, then
//! `npm install && npm run vendor` in this folder (no npm is needed to build
//! or run Kumo).

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// The dashboard's files: name, media type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("static/index.html"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("static/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_bytes!("static/api.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_bytes!("static/dom.js"),
    ),
    (
        "charts.js",
        "text/javascript; charset=utf-8",
        include_bytes!("static/charts.js"),
    ),
    (
        "views.js",
        "text/javascript; charset=utf-8",
        include_bytes!("static/views.js"),
    ),
    (
        "vendor/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("static/vendor/uPlot.iife.min.js"),
    ),
    (
        "vendor/uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("static/vendor/uPlot.min.css"),
    ),
];

/// The page may load and fetch only from its own origin, and is never framed.
const POLICY: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// `/dashboard`, `/dashboard/` and its files.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/dashboard",
            get(|| async { Redirect::permanent("/dashboard/") }),
        )
        .route("/dashboard/", get(|| async { file("index.html") }))
        .route(
            "/dashboard/{*file}",
            get(|Path(name): Path<String>| async move { file(&name) }),
        )
}

/// Whether `path` is the dashboard's (its files are fetched as they are,
/// without the API's `Accept` header).
pub fn serves(path: &str) -> bool {
    path == "/dashboard" || path.starts_with("/dashboard/")
}

fn file(name: &str) -> Response {
    let Some((_, media_type, bytes)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("the dashboard has no file `{name}`: open /dashboard/\n"),
        )
            .into_response();
    };
    (
        [
            (header::CONTENT_TYPE, *media_type),
            // The files change with the binary: revalidate, never serve stale.
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        *bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_the_page_loads_is_served() {
        let index = String::from_utf8_lossy(FILES[0].2);
        let mut named = 0;
        for part in index.split("/dashboard/").skip(1) {
            let name = part.split('"').next().unwrap();
            assert!(
                FILES.iter().any(|(n, _, _)| *n == name),
                "index.html loads `{name}`, which is not in FILES"
            );
            named += 1;
        }
        assert!(named >= 4, "{index}");
        // Every module the scripts import is served too.
        for (name, _, bytes) in FILES.iter().filter(|(n, _, _)| n.ends_with(".js")) {
            let text = String::from_utf8_lossy(bytes);
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let module = line.rsplit("\"./").next().unwrap().trim_end_matches("\";");
                assert!(
                    FILES.iter().any(|(n, _, _)| *n == module),
                    "{name} imports `{module}`, which is not in FILES"
                );
            }
        }
    }

    #[test]
    fn the_vendored_chart_library_is_the_version_package_json_names() {
        let package: serde_json::Value =
            serde_json::from_str(include_str!("package.json")).unwrap();
        let version = package["dependencies"]["uplot"].as_str().unwrap();
        let library = FILES
            .iter()
            .find(|(n, _, _)| *n == "vendor/uPlot.iife.min.js")
            .unwrap()
            .2;
        let head = String::from_utf8_lossy(&library[..80]);
        assert!(head.contains(&format!("(v{version})")), "{head}");
    }
}
