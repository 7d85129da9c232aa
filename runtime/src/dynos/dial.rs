//! How a dyno's allowed outgoing HTTP request reaches its server: Kumo resolves
//! the host itself, drops the addresses the dyno may not dial
//! ([`Outbound::may_dial`]) and connects to one that is left, so the address
//! checked is the address dialled, and a listed name that resolves, or later
//! rebinds, to loopback or a private network reaches nothing there.
//!
//! The rest is wasmtime-wasi-http's `default_send_request`, which dials the
//! name itself and so cannot be used: its connect, first-byte and between-bytes
//! timeouts (600 s each unless the request's options say otherwise), TLS with
//! rustls, ring and the webpki roots for `https`, an HTTP/1 connection per
//! request, and its errors, which wasmtime-wasi-http maps to the guest's
//! `error-code`s. Kumo adds `DestinationIpProhibited` when every address the
//! host has is off limits.

use super::outbound::{Outbound, ip_literal};
use bytes::Bytes;
use http::uri::Scheme;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// wasmtime-wasi-http's default for each timeout a request's options leave unset.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Sends `request`, which `outbound` allows, to an address of its host the dyno
/// may dial. Returns the response and the future of the connection that
/// carries its body (it must be polled for the body to arrive).
pub async fn send_request(
    outbound: &Outbound,
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<
    (
        http::Response<ResponseBody>,
        impl Future<Output = Result<(), Error>> + Send + use<>,
    ),
    Error,
> {
    let uri = request.uri();
    let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?;
    let use_tls = uri.scheme() == Some(&Scheme::HTTPS);
    let host = authority.host().to_string();
    let port = authority
        .port_u16()
        .unwrap_or(if use_tls { 443 } else { 80 });
    // The request line carries the path alone: scheme and authority are for proxies.
    let path = uri
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    let target = http::Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    *request.uri_mut() = target;
    let timeout = |pick: fn(&RequestOptions) -> Option<Duration>| {
        options.as_ref().and_then(pick).unwrap_or(DEFAULT_TIMEOUT)
    };
    let connect_timeout = timeout(|o| o.connect_timeout);
    let first_byte_timeout = timeout(|o| o.first_byte_timeout);
    // Tokio panics on an interval of zero; 1 ns is as good as none.
    let between_bytes_timeout = timeout(|o| o.between_bytes_timeout).max(Duration::from_nanos(1));

    let stream = tokio::time::timeout(connect_timeout, connect(outbound, &host, port))
        .await
        .map_err(|_| Error::ConnectionTimeout)??;
    let stream: Box<dyn Stream> = if use_tls {
        // Under the connect timeout too, which the default leaves unbounded.
        tokio::time::timeout(connect_timeout, tls(stream, &host))
            .await
            .map_err(|_| Error::ConnectionTimeout)??
    } else {
        Box::new(stream)
    };
    let (mut sender, conn) = tokio::time::timeout(
        connect_timeout,
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| Error::ConnectionTimeout)??;

    let send = async move {
        let response = tokio::time::timeout(first_byte_timeout, sender.send_request(request))
            .await
            .map_err(|_| Error::ConnectionReadTimeout)??;
        let mut between_bytes = tokio::time::interval(between_bytes_timeout);
        between_bytes.reset();
        Ok::<_, Error>(response.map(|incoming| ResponseBody {
            incoming,
            between_bytes,
        }))
    };
    // Wait for the response head while driving the connection.
    let mut send = pin!(send);
    let mut conn = Some(conn);
    let response = poll_fn(|cx| match send.as_mut().poll(cx) {
        Poll::Ready(result) => Poll::Ready(result),
        Poll::Pending => {
            let Some(running) = conn.as_mut() else {
                return Poll::Pending;
            };
            let done = ready!(Pin::new(running).poll(cx));
            conn = None;
            match done {
                Ok(()) => send.as_mut().poll(cx),
                Err(e) => Poll::Ready(Err(Error::from(e))),
            }
        }
    })
    .await?;
    let io = async move {
        match conn {
            Some(conn) => conn.await.map_err(|e| {
                if e.is_timeout() {
                    Error::HttpResponseTimeout
                } else {
                    Error::from(e)
                }
            }),
            None => Ok(()),
        }
    };
    Ok((response, io))
}

/// A response body that fails with `ConnectionReadTimeout` when no frame comes
/// within the between-bytes timeout.
pub struct ResponseBody {
    incoming: hyper::body::Incoming,
    between_bytes: tokio::time::Interval,
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) if e.is_timeout() => {
                Poll::Ready(Some(Err(Error::HttpResponseTimeout)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::from(e)))),
            Poll::Ready(Some(Ok(frame))) => {
                self.between_bytes.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(self.between_bytes.poll_tick(cx));
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}

/// A TCP connection to `host` (a name, or an IP literal in any form the
/// allow-list reads) on `port`, to the first of its addresses the dyno may dial
/// that answers, tried in the resolver's order.
async fn connect(outbound: &Outbound, host: &str, port: u16) -> Result<TcpStream, Error> {
    let addrs: Vec<SocketAddr> = match ip_literal(host) {
        Some(ip) => vec![SocketAddr::new(ip, port)],
        None => tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| dns_error())?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(dns_error());
    }
    let mut failed = None;
    for addr in addrs.into_iter().filter(|a| outbound.may_dial_addr(*a)) {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => failed = Some(e),
        }
    }
    Err(failed.map_or(Error::DestinationIpProhibited, Error::Connect))
}

/// What the default sender's failed lookups become for the guest.
fn dns_error() -> Error {
    Error::DnsError {
        rcode: Some("address not available".to_string()),
        info_code: None,
    }
}

/// `stream` wrapped in TLS for `host`: an IP literal is checked against the
/// certificate's IP addresses, a name against its DNS names.
async fn tls(stream: TcpStream, host: &str) -> Result<Box<dyn Stream>, Error> {
    use rustls::pki_types::ServerName;
    let name = match ip_literal(host) {
        Some(ip) => ServerName::from(ip),
        None => ServerName::try_from(host.to_string())?,
    };
    let stream = tokio_rustls::TlsConnector::from(tls_config())
        .connect(name, stream)
        .await
        .map_err(Error::Tls)?;
    Ok(Box::new(stream))
}

/// The default sender's client configuration (ring, TLS 1.2 and 1.3, the
/// webpki roots), made once. The provider is named, not left to rustls's
/// process default, which this build cannot choose alone: its rustls has both
/// ring and aws-lc-rs, and `ClientConfig::builder` panics on that.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.into(),
            };
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// A connection, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}

impl<T> Stream for T where T: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynos::outbound::AllowedHosts;
    use http_body_util::BodyExt as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A GET of `url` from a dyno allowing `allowed`, on a server that allows
    /// private outbound or not: the status and body, or the error.
    async fn get(allowed: &str, private: bool, url: &str) -> Result<(u16, String), Error> {
        let hosts = AllowedHosts::parse(allowed).expect("test list");
        let (outbound, _) = Outbound::resolve(hosts, None, private).await;
        let body = http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        let request = http::Request::get(url).body(body).expect("test request");
        let (response, io) = send_request(&outbound, request, None).await?;
        tokio::spawn(io);
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// A loopback server that answers one request per connection with `hi`.
    async fn server() -> tokio::net::TcpListener {
        tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind")
    }

    async fn answer(listener: &tokio::net::TcpListener) -> String {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0];
            if stream.read(&mut byte).await.expect("read") == 0 {
                break;
            }
            head.push(byte[0]);
        }
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi")
            .await
            .expect("write");
        String::from_utf8_lossy(&head).into_owned()
    }

    async fn nothing_connects(listener: &tokio::net::TcpListener) {
        let accepted = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
        assert!(accepted.is_err(), "a refused request connected");
    }

    #[tokio::test]
    async fn off_limits_addresses_are_refused_without_a_connection() {
        let listener = server().await;
        let port = listener.local_addr().expect("addr").port();
        for (allowed, url) in [
            (
                format!("127.0.0.1:{port}"),
                format!("http://127.0.0.1:{port}/"),
            ),
            (format!("127.0.0.1:{port}"), format!("http://127.1:{port}/")),
            (
                format!("127.0.0.1:{port}"),
                format!("http://[::ffff:127.0.0.1]:{port}/"),
            ),
            (
                format!("localhost:{port}"),
                format!("http://localhost:{port}/"),
            ),
            ("*".to_string(), format!("http://localhost:{port}/")),
            ("*".to_string(), format!("https://127.0.0.1:{port}/")),
        ] {
            let result = get(&allowed, false, &url).await;
            assert!(
                matches!(result, Err(Error::DestinationIpProhibited)),
                "{allowed:?} {url}: {result:?}"
            );
        }
        nothing_connects(&listener).await;
    }

    #[tokio::test]
    async fn a_server_that_allows_private_outbound_reaches_them() {
        let listener = server().await;
        let port = listener.local_addr().expect("addr").port();
        for (allowed, url) in [
            (
                format!("127.0.0.1:{port}"),
                format!("http://127.0.0.1:{port}/a?b"),
            ),
            ("*".to_string(), format!("http://localhost:{port}/c")),
        ] {
            let (result, head) = tokio::join!(get(&allowed, true, &url), answer(&listener));
            let (status, body) = result.expect("reached");
            assert_eq!((status, body.as_str()), (200, "hi"), "{url}");
            // The request line holds the path alone, and Host is the guest's.
            let path = url.split_once(&format!("{port}")).expect("port").1;
            assert!(
                head.starts_with(&format!("GET {path} HTTP/1.1\r\n")),
                "{head}"
            );
        }
    }

    #[tokio::test]
    async fn https_is_tls_to_the_address_dialled() {
        // The server closes at once: the handshake fails as TLS, no panic.
        let listener = server().await;
        let port = listener.local_addr().expect("addr").port();
        let closing = async {
            let (stream, _) = listener.accept().await.expect("accept");
            drop(stream);
        };
        let url = format!("https://localhost:{port}/");
        let (result, ()) = tokio::join!(get("*", true, &url), closing);
        assert!(matches!(result, Err(Error::Tls(_))), "{result:?}");
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_is_a_dns_error() {
        let result = get("*", false, "http://nowhere.invalid/").await;
        assert!(matches!(result, Err(Error::DnsError { .. })), "{result:?}");
    }
}
