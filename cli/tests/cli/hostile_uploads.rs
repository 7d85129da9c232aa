//! Hostile uploads through the real API: source archives that try to escape,
//! link outside, hold devices, explode or are broken (`POST /apps/{app}/sources`
//! then `POST /apps/{app}/builds`), bad Procfiles, and slugs whose `.wasm` is
//! not Wasm, is a core module, imports what Kumo does not provide, declares an
//! enormous memory or table, or has a start function that never returns
//! (`POST /apps/{app}/slugs`). Each is refused with a message naming the
//! problem; no release is made, the previous release keeps serving, and
//! nothing is left in the server's data folder. `builds.rs` tests the plain
//! cases (garbage, `../escape`, a Procfile line without `:`, a duplicate type,
//! a missing program, a text file named `.wasm`); the archive rules
//! themselves are unit-tested in `builder/src/source.rs`.

use crate::support::{Reply, Server, http_bytes};
use kumo_slug::{Manifest, ProcessKind, ProcessType};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const APP: &str = "victim";

fn headers(server: &Server) -> Vec<(String, String)> {
    vec![
        (
            "Accept".to_string(),
            "application/vnd.heroku+json; version=3".to_string(),
        ),
        (
            "Authorization".to_string(),
            format!("Bearer {}", server.token),
        ),
    ]
}

/// Uploads `archive` as a source, builds it, and returns the ended build and its output.
fn build(server: &Server, archive: &[u8]) -> (serde_json::Value, String) {
    let uploaded = http_bytes(
        server.api_port,
        "127.0.0.1",
        "POST",
        &format!("/apps/{APP}/sources"),
        &headers(server),
        archive,
    );
    assert_eq!(uploaded.status, 201, "{}", uploaded.body);
    let url = uploaded.json()["source_blob"]["get_url"]
        .as_str()
        .unwrap()
        .to_string();
    let created = server.api(
        "POST",
        &format!("/apps/{APP}/builds"),
        Some(&format!(r#"{{"source_blob":{{"url":"{url}"}}}}"#)),
        None,
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    let build = loop {
        let build = server
            .api("GET", &format!("/apps/{APP}/builds/{id}"), None, None)
            .json();
        if build["status"] != "pending" {
            break build;
        }
        assert!(Instant::now() < deadline, "build {id} never ended");
        std::thread::sleep(Duration::from_millis(100));
    };
    let (_, output) = crate::release_phase::fetch(build["output_stream_url"].as_str().unwrap());
    (build, output)
}

/// Uploads a slug archive.
fn upload_slug(server: &Server, archive: &[u8]) -> Reply {
    http_bytes(
        server.api_port,
        "127.0.0.1",
        "POST",
        &format!("/apps/{APP}/slugs"),
        &headers(server),
        archive,
    )
}

/// Every file and folder under the data folder, but for the dynos' private
/// copies and the compiled-code cache, which the running release owns.
fn trace(data: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if rel == "dynos" || rel == "compiled" || rel.ends_with(".log") {
                continue;
            }
            out.insert(rel);
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(root, &path, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(data, data, &mut out);
    out
}

/// What a refused upload must leave as it was.
struct Before<'a> {
    server: &'a Server,
    releases: serde_json::Value,
    trace: BTreeSet<String>,
}

impl Before<'_> {
    fn take(server: &Server) -> Before<'_> {
        Before {
            server,
            releases: server
                .api("GET", &format!("/apps/{APP}/releases"), None, None)
                .json(),
            trace: trace(&server.data),
        }
    }

    /// Asserts no release was made, the app still serves, and (once the
    /// build's folder is removed) the data folder holds what it held.
    #[track_caller]
    fn unchanged(&self, case: &str) {
        let releases = self
            .server
            .api("GET", &format!("/apps/{APP}/releases"), None, None)
            .json();
        assert_eq!(releases, self.releases, "{case} made a release");
        let reply = self.server.get(APP, "/");
        assert_eq!(reply.status, 200, "{case}: the app stopped serving");
        assert!(reply.body.contains("hello from kumo"), "{}", reply.body);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = trace(&self.server.data);
            if now == self.trace {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{case} left a trace in the data folder: added {:?}, removed {:?}",
                now.difference(&self.trace).collect::<Vec<_>>(),
                self.trace.difference(&now).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[track_caller]
fn has(text: &str, needle: &str) {
    assert!(text.contains(needle), "{needle:?} not in:\n{text}");
}

/// One raw archive entry: path, type, contents, link target, declared size.
struct Entry<'a> {
    path: &'a str,
    kind: tar::EntryType,
    data: &'a [u8],
    link: Option<&'a str>,
    size: Option<u64>,
}

fn file<'a>(path: &'a str, data: &'a [u8]) -> Entry<'a> {
    Entry {
        path,
        kind: tar::EntryType::Regular,
        data,
        link: None,
        size: None,
    }
}

fn special<'a>(path: &'a str, kind: tar::EntryType, link: Option<&'a str>) -> Entry<'a> {
    Entry {
        path,
        kind,
        data: b"",
        link,
        size: None,
    }
}

/// A tar of `entries`, names written raw so hostile ones reach the server as they are.
fn tar_of(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(entry.kind);
        header.set_size(entry.size.unwrap_or(entry.data.len() as u64));
        header.set_mode(0o644);
        let name = header.as_old_mut().name.as_mut();
        name[..entry.path.len()].copy_from_slice(entry.path.as_bytes());
        if let Some(link) = entry.link {
            let field = header.as_old_mut().linkname.as_mut();
            field[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(entry.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, bytes).unwrap();
    gz.finish().unwrap()
}

/// The good app's files plus `extra`: a Procfile and the hello component.
fn app_with<'a>(hello: &'a [u8], extra: Vec<Entry<'a>>) -> Vec<u8> {
    let mut entries = vec![
        file("Procfile", b"web: hello.wasm\n"),
        file("hello.wasm", hello),
    ];
    entries.extend(extra);
    tar_of(&entries)
}

/// A slug of `components` (file name → bytes) with `web` running `web.wasm`
/// as `kind` and, if given, `worker` running `worker.wasm` as a command.
fn slug(dir: &Path, name: &str, components: &[(&str, &[u8])], kind: ProcessKind) -> Vec<u8> {
    let app = dir.join(name).join("app");
    std::fs::create_dir_all(&app).unwrap();
    let mut types = BTreeMap::new();
    for (file, bytes) in components {
        std::fs::write(app.join(file), bytes).unwrap();
        let process = file.trim_end_matches(".wasm").to_string();
        let kind = if process == "web" {
            kind
        } else {
            ProcessKind::Command
        };
        types.insert(
            process,
            ProcessType {
                component: file.to_string(),
                args: Vec::new(),
                kind,
            },
        );
    }
    let out = dir.join(name).join("slug.tar.zst");
    kumo_slug::pack(&app, &Manifest::new(types), &out).unwrap();
    std::fs::read(out).unwrap()
}

/// A core Wasm module: `memory` (exported, `pages` pages at start), `_start`
/// (exported, returns at once), optionally a table of `table` funcref
/// elements and a start function that loops forever.
fn core_module(pages: u32, table: Option<u32>, looping_start: bool) -> Vec<u8> {
    fn leb(mut n: u32, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
        out.push(id);
        leb(body.len() as u32, out);
        out.extend_from_slice(body);
    }
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[1, 0x60, 0, 0], &mut m); // type 0: [] -> []
    section(3, &[2, 0, 0], &mut m); // func 0 (_start), func 1 (spin)
    if let Some(elements) = table {
        let mut t = vec![1, 0x70, 0];
        leb(elements, &mut t);
        section(4, &t, &mut m);
    }
    let mut mem = vec![1, 0];
    leb(pages, &mut mem);
    section(5, &mem, &mut m);
    let mut exports = vec![2, 6];
    exports.extend_from_slice(b"memory");
    exports.extend_from_slice(&[2, 0, 6]);
    exports.extend_from_slice(b"_start");
    exports.extend_from_slice(&[0, 0]);
    section(7, &exports, &mut m);
    if looping_start {
        section(8, &[1], &mut m);
    }
    // _start: `end`; spin: `loop br 0 end end`.
    section(
        10,
        &[2, 2, 0, 0x0b, 7, 0, 0x03, 0x40, 0x0c, 0, 0x0b, 0x0b],
        &mut m,
    );
    m
}

/// A component importing the instance `kumo:nope/thing`, which Kumo does not provide.
fn component_importing_the_unknown() -> Vec<u8> {
    let name = b"kumo:nope/thing";
    let mut c = b"\0asm\x0d\0\x01\0".to_vec();
    // type 0: an instance type exporting `f: func()`.
    c.extend_from_slice(&[
        7, 14, 1, 0x42, 2, 0x01, 0x40, 0, 0x01, 0, 0x04, 0, 1, b'f', 0x01, 0,
    ]);
    let mut import = vec![1, 0, name.len() as u8];
    import.extend_from_slice(name);
    import.extend_from_slice(&[5, 0]); // an instance of type 0
    c.push(10);
    c.push(import.len() as u8);
    c.extend_from_slice(&import);
    c
}

#[test]
fn hostile_uploads_are_refused_and_leave_no_trace() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    let created = server.api("POST", "/apps", Some(r#"{"name":"victim"}"#), None);
    assert_eq!(created.status, 201, "{}", created.body);
    let hello = std::fs::read(kumo_tests::components::HELLO).unwrap();
    let (good, output) = build(&server, &gzip(&app_with(&hello, Vec::new())));
    assert_eq!(good["status"], "succeeded", "{output}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !server.get(APP, "/").body.contains("hello from kumo") {
        assert!(Instant::now() < deadline, "the good build never served");
        std::thread::sleep(Duration::from_millis(100));
    }
    let before = Before::take(&server);

    // Archives that try to write or link outside the build's folder.
    let outside = data
        .path()
        .parent()
        .unwrap()
        .join(format!("kumo-hostile-{}", std::process::id()));
    let deep = format!(
        "../../../../{}",
        outside.file_name().unwrap().to_str().unwrap()
    );
    let absolute = outside.display().to_string();
    use tar::EntryType::{Block, Char, Fifo, Link, Symlink};
    let escaping: Vec<(Vec<Entry<'_>>, String)> = vec![
        (
            vec![file(&deep, b"escaped")],
            format!("the source archive's entry `{deep}` is refused: absolute paths and `..` are not allowed"),
        ),
        (
            vec![file(&absolute, b"escaped")],
            format!("the source archive's entry `{absolute}` is refused: absolute paths and `..` are not allowed"),
        ),
        (
            vec![special("passwd", Symlink, Some("/etc/passwd"))],
            "the source archive's entry `passwd` is refused: it links to `/etc/passwd`, outside the source".to_string(),
        ),
        (
            vec![special("lib/up", Symlink, Some("../../.."))],
            "the source archive's entry `lib/up` is refused: it links to `../../..`, outside the source".to_string(),
        ),
        (
            vec![special("hard", Link, Some("../../admin-token"))],
            "the source archive's entry `hard` is refused: it links to `../../admin-token`, outside the source".to_string(),
        ),
        (
            vec![special("null", Char, None)],
            "the source archive's entry `null` is refused: entries of type Char (devices, fifos) are not part of an app".to_string(),
        ),
        (
            vec![special("disk", Block, None)],
            "the source archive's entry `disk` is refused: entries of type Block".to_string(),
        ),
        (
            vec![special("pipe", Fifo, None)],
            "the source archive's entry `pipe` is refused: entries of type Fifo".to_string(),
        ),
    ];
    for (extra, want) in escaping {
        let (build, output) = build(&server, &gzip(&app_with(&hello, extra)));
        assert_eq!(build["status"], "failed", "{output}");
        has(&output, &want);
        has(&output, "Push rejected, failed to compile the app.");
        before.unchanged(&want);
        assert!(!outside.exists(), "{want}: a file was written outside");
    }

    // A bomb: a 1 kB archive whose one file says it holds 3 GiB.
    let bomb = gzip(&tar_of(&[Entry {
        path: "zeros",
        kind: tar::EntryType::Regular,
        data: &[0; 512],
        link: None,
        size: Some(3 << 30),
    }]));
    assert!(bomb.len() < 1024, "{}", bomb.len());
    let (build_bomb, output) = build(&server, &bomb);
    assert_eq!(build_bomb["status"], "failed", "{output}");
    has(
        &output,
        "the source archive unpacks to more than 2147483648 bytes: leave build output and dependencies out",
    );
    before.unchanged("a compression bomb");

    // Truncated and corrupt archives.
    let whole = gzip(&app_with(&hello, Vec::new()));
    let (b, output) = build(&server, &whole[..whole.len() / 2]);
    assert_eq!(b["status"], "failed", "{output}");
    has(
        &output,
        "the source archive is not a tar archive (plain, .tar.gz or .tar.zst) or is corrupt",
    );
    before.unchanged("a truncated archive");
    let mut corrupt = whole.clone();
    let middle = corrupt.len() / 2;
    for byte in &mut corrupt[middle..middle + 64] {
        *byte ^= 0x5a;
    }
    let (b, output) = build(&server, &corrupt);
    assert_eq!(b["status"], "failed", "{output}");
    has(&output, "or is corrupt");
    before.unchanged("a corrupt archive");

    // Procfiles that cannot be used: each error names its line.
    for (procfile, want) in [
        (
            "web: hello.wasm\nweb.1: hello.wasm\n",
            "Procfile line 2: invalid process type `web.1`: use up to 63 letters, digits, `_` and `-`",
        ),
        (
            "# comment\nweb:\n",
            "Procfile line 2: process type `web` has no command: name a component and its arguments, like `web: app.wasm`",
        ),
        (
            "web: hello.wasm 'unterminated\n",
            "Procfile line 1: the command of `web` has an unbalanced quote: `hello.wasm 'unterminated`",
        ),
        (
            "web: hello.wasm\n\n\nworker: hello.wasm\nworker: hello.wasm\n",
            "Procfile line 5: process type `worker` is declared twice (first on line 4): keep one",
        ),
    ] {
        let archive = tar_of(&[
            file("Procfile", procfile.as_bytes()),
            file("hello.wasm", &hello),
        ]);
        let (b, output) = build(&server, &archive);
        assert_eq!(b["status"], "failed", "{output}");
        has(&output, want);
        before.unchanged(want);
    }

    // Slugs whose components cannot run: 422 invalid_params, nothing stored.
    let dir = data
        .path()
        .parent()
        .unwrap()
        .join(format!("kumo-hostile-slugs-{}", std::process::id()));
    let _cleanup = Cleanup(dir.clone());
    let unknown = component_importing_the_unknown();
    let cases: Vec<(&str, Vec<u8>, ProcessKind, &str)> = vec![
        (
            "not-wasm",
            b"#!/bin/sh\necho this is not wasm\n".to_vec(),
            ProcessKind::Http,
            "process type `web`: `web.wasm` is not a Wasm component: the file does not start with the Wasm magic bytes",
        ),
        (
            "core",
            core_module(1, None, false),
            ProcessKind::Http,
            "process type `web`: `web.wasm` is a core Wasm module, not a component",
        ),
        (
            "unknown-import",
            unknown.clone(),
            ProcessKind::Http,
            "kumo:nope/thing",
        ),
        (
            "huge-memory",
            kumo_builder::componentize(&core_module(60_000, None, false)).unwrap(),
            ProcessKind::Command,
            "declares 3750 MB of memory at start, more than the largest dyno (performance-M, 2560 MB) holds",
        ),
        (
            "huge-table",
            kumo_builder::componentize(&core_module(1, Some(10_000_000), false)).unwrap(),
            ProcessKind::Command,
            "declares a table of 10000000 elements",
        ),
    ];
    for (name, wasm, kind, want) in cases {
        let file = if kind == ProcessKind::Http {
            "web.wasm"
        } else {
            "worker.wasm"
        };
        let archive = slug(&dir, name, &[(file, &wasm)], kind);
        let reply = upload_slug(&server, &archive);
        assert_eq!(reply.status, 422, "{name}: {}", reply.body);
        assert_eq!(reply.json()["id"], "invalid_params", "{name}");
        let message = reply.json()["message"].as_str().unwrap().to_string();
        assert!(
            message.contains(want),
            "{name}: {want:?} not in {message:?}"
        );
        let digest = kumo_slug::Digest::of(&archive);
        let release = server.api(
            "POST",
            &format!("/apps/{APP}/releases"),
            Some(&format!(r#"{{"slug":"{digest}"}}"#)),
            None,
        );
        assert_eq!(release.status, 404, "{name}: {}", release.body);
        before.unchanged(name);
    }

    // The same components deployed from source fail the build the same way.
    for (wasm, want) in [
        // The builder looks at exports first: this one has none Kumo can run.
        (
            unknown,
            "Procfile line 2: `bad.wasm`: the component exports neither wasi:http/incoming-handler nor wasi:cli/run",
        ),
        (
            core_module(60_000, None, false),
            "declares 3750 MB of memory at start",
        ),
    ] {
        let archive = tar_of(&[
            file("Procfile", b"web: hello.wasm\nworker: bad.wasm\n"),
            file("hello.wasm", &hello),
            file("bad.wasm", &wasm),
        ]);
        let (b, output) = build(&server, &archive);
        assert_eq!(b["status"], "failed", "{output}");
        has(&output, want);
        before.unchanged(want);
    }
}

/// Removes a folder when the test ends, however it ends.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
