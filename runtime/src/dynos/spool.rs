//! The response spool: what a web guest writes of its response body waits here
//! for the client, up to [`SPOOL_BYTES`] (Heroku's router buffers 1 MB per
//! connection).
//!
//! The guest's side ([`Spool`], held by the future that runs the guest) takes the
//! frames of the guest's body while there is room; the client's side
//! ([`SpoolBody`], the body the router sends) hands them out as the client reads.
//! So a response that fits is done, and its instance free, as soon as the guest
//! is, however slowly the client reads. A guest with more to write than fits
//! waits for the client on I/O; that wait is a *stall*: the guest's deadline does
//! not count it, and its dyno lends the request's turn to the next request.
//!
//! The body ends as the guest's did. A body the guest finished ends cleanly; one
//! it did not (a trap, its deadline, a handler that returned before finishing it,
//! the dyno stopped) ends with an error, so the client sees the response cut
//! short (no last chunk, or fewer bytes than its `Content-Length`) and never a
//! truncated body that looks complete.

use super::ResponseBody;
use bytes::Bytes;
use http_body::{Body, Frame};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::time::Instant;

/// Bytes of a response body held for the client before the guest waits for it.
pub const SPOOL_BYTES: usize = 1 << 20;

/// The guest's side of a spool. Dropping it before the body ended cuts the body.
pub(crate) struct Spool(Arc<Shared>);

/// The client's side: the response body the router sends.
pub(crate) struct SpoolBody(Arc<Shared>);

struct Shared(Mutex<State>);

#[derive(Default)]
struct State {
    frames: VecDeque<Frame<Bytes>>,
    /// Data bytes in `frames`.
    bytes: usize,
    end: Option<End>,
    /// The client's side, waiting for a frame.
    reader: Option<Waker>,
    /// The guest's side, waiting for room.
    writer: Option<Waker>,
    client_gone: bool,
    /// Whether the client's side has given the connection one turn to send
    /// what it was handed before it reports the cut.
    flushed_before_cut: bool,
    /// When the current stall began, if the guest's side is waiting for room.
    stalled_since: Option<Instant>,
    /// The stalls before the current one.
    stalled: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The guest finished its body.
    Complete,
    /// The body will never be finished.
    Cut,
}

/// What one [`Spool::pump`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pumped {
    /// The body has ended (finished or cut): nothing more to move.
    Ended,
    /// The spool is full: the client has not taken what is there (a stall).
    Full,
    /// The guest has not written more yet.
    Waiting,
    /// The client is gone: the guest's body is not wanted any more.
    Gone,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().expect("response spool poisoned")
    }
}

impl Spool {
    pub fn new() -> (Spool, SpoolBody) {
        let shared = Arc::new(Shared(Mutex::new(State::default())));
        (Spool(shared.clone()), SpoolBody(shared))
    }

    /// Moves frames of the guest's `body` into the spool while there is room.
    pub fn pump(&self, body: &mut ResponseBody, cx: &mut Context<'_>) -> Pumped {
        self.move_frames(body, cx, SPOOL_BYTES)
    }

    /// Moves what is left of the body of a guest that has returned, room or not
    /// (it wrote at most a few frames the spool has not taken). A body still
    /// unfinished then never will be: it is cut, and this returns false.
    pub fn drain_returned(&self, body: &mut ResponseBody) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        match self.move_frames(body, &mut cx, usize::MAX) {
            Pumped::Waiting => {
                self.cut();
                false
            }
            Pumped::Ended | Pumped::Full | Pumped::Gone => self.0.lock().end != Some(End::Cut),
        }
    }

    fn move_frames(&self, body: &mut ResponseBody, cx: &mut Context<'_>, room: usize) -> Pumped {
        loop {
            {
                let mut state = self.0.lock();
                if state.client_gone {
                    return Pumped::Gone;
                }
                if state.end.is_some() {
                    return Pumped::Ended;
                }
                if state.bytes >= room {
                    state.stalled_since.get_or_insert_with(Instant::now);
                    if !state
                        .writer
                        .as_ref()
                        .is_some_and(|w| w.will_wake(cx.waker()))
                    {
                        state.writer = Some(cx.waker().clone());
                    }
                    return Pumped::Full;
                }
            }
            match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Pending => return Pumped::Waiting,
                Poll::Ready(Some(Ok(frame))) => {
                    let mut state = self.0.lock();
                    state.bytes += frame.data_ref().map_or(0, Bytes::len);
                    state.frames.push_back(frame);
                    let reader = state.reader.take();
                    drop(state);
                    if let Some(reader) = reader {
                        reader.wake();
                    }
                }
                Poll::Ready(Some(Err(_))) => {
                    self.cut();
                    return Pumped::Ended;
                }
                // While the guest's store lives (it does while this spool is
                // pumped), its body ends only when the guest finishes it.
                Poll::Ready(None) => {
                    self.end(End::Complete);
                    return Pumped::Ended;
                }
            }
        }
    }

    /// The body will never be finished: the client gets it cut short.
    pub fn cut(&self) {
        self.end(End::Cut);
    }

    fn end(&self, end: End) {
        let mut state = self.0.lock();
        if state.end.is_none() {
            state.end = Some(end);
        }
        let reader = state.reader.take();
        drop(state);
        if let Some(reader) = reader {
            reader.wake();
        }
    }

    /// How long the guest has waited for the client to make room, so far.
    pub fn stalled(&self) -> Duration {
        let state = self.0.lock();
        state.stalled
            + state
                .stalled_since
                .map_or(Duration::ZERO, |since| since.elapsed())
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.cut();
    }
}

impl Body for SpoolBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut state = self.0.lock();
        if let Some(frame) = state.frames.pop_front() {
            state.bytes -= frame.data_ref().map_or(0, Bytes::len);
            let mut writer = None;
            if state.bytes < SPOOL_BYTES {
                if let Some(since) = state.stalled_since.take() {
                    state.stalled += since.elapsed();
                }
                writer = state.writer.take();
            }
            drop(state);
            if let Some(writer) = writer {
                writer.wake();
            }
            return Poll::Ready(Some(Ok(frame)));
        }
        match state.end {
            Some(End::Complete) => Poll::Ready(None),
            // hyper drops what it has not written yet when a body fails: one
            // `Pending` first lets it flush the bytes the client was handed.
            Some(End::Cut) if !state.flushed_before_cut => {
                state.flushed_before_cut = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Some(End::Cut) => {
                Poll::Ready(Some(Err(wasmtime_wasi_http::Error::HttpResponseIncomplete)))
            }
            None => {
                if !state
                    .reader
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    state.reader = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        let state = self.0.lock();
        state.frames.is_empty() && state.end == Some(End::Complete)
    }
}

impl Drop for SpoolBody {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.client_gone = true;
        state.frames.clear();
        let writer = state.writer.take();
        drop(state);
        if let Some(writer) = writer {
            writer.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    fn body_of(chunks: Vec<Result<Frame<Bytes>, wasmtime_wasi_http::Error>>) -> ResponseBody {
        http_body_util::StreamBody::new(futures::stream::iter(chunks)).boxed_unsync()
    }

    fn data(n: usize) -> Result<Frame<Bytes>, wasmtime_wasi_http::Error> {
        Ok(Frame::data(Bytes::from(vec![b'x'; n])))
    }

    #[tokio::test]
    async fn a_finished_body_ends_cleanly() {
        let (spool, client) = Spool::new();
        let mut guest = body_of(vec![data(3), data(4)]);
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(spool.pump(&mut guest, &mut cx), Pumped::Ended);
        let got = client.collect().await.expect("a complete body");
        assert_eq!(got.to_bytes().len(), 7);
    }

    #[tokio::test]
    async fn a_body_whose_guest_stops_is_cut() {
        let (spool, client) = Spool::new();
        let mut guest = body_of(vec![data(3)]).boxed_unsync();
        let mut cx = Context::from_waker(Waker::noop());
        // The stream ends, but the test cuts first: as when the guest's store goes away.
        spool.cut();
        assert_eq!(spool.pump(&mut guest, &mut cx), Pumped::Ended);
        assert!(client.collect().await.is_err());
        let (spool, client) = Spool::new();
        drop(spool);
        assert!(client.collect().await.is_err(), "a dropped spool cuts");
    }

    #[tokio::test]
    async fn a_full_spool_stalls_until_the_client_reads() {
        let (spool, mut client) = Spool::new();
        let mut guest = body_of(vec![data(SPOOL_BYTES), data(10), data(10)]);
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(spool.pump(&mut guest, &mut cx), Pumped::Full);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(spool.stalled() >= Duration::from_millis(20));
        let first = client.frame().await.unwrap().unwrap();
        assert_eq!(first.data_ref().unwrap().len(), SPOOL_BYTES);
        let stalled = spool.stalled();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(spool.stalled(), stalled, "no stall once there is room");
        assert_eq!(spool.pump(&mut guest, &mut cx), Pumped::Ended);
        drop(spool);
        let rest = client.collect().await.expect("complete");
        assert_eq!(rest.to_bytes().len(), 20);
    }

    #[tokio::test]
    async fn a_gone_client_releases_the_guest() {
        let (spool, client) = Spool::new();
        let mut guest = body_of(vec![data(SPOOL_BYTES), data(10)]);
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(spool.pump(&mut guest, &mut cx), Pumped::Full);
        drop(client);
        assert_eq!(spool.pump(&mut guest, &mut cx), Pumped::Gone);
    }
}
