//! Each slug a dyno needs is fetched from the [`ReleaseSource`] and unpacked once
//! into `<slug dir>/<digest>/`, where every dyno of every release that uses it
//! copies its files from.

use crate::source::ReleaseSource;
use anyhow::Context as _;
use kumo_slug::{Digest, Limits, MANIFEST_FILE, Manifest};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// A slug unpacked on local disk.
#[derive(Debug)]
pub struct UnpackedSlug {
    pub digest: Digest,
    pub manifest: Manifest,
    root: PathBuf,
}

impl UnpackedSlug {
    /// A slug already unpacked at `root` (which holds `app/`): a scratch copy
    /// checked before the slug is stored, not one this cache manages.
    pub fn at(digest: Digest, manifest: Manifest, root: PathBuf) -> UnpackedSlug {
        UnpackedSlug {
            digest,
            manifest,
            root,
        }
    }

    /// The folder every dyno copies to its `/app`.
    pub fn app_dir(&self) -> PathBuf {
        self.root.join(kumo_slug::APP_DIR)
    }
}

/// Unpacked slugs by digest.
pub struct SlugCache {
    dir: PathBuf,
    source: Arc<dyn ReleaseSource>,
    slugs: Mutex<HashMap<Digest, Arc<OnceCell<Arc<UnpackedSlug>>>>>,
}

impl SlugCache {
    pub fn new(dir: impl Into<PathBuf>, source: Arc<dyn ReleaseSource>) -> SlugCache {
        SlugCache {
            dir: dir.into(),
            source,
            slugs: Mutex::default(),
        }
    }

    /// The unpacked slug `digest`, fetching and unpacking it on first use.
    /// Concurrent callers for the same digest wait for one unpack.
    pub async fn get(&self, digest: &Digest) -> anyhow::Result<Arc<UnpackedSlug>> {
        let cell = {
            let mut slugs = self.slugs.lock().expect("slug cache lock poisoned");
            slugs.entry(digest.clone()).or_default().clone()
        };
        cell.get_or_try_init(|| self.unpack(digest)).await.cloned()
    }

    async fn unpack(&self, digest: &Digest) -> anyhow::Result<Arc<UnpackedSlug>> {
        let root = self.dir.join(digest.hex());
        let manifest_path = root.join(MANIFEST_FILE);
        if !manifest_path.is_file() {
            tokio::fs::create_dir_all(&self.dir)
                .await
                .with_context(|| format!("creating {}", self.dir.display()))?;
            let download = self.dir.join(format!(
                "{}.download-{}",
                digest.hex(),
                uuid::Uuid::new_v4()
            ));
            self.source
                .fetch_slug(digest, &download)
                .await
                .with_context(|| format!("fetching slug {digest}"))?;
            let (d, r, dl) = (digest.clone(), root.clone(), download.clone());
            let unpacked = tokio::task::spawn_blocking(move || unpack_into(&dl, &d, &r))
                .await
                .context("unpack task failed")?;
            let _ = tokio::fs::remove_file(&download).await;
            unpacked?;
        }
        let json = tokio::fs::read(&manifest_path)
            .await
            .with_context(|| format!("reading {}", manifest_path.display()))?;
        let manifest = Manifest::from_json(&json)?;
        Ok(Arc::new(UnpackedSlug {
            digest: digest.clone(),
            manifest,
            root,
        }))
    }
}

fn unpack_into(archive: &Path, digest: &Digest, root: &Path) -> anyhow::Result<()> {
    match kumo_slug::unpack(archive, digest, root, Limits::default()) {
        Ok(_) => Ok(()),
        // Another Kumo process (or an earlier run) finished the same slug first.
        Err(_) if root.join(MANIFEST_FILE).is_file() => Ok(()),
        Err(e) => Err(e.into()),
    }
}
