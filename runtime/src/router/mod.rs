//! The router: a hyper server that sends each request for `<app>.<domain>` (or a
//! custom domain) to one of the app's web dynos, adds Heroku's forwarding
//! headers, enforces Heroku's limits, answers failures with H-codes, and writes
//! one router line per request to the app's Logplex stream.
//!
//! Bodies stream both ways: the request body is read by the guest as it arrives,
//! the response body is sent as the guest writes it.
//!
//! # The request path
//!
//! 1. `Router::serve` accepts a connection (at most `max_connections`) and serves HTTP/1 with `header_timeout`.
//! 2. `Router::route` calls `admit` (`check_limits`: 414, 431 or 400; the host; a valid `X-Request-Id` or a new UUID), resolves the app with `DynoManager::app_for_host` → `HostTable::app_for` (404 "No such app"), and `forward` rewrites the headers.
//! 3. `Router::dispatch` (`hop.rs`) runs under `RouterConfig::request_timeout` (H12). `DynoManager::pick_anywhere` returns a `RouteError` (H80 maintenance, H81 nothing deployed, H14 no web dynos, H10 all crashed, H20 none up within `boot_timeout`), a `WebDyno` of this node (waking a sleeping app first), or, with several nodes, another node's web dyno, to which the request is forwarded.
//! 4. `WebDyno::handle` takes a turn and an instance; `HttpInstance::serve` calls `wasi:http/incoming-handler` under `request_deadline` and hands back the head with the spool as body. For `cgi`, `cgi::worker` runs the command and answers with a buffered body.
//! 5. `route` adds `Via` and wraps the body in `Counted`; the connection's `Activity` is watched for the idle window. A `DispatchError` (`Crashed` H13, `Deadline` H12, `BadResponse` H17, `Platform` H99) becomes `Code::page()` and an `at=error` router line.

pub mod bodies;
pub mod codes;
pub mod direct;
pub mod hop;
pub mod hosts;
pub mod idle;

use crate::dynos::RequestBody;
use crate::manager::DynoManager;
use crate::tls::{Conn, Tls};
use bodies::{ClientBody, ClientFault, Counted, PendingLine, RouterBody};
use bytes::Bytes;
use codes::{Code, RouterLine};
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use idle::Activity;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Longest request line and header line, in bytes (Heroku: 8192).
pub const MAX_LINE_BYTES: usize = 8192;
/// Most header fields in one request (Heroku: 1000).
pub const MAX_HEADERS: usize = 1000;

/// Settings of the router.
#[derive(Clone, Debug)]
pub struct RouterConfig {
    /// Time from the request reaching the dyno to the first response byte before H12. Default: 30 s.
    pub request_timeout: Duration,
    /// Once a response has begun, the time without a byte either way before the
    /// connection is closed (H15 or H28). Default: 55 s.
    pub idle_timeout: Duration,
    /// Time a client gets to send its request headers. Default: 30 s.
    pub header_timeout: Duration,
    /// Most client connections open at once. Default: 10,000.
    pub max_connections: usize,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(55),
            header_timeout: Duration::from_secs(30),
            max_connections: 10_000,
        }
    }
}

/// The HTTP/1.1 settings of every client connection: keep-alive, Heroku's header
/// count, a read buffer that holds the largest request head the limits allow,
/// and the time a client gets to send its headers. Public so the fuzz target
/// serves its inputs exactly as the router does.
#[doc(hidden)]
pub fn connection_builder(header_timeout: Duration) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .keep_alive(true)
        .max_headers(MAX_HEADERS)
        .max_buf_size(MAX_HEADERS * 64 + 2 * MAX_LINE_BYTES)
        .header_read_timeout(header_timeout);
    builder
}

/// The client end of a connection, with its address as `X-Forwarded-For` gives
/// it, written out once per connection rather than once per request.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub struct Peer {
    ip: HeaderValue,
    /// `http` or `https`: how the client reached the router.
    scheme: &'static str,
}

impl Peer {
    pub fn new(addr: SocketAddr) -> Peer {
        Peer {
            ip: HeaderValue::from_str(&addr.ip().to_string())
                .expect("an IP address is a valid header value"),
            scheme: "http",
        }
    }

    /// The same client, reached over `scheme`.
    pub fn over(self, scheme: &'static str) -> Peer {
        Peer { scheme, ..self }
    }
}

/// What the router reads from a request before it looks up the app.
#[doc(hidden)]
#[derive(Debug)]
pub struct Admitted<'a> {
    /// The authority of an absolute-form request target, or else the `Host` header.
    pub host: &'a str,
    /// The client's `X-Request-Id` if valid, else a new UUID.
    pub request_id: HeaderValue,
    /// `X-Forwarded-For` as the dyno will see it.
    pub fwd: HeaderValue,
}

/// The router's checks on a request before any app is involved: Heroku's limits,
/// one and only one `Host`; the status and text the client is refused with, or what routing needs.
/// Pure, so the fuzz target runs it on every input.
#[doc(hidden)]
pub fn admit<'a, B>(
    request: &'a Request<B>,
    peer: &Peer,
) -> Result<Admitted<'a>, (StatusCode, &'static str)> {
    if let Some(problem) = check_limits(request) {
        return Err(problem);
    }
    // An absolute-form target's authority wins over `Host` (RFC 9112 §3.2.2):
    // the app is the one the dyno will see the request addressed to.
    let host = match (
        request.uri().authority(),
        request.headers().get(header::HOST),
    ) {
        (Some(authority), _) => authority.as_str(),
        (None, Some(value)) => match value.to_str() {
            Ok(host) if !host.contains(' ') => host,
            _ => return Err((StatusCode::BAD_REQUEST, "invalid Host header\n")),
        },
        // HTTP/1.1 requires a Host (RFC 9112 §3.2); HTTP/1.0 names no app.
        (None, None) if request.version() >= http::Version::HTTP_11 => {
            return Err((StatusCode::BAD_REQUEST, "missing Host header\n"));
        }
        (None, None) => "",
    };
    let request_id = match request.headers().get(X_REQUEST_ID) {
        Some(id) if id.to_str().is_ok_and(valid_request_id) => id.clone(),
        _ => new_request_id(),
    };
    let fwd = forwarded_for(request.headers(), peer);
    Ok(Admitted {
        host,
        request_id,
        fwd,
    })
}

/// A new request id: a v4 UUID, hyphenated, written without `fmt`.
fn new_request_id() -> HeaderValue {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let id = uuid::Uuid::new_v4();
    let id = id.hyphenated().encode_lower(&mut text);
    HeaderValue::from_str(id).expect("a UUID is a valid header value")
}

/// The forwarding headers the router sets, named once.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_REQUEST_START: HeaderName = HeaderName::from_static("x-request-start");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const VIA_KUMO: HeaderValue = HeaderValue::from_static("1.1 kumo");

/// The values of the forwarding headers a request gets.
struct Forwarding {
    request_id: HeaderValue,
    /// `X-Forwarded-For`.
    fwd: HeaderValue,
    /// `X-Forwarded-Proto`: how the client reached the router.
    scheme: &'static str,
    /// `X-Request-Start`, in milliseconds since the epoch.
    start_ms: u64,
}

/// The router of one Kumo process.
pub struct Router {
    manager: Arc<DynoManager>,
    config: RouterConfig,
    /// The router's port, as `X-Forwarded-Port` gives it.
    port: HeaderValue,
    /// HTTPS on the same port, once the server gives it (`use_tls`).
    tls: OnceLock<Arc<Tls>>,
    /// The platform's answers to ACME HTTP-01 challenges (`use_acme_answers`).
    acme: OnceLock<Arc<dyn AcmeAnswers>>,
    /// The channel to other nodes' routers, when nodes share the ledger (`use_channel`).
    channel: OnceLock<Arc<hop::NodeChannel>>,
}

/// Where ACME's HTTP-01 validation asks for a token's answer.
const ACME_CHALLENGE_PATH: &str = "/.well-known/acme-challenge/";

/// The answers the platform gives ACME servers validating its domains.
#[async_trait::async_trait]
pub trait AcmeAnswers: Send + Sync {
    /// The key authorization for `token`, while an order waits for it.
    async fn answer(&self, token: &str) -> Option<String>;
}

impl Router {
    pub fn new(manager: Arc<DynoManager>, config: RouterConfig, port: u16) -> Arc<Router> {
        manager.set_router_port(port);
        Arc::new(Router {
            manager,
            config,
            port: HeaderValue::from(port),
            tls: OnceLock::new(),
            acme: OnceLock::new(),
            channel: OnceLock::new(),
        })
    }

    /// Forwards requests for dynos other nodes run through `channel`, and
    /// serves the requests other nodes forward here ([`hop`]).
    pub fn use_channel(&self, channel: Arc<hop::NodeChannel>) {
        let _ = self.channel.set(channel);
    }

    /// Answers ACME HTTP-01 challenges for the platform's automated
    /// certificates; a token it does not know goes to the app, as any request.
    pub fn use_acme_answers(&self, answers: Arc<dyn AcmeAnswers>) {
        let _ = self.acme.set(answers);
    }

    /// Takes TLS connections too: a connection that starts with a TLS
    /// handshake is served over HTTPS, any other as plain HTTP.
    pub fn use_tls(&self, tls: Arc<Tls>) {
        let _ = self.tls.set(tls);
    }

    /// Accepts connections on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        let connections = Arc::new(Semaphore::new(self.config.max_connections));
        loop {
            let Ok(permit) = connections.clone().acquire_owned().await else {
                return;
            };
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "router accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let router = self.clone();
            let header_timeout = self.config.header_timeout;
            let idle_timeout = self.config.idle_timeout;
            let peer = Peer::new(peer);
            let activity = Arc::new(Activity::default());
            tokio::spawn(async move {
                let stream = match router.tls.get() {
                    Some(tls) => match tls.accept(stream).await {
                        Ok(stream) => stream,
                        Err(e) => {
                            tracing::debug!(error = %e, "router TLS handshake failed");
                            return;
                        }
                    },
                    None => Conn::Plain(stream),
                };
                let peer = peer.over(stream.scheme());
                let watched = activity.clone();
                let service = hyper::service::service_fn(move |req| {
                    let router = router.clone();
                    let peer = peer.clone();
                    let activity = activity.clone();
                    async move { Ok::<_, Infallible>(router.route(req, &peer, activity).await) }
                });
                let connection = connection_builder(header_timeout)
                    .serve_connection(TokioIo::new(stream), service);
                // A response that moves no byte for the idle window loses its
                // connection: dropping it drops the response, whose line says why.
                tokio::select! {
                    _ = connection => {}
                    _ = watched.watch(idle_timeout) => {}
                }
                drop(permit);
            });
        }
    }

    /// Routes one request and returns what the client gets.
    pub async fn route(
        &self,
        request: Request<Incoming>,
        peer: &Peer,
        activity: Arc<Activity>,
    ) -> Response<RouterBody> {
        if let Some(channel) = self.channel.get()
            && request.headers().contains_key("kumo-node-token")
        {
            return self.route_hop(channel, request, peer).await;
        }
        let started = Instant::now();
        let request_start_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let (app, line, request_id, fwd) = {
            let Admitted {
                host,
                request_id,
                fwd,
            } = match admit(&request, peer) {
                Ok(admitted) => admitted,
                Err((status, text)) => return plain(status, text),
            };
            if let Some(token) = request.uri().path().strip_prefix(ACME_CHALLENGE_PATH)
                && let Some(answers) = self.acme.get()
                && let Some(answer) = answers.answer(token).await
            {
                let mut response = plain(StatusCode::OK, "");
                *response.body_mut() = RouterBody::Page(Full::new(Bytes::from(answer)));
                return response;
            }
            let Some(app) = self.manager.app_for_host(host) else {
                return html(StatusCode::NOT_FOUND, codes::no_such_app_page());
            };
            let path = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
            let mut line = RouterLine::new(
                request.method().as_str(),
                path,
                host,
                request_id.to_str().unwrap_or_default(),
                fwd.to_str().unwrap_or_default(),
            );
            line.protocol = peer.scheme;
            (app, line, request_id, fwd)
        };
        let client_fault = Arc::new(OnceLock::new());
        let head_only = request.method() == http::Method::HEAD;
        let forwarded = self.forward(
            request,
            Forwarding {
                request_id,
                fwd,
                scheme: peer.scheme,
                start_ms: request_start_ms,
            },
            client_fault.clone(),
            activity.clone(),
        );
        // If the client goes away while we wait, this logs H27 when the future is dropped.
        let mut pending = PendingLine {
            manager: &self.manager,
            app,
            line: Some(line),
            started,
        };
        let dispatch = self.dispatch(&pending.app, forwarded, Some(Vec::new()), 0);
        let outcome = tokio::time::timeout(self.config.request_timeout, dispatch).await;
        let mut line = pending.line.take().expect("the line is taken only here");
        let app = pending.app.clone();
        line.service_ms = started.elapsed().as_millis();
        let failure = match outcome {
            Ok(Ok((dyno, response))) => {
                line.dyno = dyno;
                line.status = response.status().as_u16();
                let (mut parts, body) = response.into_parts();
                parts.headers.append(header::VIA, VIA_KUMO);
                let has_body = !head_only
                    && !matches!(
                        parts.status,
                        StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED
                    );
                let log = (self.manager.clone(), app, line, started);
                let body = Counted::new(body, has_body, client_fault, activity, log);
                return Response::from_parts(parts, RouterBody::Dyno(body));
            }
            Ok(Err(hop::Failed::NoSuchApp)) => {
                return html(StatusCode::NOT_FOUND, codes::no_such_app_page());
            }
            Ok(Err(hop::Failed::Code(dyno, code))) => {
                if let Some(dyno) = dyno {
                    line.dyno = dyno;
                }
                code
            }
            Err(_) => Code::H12,
        };
        // A dyno that failed because the client's body did is the client's fault.
        let failure = match client_fault.get() {
            Some(fault) if failure != Code::H12 => {
                line.cause = fault.cause();
                fault.code()
            }
            _ => failure,
        };
        line.code = Some(failure);
        line.status = failure.status();
        bodies::emit(&self.manager, &app, line);
        html(
            StatusCode::from_u16(failure.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            failure.page(),
        )
    }

    /// The request as the dyno sees it: Heroku's forwarding headers added, hop-by-hop headers removed.
    fn forward(
        &self,
        request: Request<Incoming>,
        Forwarding {
            request_id,
            fwd,
            scheme,
            start_ms,
        }: Forwarding,
        fault: Arc<OnceLock<ClientFault>>,
        activity: Arc<Activity>,
    ) -> Request<RequestBody> {
        let (mut parts, body) = request.into_parts();
        let headers = &mut parts.headers;
        // An absolute-form target names the app (RFC 9112 §3.2.2): the dyno sees
        // that authority as its `Host` too, never a `Host` that disagrees.
        if let Some(authority) = parts.uri.authority()
            && let Ok(host) = HeaderValue::from_str(authority.as_str())
        {
            headers.insert(header::HOST, host);
        }
        // Most requests carry none of these: one pass over the names spares a
        // lookup of each in every request.
        if headers.keys().any(is_hop_by_hop) {
            // Both framings sent: chunked wins (as on Heroku, RFC 9112 §6.3), so the
            // dyno must not see a `Content-Length` that disagrees with its body.
            if headers.contains_key(header::TRANSFER_ENCODING) {
                headers.remove(header::CONTENT_LENGTH);
            }
            for hop in &HOP_BY_HOP {
                headers.remove(hop);
            }
        }
        // Room for the six below at once, instead of the map growing as they come.
        headers.reserve(6);
        headers.insert(X_FORWARDED_FOR, fwd);
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(scheme));
        headers.insert(X_FORWARDED_PORT, self.port.clone());
        headers.insert(X_REQUEST_ID, request_id);
        headers.insert(X_REQUEST_START, HeaderValue::from(start_ms));
        headers.append(header::VIA, VIA_KUMO);
        let body = ClientBody {
            inner: body,
            fault,
            activity,
        };
        Request::from_parts(parts, body.boxed_unsync())
    }
}

/// The headers of one connection hop that the router drops (RFC 9110 §7.6.1).
static HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
];

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.iter().any(|hop| hop == name)
}

/// Heroku's limits on the request line and header lines; `None` if the request is within them.
fn check_limits<B>(request: &Request<B>) -> Option<(StatusCode, &'static str)> {
    let line = request.method().as_str().len() + target_len(request.uri()) + " HTTP/1.1".len() + 1;
    if line > MAX_LINE_BYTES {
        return Some((
            StatusCode::URI_TOO_LONG,
            "request line too long: the limit is 8192 bytes\n",
        ));
    }
    if request
        .headers()
        .iter()
        .any(|(name, value)| name.as_str().len() + 2 + value.len() > MAX_LINE_BYTES)
    {
        return Some((
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "header line too long: the limit is 8192 bytes per header\n",
        ));
    }
    if request.headers().get_all(header::HOST).iter().count() > 1 {
        return Some((StatusCode::BAD_REQUEST, "more than one Host header\n"));
    }
    None
}

/// The length of the request target as the client sent it (`Uri`'s `Display`), without formatting it.
fn target_len(uri: &http::Uri) -> usize {
    let scheme = uri.scheme_str().map_or(0, |s| s.len() + "://".len());
    let authority = uri.authority().map_or(0, |a| a.as_str().len());
    let path = match uri.path_and_query() {
        Some(pq) => pq.as_str().len(),
        None if scheme + authority > 0 => 0,
        None => "/".len(),
    };
    scheme + authority + path
}

/// Keeps a client's `X-Request-Id` if it is 20 to 200 characters of `[A-Za-z0-9+/=-]`.
pub fn valid_request_id(id: &str) -> bool {
    (20..=200).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-'))
}

/// `X-Forwarded-For` as the dyno sees it: the client's own list, if it sent one,
/// with the peer's address appended (as Heroku does).
fn forwarded_for(headers: &http::HeaderMap, peer: &Peer) -> HeaderValue {
    match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(existing) if !existing.trim().is_empty() => {
            let ip = peer.ip.to_str().unwrap_or_default();
            HeaderValue::from_str(&format!("{}, {ip}", existing.trim()))
                .unwrap_or_else(|_| peer.ip.clone())
        }
        _ => peer.ip.clone(),
    }
}

fn html(status: StatusCode, page: String) -> Response<RouterBody> {
    let mut response = Response::new(RouterBody::Page(Full::new(Bytes::from(page))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store"),
    );
    response.headers_mut().insert(header::VIA, VIA_KUMO);
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<RouterBody> {
    let mut response = Response::new(RouterBody::Page(Full::new(Bytes::from_static(
        text.as_bytes(),
    ))));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        assert!(valid_request_id("abcdefghij0123456789"));
        assert!(valid_request_id(&"a".repeat(200)));
        assert!(!valid_request_id("short"));
        assert!(!valid_request_id(&"a".repeat(201)));
        assert!(!valid_request_id("abcdefghij0123456789 with space"));
        assert!(valid_request_id("f9ed4675-f4f1-4a4e-9a8d-12d6e9f6bca7"));
    }

    #[test]
    fn limits() {
        let ok = Request::get("/")
            .header("host", "a.localhost")
            .body(())
            .unwrap();
        assert_eq!(check_limits(&ok), None);
        let long = Request::get(format!("/{}", "x".repeat(8200)))
            .body(())
            .unwrap();
        assert_eq!(
            check_limits(&long).map(|p| p.0),
            Some(StatusCode::URI_TOO_LONG)
        );
        let big = Request::get("/")
            .header("x-big", "y".repeat(8191))
            .body(())
            .unwrap();
        assert_eq!(
            check_limits(&big).map(|p| p.0),
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
        let two = Request::get("/")
            .header("host", "a")
            .header("host", "b")
            .body(())
            .unwrap();
        assert_eq!(
            check_limits(&two).map(|p| p.0),
            Some(StatusCode::BAD_REQUEST)
        );
    }

    #[test]
    fn hosts_admitted() {
        let peer = Peer::new("127.0.0.2:5555".parse().unwrap());
        let check = |request: Request<()>, expected: Result<&str, StatusCode>| {
            let got = admit(&request, &peer)
                .map(|a| a.host.to_string())
                .map_err(|r| r.0);
            assert_eq!(got.as_deref().map_err(|s| *s), expected, "{request:?}");
        };
        let get = || Request::get("/");
        check(
            get().header("host", "a.localhost").body(()).unwrap(),
            Ok("a.localhost"),
        );
        check(get().body(()).unwrap(), Err(StatusCode::BAD_REQUEST));
        check(
            get().version(http::Version::HTTP_10).body(()).unwrap(),
            Ok(""),
        );
        check(get().header("host", "").body(()).unwrap(), Ok(""));
        check(
            get()
                .header("host", HeaderValue::from_bytes(b"a\xff").unwrap())
                .body(())
                .unwrap(),
            Err(StatusCode::BAD_REQUEST),
        );
        check(
            get().header("host", "a b").body(()).unwrap(),
            Err(StatusCode::BAD_REQUEST),
        );
        check(
            Request::get("http://b.localhost/").body(()).unwrap(),
            Ok("b.localhost"),
        );
        // The target's authority wins over the Host header.
        check(
            Request::get("http://b.localhost/x")
                .header("host", "a.localhost")
                .body(())
                .unwrap(),
            Ok("b.localhost"),
        );
    }

    #[test]
    fn target_lengths() {
        for target in [
            "/",
            "/a/b?c=d",
            "*",
            "http://b.localhost/x?y",
            "http://b.localhost",
            "b.localhost:443",
            "http://[::1]:8080/p",
        ] {
            let uri: http::Uri = target.parse().unwrap();
            assert_eq!(target_len(&uri), uri.to_string().len(), "{target}");
        }
    }

    #[test]
    fn forwarded() {
        let peer = Peer::new("127.0.0.2:5555".parse().unwrap());
        let mut headers = http::HeaderMap::new();
        assert_eq!(forwarded_for(&headers, &peer), "127.0.0.2");
        headers.insert("x-forwarded-for", HeaderValue::from_static("10.1.1.1"));
        assert_eq!(forwarded_for(&headers, &peer), "10.1.1.1, 127.0.0.2");
        headers.insert("x-forwarded-for", HeaderValue::from_static("   "));
        assert_eq!(forwarded_for(&headers, &peer), "127.0.0.2");
    }

    #[test]
    fn request_ids_admitted() {
        let peer = Peer::new("127.0.0.2:5555".parse().unwrap());
        let kept = "f9ed4675-f4f1-4a4e-9a8d-12d6e9f6bca7";
        let request = Request::get("/")
            .header("host", "a.localhost")
            .header("x-request-id", kept)
            .body(())
            .unwrap();
        assert_eq!(admit(&request, &peer).unwrap().request_id, kept);
        let request = Request::get("/")
            .header("host", "a.localhost")
            .header("x-request-id", "short")
            .body(())
            .unwrap();
        let made = admit(&request, &peer).unwrap().request_id;
        let made = made.to_str().unwrap();
        assert!(
            uuid::Uuid::parse_str(made).is_ok() && made.len() == 36,
            "{made}"
        );
        assert_ne!(made, "short");
    }
}
