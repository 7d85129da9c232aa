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
        match self.store.head(&Self::key(digest)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
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
