//! The Platform API client the user commands share: `KUMO_HOST` (default
//! `http://127.0.0.1:5000`) and a token from `KUMO_API_KEY`, else `~/.netrc`
//! (written by `kumo login`), else the local server's admin token; Heroku's
//! Accept header, and `{id, message}` errors as messages.

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;

pub struct Client {
    host: String,
    port: u16,
    token: String,
}

impl Client {
    /// The client for `KUMO_HOST` with the token from `KUMO_API_KEY`, `~/.netrc` or the local admin token.
    pub fn from_env() -> anyhow::Result<Client> {
        let (host, port) = Client::endpoint()?;
        let token = Client::token_for(&host)?;
        Ok(Client { host, port, token })
    }

    /// The token for the API on `host`: `KUMO_API_KEY`, else its `~/.netrc`
    /// entry, else the local server's admin token.
    pub fn token_for(host: &str) -> anyhow::Result<String> {
        Ok(match std::env::var("KUMO_API_KEY") {
            Ok(token) if !token.trim().is_empty() => token.trim().to_string(),
            _ => match crate::netrc::get(host)? {
                Some((_, token)) => token,
                None => local_admin_token().with_context(|| {
                    format!("no API token: run `kumo login`, or set KUMO_API_KEY to your token (no entry for {host} in ~/.netrc)")
                })?,
            },
        })
    }

    /// A client for `KUMO_HOST` with the given token (`kumo login` checks a token with it).
    pub fn with_token(token: &str) -> anyhow::Result<Client> {
        let (host, port) = Client::endpoint()?;
        Ok(Client {
            host,
            port,
            token: token.to_string(),
        })
    }

    /// The API's host name, the key of its `~/.netrc` entry.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// The API's URL, as `KUMO_HOST` gives it.
    pub fn base_url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// A client for the API at `url` with `token`.
    pub fn for_url(url: &str, token: &str) -> anyhow::Result<Client> {
        let (host, port) = Client::parse_endpoint(url)?;
        Ok(Client {
            host,
            port,
            token: token.to_string(),
        })
    }

    /// `KUMO_HOST`'s host name and port.
    pub fn endpoint() -> anyhow::Result<(String, u16)> {
        let url =
            std::env::var("KUMO_HOST").unwrap_or_else(|_| "http://127.0.0.1:5000".to_string());
        Client::parse_endpoint(&url)
    }

    fn parse_endpoint(url: &str) -> anyhow::Result<(String, u16)> {
        let rest = url.strip_prefix("http://").with_context(|| {
            format!("invalid KUMO_HOST `{url}`: use an http:// URL like http://127.0.0.1:5000")
        })?;
        let authority = rest.trim_end_matches('/');
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse()
                    .with_context(|| format!("invalid port in KUMO_HOST `{url}`"))?,
            ),
            None => (authority.to_string(), 80),
        };
        Ok((host, port))
    }

    /// Sends one request; returns the JSON body, or the API's message as the error.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (content_type, bytes) = match body {
            Some(json) => ("application/json", Bytes::from(json.to_string())),
            None => ("application/json", Bytes::new()),
        };
        self.send(method, path, content_type, bytes).await
    }

    /// GETs a whole list, following `Next-Range` from page to page.
    pub async fn list(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut range = None;
        loop {
            let (json, next) = self
                .request(
                    "GET",
                    path,
                    "application/json",
                    Bytes::new(),
                    range.as_deref(),
                )
                .await?;
            items.extend(json.as_array().cloned().unwrap_or_default());
            match next {
                Some(next) => range = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// Sends raw bytes (a slug upload).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Bytes,
    ) -> anyhow::Result<Value> {
        Ok(self
            .request(method, path, content_type, body, None)
            .await?
            .0)
    }

    /// Sends raw bytes in pieces, advancing `progress` as each goes out.
    pub async fn send_with_progress(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Bytes,
        progress: indicatif::ProgressBar,
    ) -> anyhow::Result<Value> {
        use futures::StreamExt as _;
        const PIECE: usize = 64 * 1024;
        let pieces: Vec<Bytes> = (0..body.len())
            .step_by(PIECE)
            .map(|start| body.slice(start..(start + PIECE).min(body.len())))
            .collect();
        let stream = futures::stream::iter(pieces).map(move |piece| {
            progress.inc(piece.len() as u64);
            Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(piece))
        });
        Ok(self
            .request_body(
                method,
                path,
                content_type,
                BodyExt::boxed(http_body_util::StreamBody::new(stream)),
                None,
            )
            .await?
            .0)
    }

    /// Sends one request; returns its JSON body and its `Next-Range`, if any.
    async fn request(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Bytes,
        range: Option<&str>,
    ) -> anyhow::Result<(Value, Option<String>)> {
        self.request_body(method, path, content_type, Full::new(body).boxed(), range)
            .await
    }

    async fn request_body(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>,
        range: Option<&str>,
    ) -> anyhow::Result<(Value, Option<String>)> {
        let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .with_context(|| {
                format!(
                    "cannot reach the Kumo API at {}:{}: is `kumo server` running?",
                    self.host, self.port
                )
            })?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let mut request = http::Request::builder();
        if let Some(range) = range {
            request = request.header("range", range);
        }
        let request = request
            .method(method)
            .uri(path)
            .header("host", format!("{}:{}", self.host, self.port))
            .header("accept", "application/vnd.heroku+json; version=3")
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", content_type)
            .header(
                "user-agent",
                concat!("kumo-cli/", env!("CARGO_PKG_VERSION")),
            )
            .body(body)?;
        let response = sender
            .send_request(request)
            .await
            .context("the API closed the connection")?;
        let status = response.status();
        let next = response
            .headers()
            .get("next-range")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = response.into_body().collect().await?.to_bytes();
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            let message = json["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("the API answered {status}"));
            anyhow::bail!("{message}");
        }
        Ok((json, next))
    }
}

impl Client {
    /// Opens `url` (an `attach_url`) with an HTTP upgrade to `protocol`.
    pub async fn upgrade(
        &self,
        url: &str,
        protocol: &str,
    ) -> anyhow::Result<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>> {
        let (authority, path) = split_url(url)?;
        let stream = tokio::net::TcpStream::connect(authority.as_str())
            .await
            .with_context(|| format!("cannot reach {authority}"))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(conn.with_upgrades());
        let request = http::Request::builder()
            .uri(&path)
            .header("host", &authority)
            .header("connection", "upgrade")
            .header("upgrade", protocol)
            .body(Full::new(Bytes::new()))?;
        let response = sender.send_request(request).await?;
        if response.status() != http::StatusCode::SWITCHING_PROTOCOLS {
            let status = response.status();
            let bytes = response.into_body().collect().await?.to_bytes();
            let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            anyhow::bail!(
                "{}",
                json["message"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("the attach URL answered {status}"))
            );
        }
        Ok(hyper_util::rt::TokioIo::new(
            hyper::upgrade::on(response).await?,
        ))
    }

    /// GETs a `logplex_url` or an `output_stream_url` and hands each piece of text to `out` as it arrives.
    pub async fn stream(&self, url: &str, out: &mut dyn FnMut(&str)) -> anyhow::Result<()> {
        let (authority, path) = split_url(url)?;
        let authority = authority.as_str();
        let stream = tokio::net::TcpStream::connect(authority)
            .await
            .with_context(|| format!("cannot reach the log stream at {authority}"))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let request = http::Request::builder()
            .uri(&path)
            .header("host", authority)
            .body(Full::new(Bytes::new()))?;
        let mut response = sender.send_request(request).await?;
        if !response.status().is_success() {
            anyhow::bail!("the stream at {url} answered {}", response.status());
        }
        while let Some(frame) = response.body_mut().frame().await {
            if let Some(data) = frame?.data_ref() {
                out(&String::from_utf8_lossy(data));
                use std::io::Write as _;
                let _ = std::io::stdout().flush();
            }
        }
        Ok(())
    }
}

/// An `http://` URL's authority and path.
fn split_url(url: &str) -> anyhow::Result<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("unexpected URL `{url}`: Kumo's API serves http://"))?;
    Ok(rest
        .split_once('/')
        .map_or((rest.to_string(), "/".to_string()), |(a, p)| {
            (a.to_string(), format!("/{p}"))
        }))
}

fn local_admin_token() -> anyhow::Result<String> {
    let dir = match std::env::var_os("KUMO_DATA_DIR") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => dirs::data_dir().context("no data folder")?.join("kumo"),
    };
    let path = dir.join("admin-token");
    Ok(std::fs::read_to_string(&path)
        .with_context(|| format!("reading {}", path.display()))?
        .trim()
        .to_string())
}
