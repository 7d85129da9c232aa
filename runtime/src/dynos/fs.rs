//! A dyno's ephemeral filesystem: a fresh private writable copy of the slug's
//! files, seen by the guest as `/app`, and an empty `/tmp`. Nothing else of the
//! host is visible. The folder is deleted when the dyno goes away, unless it
//! goes to sleep without having changed a file: then the folder, still exactly
//! the slug's files, is kept as the spare the next wake renames into place.
//! Every dyno, web, worker or one-off, is killed once its files pass its disk quota.

use super::spares::{self, CLOCK_MARGIN, Pristine, in_background, keep_spare, prepare_spare};
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// How often a dyno's folder is measured against its disk quota.
pub const DISK_CHECK: std::time::Duration = std::time::Duration::from_millis(500);

/// The folders of one dyno on the host.
#[derive(Debug)]
pub struct DynoFs {
    pub(super) root: PathBuf,
    dynos_dir: PathBuf,
    slug_app: PathBuf,
    /// How the folder looked when it was a spare, if it may be kept as one again.
    pub(super) pristine: Option<Pristine>,
    /// Set when the dyno goes to sleep: keep the folder as a spare if unchanged.
    keep: AtomicBool,
}

impl DynoFs {
    /// Copies `slug_app` into a new folder under `dynos_dir`, or takes a spare
    /// copy of it ([`spares`]) and has the next one made in the background,
    /// so that apps waking one after another from the same slug each find one.
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
        let spare = spares::take(slug_app);
        if spare.is_some() {
            prepare_spare(dynos_dir, slug_app);
        }
        // A spare made just now could be written by the guest within the same tick
        // of the kernel's coarse clock as its last copy, unseen by the change times:
        // such a folder is used, but never kept again.
        let pristine = spare
            .as_ref()
            .filter(|spare| spare.made.elapsed() >= CLOCK_MARGIN)
            .and_then(|spare| spare.pristine);
        let moved = tokio::task::spawn_blocking(move || -> anyhow::Result<bool> {
            if let Some(spare) = spare {
                let moved = r
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| std::fs::rename(&spare.root, &r));
                match moved {
                    Ok(()) => return Ok(true),
                    Err(_) => remove_quietly(&spare.root),
                }
            }
            std::fs::create_dir_all(r.join("tmp"))
                .with_context(|| format!("creating {}", r.display()))?;
            copy_tree(&src, &r.join("app"))?;
            Ok(false)
        })
        .await
        .context("filesystem task failed")??;
        Ok(DynoFs {
            root,
            dynos_dir: dynos_dir.to_path_buf(),
            slug_app: slug_app.to_path_buf(),
            pristine: pristine.filter(|_| moved),
            keep: AtomicBool::new(false),
        })
    }

    pub fn app_dir(&self) -> PathBuf {
        self.root.join("app")
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Says the dyno is going to sleep: when the folder goes away, it is kept as
    /// the slug's next spare if no file in it changed, else a fresh spare is made.
    pub fn keep_as_spare(&self) {
        self.keep.store(true, Ordering::Release);
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
        let (dynos_dir, slug_app) = (self.dynos_dir.clone(), self.slug_app.clone());
        let (keep, pristine) = (self.keep.load(Ordering::Acquire), self.pristine);
        let release = move || {
            if !keep {
                return remove_quietly(&root);
            }
            match pristine {
                Some(was) if Pristine::of(&root) == Some(was.entries_and_newest()) => {
                    keep_spare(&dynos_dir, &slug_app, root, was);
                }
                _ => {
                    remove_quietly(&root);
                    prepare_spare(&dynos_dir, &slug_app);
                }
            }
        };
        in_background(release);
    }
}

pub(super) fn remove_quietly(root: &Path) {
    if let Err(e) = std::fs::remove_dir_all(root) {
        tracing::warn!(path = %root.display(), error = %e, "could not remove a dyno folder");
    }
}

/// Bytes the files under `root` take on disk (allocated blocks, so sparse files
/// count for what they hold). Entries that vanish while it walks are skipped.
pub(super) fn disk_usage(root: &Path) -> u64 {
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

/// Copies a folder of plain files and folders (a slug holds nothing else),
/// keeping each file's modification time, as unpacking the slug does: tools
/// compare them (Clojure loads a namespace's compiled class only when it is
/// newer than its source).
pub(super) fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
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
            let modified = entry.metadata()?.modified()?;
            std::fs::File::options()
                .write(true)
                .open(&target)
                .and_then(|file| file.set_modified(modified))
                .with_context(|| format!("dating {}", target.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::copy_tree;
    use std::time::{Duration, SystemTime};

    /// A dyno's copy of the slug keeps each file's modification time.
    #[test]
    fn copies_keep_modification_times() {
        let from = tempfile::tempdir().unwrap();
        let to = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(from.path().join("src")).unwrap();
        let file = from.path().join("src/core.clj");
        std::fs::write(&file, "(ns core)").unwrap();
        let then = SystemTime::UNIX_EPOCH + Duration::from_secs(1_153_704_088);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(then)
            .unwrap();
        copy_tree(from.path(), &to.path().join("app")).unwrap();
        let copied = to.path().join("app/src/core.clj");
        assert_eq!(std::fs::read_to_string(&copied).unwrap(), "(ns core)");
        assert_eq!(
            std::fs::metadata(&copied).unwrap().modified().unwrap(),
            then
        );
    }
}
