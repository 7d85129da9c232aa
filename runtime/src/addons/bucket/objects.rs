//! Where a bucket's objects are kept: `addons/buckets/<bucket>/<key>` in the
//! server's slug store (a folder, or an S3 bucket with `--slug-store s3://…`).
//!
//! Each `/`-separated segment of an S3 key is one path segment, encoded by
//! `object_store` (`%` included, so decoding gives the key back); keys with
//! an empty segment (`a//b`, `dir/`) have no such form and are refused.

use anyhow::Context as _;
use futures::{StreamExt as _, TryStreamExt as _};
use object_store::path::{Path as StorePath, PathPart};
use object_store::{ObjectStore, ObjectStoreExt as _};
use std::sync::Arc;
use std::time::SystemTime;

/// The folder of every bucket in the store.
const ROOT: &str = "addons/buckets";

/// The objects of every bucket add-on, in one object store.
#[derive(Clone)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
}

/// One stored object, as listings show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub size: u64,
    pub last_modified: SystemTime,
    pub e_tag: Option<String>,
}

/// Why a key cannot be stored.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the key `{0}` has an empty segment (a leading, trailing or double `/`): Kumo's buckets keep only keys without one"
)]
pub struct UnsupportedKey(pub String);

impl Objects {
    pub fn new(store: Arc<dyn ObjectStore>) -> Objects {
        Objects { store }
    }

    /// The objects in the store `spec` names, as `kumo server --slug-store`
    /// takes it: `s3://BUCKET?endpoint=URL&region=REGION` (credentials from
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`), or a folder.
    pub fn open(spec: &str) -> anyhow::Result<Objects> {
        let store: Arc<dyn ObjectStore> = match spec.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, query) = rest.split_once('?').unwrap_or((rest, ""));
                let mut builder =
                    object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
                let mut region = "us-east-1".to_string();
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    match pair.split_once('=') {
                        Some(("endpoint", url)) => {
                            builder = builder
                                .with_endpoint(url)
                                .with_allow_http(url.starts_with("http://"));
                        }
                        Some(("region", name)) => region = name.to_string(),
                        _ => anyhow::bail!("invalid slug store `{spec}`: unknown setting `{pair}`"),
                    }
                }
                Arc::new(
                    builder
                        .with_region(region)
                        .build()
                        .with_context(|| format!("invalid slug store `{spec}`"))?,
                )
            }
            None => {
                let dir = std::path::Path::new(spec.strip_prefix("file://").unwrap_or(spec));
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                Arc::new(
                    object_store::local::LocalFileSystem::new_with_prefix(dir)
                        .with_context(|| format!("opening the slug folder {}", dir.display()))?,
                )
            }
        };
        Ok(Objects::new(store))
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Where `bucket` keeps its objects.
    pub fn prefix(bucket: &str) -> StorePath {
        StorePath::from_iter([ROOT, bucket].iter().flat_map(|p| p.split('/')))
    }

    /// Where `bucket` keeps the object `key`.
    pub fn path(bucket: &str, key: &str) -> Result<StorePath, UnsupportedKey> {
        if key.is_empty() || key.split('/').any(str::is_empty) {
            return Err(UnsupportedKey(key.to_string()));
        }
        let parts = Objects::prefix(bucket)
            .parts()
            .map(|p| p.as_ref().to_string())
            .collect::<Vec<_>>();
        Ok(StorePath::from_iter(
            parts
                .iter()
                .map(|p| PathPart::from(p.as_str()))
                .chain(key.split('/').map(PathPart::from)),
        ))
    }

    /// Every object of `bucket`, by key.
    pub async fn list(&self, bucket: &str) -> anyhow::Result<Vec<Entry>> {
        let prefix = Objects::prefix(bucket);
        let skip = prefix.parts().count();
        let metas: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .with_context(|| format!("listing the bucket {bucket}"))?;
        let mut entries: Vec<Entry> = metas
            .into_iter()
            .filter_map(|meta| {
                let key = meta
                    .location
                    .parts()
                    .skip(skip)
                    .map(|p| {
                        percent_encoding::percent_decode_str(p.as_ref())
                            .decode_utf8_lossy()
                            .into_owned()
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                (!key.is_empty()).then(|| Entry {
                    key,
                    size: meta.size,
                    last_modified: SystemTime::from(meta.last_modified),
                    e_tag: meta.e_tag,
                })
            })
            .collect();
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(entries)
    }

    /// How many objects `bucket` holds, and their bytes.
    pub async fn usage(&self, bucket: &str) -> anyhow::Result<(u64, u64)> {
        let entries = self.list(bucket).await?;
        Ok((
            entries.len() as u64,
            entries.iter().map(|e| e.size).sum::<u64>(),
        ))
    }

    /// Deletes every object of `bucket`; deleting what is gone succeeds.
    pub async fn clear(&self, bucket: &str) -> anyhow::Result<()> {
        let prefix = Objects::prefix(bucket);
        let locations = self.store.list(Some(&prefix)).map_ok(|meta| meta.location);
        self.store
            .delete_stream(locations.boxed())
            .try_for_each(|_| async { Ok(()) })
            .await
            .or_else(|e| match e {
                object_store::Error::NotFound { .. } => Ok(()),
                e => Err(e),
            })
            .with_context(|| format!("deleting the objects of the bucket {bucket}"))
    }

    /// Deletes one object; deleting what is gone succeeds, as in S3.
    pub async fn delete(&self, location: &StorePath) -> object_store::Result<()> {
        match self.store.delete(location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    #[tokio::test]
    async fn keys_round_trip_and_buckets_stay_apart() {
        let objects = Objects::new(Arc::new(InMemory::new()));
        let keys = ["a.txt", "dir/b c.txt", "100%/x#y?z", "ü/..", "."];
        for key in keys {
            let path = Objects::path("kumo-one", key).unwrap();
            objects.store.put(&path, "x".into()).await.unwrap();
        }
        let other = Objects::path("kumo-one-2", "a.txt").unwrap();
        objects.store.put(&other, "yy".into()).await.unwrap();
        let mut want: Vec<&str> = keys.to_vec();
        want.sort();
        let got: Vec<String> = objects
            .list("kumo-one")
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(got, want);
        assert_eq!(objects.usage("kumo-one").await.unwrap(), (5, 5));
        objects.clear("kumo-one").await.unwrap();
        assert_eq!(objects.usage("kumo-one").await.unwrap(), (0, 0));
        assert_eq!(objects.usage("kumo-one-2").await.unwrap(), (1, 2));
        for key in ["", "/a", "a/", "a//b"] {
            assert!(Objects::path("kumo-one", key).is_err(), "{key:?}");
        }
    }
}
