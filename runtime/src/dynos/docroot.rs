//! Document roots (`Manifest::document_roots`): a `cgi` process type that
//! serves a folder of the app the way Apache or Nginx in front of PHP does on
//! Heroku. For each request the path is looked up under the folder:
//! - a script (`/about.php`, `/index.php/extra` with `/extra` as `PATH_INFO`)
//!   runs the process type's command with `SCRIPT_FILENAME` naming it;
//! - any other file is sent as it is, with a type from its extension;
//! - a folder runs its index script (or sends its `index.html`);
//! - every other path runs the root's index script (the front controller
//!   frameworks expect), or is a 404 without one.
//!
//! Names starting with `.` (`.user.ini`, `.env`, `.git`) are never served,
//! and nothing outside the app is reached, whatever symlinks the app holds.

use super::ResponseBody;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use kumo_slug::DocumentRoot;
use std::path::{Path, PathBuf};

/// Where the guest sees the app.
const GUEST_APP: &str = "/app";

/// What a request path names under a document root.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// Run the command for this script.
    Script(Script),
    /// Send this file (a path on the host) as it is.
    File(PathBuf),
    /// Nothing: no such file and no index script.
    NotFound,
}

/// The CGI meta-variables that name a script (RFC 3875 §4.1.5, §4.1.13).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Script {
    pub filename: String,
    pub script_name: String,
    pub path_info: String,
    pub document_root: String,
}

impl Script {
    /// Sets this script's variables in `meta`, replacing Kumo's plain CGI ones.
    pub fn apply(&self, meta: &mut Vec<(String, String)>) {
        meta.retain(|(k, _)| k != "SCRIPT_NAME" && k != "PATH_INFO");
        meta.push(("SCRIPT_FILENAME".into(), self.filename.clone()));
        meta.push(("SCRIPT_NAME".into(), self.script_name.clone()));
        meta.push(("DOCUMENT_ROOT".into(), self.document_root.clone()));
        // php-cgi (cgi.force_redirect) runs only what a web server handed it.
        meta.push(("REDIRECT_STATUS".into(), "200".into()));
        if !self.path_info.is_empty() {
            meta.push(("PATH_INFO".into(), self.path_info.clone()));
            meta.push((
                "PATH_TRANSLATED".into(),
                format!("{}{}", self.document_root, self.path_info),
            ));
        }
    }
}

/// What `uri_path` names under `root` in the app folder `app_dir` (on the host).
pub(crate) fn resolve(app_dir: &Path, root: &DocumentRoot, uri_path: &str) -> Target {
    let Ok(decoded) = percent_encoding::percent_decode_str(uri_path).decode_utf8() else {
        return Target::NotFound;
    };
    let segments: Vec<&str> = decoded.split('/').filter(|s| !s.is_empty()).collect();
    if segments
        .iter()
        .any(|s| s.starts_with('.') || s.contains('\\'))
    {
        return Target::NotFound;
    }
    let relative_root = root.path.trim_start_matches("./").trim_end_matches('/');
    let relative_root = if relative_root == "." {
        ""
    } else {
        relative_root
    };
    let host_root = app_dir.join(relative_root);
    let guest_root = if relative_root.is_empty() {
        GUEST_APP.to_string()
    } else {
        format!("{GUEST_APP}/{relative_root}")
    };
    let script = |url_path: String, path_info: String| {
        Target::Script(Script {
            filename: format!("{guest_root}{url_path}"),
            script_name: url_path,
            path_info,
            document_root: guest_root.clone(),
        })
    };
    let Ok(app) = app_dir.canonicalize() else {
        return Target::NotFound;
    };
    let front_controller = || match kind(&app, &host_root.join(&root.index)) {
        Some(_) => script(format!("/{}", root.index), String::new()),
        None => Target::NotFound,
    };
    let mut here = host_root.clone();
    for (i, segment) in segments.iter().enumerate() {
        here.push(segment);
        match kind(&app, &here) {
            Some(Kind::Dir) => continue,
            Some(Kind::File) => {}
            None => return front_controller(),
        }
        let url_path = format!("/{}", segments[..=i].join("/"));
        let rest = &segments[i + 1..];
        if segment.ends_with(&root.script_suffix) {
            let path_info = if rest.is_empty() {
                String::new()
            } else {
                format!("/{}", rest.join("/"))
            };
            return script(url_path, path_info);
        }
        return if rest.is_empty() {
            Target::File(here)
        } else {
            Target::NotFound
        };
    }
    // A folder: its index script, else its index.html, else the front controller.
    let prefix = segments.iter().fold(String::new(), |p, s| p + "/" + s);
    if kind(&app, &here.join(&root.index)) == Some(Kind::File) {
        return script(format!("{prefix}/{}", root.index), String::new());
    }
    let html = here.join("index.html");
    if kind(&app, &html) == Some(Kind::File) {
        return Target::File(html);
    }
    front_controller()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
}

/// What `path` is with its symlinks followed, if it exists inside `app` (a
/// canonical path): one `realpath` and one `stat` a step.
fn kind(app: &Path, path: &Path) -> Option<Kind> {
    let real = path.canonicalize().ok()?;
    if !real.starts_with(app) {
        return None;
    }
    let meta = std::fs::metadata(&real).ok()?;
    if meta.is_file() {
        Some(Kind::File)
    } else if meta.is_dir() {
        Some(Kind::Dir)
    } else {
        None
    }
}

/// The response for a file of the document root: GET and HEAD only.
pub(crate) async fn send(path: &Path, method: &http::Method) -> http::Response<ResponseBody> {
    if method != http::Method::GET && method != http::Method::HEAD {
        return respond(
            http::StatusCode::METHOD_NOT_ALLOWED,
            &[("allow", "GET, HEAD")],
            Bytes::new(),
        );
    }
    let bytes = match tokio::fs::read(path).await {
        Ok(bytes) => Bytes::from(bytes),
        Err(_) => return not_found(),
    };
    let kind = mime_guess::from_path(path).first_or_octet_stream();
    let length = bytes.len().to_string();
    let body = if method == http::Method::HEAD {
        Bytes::new()
    } else {
        bytes
    };
    respond(
        http::StatusCode::OK,
        &[
            ("content-type", kind.essence_str()),
            ("content-length", &length),
        ],
        body,
    )
}

/// A 404 for a path the document root does not have.
pub(crate) fn not_found() -> http::Response<ResponseBody> {
    respond(
        http::StatusCode::NOT_FOUND,
        &[("content-type", "text/plain")],
        Bytes::from_static(b"Not Found\n"),
    )
}

fn respond(
    status: http::StatusCode,
    headers: &[(&'static str, &str)],
    body: Bytes,
) -> http::Response<ResponseBody> {
    let mut response = http::Response::new(
        Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    for (name, value) in headers {
        if let Ok(value) = http::HeaderValue::from_str(value) {
            response
                .headers_mut()
                .insert(http::HeaderName::from_static(name), value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> tempfile::TempDir {
        let app = tempfile::tempdir().unwrap();
        for file in [
            "public/index.php",
            "public/about.php",
            "public/style.css",
            "public/.user.ini",
            "public/docs/index.html",
            "public/admin/index.php",
            "secret.txt",
        ] {
            let path = app.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "x").unwrap();
        }
        std::os::unix::fs::symlink("/etc/hostname", app.path().join("public/host")).unwrap();
        std::os::unix::fs::symlink("../secret.txt", app.path().join("public/up.txt")).unwrap();
        app
    }

    fn root() -> DocumentRoot {
        DocumentRoot {
            path: "public".into(),
            script_suffix: ".php".into(),
            index: "index.php".into(),
        }
    }

    fn script(name: &str, path_info: &str) -> Target {
        Target::Script(Script {
            filename: format!("/app/public{name}"),
            script_name: name.into(),
            path_info: path_info.into(),
            document_root: "/app/public".into(),
        })
    }

    #[test]
    fn paths_resolve_as_a_php_web_server_does() {
        let app = app();
        let resolve = |path| resolve(app.path(), &root(), path);
        assert_eq!(resolve("/about.php"), script("/about.php", ""));
        assert_eq!(resolve("/about.php/a/b"), script("/about.php", "/a/b"));
        assert_eq!(resolve("/"), script("/index.php", ""));
        assert_eq!(resolve("/admin"), script("/admin/index.php", ""));
        assert_eq!(
            resolve("/style.css"),
            Target::File(app.path().join("public/style.css"))
        );
        assert_eq!(
            resolve("/docs/"),
            Target::File(app.path().join("public/docs/index.html"))
        );
        assert_eq!(
            resolve("/st%79le.css"),
            Target::File(app.path().join("public/style.css"))
        );
        // Paths that name no file go to the front controller.
        assert_eq!(resolve("/users/42"), script("/index.php", ""));
        assert_eq!(resolve("/style.css/more"), Target::NotFound);
        // Hidden files, climbing out, and symlinks leaving the app are refused.
        assert_eq!(resolve("/.user.ini"), Target::NotFound);
        assert_eq!(resolve("/../secret.txt"), Target::NotFound);
        assert_eq!(resolve("/%2e%2e/secret.txt"), Target::NotFound);
        assert_eq!(resolve("/host"), script("/index.php", ""));
        // A symlink to elsewhere in the app is the app's own choice.
        assert_eq!(
            resolve("/up.txt"),
            Target::File(app.path().join("public/up.txt"))
        );
    }

    #[test]
    fn without_an_index_script_unknown_paths_are_not_found() {
        let app = tempfile::tempdir().unwrap();
        std::fs::write(app.path().join("page.php"), "x").unwrap();
        let root = DocumentRoot {
            path: ".".into(),
            ..root()
        };
        assert_eq!(resolve(app.path(), &root, "/nope"), Target::NotFound);
        assert_eq!(
            resolve(app.path(), &root, "/page.php"),
            Target::Script(Script {
                filename: "/app/page.php".into(),
                script_name: "/page.php".into(),
                path_info: String::new(),
                document_root: "/app".into(),
            })
        );
    }
}
