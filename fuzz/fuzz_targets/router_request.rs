//! Arbitrary bytes as a client connection to the router: served by the
//! router's own HTTP/1.1 settings (`connection_builder`) over an in-memory
//! stream, each request put through the router's checks (`admit`) and its
//! host table. The router must answer or close, never panic or hang.
#![no_main]

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use kumo_runtime::router::{Peer, admit, connection_builder, hosts::HostTable};
use libfuzzer_sys::fuzz_target;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for the fuzz target")
    })
}

fn hosts() -> Arc<HostTable> {
    static HOSTS: OnceLock<Arc<HostTable>> = OnceLock::new();
    HOSTS
        .get_or_init(|| {
            let mut table = HostTable::new("localhost");
            table.set("myapp", &["www.example.test".to_string()]);
            Arc::new(table)
        })
        .clone()
}

fuzz_target!(|data: &[u8]| {
    let peer = Peer::new(SocketAddr::from(([127, 0, 0, 1], 40000)));
    runtime().block_on(async {
        let (mut client, server) = tokio::io::duplex(64 << 10);
        let hosts = hosts();
        let service = hyper::service::service_fn(move |request| {
            let hosts = hosts.clone();
            let peer = peer.clone();
            async move {
                let response = match admit(&request, &peer) {
                    Ok(admitted) => {
                        let _ = hosts.app_for(admitted.host);
                        http::Response::new(Full::new(Bytes::from_static(b"ok")))
                    }
                    Err((status, _)) => {
                        let mut page = http::Response::new(Full::new(Bytes::new()));
                        *page.status_mut() = status;
                        page
                    }
                };
                Ok::<_, Infallible>(response)
            }
        });
        let connection = tokio::spawn(
            connection_builder(Duration::from_millis(200))
                .serve_connection(TokioIo::new(server), service),
        );
        let _ = client.write_all(data).await;
        let _ = client.shutdown().await;
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(2), client.read_to_end(&mut answer));
        assert!(read.await.is_ok(), "the router neither answered nor closed");
        drop(client);
        let _ = connection.await;
    });
});
