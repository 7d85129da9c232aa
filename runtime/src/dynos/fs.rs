//! A dyno's ephemeral filesystem: a fresh private writable copy of the slug's
//! files, seen by the guest as `/app`, and an empty `/tmp`. Nothing else of the
//! host is visible. The folder is deleted when the dyno goes away.

use anyhow::Context as _;
use std::path::{Path, PathBuf};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// The folders of one dyno on the host.
#[derive(Debug)]
pub struct DynoFs {
    root: PathBuf,
}

impl DynoFs {
    /// Copies `slug_app` into a new folder under `dynos_dir`.
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
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
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
        let remove = move || {
            if let Err(e) = std::fs::remove_dir_all(&root) {
                tracing::warn!(path = %root.display(), error = %e, "could not remove a dyno's filesystem");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn_blocking(remove);
            }
            Err(_) => remove(),
        }
    }
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
