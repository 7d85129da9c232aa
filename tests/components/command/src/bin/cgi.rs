//! An RFC 3875 CGI program.
//!
//! - `PATH_INFO=/notfound`: `Status: 404 Not Found` and `no such page\n`
//! - `PATH_INFO=/redirect`: only a `Location: /elsewhere` header (no Status
//!   line, which CGI says means 302 Found)
//! - anything else: `Status: 200 OK`, `X-Cgi: yes` and a body describing the
//!   request (method, path, query, body, server)
//!
//! It always prints `cgi handled <PATH_INFO>` to stderr.

use std::io::{Read, Write};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

fn read_body() -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let stdin = std::io::stdin();
    let mut stdin = stdin.lock();
    match var("CONTENT_LENGTH").trim().parse::<u64>() {
        Ok(len) => {
            stdin.take(len).read_to_end(&mut body)?;
        }
        Err(_) => {
            stdin.read_to_end(&mut body)?;
        }
    }
    Ok(body)
}

fn main() -> std::io::Result<()> {
    let method = var("REQUEST_METHOD");
    let path = var("PATH_INFO");
    let query = var("QUERY_STRING");
    let server_name = var("SERVER_NAME");
    let server_port = var("SERVER_PORT");
    // Read so the variables are proven to be there; they are not echoed.
    let _content_type = var("CONTENT_TYPE");
    let _remote_addr = var("REMOTE_ADDR");
    let _request_id = var("HTTP_X_REQUEST_ID");
    let body = read_body()?;

    let mut out = Vec::new();
    match path.as_str() {
        "/notfound" => {
            out.extend_from_slice(
                b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno such page\n",
            );
        }
        "/redirect" => {
            out.extend_from_slice(b"Location: /elsewhere\r\n\r\n");
        }
        _ => {
            out.extend_from_slice(
                b"Status: 200 OK\r\nContent-Type: text/plain\r\nX-Cgi: yes\r\n\r\n",
            );
            out.extend_from_slice(
                format!("method={method}\npath={path}\nquery={query}\nbody=").as_bytes(),
            );
            out.extend_from_slice(&body);
            out.extend_from_slice(format!("\nserver={server_name}:{server_port}\n").as_bytes());
        }
    }
    let stdout = std::io::stdout();
    let mut stdout = stdout.lock();
    stdout.write_all(&out)?;
    stdout.flush()?;
    eprintln!("cgi handled {path}");
    Ok(())
}
