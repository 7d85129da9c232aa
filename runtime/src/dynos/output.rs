//! A dyno's stdout and stderr: split into lines and appended to the app's Logplex
//! stream as `app[web.1]`. Writing never waits on a log reader.
//!
//! A dyno may log [`LOG_BURST`] lines at once and [`LOG_RATE`] a second after
//! that; lines past the rate are dropped and counted, and once the dyno may log
//! again Kumo writes Heroku's `Error L10 (output buffer overflow): N messages
//! dropped since …`. So a guest flooding stdout costs the host a bounded amount
//! of work per second and cannot push its neighbours' lines out of their streams.

use crate::logplex::{AppLog, MAX_LINE_BYTES, Source};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;
use time::OffsetDateTime;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Bytes a guest may hand over in one write (what wasmtime-wasi allows a read).
const WRITE_PERMIT: usize = 64 * 1024;

/// The stdout or stderr of one dyno. Clones share the partial-line buffer, so a
/// line written in pieces through several streams still comes out whole.
#[derive(Clone)]
pub struct LogOutput {
    log: Arc<AppLog>,
    dyno: Arc<str>,
    pending: Arc<Mutex<Vec<u8>>>,
    rate: Arc<Mutex<LogRate>>,
}

/// Lines a dyno may log per second, on average (Heroku's Logplex drops past a
/// drain buffer of 1024 lines; this is the same order).
pub const LOG_RATE: f64 = 1000.0;
/// Lines a dyno may log at once, before [`LOG_RATE`] applies.
pub const LOG_BURST: f64 = 1024.0;

/// A token bucket of log lines, with what it dropped.
struct LogRate {
    tokens: f64,
    refilled: Instant,
    dropped: u64,
    since: Option<OffsetDateTime>,
}

impl LogRate {
    fn new() -> LogRate {
        LogRate {
            tokens: LOG_BURST,
            refilled: Instant::now(),
            dropped: 0,
            since: None,
        }
    }

    /// Takes one line's token; false if the line is to be dropped.
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let earned = now.duration_since(self.refilled).as_secs_f64() * LOG_RATE;
        self.tokens = (self.tokens + earned).min(LOG_BURST);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            self.dropped += 1;
            self.since.get_or_insert_with(OffsetDateTime::now_utc);
            false
        }
    }
}

impl LogOutput {
    pub fn new(log: Arc<AppLog>, dyno: &str) -> LogOutput {
        LogOutput {
            log,
            dyno: dyno.into(),
            pending: Arc::default(),
            rate: Arc::new(Mutex::new(LogRate::new())),
        }
    }

    /// Another stream of the same dyno (its stderr): its own partial line, the same rate.
    pub fn sibling(&self) -> LogOutput {
        LogOutput {
            log: self.log.clone(),
            dyno: self.dyno.clone(),
            pending: Arc::default(),
            rate: self.rate.clone(),
        }
    }

    fn write_bytes(&self, mut buf: &[u8]) {
        let mut pending = self.pending.lock().expect("output lock poisoned");
        while let Some(newline) = buf.iter().position(|&b| b == b'\n') {
            pending.extend_from_slice(&buf[..newline]);
            self.emit(&mut pending);
            buf = &buf[newline + 1..];
        }
        pending.extend_from_slice(buf);
        if pending.len() >= MAX_LINE_BYTES {
            self.emit(&mut pending);
        }
    }

    fn emit(&self, pending: &mut Vec<u8>) {
        let overflow = {
            let mut rate = self.rate.lock().expect("log rate lock poisoned");
            if !rate.take() {
                pending.clear();
                return;
            }
            match rate.since.take() {
                Some(since) if rate.tokens >= 1.0 => {
                    rate.tokens -= 1.0;
                    Some((std::mem::take(&mut rate.dropped), since))
                }
                since => {
                    rate.since = since;
                    None
                }
            }
        };
        if let Some((dropped, since)) = overflow {
            let since = since
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            self.log.log(
                Source::Kumo,
                &self.dyno,
                &format!(
                    "Error L10 (output buffer overflow): {dropped} messages dropped since {since}"
                ),
            );
        }
        let text = String::from_utf8_lossy(pending);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        self.log.log(Source::App, &self.dyno, text);
        pending.clear();
    }

    /// Writes out a last line that had no newline.
    pub fn flush_partial(&self) {
        let mut pending = self.pending.lock().expect("output lock poisoned");
        if !pending.is_empty() {
            self.emit(&mut pending);
        }
    }
}

impl IsTerminal for LogOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    /// The guest's writes go straight to the log, on the guest's own task. (The
    /// default adapter hands every write to a task of its own and waits for it:
    /// two task switches per `println!`, which a guest logging a line per request,
    /// or flooding stdout, pays in full and makes its neighbours pay too.)
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl OutputStream for LogOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

#[async_trait::async_trait]
impl Pollable for LogOutput {
    async fn ready(&mut self) {}
}

impl AsyncWrite for LogOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write_bytes(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logplex::Filter;

    #[test]
    fn lines_are_joined_across_writes_and_split_on_newlines() {
        let log = Arc::new(AppLog::default());
        let out = LogOutput::new(log.clone(), "web.1");
        out.write_bytes(b"hel");
        out.clone().write_bytes(b"lo\r\nsecond\nthi");
        out.flush_partial();
        let lines: Vec<String> = log
            .recent(10, &Filter::default())
            .into_iter()
            .map(|l| format!("{}:{}", l.dyno, l.text))
            .collect();
        assert_eq!(lines, ["web.1:hello", "web.1:second", "web.1:thi"]);
    }

    #[test]
    fn a_flood_past_the_burst_is_dropped_and_counted_with_l10() {
        let log = Arc::new(AppLog::default());
        let out = LogOutput::new(log.clone(), "web.1");
        let burst = LOG_BURST as usize;
        for n in 0..burst + 500 {
            out.write_bytes(format!("line {n}\n").as_bytes());
        }
        // 500 lines over the burst were dropped (a few may have been earned back meanwhile).
        let kept = log.recent(5000, &Filter::default()).len();
        assert!((burst..burst + 100).contains(&kept), "{kept}");
        std::thread::sleep(std::time::Duration::from_millis(20));
        out.write_bytes(b"after\n");
        let lines: Vec<String> = log
            .recent(2, &Filter::default())
            .into_iter()
            .map(|l| l.text)
            .collect();
        assert!(
            lines[0].starts_with("Error L10 (output buffer overflow): ")
                && lines[0].contains(" messages dropped since "),
            "{lines:?}"
        );
        assert_eq!(lines[1], "after");
    }
}
