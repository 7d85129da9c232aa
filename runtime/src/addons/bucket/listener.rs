//! The endpoint's listener: `s3s`'s service with Kumo's authenticator and
//! access check, served over HTTP/1 on `kumo server --addons-s3-listen`.

use super::access::{Keys, OwnBucketOnly};
use super::keys::BucketKeys;
use super::objects::Objects;
use super::s3::BucketService;
use hyper_util::rt::TokioIo;
use s3s::service::S3ServiceBuilder;
use std::sync::Arc;

/// Serves the buckets of `keys`' add-ons, stored in `objects`, on `listener`
/// until the task is dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    objects: Objects,
    keys: Arc<dyn BucketKeys>,
) -> anyhow::Result<()> {
    let mut builder = S3ServiceBuilder::new(BucketService::new(objects));
    builder.set_auth(Keys(keys.clone()));
    builder.set_access(OwnBucketOnly(keys));
    let service = builder.build();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a bucket connection");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let service = service.clone();
        tokio::spawn(async move {
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(error = %e, "a bucket connection ended");
            }
        });
    }
}
