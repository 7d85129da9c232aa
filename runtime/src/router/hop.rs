//! The hop between nodes: any node's router serves any app. When none of this
//! node's web dynos of an app is up and another node holds one
//! ([`Target::There`]), the request is forwarded to that node's router over
//! plain HTTP/1 on pooled keep-alive connections, carrying the platform's
//! node token ([`NodeChannel`], a secret every node reads from the ledger and
//! no dyno ever sees: the receiving router strips it, and a request whose
//! token does not match is refused).
//!
//! The node the client reached (the edge) does everything a router does for
//! the client: limits, forwarding headers, the request timeout, the idle
//! window and the one router line. The node that runs the dyno (the holder)
//! only dispatches, and says in `kumo-hop-dyno` which dyno answered and in
//! `kumo-hop-code` which H-code a failure was, for the edge's line.
//!
//! A holder with no web dyno of its own up may forward once more (a dyno
//! that just moved), never back to the edge: `kumo-hops` counts the hops. A
//! forward whose connection fails is tried on another node's dyno when the
//! request can be sent again — it has no body, and either the connection was
//! never made or the method is safe (GET, HEAD, OPTIONS) — so a client's GET
//! does not fail when a node dies under it, beyond the requests that node was
//! serving.

use super::codes::Code;
use super::{Peer, Router, RouterBody, admit};
use crate::dynos::{DispatchError, RequestBody, ResponseBody};
use crate::manager::{DispatchFailure, RouteError, Served, Target, serve_here};
use crate::placement::Elsewhere;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use std::sync::Arc;

/// The name of the node token among the platform's secrets in the ledger.
pub const SECRET: &str = "node-channel";

/// The node token a forwarded request carries.
const NODE_TOKEN: HeaderName = HeaderName::from_static("kumo-node-token");
/// How many hops a forwarded request has made.
const HOPS: HeaderName = HeaderName::from_static("kumo-hops");
/// The node that forwarded it.
const HOP_FROM: HeaderName = HeaderName::from_static("kumo-hop-from");
/// The dyno that answered, in a holder's response.
const HOP_DYNO: HeaderName = HeaderName::from_static("kumo-hop-dyno");
/// The H-code of a failure, in a holder's response (`no-such-app` for a host it does not know).
const HOP_CODE: HeaderName = HeaderName::from_static("kumo-hop-code");
/// Most hops a request makes: edge → holder → the node its dyno moved to.
const MAX_HOPS: u8 = 2;

/// The channel between this node's router and the others'.
pub struct NodeChannel {
    node: HeaderValue,
    token: HeaderValue,
    client: Client<HttpConnector, RequestBody>,
}

impl NodeChannel {
    /// The channel of node `node`, with the platform's node token `secret`.
    pub fn new(node: &str, secret: &str) -> anyhow::Result<NodeChannel> {
        let mut token = HeaderValue::from_str(secret)?;
        token.set_sensitive(true);
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .build(connector);
        Ok(NodeChannel {
            node: HeaderValue::from_str(node)?,
            token,
            client,
        })
    }

    /// Whether `headers` carry this platform's node token (compared in
    /// constant time).
    pub fn verifies(&self, headers: &HeaderMap) -> bool {
        let Some(given) = headers.get(&NODE_TOKEN) else {
            return false;
        };
        let (given, ours) = (given.as_bytes(), self.token.as_bytes());
        given.len() == ours.len() && given.iter().zip(ours).fold(0, |d, (a, b)| d | (a ^ b)) == 0
    }

    /// Adds the node token to a request for another node's API.
    pub fn sign(&self, headers: &mut HeaderMap) {
        headers.insert(NODE_TOKEN, self.token.clone());
    }

    /// Sends `request` to the router of `there`'s node as hop number `hop`.
    async fn send(
        &self,
        there: &Elsewhere,
        request: Request<RequestBody>,
        hop: u8,
    ) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
        let (mut parts, body) = request.into_parts();
        let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        parts.uri = format!("{}{target}", there.router)
            .parse()
            .unwrap_or_else(|_| http::Uri::from_static("/"));
        parts.headers.insert(NODE_TOKEN, self.token.clone());
        parts
            .headers
            .insert(HOPS, HeaderValue::from(u16::from(hop)));
        parts.headers.insert(HOP_FROM, self.node.clone());
        parts.version = http::Version::HTTP_11;
        self.client.request(Request::from_parts(parts, body)).await
    }
}

/// Why a request got no dyno's response.
pub(super) enum Failed {
    NoSuchApp,
    /// The H-code to answer with, and the dyno that took the request, if one did.
    Code(Option<Arc<str>>, Code),
}

/// The H-code of a failure on this node.
fn failed(failure: DispatchFailure) -> Failed {
    match failure {
        DispatchFailure::Route(e) => Failed::Code(
            None,
            match e {
                RouteError::NoSuchApp => return Failed::NoSuchApp,
                RouteError::Maintenance => Code::H80,
                RouteError::NothingDeployed => Code::H81,
                RouteError::NoWebDynos => Code::H14,
                RouteError::Crashed => Code::H10,
                RouteError::BootTimeout => Code::H20,
            },
        ),
        DispatchFailure::Dyno(dyno, e) => Failed::Code(
            Some(dyno),
            match e {
                DispatchError::Crashed(_) => Code::H13,
                DispatchError::Deadline => Code::H12,
                DispatchError::BadResponse(_) => Code::H17,
                DispatchError::Closed(_) | DispatchError::Platform(_) => Code::H99,
            },
        ),
    }
}

/// A request without a body, kept to be sent again.
struct Replay {
    head: http::request::Parts,
    /// GET, HEAD or OPTIONS: sent again even if the node may have seen it.
    safe: bool,
}

impl Replay {
    /// The replay of `request`, if it has no body.
    fn of(request: &Request<RequestBody>) -> Option<Replay> {
        if request.body().size_hint().exact() != Some(0) {
            return None;
        }
        let mut head = Request::new(());
        *head.method_mut() = request.method().clone();
        *head.uri_mut() = request.uri().clone();
        *head.version_mut() = request.version();
        *head.headers_mut() = request.headers().clone();
        let safe = matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        );
        Some(Replay {
            head: head.into_parts().0,
            safe,
        })
    }

    fn request(&self) -> Request<RequestBody> {
        let body = Empty::new().map_err(|never| match never {}).boxed_unsync();
        Request::from_parts(self.head.clone(), body)
    }
}

impl Router {
    /// Sends `request` to a web dyno of `app`: one of this node's, else (with
    /// the node channel, `avoid` given and hops to spare) another node's.
    pub(super) async fn dispatch(
        &self,
        app: &str,
        mut request: Request<RequestBody>,
        mut avoid: Option<Vec<String>>,
        hops: u8,
    ) -> Result<(Arc<str>, Response<ResponseBody>), Failed> {
        let channel = self.channel.get().filter(|_| hops < MAX_HOPS);
        if channel.is_none() {
            avoid = None;
        }
        loop {
            let target = self
                .manager
                .pick_anywhere(app, avoid.as_deref())
                .await
                .map_err(|e| failed(DispatchFailure::Route(e)))?;
            let there = match target {
                Target::Here(dyno) => match serve_here(&dyno, request).await {
                    Served::Done(done) => return done.map_err(failed),
                    Served::Again(back) => {
                        request = back;
                        continue;
                    }
                },
                Target::There(there) => there,
            };
            let (Some(channel), Some(avoid)) = (channel, avoid.as_mut()) else {
                unreachable!("another node's dyno is picked only with the channel");
            };
            // Kept only for a request that leaves this node: one a dyno here
            // serves costs no copy of its head.
            let replay = Replay::of(&request);
            match channel.send(&there, request, hops + 1).await {
                Ok(response) => return answered(there, response),
                Err(e) => {
                    let again = replay.as_ref().filter(|r| e.is_connect() || r.safe);
                    tracing::warn!(
                        app,
                        node = %there.node,
                        dyno = %there.dyno,
                        error = %format!("{e:#}"),
                        sent_again = again.is_some(),
                        "forwarding a request to another node failed"
                    );
                    let Some(replay) = again else {
                        return Err(Failed::Code(Some(there.dyno.into()), Code::H13));
                    };
                    avoid.push(there.node);
                    request = replay.request();
                }
            }
        }
    }

    /// Serves a request another node's router forwarded here: checks its
    /// token, dispatches it (here, or one hop further) and answers with the
    /// dyno's response or the failure's code, writing no router line.
    pub(super) async fn route_hop(
        &self,
        channel: &NodeChannel,
        request: Request<Incoming>,
        peer: &Peer,
    ) -> Response<RouterBody> {
        if !channel.verifies(request.headers()) {
            tracing::warn!(peer = ?peer, "refused a request with a wrong node token");
            return super::plain(
                StatusCode::FORBIDDEN,
                "the kumo-node-token header does not match this platform's\n",
            );
        }
        let host = match admit(&request, peer) {
            Ok(admitted) => admitted.host.to_string(),
            Err((status, text)) => return super::plain(status, text),
        };
        let Some(app) = self.manager.app_for_host(&host) else {
            return hop_failure(Failed::NoSuchApp);
        };
        let (mut parts, body) = request.into_parts();
        let hops = parts
            .headers
            .get(&HOPS)
            .and_then(|v| v.to_str().ok()?.parse::<u8>().ok())
            .unwrap_or(MAX_HOPS);
        let from = parts
            .headers
            .get(&HOP_FROM)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        for name in [&NODE_TOKEN, &HOPS, &HOP_FROM] {
            parts.headers.remove(name);
        }
        let body = body
            .map_err(wasmtime_wasi_http::Error::Hyper)
            .boxed_unsync();
        let request = Request::from_parts(parts, body);
        let avoid = Some(from.into_iter().collect());
        let dispatch = self.dispatch(&app, request, avoid, hops);
        match tokio::time::timeout(self.config.request_timeout, dispatch).await {
            Ok(Ok((dyno, response))) => {
                let (mut parts, body) = response.into_parts();
                // Only this router speaks for the hop, never the app.
                parts.headers.remove(&HOP_CODE);
                if let Ok(dyno) = HeaderValue::from_str(&dyno) {
                    parts.headers.insert(HOP_DYNO, dyno);
                }
                Response::from_parts(parts, RouterBody::Hop(body))
            }
            Ok(Err(failure)) => hop_failure(failure),
            Err(_) => hop_failure(Failed::Code(None, Code::H12)),
        }
    }
}

/// What the edge makes of a holder's answer: the dyno's response, or the
/// failure the holder's headers name.
fn answered(
    there: Elsewhere,
    response: Response<Incoming>,
) -> Result<(Arc<str>, Response<ResponseBody>), Failed> {
    let (mut parts, body) = response.into_parts();
    let dyno: Option<Arc<str>> = parts
        .headers
        .remove(&HOP_DYNO)
        .and_then(|v| v.to_str().ok().map(Arc::from));
    if let Some(code) = parts.headers.remove(&HOP_CODE) {
        let code = code.to_str().unwrap_or_default();
        if code == "no-such-app" {
            return Err(Failed::NoSuchApp);
        }
        return Err(Failed::Code(dyno, Code::named(code).unwrap_or(Code::H99)));
    }
    let body = body
        .map_err(wasmtime_wasi_http::Error::Hyper)
        .boxed_unsync();
    let dyno = dyno.unwrap_or_else(|| there.dyno.into());
    Ok((dyno, Response::from_parts(parts, body)))
}

/// A holder's answer for a failure: the code's page, and the code for the edge.
fn hop_failure(failure: Failed) -> Response<RouterBody> {
    let (dyno, code, mut response) = match failure {
        Failed::NoSuchApp => (
            None,
            HeaderValue::from_static("no-such-app"),
            super::html(StatusCode::NOT_FOUND, super::codes::no_such_app_page()),
        ),
        Failed::Code(dyno, code) => (
            dyno,
            HeaderValue::from_static(code.as_str()),
            super::html(
                StatusCode::from_u16(code.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                code.page(),
            ),
        ),
    };
    let headers = response.headers_mut();
    headers.remove(http::header::VIA);
    headers.insert(HOP_CODE, code);
    if let Some(dyno) = dyno.and_then(|d| HeaderValue::from_str(&d).ok()) {
        headers.insert(HOP_DYNO, dyno);
    }
    response
}
