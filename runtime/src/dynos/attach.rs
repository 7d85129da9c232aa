//! The stream of an attached one-off dyno (`kumo run`): after an HTTP upgrade,
//! the client's bytes are the guest's stdin (the client half-closes for EOF),
//! and Kumo sends frames back: `[kind: u8][length: u32 big-endian][payload]`,
//! where kind 1 is stdout, 2 stderr, 3 the exit status (an `i32`, big-endian)
//! and 4 a platform error's text. The exit or error frame is the last one.

use bytes::{BufMut, Bytes, BytesMut};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// The `Upgrade` protocol name of the attach stream.
pub const PROTOCOL: &str = "kumo-attach";

/// One message of the stream back to the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Stdout(Bytes),
    Stderr(Bytes),
    Exit(i32),
    Error(String),
}

impl Frame {
    pub fn encode(&self) -> Bytes {
        let (kind, payload): (u8, Bytes) = match self {
            Frame::Stdout(b) => (1, b.clone()),
            Frame::Stderr(b) => (2, b.clone()),
            Frame::Exit(code) => (3, Bytes::copy_from_slice(&code.to_be_bytes())),
            Frame::Error(text) => (4, Bytes::copy_from_slice(text.as_bytes())),
        };
        let mut out = BytesMut::with_capacity(5 + payload.len());
        out.put_u8(kind);
        out.put_u32(payload.len() as u32);
        out.put_slice(&payload);
        out.freeze()
    }

    /// Takes one whole frame off the front of `buf`, if it holds one.
    pub fn decode(buf: &mut BytesMut) -> io::Result<Option<Frame>> {
        if buf.len() < 5 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        if buf.len() < 5 + len {
            return Ok(None);
        }
        let kind = buf[0];
        let _ = buf.split_to(5);
        let payload = buf.split_to(len).freeze();
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        Ok(Some(match kind {
            1 => Frame::Stdout(payload),
            2 => Frame::Stderr(payload),
            3 => Frame::Exit(i32::from_be_bytes(
                payload[..].try_into().map_err(|_| bad("bad exit frame"))?,
            )),
            4 => Frame::Error(String::from_utf8_lossy(&payload).into_owned()),
            _ => return Err(bad("unknown frame kind")),
        }))
    }
}

/// A guest's stdout or stderr going to the attached client. Writes wait while
/// the client is behind (the channel is bounded), so a slow terminal slows the
/// guest rather than filling memory.
#[derive(Clone)]
pub struct AttachOutput {
    stderr: bool,
    tx: mpsc::Sender<Frame>,
}

impl AttachOutput {
    pub fn stdout(tx: mpsc::Sender<Frame>) -> AttachOutput {
        AttachOutput { stderr: false, tx }
    }

    pub fn stderr(tx: mpsc::Sender<Frame>) -> AttachOutput {
        AttachOutput { stderr: true, tx }
    }
}

impl IsTerminal for AttachOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for AttachOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(AttachWriter {
            stderr: self.stderr,
            tx: Arc::new(Mutex::new(PollSender::new(self.tx.clone()))),
        })
    }
}

struct AttachWriter {
    stderr: bool,
    tx: Arc<Mutex<PollSender<Frame>>>,
}

impl AsyncWrite for AttachWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut tx = self.tx.lock().expect("attach lock poisoned");
        // A gone client is not the guest's error: its output is dropped, and the
        // dyno is stopped by whoever noticed the client leave.
        if ready!(tx.poll_reserve(cx)).is_err() {
            return Poll::Ready(Ok(buf.len()));
        }
        let bytes = Bytes::copy_from_slice(buf);
        let frame = if self.stderr {
            Frame::Stderr(bytes)
        } else {
            Frame::Stdout(bytes)
        };
        let _ = tx.send_item(frame);
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

    #[test]
    fn frames_round_trip_in_pieces() {
        let frames = [
            Frame::Stdout(Bytes::from_static(b"hello\n")),
            Frame::Stderr(Bytes::new()),
            Frame::Error("Error R99".into()),
            Frame::Exit(-3),
        ];
        let wire: Vec<u8> = frames.iter().flat_map(|f| f.encode().to_vec()).collect();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for byte in wire {
            buf.put_u8(byte);
            while let Some(frame) = Frame::decode(&mut buf).unwrap() {
                got.push(frame);
            }
        }
        assert_eq!(got, frames);
        let mut bad = BytesMut::from(&[9u8, 0, 0, 0, 0][..]);
        assert!(Frame::decode(&mut bad).is_err());
    }
}
