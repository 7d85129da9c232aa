//! Syslog drains: one TCP (or TLS) connection per drain, frames written as
//! lines arrive, the connection made again with backoff when it drops.

use super::{backoff, frame, gather};
use crate::logplex::LogLine;
use std::sync::Arc;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Frames written at once at most, when many lines are waiting.
const BATCH_BYTES: usize = 64 * 1024;
/// How long a connection may take to be made.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Conn {
    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
            Conn::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
        }
    }

    /// Whether the receiver has hung up. A receiver never speaks, so anything
    /// it sends (TLS tickets) is read and left; an end of stream means gone.
    fn hung_up(&self) -> bool {
        let tcp = match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.get_ref().0,
        };
        let mut buf = [0u8; 512];
        loop {
            match tcp.try_read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
                Err(_) => return true,
            }
        }
    }
}

async fn connect(
    host: &str,
    port: u16,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> anyhow::Result<Conn> {
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port))).await??;
    let _ = tcp.set_nodelay(true);
    let Some(tls) = tls else {
        return Ok(Conn::Plain(tcp));
    };
    let name = rustls_pki_types::ServerName::try_from(host.to_string())?;
    let stream = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio_rustls::TlsConnector::from(tls.clone()).connect(name, tcp),
    )
    .await??;
    Ok(Conn::Tls(Box::new(stream)))
}

/// Sends `lines` to `host:port` until the drain is removed.
pub async fn deliver(
    mut lines: mpsc::Receiver<Arc<LogLine>>,
    host: String,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
    token: String,
) {
    // Frames taken from the queue and not yet written: kept across reconnections.
    let mut held: Vec<u8> = Vec::new();
    let mut attempt = 0;
    loop {
        let mut conn = match connect(&host, port, tls.as_ref()).await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::debug!(%host, port, error = %e, "syslog drain unreachable");
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
                continue;
            }
        };
        attempt = 0;
        loop {
            if held.is_empty() {
                let write = |out: &mut Vec<u8>, line: &LogLine| frame::syslog(out, line, &token);
                if gather(&mut lines, &mut held, BATCH_BYTES, write)
                    .await
                    .is_none()
                {
                    return;
                }
            }
            if conn.hung_up() || conn.write(&held).await.is_err() {
                break;
            }
            held.clear();
        }
    }
}
