//! The API's listener: plain HTTP and HTTPS on one port (git over HTTPS as
//! Heroku's CLI writes remotes, `https://HOST/APP.git`), and Heroku's
//! rendezvous for `heroku run`: a TLS connection whose first line is a
//! secret rather than an HTTP request line.

use super::Platform;
use crate::tls::{Conn, Rewound, Tls};
use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// How long a TLS client may take to say what it wants.
const FIRST_LINE_TIMEOUT: Duration = Duration::from_secs(30);
/// A first line longer than this is HTTP's to judge (a secret is 32 characters).
const FIRST_LINE_MAX: usize = 256;

/// The connections for the API's HTTP server, handshakes done.
pub struct ApiListener {
    connections: mpsc::Receiver<(Rewound<Conn>, SocketAddr)>,
    local: SocketAddr,
}

/// Accepts on `listener`, with TLS if `tls` is given.
pub fn listen(
    listener: TcpListener,
    tls: Option<Arc<Tls>>,
    platform: Arc<Platform>,
) -> ApiListener {
    let local = listener
        .local_addr()
        .expect("a bound listener has an address");
    let (tx, connections) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "API accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let (tls, platform, tx) = (tls.clone(), platform.clone(), tx.clone());
            // Handshakes run beside each other, so a slow client holds up no other.
            tokio::spawn(async move {
                let conn = match tls {
                    Some(tls) => match tls.accept(stream).await {
                        Ok(conn) => conn,
                        Err(e) => {
                            tracing::debug!(error = %e, "API TLS handshake failed");
                            return;
                        }
                    },
                    None => Conn::Plain(stream),
                };
                let conn = match conn {
                    Conn::Plain(_) => Rewound::new(Bytes::new(), conn),
                    Conn::Tls(_) => match first_line(conn).await {
                        Some(First::Http(conn)) => conn,
                        Some(First::Rendezvous(secret, conn)) => {
                            super::run::rendezvous(platform, &secret, conn).await;
                            return;
                        }
                        None => return,
                    },
                };
                let _ = tx.send((conn, peer)).await;
            });
        }
    });
    ApiListener { connections, local }
}

impl axum::serve::Listener for ApiListener {
    type Io = Rewound<Conn>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.connections.recv().await {
            Some(connection) => connection,
            // The accepting task ends only with the runtime.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

enum First {
    Http(Rewound<Conn>),
    Rendezvous(String, Rewound<Conn>),
}

/// Reads until the first line shows what the client speaks: an HTTP request
/// line has a space before its end; a rendezvous secret has none.
async fn first_line(mut conn: Conn) -> Option<First> {
    let mut seen = BytesMut::with_capacity(FIRST_LINE_MAX);
    let read = async {
        loop {
            if let Some(end) = seen.windows(2).position(|w| w == b"\r\n") {
                return seen[..end].contains(&b' ');
            }
            // heroku3 sends the secret alone, without a line end.
            if is_secret(&seen) {
                return false;
            }
            if seen.contains(&b' ') || seen.len() >= FIRST_LINE_MAX {
                return true;
            }
            match conn.read_buf(&mut seen).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    };
    let http = tokio::time::timeout(FIRST_LINE_TIMEOUT, read).await.ok()?;
    if http {
        return Some(First::Http(Rewound::new(seen.freeze(), conn)));
    }
    let (end, skip) = match seen.windows(2).position(|w| w == b"\r\n") {
        Some(end) => (end, 2),
        None => (seen.len(), 0),
    };
    let secret = String::from_utf8_lossy(&seen[..end]).into_owned();
    let rest = seen.split_off(end + skip).freeze();
    Some(First::Rendezvous(secret, Rewound::new(rest, conn)))
}

/// Whether `bytes` are a whole attach secret (32 hexadecimal digits), which
/// no HTTP request line is.
fn is_secret(bytes: &[u8]) -> bool {
    bytes.len() == 32 && bytes.iter().all(|b| b.is_ascii_hexdigit())
}
