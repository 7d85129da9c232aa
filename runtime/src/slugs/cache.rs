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
        let dir = dir.into();
        // Unpacks a killed server left half done are never read; they only take space.
        remove_stale_partials(&dir);
        SlugCache {
            dir,
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

/// Removes what a process that is gone left half-written in `dir`: entries named
/// `….partial-<pid>` (unpacks in progress, compiled code being written) whose
/// process no longer runs. Another live process's (several servers or test
/// binaries may share a compile cache) are left alone.
pub fn remove_stale_partials(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.rsplit_once(".partial-"))
            .and_then(|(_, pid)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let path = entry.path();
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match removed {
            Ok(()) => {
                tracing::info!(path = %path.display(), "removed what a stopped server left half-written")
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "could not remove a half-written file")
            }
        }
    }
}

#[cfg(test)]
mod partial_tests {
    use super::remove_stale_partials;

    #[test]
    fn only_partials_of_gone_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join(".abc.partial-4000000000");
        std::fs::create_dir_all(gone.join("app")).unwrap();
        let gone_file = dir.path().join("x.partial-4000000001");
        std::fs::write(&gone_file, "half").unwrap();
        let mine = dir
            .path()
            .join(format!(".def.partial-{}", std::process::id()));
        std::fs::create_dir(&mine).unwrap();
        let unpacked = dir.path().join("0123abcd");
        std::fs::create_dir(&unpacked).unwrap();
        let odd = dir.path().join("y.partial-notapid");
        std::fs::write(&odd, "").unwrap();

        remove_stale_partials(dir.path());
        assert!(!gone.exists() && !gone_file.exists());
        assert!(mine.exists() && unpacked.exists() && odd.exists());
    }
}
