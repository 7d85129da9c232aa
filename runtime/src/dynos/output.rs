//! A dyno's stdout and stderr: split into lines and appended to the app's Logplex
//! stream as `app[web.1]`. Writing never waits on a log reader.

use crate::logplex::{AppLog, MAX_LINE_BYTES, Source};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// The stdout or stderr of one dyno. Clones share the partial-line buffer, so a
/// line written in pieces through several streams still comes out whole.
#[derive(Clone)]
pub struct LogOutput {
    log: Arc<AppLog>,
    dyno: Arc<str>,
    pending: Arc<Mutex<Vec<u8>>>,
}

impl LogOutput {
    pub fn new(log: Arc<AppLog>, dyno: &str) -> LogOutput {
        LogOutput {
            log,
            dyno: dyno.into(),
            pending: Arc::default(),
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
}
