//! One warm `wasi:http` instance of a web dyno, and how it serves a request.
//!
//! The guest runs until it returns, traps or reaches its deadline. The response
//! head goes to the router as soon as the guest sets it; the body goes through a
//! [`Spool`], which takes what the guest writes while there is room, so the guest
//! is not held up by a client that reads slowly until it has written more than
//! the spool holds. Time the guest spends waiting for such a client (a stall) is
//! not counted against its deadline, and the request lends its turn to the next
//! request meanwhile ([`HttpInstance::serve`]'s `lend`). A body the guest did not
//! finish is cut, so the client sees it cut short. What went wrong is said in
//! the app's log in Heroku's words (H13, H18, R15).

use super::host::{DynoHost, new_store};
use super::spool::{Pumped, Spool, SpoolBody};
use super::web::{Job, Shared};
use super::{BootTimeout, DispatchError, NoCapacity, ResponseBody};
use crate::engine::Prepared;
use anyhow::Context as _;
use http_body_util::BodyExt as _;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use tokio::sync::oneshot;
use tokio::time::Instant;
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::Proxy;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};

/// The dyno's memory cap refused a new instance its memory.
#[derive(Debug)]
pub(super) struct OverMemory(pub String);

impl fmt::Display for OverMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OverMemory {}

/// One warm `wasi:http` instance.
pub(super) struct HttpInstance {
    store: Store<DynoHost>,
    proxy: Proxy,
}

type Head = Result<http::Response<ResponseBody>, ErrorCode>;
type Respond = oneshot::Sender<Result<http::Response<ResponseBody>, DispatchError>>;

impl HttpInstance {
    pub(super) async fn new(shared: &Shared) -> anyhow::Result<HttpInstance> {
        let Prepared::Http(pre) = &*shared.spec.prepared else {
            anyhow::bail!(
                "process type `{}` is not an http process",
                shared.spec.process_type
            );
        };
        let wasi = shared.wasi(&[])?.build();
        let mut store = new_store(
            shared.spec.engine.wasmtime(),
            DynoHost::new(wasi, shared.memory.clone(), shared.outbound.clone()),
        );
        // The guest yields at every epoch tick, so even a start function that
        // never returns gives the timer its turn and is dropped at the deadline.
        let deadline = shared.spec.boot_deadline;
        let Ok(proxy) = tokio::time::timeout(deadline, pre.instantiate_async(&mut store)).await
        else {
            return Err(anyhow::Error::new(BootTimeout(deadline)));
        };
        let proxy = proxy.map_err(|e| {
            if let Some(full) = NoCapacity::of(&e) {
                return anyhow::Error::new(full);
            }
            let denied = store.data().limiter.denied;
            let why = super::describe_failure(&e, denied, shared.memory.cap);
            if denied {
                anyhow::Error::new(OverMemory(why))
            } else {
                anyhow::anyhow!("{why}")
            }
        });
        let proxy = proxy.with_context(|| format!("starting {}", shared.spec.process.component))?;
        Ok(HttpInstance { store, proxy })
    }

    /// Serves one request; `lend` is called when the guest starts waiting for a
    /// slow client. Returns the instance if it can serve another.
    pub(super) async fn serve(
        mut self,
        shared: &Shared,
        job: Job,
        lend: &mut (dyn FnMut() + Send),
    ) -> Option<HttpInstance> {
        let mut respond = Some(job.respond);
        let (head_tx, head_rx) = oneshot::channel::<Head>();
        let mut head_rx = Some(head_rx);
        let setup = (|| -> wasmtime::Result<_> {
            let mut http = self.store.data_mut().http();
            let request = http.new_incoming_request(Scheme::Http, job.request)?;
            let out = http.new_response_outparam_from_callback(move |head| {
                let _ = head_tx.send(head);
            })?;
            Ok((request, out))
        })();
        let (request, out) = match setup {
            Ok(pair) => pair,
            Err(e) => {
                reply(&mut respond, Err(DispatchError::Platform(format!("{e:#}"))));
                return Some(self);
            }
        };
        let (spool, client_body) = Spool::new();
        let mut client_body = Some(client_body);
        let mut guest_body: Option<ResponseBody> = None;
        let limit = shared.spec.request_deadline;
        let started = Instant::now();
        let mut deadline = pin!(tokio::time::sleep(limit));
        let ended = {
            let mut call = pin!(self.proxy.wasi_http_incoming_handler().call_handle(
                &mut self.store,
                request,
                out
            ));
            poll_fn(|cx| {
                if let Poll::Ready(returned) = call.as_mut().poll(cx) {
                    return Poll::Ready(Some(returned));
                }
                if let Some(rx) = head_rx.as_mut()
                    && let Poll::Ready(head) = std::pin::Pin::new(rx).poll(cx)
                {
                    head_rx = None;
                    if let Ok(head) = head {
                        answer(head, &mut respond, &mut client_body, &mut guest_body);
                    }
                }
                if let Some(body) = guest_body.as_mut() {
                    match spool.pump(body, cx) {
                        Pumped::Full => lend(),
                        // The guest's writes fail from now on: nobody reads them.
                        Pumped::Gone => guest_body = None,
                        Pumped::Ended | Pumped::Waiting => {}
                    }
                }
                // The deadline counts the guest's own time, not its waits for the client.
                while deadline.as_mut().poll(cx).is_ready() {
                    let due = started + limit + spool.stalled();
                    if Instant::now() >= due {
                        return Poll::Ready(None);
                    }
                    deadline.as_mut().reset(due);
                }
                Poll::Pending
            })
            .await
        };
        // The guest may have set its response in its last step.
        if let Some(Ok(head)) = head_rx.as_mut().map(oneshot::Receiver::try_recv) {
            answer(head, &mut respond, &mut client_body, &mut guest_body);
        }
        let answered = client_body.is_none();
        // What the guest wrote before it returned or failed still goes out; a
        // body it did not finish is cut after it.
        let finished = guest_body
            .as_mut()
            .is_none_or(|body| spool.drain_returned(body));
        let failed = match ended {
            Some(Ok(())) => {
                if !finished {
                    shared.log_kumo(
                        "Error H18 (Server Request Interrupted) -> the app's handler returned \
                         before finishing its response body",
                    );
                }
                if !answered {
                    let why = "the app's handler returned without setting a response";
                    shared.log_kumo(&format!(
                        "Error H13 (Connection closed without response) -> {why}"
                    ));
                    reply(&mut respond, Err(DispatchError::Crashed(why.into())));
                }
                return Some(self);
            }
            Some(Err(e)) => {
                spool.cut();
                let why = failure(&e, &self.store, shared, answered);
                shared.log_kumo(&why);
                DispatchError::Crashed(why)
            }
            None => {
                spool.cut();
                shared.log_kumo(&format!(
                    "Request ran past the {}s deadline; replacing the instance",
                    limit.as_secs()
                ));
                DispatchError::Deadline
            }
        };
        reply(&mut respond, Err(failed));
        None
    }
}

/// Sends the guest's response head to the router with the spool as its body,
/// and keeps the guest's body to pump; or says the response was not valid.
fn answer(
    head: Head,
    respond: &mut Option<Respond>,
    client_body: &mut Option<SpoolBody>,
    guest_body: &mut Option<ResponseBody>,
) {
    let Some(spooled) = client_body.take() else {
        return;
    };
    match head {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            *guest_body = Some(body);
            let response = http::Response::from_parts(parts, spooled.boxed_unsync());
            reply(respond, Ok(response));
        }
        Err(code) => reply(
            respond,
            Err(DispatchError::BadResponse(format!("{code:?}"))),
        ),
    }
}

fn reply(
    respond: &mut Option<Respond>,
    result: Result<http::Response<ResponseBody>, DispatchError>,
) {
    if let Some(tx) = respond.take() {
        let _ = tx.send(result);
    }
}

/// A failed request's line for the app's log: R15 at the memory cap, otherwise
/// what the guest did under the router's code for it (H13 before the response
/// head, H18 after), with the dyno still up: only this instance is replaced.
fn failure(
    error: &wasmtime::Error,
    store: &Store<DynoHost>,
    shared: &Shared,
    answered: bool,
) -> String {
    let replaced = "its instance is replaced and the dyno keeps serving";
    if store.data().limiter.denied {
        let r15 = super::describe_failure(error, true, shared.memory.cap);
        return format!("{r15}; {replaced}");
    }
    let what = match error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        Some(exit) => format!("the app's handler exited with status {}", exit.0),
        None => {
            let trap = error
                .downcast_ref::<wasmtime::Trap>()
                .map(|t| t.to_string());
            let cause = trap.unwrap_or_else(|| error.root_cause().to_string());
            format!("the request crashed: {cause}")
        }
    };
    let code = if answered {
        "Error H18 (Server Request Interrupted)"
    } else {
        "Error H13 (Connection closed without response)"
    };
    format!("{code} -> {what}; {replaced}")
}
