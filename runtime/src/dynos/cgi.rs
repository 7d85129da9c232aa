//! CGI web dynos (RFC 3875): each request runs the process type's `wasi:cli`
//! command once, with the request's meta-variables in the environment and its
//! body on stdin; the command's stdout is parsed as a CGI response.
//! This is how Go (`net/http/cgi`), Ruby (Rack), C and PHP web apps run; a
//! process type with a document root (PHP's) is first looked up in it
//! (`docroot`), and files that are not scripts are sent without running it.

use super::host::{DynoHost, new_store};
use super::web::SLOT_RETRY;
use super::web::{Job, Shared};
use super::{DispatchError, NoCapacity, RequestBody, ResponseBody, describe_failure};
use crate::engine::Prepared;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use std::sync::Arc;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};

/// Most bytes of request body a CGI request reads.
pub const MAX_REQUEST_BODY: usize = 64 << 20;
/// Most bytes of output a CGI run may write.
pub const MAX_OUTPUT: usize = 64 << 20;

/// The request with its body read in full, up to its deadline: done before the
/// request takes a worker, so a client that uploads slowly holds no worker.
pub(crate) async fn read_body(
    request: http::Request<RequestBody>,
    deadline: std::time::Duration,
) -> Result<http::Request<RequestBody>, DispatchError> {
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(deadline, Limited::new(body, MAX_REQUEST_BODY).collect());
    match read.await {
        Ok(Ok(collected)) => {
            let body = Full::new(collected.to_bytes()).map_err(|never| match never {});
            Ok(http::Request::from_parts(parts, body.boxed_unsync()))
        }
        Ok(Err(e)) => Err(DispatchError::Crashed(format!(
            "reading the request body: {e}"
        ))),
        Err(_) => Err(DispatchError::Deadline),
    }
}

pub(crate) async fn worker(shared: Arc<Shared>, jobs: async_channel::Receiver<Job>) {
    while let Ok(job) = jobs.recv().await {
        let result = run(&shared, job.request).await;
        let _ = job.respond.send(result);
    }
}

async fn run(
    shared: &Shared,
    request: http::Request<RequestBody>,
) -> Result<http::Response<ResponseBody>, DispatchError> {
    let Prepared::Command(pre) = &*shared.spec.prepared else {
        return Err(DispatchError::Platform(
            "a cgi process needs a command component".into(),
        ));
    };
    let deadline = tokio::time::Instant::now() + shared.spec.request_deadline;
    let (parts, body) = request.into_parts();
    // `read_body` read it in full, within its limit and deadline, before the job was queued.
    let body = body
        .collect()
        .await
        .map_err(|e| DispatchError::Crashed(format!("reading the request body: {e}")))?
        .to_bytes();
    let mut meta = meta_variables(&parts, body.len(), shared.spec.port);
    let roots = &shared.spec.slug.manifest.document_roots;
    if let Some(root) = roots.get(&shared.spec.process_type) {
        match super::docroot::resolve(&shared.fs.app_dir(), root, parts.uri.path()) {
            super::docroot::Target::Script(script) => script.apply(&mut meta),
            super::docroot::Target::File(path) => {
                return Ok(super::docroot::send(&path, &parts.method).await);
            }
            super::docroot::Target::NotFound => return Ok(super::docroot::not_found()),
        }
    }
    let stdout = MemoryOutputPipe::new(MAX_OUTPUT);
    let new_store = || -> Result<_, DispatchError> {
        let mut builder = shared
            .wasi(&meta)
            .map_err(|e| DispatchError::Platform(format!("{e:#}")))?;
        builder
            .stdin(MemoryInputPipe::new(body.clone()))
            .stdout(stdout.clone());
        Ok(new_store(
            shared.spec.engine.wasmtime(),
            DynoHost::new(
                builder.build(),
                shared.memory.clone(),
                shared.outbound.clone(),
            ),
        ))
    };
    let mut store = new_store()?;

    let run = async {
        // Each request needs an instance slot: while the engine's pool is full,
        // the request waits for one (up to its deadline), with a fresh store.
        let command = loop {
            match pre.instantiate_async(&mut store).await {
                Err(e) if NoCapacity::of(&e).is_some() => {
                    tokio::time::sleep(SLOT_RETRY).await;
                    store = new_store().map_err(|e| wasmtime::Error::msg(format!("{e:?}")))?;
                }
                made => break made?,
            }
        };
        command.wasi_cli_run().call_run(&mut store).await
    };
    let outcome = tokio::select! {
        result = run => result,
        () = tokio::time::sleep_until(deadline) => {
            shared.log_kumo(&format!("Request ran past the {}s deadline; stopped", shared.spec.request_deadline.as_secs()));
            return Err(DispatchError::Deadline);
        }
    };
    let failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(())) => Some("Process exited with status 1".to_string()),
        Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(wasmtime_wasi::I32Exit(0)) => None,
            _ => Some(describe_failure(
                &e,
                store.data().limiter.denied,
                shared.memory.cap,
            )),
        },
    };
    shared.stderr.flush_partial();
    let output = stdout.contents();
    match (parse_response(&output), failure) {
        (Ok(response), None) => {
            Ok(response.map(|b| Full::new(b).map_err(|never| match never {}).boxed_unsync()))
        }
        (Ok(response), Some(why))
            if !response.body().is_empty() || response.status().is_server_error() =>
        {
            // A complete response followed by a failing exit (PHP's `Status:
            // 500` after a fatal error): serve it, but say so.
            shared.log_kumo(&why);
            Ok(response.map(|b| Full::new(b).map_err(|never| match never {}).boxed_unsync()))
        }
        (_, Some(why)) => {
            shared.log_kumo(&why);
            Err(DispatchError::Crashed(why))
        }
        (Err(e), None) => Err(DispatchError::BadResponse(e)),
    }
}

/// RFC 3875 meta-variables for one request (§4.1), plus `REQUEST_URI` and `HTTPS` as servers commonly add.
pub fn meta_variables(
    parts: &http::request::Parts,
    body_len: usize,
    port: u16,
) -> Vec<(String, String)> {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let host = header("host");
    let server_name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let forwarded_port = header("x-forwarded-port");
    let server_port = if forwarded_port.is_empty() {
        port.to_string()
    } else {
        forwarded_port.to_string()
    };
    let remote = header("x-forwarded-for")
        .rsplit(',')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let https = header("x-forwarded-proto") == "https";
    let mut vars = vec![
        ("GATEWAY_INTERFACE".to_string(), "CGI/1.1".to_string()),
        ("SERVER_SOFTWARE".to_string(), "kumo".to_string()),
        ("SERVER_PROTOCOL".to_string(), "HTTP/1.1".to_string()),
        ("SERVER_NAME".to_string(), server_name.to_string()),
        ("SERVER_PORT".to_string(), server_port),
        ("REQUEST_METHOD".to_string(), parts.method.to_string()),
        ("SCRIPT_NAME".to_string(), String::new()),
        ("PATH_INFO".to_string(), parts.uri.path().to_string()),
        (
            "QUERY_STRING".to_string(),
            parts.uri.query().unwrap_or("").to_string(),
        ),
        (
            "REQUEST_URI".to_string(),
            parts
                .uri
                .path_and_query()
                .map_or("/".to_string(), |pq| pq.to_string()),
        ),
        ("REMOTE_ADDR".to_string(), remote.clone()),
        ("REMOTE_HOST".to_string(), remote),
    ];
    if https {
        vars.push(("HTTPS".to_string(), "on".to_string()));
    }
    if body_len > 0 || parts.headers.contains_key(http::header::CONTENT_LENGTH) {
        vars.push(("CONTENT_LENGTH".to_string(), body_len.to_string()));
    }
    if let Some(ct) = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        vars.push(("CONTENT_TYPE".to_string(), ct.to_string()));
    }
    for (name, value) in &parts.headers {
        if name == http::header::CONTENT_LENGTH || name == http::header::CONTENT_TYPE {
            continue;
        }
        let Ok(value) = value.to_str() else { continue };
        let key = format!(
            "HTTP_{}",
            name.as_str().to_ascii_uppercase().replace('-', "_")
        );
        // Repeated headers are joined, as RFC 3875 §4.1.18 allows.
        match vars.iter_mut().find(|(k, _)| *k == key) {
            Some((_, existing)) => {
                existing.push_str(", ");
                existing.push_str(value);
            }
            None => vars.push((key, value.to_string())),
        }
    }
    vars
}

/// Parses a CGI response (RFC 3875 §6): header lines, a blank line, the body.
/// `Status:` sets the status; a `Location:` without one means 302.
pub fn parse_response(output: &[u8]) -> Result<http::Response<Bytes>, String> {
    let (head, body) = split_head(output).ok_or_else(|| {
        if output.is_empty() {
            "the CGI program wrote nothing".to_string()
        } else {
            "the CGI program's output has no blank line ending its headers".to_string()
        }
    })?;
    let head = std::str::from_utf8(head)
        .map_err(|_| "the CGI response headers are not UTF-8".to_string())?;
    let mut status = None;
    let mut headers = HeaderMap::new();
    for line in head.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("the CGI response header line `{line}` has no `:`"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or("");
            let code = code
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .ok_or_else(|| format!("the CGI `Status:` value `{value}` is not a status code"))?;
            status = Some(code);
            continue;
        }
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("the CGI response header name `{name}` is not valid"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("the CGI response header `{name}` has an invalid value"))?;
        headers.append(name, value);
    }
    let status = status.unwrap_or(if headers.contains_key(http::header::LOCATION) {
        StatusCode::FOUND
    } else {
        StatusCode::OK
    });
    let mut response = http::Response::new(Bytes::copy_from_slice(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

fn split_head(output: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut i = 0;
    while i < output.len() {
        if output[i] == b'\n' {
            // A line that is empty (`\n`) or just `\r\n` ends the headers.
            if i == 0 {
                return Some((&output[..0], &output[1..]));
            }
            if output[i - 1] == b'\n' {
                return Some((&output[..i], &output[i + 1..]));
            }
            if output[i - 1] == b'\r' && (i == 1 || output[i - 2] == b'\n') {
                return Some((&output[..i], &output[i + 1..]));
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    type Expected<'a> = Result<(u16, &'a [(&'a str, &'a str)], &'a str), &'a str>;

    fn check(output: &str, expected: Expected) {
        match (parse_response(output.as_bytes()), expected) {
            (Ok(r), Ok((status, headers, body))) => {
                assert_eq!(r.status().as_u16(), status, "{output:?}");
                for (k, v) in headers {
                    assert_eq!(
                        r.headers().get(*k).and_then(|v| v.to_str().ok()),
                        Some(*v),
                        "{output:?}"
                    );
                }
                assert_eq!(r.body().as_ref(), body.as_bytes(), "{output:?}");
            }
            (Err(e), Err(want)) => assert!(e.contains(want), "{e} should contain {want}"),
            (got, want) => panic!("{output:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn responses() {
        check(
            "Content-Type: text/plain\r\n\r\nhi",
            Ok((200, &[("content-type", "text/plain")], "hi")),
        );
        check(
            "Status: 404 Not Found\nX-A: 1\n\nnope\n",
            Ok((404, &[("x-a", "1")], "nope\n")),
        );
        check(
            "Location: /elsewhere\r\n\r\n",
            Ok((302, &[("location", "/elsewhere")], "")),
        );
        check("Status: 201\r\n\r\n", Ok((201, &[], "")));
        check("\r\nbody only", Ok((200, &[], "body only")));
        check("\nbody", Ok((200, &[], "body")));
        check(
            "Content-Type: text/plain\r\n\r\nline1\r\n\r\nline2",
            Ok((200, &[], "line1\r\n\r\nline2")),
        );
        check("", Err("wrote nothing"));
        check("Content-Type: text/plain", Err("no blank line"));
        check("Status: abc\r\n\r\n", Err("not a status code"));
        check("Status: 99\r\n\r\n", Err("not a status code"));
        check("garbage line\r\n\r\n", Err("has no `:`"));
        check("Bad Name: x\r\n\r\n", Err("not valid"));
    }

    #[test]
    fn meta() {
        let request = http::Request::post("/path/to?q=1&b=2")
            .header("host", "myapp.localhost:8080")
            .header("content-type", "text/plain")
            .header("x-forwarded-for", "10.0.0.1, 127.0.0.1")
            .header("x-forwarded-port", "8080")
            .header("x-custom", "a")
            .header("x-custom", "b")
            .body(())
            .unwrap();
        let (parts, ()) = request.into_parts();
        let vars = meta_variables(&parts, 5, 9000);
        let get = |k: &str| {
            vars.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("REQUEST_METHOD"), Some("POST"));
        assert_eq!(get("PATH_INFO"), Some("/path/to"));
        assert_eq!(get("QUERY_STRING"), Some("q=1&b=2"));
        assert_eq!(get("REQUEST_URI"), Some("/path/to?q=1&b=2"));
        assert_eq!(get("SERVER_NAME"), Some("myapp.localhost"));
        assert_eq!(get("SERVER_PORT"), Some("8080"));
        assert_eq!(get("CONTENT_LENGTH"), Some("5"));
        assert_eq!(get("CONTENT_TYPE"), Some("text/plain"));
        assert_eq!(get("REMOTE_ADDR"), Some("127.0.0.1"));
        assert_eq!(get("HTTP_X_CUSTOM"), Some("a, b"));
        assert_eq!(get("HTTP_HOST"), Some("myapp.localhost:8080"));
        assert_eq!(get("HTTP_CONTENT_TYPE"), None);
    }
}
