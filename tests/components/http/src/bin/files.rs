//! Works with the file system the host gives the app.
//!
//! - `/write?name=NAME&data=DATA`: writes DATA to `/app/NAME`, answers `wrote NAME\n`
//! - `/read?name=NAME`: the content of `/app/NAME`, or 404 `missing NAME\n`
//! - `/ls?dir=DIR`: the sorted entry names of DIR, one a line, or 404 with the error
//! - `/read-abs?path=PATH`: the content of any path, or 404 with the io error
//! - `/tmp-write?data=DATA`: writes `/tmp/t.txt`, answers `ok\n`

use http_guests::{bytes, path, query_param, text};
use wstd::http::{Body, Error, Request, Response};

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    let param = |name: &str| query_param(&request, name);
    match path(&request) {
        "/write" => {
            let (Some(name), Some(data)) = (param("name"), param("data")) else {
                return text(400, "need name and data\n");
            };
            match std::fs::write(format!("/app/{name}"), data) {
                Ok(()) => text(200, format!("wrote {name}\n")),
                Err(e) => text(500, format!("write {name} failed: {e}\n")),
            }
        }
        "/read" => {
            let Some(name) = param("name") else {
                return text(400, "need name\n");
            };
            match std::fs::read(format!("/app/{name}")) {
                Ok(content) => bytes(200, "application/octet-stream", content),
                Err(_) => text(404, format!("missing {name}\n")),
            }
        }
        "/ls" => {
            let Some(dir) = param("dir") else {
                return text(400, "need dir\n");
            };
            let entries = std::fs::read_dir(&dir).and_then(|entries| {
                entries
                    .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                    .collect::<Result<Vec<_>, _>>()
            });
            match entries {
                Ok(mut names) => {
                    names.sort();
                    text(
                        200,
                        names.iter().map(|n| format!("{n}\n")).collect::<String>(),
                    )
                }
                Err(e) => text(404, format!("{e}\n")),
            }
        }
        "/read-abs" => {
            let Some(path) = param("path") else {
                return text(400, "need path\n");
            };
            match std::fs::read(&path) {
                Ok(content) => bytes(200, "application/octet-stream", content),
                Err(e) => text(404, format!("{e}\n")),
            }
        }
        "/tmp-write" => {
            let data = param("data").unwrap_or_default();
            match std::fs::write("/tmp/t.txt", data) {
                Ok(()) => text(200, "ok\n"),
                Err(e) => text(500, format!("write /tmp/t.txt failed: {e}\n")),
            }
        }
        _ => text(404, "unknown path\n"),
    }
}
