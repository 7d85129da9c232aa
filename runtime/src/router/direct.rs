//! The benchmark listener (`kumo server --direct-listen`): each request for
//! `<app>.<domain>` goes straight to one of the app's web dynos through the same
//! in-process dispatch the router uses, without the router's limits, forwarding
//! headers, H-code pages or router log line. Comparing it with the router on the
//! same server measures what the router adds per request.

use crate::dynos::ResponseBody;
use crate::manager::DynoManager;
use http::{Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Accepts connections on `listener` until the task is dropped.
pub async fn serve(manager: Arc<DynoManager>, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let manager = manager.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let manager = manager.clone();
                async move { Ok::<_, Infallible>(handle(&manager, request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    manager: &Arc<DynoManager>,
    request: http::Request<hyper::body::Incoming>,
) -> Response<ResponseBody> {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let Some(app) = manager.app_for_host(host) else {
        return text(StatusCode::NOT_FOUND, "no such app\n");
    };
    let request = request.map(|body| {
        body.map_err(wasmtime_wasi_http::Error::Hyper)
            .boxed_unsync()
    });
    match manager.dispatch(&app, request).await {
        Ok((_, response)) => response,
        Err(_) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the app has no web dyno to serve this\n",
        ),
    }
}

fn text(status: StatusCode, message: &str) -> Response<ResponseBody> {
    let body = Full::new(bytes::Bytes::from(message.to_string()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}
