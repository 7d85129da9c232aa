//! A dyno's ephemeral filesystem: a fresh private writable copy of the slug's
//! files, seen by the guest as `/app`, and an empty `/tmp`. Nothing else of the
//! host is visible. The folder is deleted when the dyno goes away. Every dyno,
//! web, worker or one-off, is killed once its files pass its disk quota.

use anyhow::Context as _;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// How often a dyno's folder is measured against its disk quota.
pub const DISK_CHECK: std::time::Duration = std::time::Duration::from_millis(500);

/// The folders of one dyno on the host.
#[derive(Debug)]
pub struct DynoFs {
    root: PathBuf,
}

impl DynoFs {
    /// Copies `slug_app` into a new folder under `dynos_dir`, or takes the
    /// spare copy of it made when the app went to sleep ([`prepare_spare`]).
    pub async fn create(
        dynos_dir: &Path,
        app: &str,
        dyno: &str,
        slug_app: &Path,
    ) -> anyhow::Result<DynoFs> {
        let root = dynos_dir
            .join(app)
            .join(format!("{dyno}-{}", uuid::Uuid::new_v4().simple()));
        let (r, src) = (root.clone(), slug_app.to_path_buf());
        let spare = SPARES.lock().expect("spares lock poisoned").take(slug_app);
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            if let Some(spare) = spare {
                let moved = r
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| std::fs::rename(&spare, &r));
                match moved {
                    Ok(()) => return Ok(()),
                    Err(_) => remove_quietly(&spare),
                }
            }
            std::fs::create_dir_all(r.join("tmp"))
                .with_context(|| format!("creating {}", r.display()))?;
            copy_tree(&src, &r.join("app"))
        })
        .await
        .context("filesystem task failed")??;
        Ok(DynoFs { root })
    }

    pub fn app_dir(&self) -> PathBuf {
        self.root.join("app")
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Waits until the dyno's files (its `/app` and `/tmp`) take more than
    /// `quota` bytes, measuring every [`DISK_CHECK`]; returns the bytes measured.
    /// WASI's filesystem has no write hook to refuse the byte past the quota, so
    /// this bounds a runaway writer by what it can write in one interval.
    pub async fn over_quota(&self, quota: u64) -> u64 {
        let root = self.root.clone();
        loop {
            tokio::time::sleep(DISK_CHECK).await;
            let r = root.clone();
            let used = tokio::task::spawn_blocking(move || disk_usage(&r))
                .await
                .unwrap_or(0);
            if used > quota {
                return used;
            }
        }
    }

    /// Waits until the dyno's files take more than `quota` bytes (see
    /// [`over_quota`](Self::over_quota)); returns the line to log, the same
    /// for every kind of dyno.
    pub async fn quota_exceeded(&self, quota: u64) -> String {
        let used = self.over_quota(quota).await;
        format!(
            "Disk quota exceeded -> the dyno's /app and /tmp hold {} MB, over its {} MB quota",
            used >> 20,
            quota >> 20
        )
    }

    /// Gives `builder` this filesystem: `/app` (the working directory) and `/tmp`.
    pub fn preopen(&self, builder: &mut WasiCtxBuilder) -> anyhow::Result<()> {
        builder
            .preopened_dir(self.app_dir(), "/app", FsPerms::ReadWrite)
            .map_err(anyhow::Error::from)
            .context("opening /app")?;
        builder
            .preopened_dir(self.tmp_dir(), "/tmp", FsPerms::ReadWrite)
            .map_err(anyhow::Error::from)
            .context("opening /tmp")?;
        Ok(())
    }
}

impl Drop for DynoFs {
    fn drop(&mut self) {
        let root = std::mem::take(&mut self.root);
        let remove = move || remove_quietly(&root);
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn_blocking(remove);
            }
            Err(_) => remove(),
        }
    }
}

/// Most bytes of spare copies kept at once; past it the oldest are deleted.
pub const SPARE_BYTES: u64 = 1 << 30;

/// Spare copies of slugs' files, each a whole fresh dyno folder (`app/` and an
/// empty `tmp/`) under `<dynos dir>/.spare/`, keyed by the slug's unpacked `app/`.
/// A slug's files never change, so a spare is as fresh as a new copy.
static SPARES: LazyLock<Mutex<Spares>> = LazyLock::new(Default::default);

#[derive(Default)]
struct Spares {
    ready: HashMap<PathBuf, (PathBuf, u64)>,
    /// Slugs in `ready`, oldest first.
    order: VecDeque<PathBuf>,
    bytes: u64,
    making: HashSet<PathBuf>,
}

impl Spares {
    fn take(&mut self, slug_app: &Path) -> Option<PathBuf> {
        let (root, bytes) = self.ready.remove(slug_app)?;
        self.order.retain(|s| s != slug_app);
        self.bytes -= bytes;
        Some(root)
    }
}

/// Makes a spare copy of `slug_app` in the background, unless one exists or is
/// being made: called when an app's web dyno goes to sleep, so that its wake
/// renames a ready folder instead of copying the slug (13 MB for a JavaScript
/// app, 18 MB for Python) while the request waits. Spares past [`SPARE_BYTES`]
/// are deleted oldest first; the dynos folder is emptied at server start.
pub fn prepare_spare(dynos_dir: &Path, slug_app: &Path) {
    let key = slug_app.to_path_buf();
    {
        let mut spares = SPARES.lock().expect("spares lock poisoned");
        if spares.ready.contains_key(&key) || !spares.making.insert(key.clone()) {
            return;
        }
    }
    let root = dynos_dir
        .join(".spare")
        .join(uuid::Uuid::new_v4().simple().to_string());
    let make = move || {
        let made = std::fs::create_dir_all(root.join("tmp"))
            .map_err(anyhow::Error::from)
            .and_then(|()| copy_tree(&key, &root.join("app")));
        // Measured before taking the lock, which wakes wait on.
        let bytes = if made.is_ok() { disk_usage(&root) } else { 0 };
        let mut spares = SPARES.lock().expect("spares lock poisoned");
        spares.making.remove(&key);
        if let Err(e) = made {
            drop(spares);
            tracing::warn!(slug = %key.display(), error = %e, "could not make a spare dyno folder");
            remove_quietly(&root);
            return;
        }
        if bytes > SPARE_BYTES {
            drop(spares);
            remove_quietly(&root);
            return;
        }
        spares.ready.insert(key.clone(), (root, bytes));
        spares.order.push_back(key);
        spares.bytes += bytes;
        let mut evicted = Vec::new();
        while spares.bytes > SPARE_BYTES {
            let Some(oldest) = spares.order.pop_front() else {
                break;
            };
            if let Some((old, bytes)) = spares.ready.remove(&oldest) {
                spares.bytes -= bytes;
                evicted.push(old);
            }
        }
        drop(spares);
        for old in evicted {
            remove_quietly(&old);
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn_blocking(make);
        }
        Err(_) => make(),
    }
}

fn remove_quietly(root: &Path) {
    if let Err(e) = std::fs::remove_dir_all(root) {
        tracing::warn!(path = %root.display(), error = %e, "could not remove a dyno folder");
    }
}

/// Bytes the files under `root` take on disk (allocated blocks, so sparse files
/// count for what they hold). Entries that vanish while it walks are skipped.
fn disk_usage(root: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    let mut total = 0;
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                folders.push(entry.path());
            }
            total += meta.blocks() * 512;
        }
    }
    total
}

/// Copies a folder of plain files and folders (a slug holds nothing else).
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_spare_is_a_fresh_copy_and_is_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        let slug_app = dir.path().join("slug/app");
        std::fs::create_dir_all(slug_app.join("lib")).unwrap();
        std::fs::write(slug_app.join("lib/a.txt"), "from the slug").unwrap();
        let dynos = dir.path().join("dynos");

        prepare_spare(&dynos, &slug_app);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let spare = loop {
            let ready = SPARES.lock().unwrap().ready.get(&slug_app).cloned();
            if let Some((root, _)) = ready {
                break root;
            }
            assert!(std::time::Instant::now() < deadline, "no spare was made");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        assert!(spare.starts_with(dynos.join(".spare")));

        let first = DynoFs::create(&dynos, "app", "web.1", &slug_app)
            .await
            .unwrap();
        assert!(!spare.exists(), "the spare was moved into place");
        assert!(first.app_dir().starts_with(dynos.join("app")));
        let text = std::fs::read_to_string(first.app_dir().join("lib/a.txt")).unwrap();
        assert_eq!(text, "from the slug");
        assert!(first.tmp_dir().is_dir());
        std::fs::write(first.app_dir().join("lib/a.txt"), "changed by the dyno").unwrap();

        // Taken once: the next dyno copies the slug, and sees none of the first's writes.
        assert!(!SPARES.lock().unwrap().ready.contains_key(&slug_app));
        let second = DynoFs::create(&dynos, "app", "web.1", &slug_app)
            .await
            .unwrap();
        let text = std::fs::read_to_string(second.app_dir().join("lib/a.txt")).unwrap();
        assert_eq!(text, "from the slug");
    }
}
