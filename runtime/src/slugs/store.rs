//! Where slug archives are kept, by digest: `slugs/<hex>.tar.zst` in an object store.

use anyhow::Context as _;
use futures::StreamExt as _;
use kumo_slug::Digest;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt as _};
use std::path::Path;
use std::sync::Arc;
use tokio::io::AsyncWriteExt as _;

/// The slug archives of every app.
#[derive(Clone)]
pub struct SlugStore {
    store: Arc<dyn ObjectStore>,
}

impl SlugStore {
    /// Slugs in a folder on local disk (the embedded default).
    pub fn local(dir: &Path) -> anyhow::Result<SlugStore> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .with_context(|| format!("opening the slug folder {}", dir.display()))?;
        Ok(SlugStore {
            store: Arc::new(store),
        })
    }

    /// Opens the store `spec` names: `s3://BUCKET?endpoint=URL&region=REGION`
    /// for any S3-compatible service (credentials from `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`), or a folder path. It is reached once before
    /// this returns, so a wrong address fails at start-up, not at the first deploy.
    pub async fn open(spec: &str) -> anyhow::Result<SlugStore> {
        let store = match spec.strip_prefix("s3://") {
            Some(rest) => SlugStore {
                store: Arc::new(s3(spec, rest)?),
            },
            None => SlugStore::local(Path::new(spec.strip_prefix("file://").unwrap_or(spec)))?,
        };
        match store
            .store
            .head(&StorePath::from("slugs/.kumo-probe"))
            .await
        {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(store),
            Err(e) => Err(anyhow::anyhow!(
                "cannot reach the slug store {spec}: {e}. Check the bucket exists, the endpoint answers and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are set"
            )),
        }
    }

    fn key(digest: &Digest) -> StorePath {
        StorePath::from(format!("slugs/{}.tar.zst", digest.hex()))
    }

    /// Stores `archive` (already verified to hash to `digest`).
    pub async fn put(&self, digest: &Digest, archive: bytes::Bytes) -> anyhow::Result<()> {
        self.store
            .put(&Self::key(digest), archive.into())
            .await
            .with_context(|| format!("storing slug {digest}"))?;
        Ok(())
    }

    /// Whether the store holds `digest`.
    pub async fn contains(&self, digest: &Digest) -> anyhow::Result<bool> {
        Ok(self.size(digest).await?.is_some())
    }

    /// The size of slug `digest`'s archive, if the store holds it.
    pub async fn size(&self, digest: &Digest) -> anyhow::Result<Option<u64>> {
        match self.store.head(&Self::key(digest)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("looking up slug {digest}")),
        }
    }

    /// Streams slug `digest` into the file `dest`.
    pub async fn fetch(&self, digest: &Digest, dest: &Path) -> anyhow::Result<()> {
        let got = self
            .store
            .get(&Self::key(digest))
            .await
            .with_context(|| format!("fetching slug {digest}"))?;
        let mut file = tokio::fs::File::create(dest)
            .await
            .with_context(|| format!("creating {}", dest.display()))?;
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            file.write_all(&chunk.with_context(|| format!("reading slug {digest}"))?)
                .await?;
        }
        file.flush().await?;
        Ok(())
    }
}

/// An S3 client for `s3://BUCKET?endpoint=URL&region=REGION` (`rest` is the
/// part after `s3://`).
fn s3(spec: &str, rest: &str) -> anyhow::Result<object_store::aws::AmazonS3> {
    let usage = "use s3://BUCKET?endpoint=http://HOST:PORT&region=REGION";
    let (bucket, query) = rest.split_once('?').unwrap_or((rest, ""));
    if bucket.is_empty() || bucket.contains('/') {
        anyhow::bail!("invalid slug store `{spec}`: no bucket name: {usage}");
    }
    let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
    let mut region = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("endpoint", url)) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    anyhow::bail!(
                        "invalid slug store `{spec}`: the endpoint `{url}` is no http:// or https:// URL"
                    );
                }
                builder = builder
                    .with_endpoint(url)
                    .with_allow_http(url.starts_with("http://"));
            }
            Some(("region", name)) => region = Some(name.to_string()),
            _ => anyhow::bail!("invalid slug store `{spec}`: unknown setting `{pair}`: {usage}"),
        }
    }
    builder = builder.with_region(region.unwrap_or_else(|| "us-east-1".to_string()));
    builder
        .build()
        .with_context(|| format!("invalid slug store `{spec}`"))
}
