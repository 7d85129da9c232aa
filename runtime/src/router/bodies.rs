//! The bodies the router passes through: the client's request body on its way
//! to the dyno ([`ClientBody`]), and the dyno's response body on its way to the
//! client ([`Counted`]), which writes the router line when the response ends,
//! however it ends.
//!
//! A response cut short after its head went out is logged with the code of
//! what cut it:
//! - the dyno's body ended with an error (a trap or the deadline mid-body): H18, `sock=backend`;
//! - the idle window closed the connection: H15 (the dyno was silent) or H28 (the client was) ([`super::idle`]);
//! - the client's request body broke (it left mid-upload, or a bad chunk): H27 or H26;
//! - the client closed the connection before the body was sent: H27.
//!
//! A cut on the dyno's side (H18, H15) keeps the status the dyno sent, the one
//! the client got; the client's own failures (H26, H27, H28) are logged with
//! Heroku's status for them (400, 499).

use super::codes::{Code, RouterLine};
use super::idle::Activity;
use crate::dynos::ResponseBody;
use crate::logplex::Source;
use crate::manager::DynoManager;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

/// What the client receives: a dyno's streamed body, or a page from the router.
// The dyno variant is the common case; boxing it would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
pub enum RouterBody {
    Dyno(Counted),
    Page(Full<Bytes>),
    /// A dyno's body on its way to the router that forwarded its request.
    Hop(ResponseBody),
}

impl Body for RouterBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            RouterBody::Dyno(body) => Pin::new(body).poll_frame(cx),
            RouterBody::Page(page) => Pin::new(page)
                .poll_frame(cx)
                .map_err(|never| match never {}),
            RouterBody::Hop(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RouterBody::Dyno(body) => body.inner.is_end_stream(),
            RouterBody::Page(page) => page.is_end_stream(),
            RouterBody::Hop(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RouterBody::Dyno(body) => body.inner.size_hint(),
            RouterBody::Page(page) => page.size_hint(),
            RouterBody::Hop(body) => body.size_hint(),
        }
    }
}

/// How the client's request body failed while the dyno read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientFault {
    /// The client closed its connection before its body ended (H27).
    Vanished,
    /// The body's framing was broken: a bad chunk size or missing CRLF (H26).
    BadChunk,
}

impl ClientFault {
    /// hyper reports a broken chunk as an I/O error of kind `InvalidInput` or
    /// `InvalidData` (or a parse error); anything else that ends a request
    /// body early — `UnexpectedEof`, a reset, a connection closed while the
    /// response was still going out — is the client leaving.
    fn of(error: &hyper::Error) -> ClientFault {
        use std::io::ErrorKind::{InvalidData, InvalidInput};
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = source {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                return match io.kind() {
                    InvalidInput | InvalidData => ClientFault::BadChunk,
                    _ => ClientFault::Vanished,
                };
            }
            source = e.source();
        }
        if error.is_parse() {
            ClientFault::BadChunk
        } else {
            ClientFault::Vanished
        }
    }

    pub fn code(self) -> Code {
        match self {
            ClientFault::Vanished => Code::H27,
            ClientFault::BadChunk => Code::H26,
        }
    }

    pub fn cause(self) -> Option<&'static str> {
        match self {
            ClientFault::Vanished => None,
            ClientFault::BadChunk => Some("bad chunk"),
        }
    }
}

/// The client's request body as the dyno reads it: each frame restarts the
/// connection's idle window, and a failure is kept as the client's fault.
pub struct ClientBody {
    pub inner: Incoming,
    pub fault: Arc<OnceLock<ClientFault>>,
    pub activity: Arc<Activity>,
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match polled {
            Poll::Pending => {
                self.activity.waiting_on_client(true);
                Poll::Pending
            }
            Poll::Ready(Some(Err(e))) => {
                let _ = self.fault.set(ClientFault::of(&e));
                Poll::Ready(Some(Err(wasmtime_wasi_http::Error::Hyper(e))))
            }
            Poll::Ready(other) => {
                self.activity.waiting_on_client(false);
                Poll::Ready(other.map(|frame| frame.map_err(wasmtime_wasi_http::Error::Hyper)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// How a dyno's response body ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// Every byte was sent.
    Complete,
    /// The dyno's body ended with an error: it was cut short.
    Cut,
    /// The body was dropped before it ended: the connection went away.
    Dropped,
}

/// A dyno's response body that counts the bytes sent and writes the router line when it ends.
pub struct Counted {
    inner: ResponseBody,
    bytes: u64,
    /// Whether the response has a body to send (not `HEAD`, 204 or 304).
    has_body: bool,
    /// Set when the client's request body failed: the client's fault, not the dyno's.
    client_fault: Arc<OnceLock<ClientFault>>,
    activity: Arc<Activity>,
    log: Option<(Arc<DynoManager>, Arc<str>, RouterLine, Instant)>,
}

impl Counted {
    pub fn new(
        inner: ResponseBody,
        has_body: bool,
        client_fault: Arc<OnceLock<ClientFault>>,
        activity: Arc<Activity>,
        log: (Arc<DynoManager>, Arc<str>, RouterLine, Instant),
    ) -> Counted {
        activity.streaming(true);
        Counted {
            inner,
            bytes: 0,
            has_body,
            client_fault,
            activity,
            log: Some(log),
        }
    }

    /// Writes the router line, with the code of an abnormal `ending`.
    fn finish(&mut self, ending: Ending) {
        let Some((manager, app, mut line, started)) = self.log.take() else {
            return;
        };
        self.activity.streaming(false);
        let fault = self.client_fault.get().copied();
        let code = match ending {
            Ending::Complete => fault.map(ClientFault::code),
            Ending::Cut => Some(fault.map_or(Code::H18, ClientFault::code)),
            Ending::Dropped => self
                .activity
                .cut()
                .or(fault.map(ClientFault::code))
                .or_else(|| {
                    let unsent = self.has_body && !self.inner.is_end_stream();
                    unsent.then_some(Code::H27)
                }),
        };
        if let Some(code) = code {
            line.code = Some(code);
            // The client's own failures are logged with Heroku's status for them.
            if matches!(code, Code::H26 | Code::H27 | Code::H28) {
                line.status = code.status();
            }
            if code == Code::H18 {
                line.sock = Some("backend");
            }
            if let Some(fault) = fault.filter(|f| f.code() == code) {
                line.cause = fault.cause();
            }
        }
        line.bytes = self.bytes;
        line.service_ms = started.elapsed().as_millis();
        emit(&manager, &app, line);
    }
}

impl Body for Counted {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.bytes += data.len() as u64;
                }
                self.activity.waiting_on_dyno(false);
            }
            Poll::Ready(None) => self.finish(Ending::Complete),
            Poll::Ready(Some(Err(_))) => self.finish(Ending::Cut),
            Poll::Pending => self.activity.waiting_on_dyno(true),
        }
        polled
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.finish(Ending::Dropped);
    }
}

/// Logs H27 if the request future is dropped (the client left) before it was answered.
pub struct PendingLine<'a> {
    pub manager: &'a Arc<DynoManager>,
    pub app: Arc<str>,
    pub line: Option<RouterLine>,
    pub started: Instant,
}

impl Drop for PendingLine<'_> {
    fn drop(&mut self) {
        if let Some(mut line) = self.line.take() {
            line.code = Some(Code::H27);
            line.status = Code::H27.status();
            line.service_ms = self.started.elapsed().as_millis();
            emit(self.manager, &self.app, line);
        }
    }
}

/// Counts a request in the app's metrics and writes its router line: the one
/// way a request's end is recorded.
pub fn emit(manager: &DynoManager, app: &str, line: RouterLine) {
    crate::metrics::global().request(
        app,
        line.status,
        line.code.map(Code::as_str),
        line.service_ms,
    );
    manager
        .logplex()
        .log_owned(app, Source::Kumo, "router", line.render());
}
