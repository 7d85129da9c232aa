//! A dyno's ephemeral filesystem: a fresh private writable copy of the slug's
//! files, seen by the guest as `/app`, and an empty `/tmp`. Nothing else of the
//! host is visible. The folder is deleted when the dyno goes away, unless it
//! goes to sleep without having changed a file: then the folder, still exactly
//! the slug's files, is kept as the spare the next wake renames into place.
//! Every dyno, web, worker or one-off, is killed once its files pass its disk quota.

use anyhow::Context as _;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// How often a dyno's folder is measured against its disk quota.
pub const DISK_CHECK: std::time::Duration = std::time::Duration::from_millis(500);

/// The folders of one dyno on the host.
#[derive(Debug)]
pub struct DynoFs {
    root: PathBuf,
    dynos_dir: PathBuf,
    slug_app: PathBuf,
    /// How the folder looked when it was a spare, if it may be kept as one again.
    pristine: Option<Pristine>,
    /// Set when the dyno goes to sleep: keep the folder as a spare if unchanged.
    keep: AtomicBool,
}

impl DynoFs {
    /// Copies `slug_app` into a new folder under `dynos_dir`, or takes a spare
    /// copy of it ([`prepare_spare`]) and has the next one made in the background,
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
        let spare = SPARES.lock().expect("spares lock poisoned").take(slug_app);
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

type Job = Box<dyn FnOnce() + Send>;

/// Folder work no request waits for (deleting a dyno's folder, keeping it as a
/// spare, copying a new spare) goes to one thread of its own and is done a job
/// at a time. The sleep sweep puts every idle app to sleep at once; were each
/// folder a task of the blocking pool, dozens of threads would take the cores
/// from the wakes and requests of that moment (12 ms wakes, measured, where
/// they otherwise take under 2).
static FOLDER_WORK: LazyLock<Option<Mutex<std::sync::mpsc::Sender<Job>>>> = LazyLock::new(|| {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("kumo-dyno-files".into())
        .spawn(move || {
            for job in rx {
                job();
            }
        })
        .ok()
        .map(|_| Mutex::new(tx))
});

/// Runs `job` on the folder thread (or here, should that thread be missing).
fn in_background(job: impl FnOnce() + Send + 'static) {
    let job: Job = Box::new(job);
    let Some(tx) = FOLDER_WORK.as_ref() else {
        return job();
    };
    let sent = tx.lock().expect("folder work lock poisoned").send(job);
    if let Err(std::sync::mpsc::SendError(job)) = sent {
        job();
    }
}

/// Most bytes of spare copies kept at once; past it the oldest are deleted.
pub const SPARE_BYTES: u64 = 1 << 30;
/// Spare copies of one slug made by copying, ready or being made: two, so that
/// apps sharing a slug and waking one right after another find one while the
/// next is made.
pub const SPARES_PER_SLUG: usize = 2;
/// Most spares of one slug kept, counting the unchanged folders of dynos gone
/// to sleep (which cost nothing to make).
pub const MAX_SPARES_PER_SLUG: usize = 8;
/// How old a spare must be for its change times to tell every later write: the
/// kernel stamps changes with a clock that advances a few milliseconds at a time.
const CLOCK_MARGIN: Duration = Duration::from_millis(50);

/// Spare copies of slugs' files, each a whole fresh dyno folder (`app/` and an
/// empty `tmp/`) under `<dynos dir>/.spare/`, keyed by the slug's unpacked `app/`.
/// A slug's files never change, so a spare is as fresh as a new copy.
static SPARES: LazyLock<Mutex<Spares>> = LazyLock::new(Default::default);

#[derive(Default)]
struct Spares {
    /// Per slug, its ready spares.
    ready: HashMap<PathBuf, Vec<Spare>>,
    /// One entry per ready spare, oldest first (a slug appears once per spare).
    order: VecDeque<PathBuf>,
    bytes: u64,
    /// Per slug, the spares being made.
    making: HashMap<PathBuf, usize>,
}

/// One spare dyno folder.
struct Spare {
    root: PathBuf,
    bytes: u64,
    /// Its entries and their newest change time when it was last checked.
    pristine: Option<Pristine>,
    /// When its files were copied.
    made: Instant,
}

/// A dyno folder as it was when its files were known to be the slug's: how many
/// entries it holds and the newest change time among them (`ctime`, which any
/// write, rename, link or removal moves forward and no guest can set back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pristine {
    entries: u64,
    newest: (i64, i64),
    /// When the files were copied.
    made: Instant,
}

impl Pristine {
    fn entries_and_newest(&self) -> (u64, (i64, i64)) {
        (self.entries, self.newest)
    }

    /// The entries under `root` and their newest change time (the root itself,
    /// which a rename touches, is left out); `None` if it cannot be read whole.
    fn of(root: &Path) -> Option<(u64, (i64, i64))> {
        use std::os::unix::fs::MetadataExt as _;
        let (mut entries, mut newest) = (0, (i64::MIN, 0));
        let mut folders = vec![root.to_path_buf()];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).ok()? {
                let entry = entry.ok()?;
                let meta = entry.metadata().ok()?;
                if meta.is_dir() {
                    folders.push(entry.path());
                }
                entries += 1;
                newest = newest.max((meta.ctime(), meta.ctime_nsec()));
            }
        }
        Some((entries, newest))
    }
}

impl Spares {
    fn take(&mut self, slug_app: &Path) -> Option<Spare> {
        let ready = self.ready.get_mut(slug_app)?;
        let spare = ready.pop()?;
        if ready.is_empty() {
            self.ready.remove(slug_app);
        }
        if let Some(at) = self.order.iter().position(|s| s == slug_app) {
            self.order.remove(at);
        }
        self.bytes -= spare.bytes;
        Some(spare)
    }

    /// Spares of `slug_app` ready or being made.
    fn count(&self, slug_app: &Path) -> usize {
        self.ready.get(slug_app).map_or(0, Vec::len)
            + self.making.get(slug_app).copied().unwrap_or(0)
    }

    /// Adds a ready spare and returns the folders evicted to stay within [`SPARE_BYTES`].
    fn add(&mut self, slug_app: &Path, spare: Spare) -> Vec<PathBuf> {
        self.bytes += spare.bytes;
        self.ready
            .entry(slug_app.to_path_buf())
            .or_default()
            .push(spare);
        self.order.push_back(slug_app.to_path_buf());
        let mut evicted = Vec::new();
        while self.bytes > SPARE_BYTES {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(ready) = self.ready.get_mut(&oldest) {
                // The oldest of this slug's spares is the first added.
                let old = ready.remove(0);
                if ready.is_empty() {
                    self.ready.remove(&oldest);
                }
                self.bytes -= old.bytes;
                evicted.push(old.root);
            }
        }
        evicted
    }
}

/// Makes a spare copy of `slug_app` in the background, unless it has
/// [`SPARES_PER_SLUG`] ready or being made: called when a wake takes a spare and
/// when a sleeping dyno's folder cannot be kept, so that a wake renames a ready
/// folder instead of copying the slug (13 MB for a JavaScript app, 18 MB for
/// Python) while the request waits. Spares past [`SPARE_BYTES`] are deleted
/// oldest first; the dynos folder is emptied at server start.
pub fn prepare_spare(dynos_dir: &Path, slug_app: &Path) {
    let key = slug_app.to_path_buf();
    {
        let mut spares = SPARES.lock().expect("spares lock poisoned");
        if spares.count(&key) >= SPARES_PER_SLUG {
            return;
        }
        *spares.making.entry(key.clone()).or_default() += 1;
    }
    let root = dynos_dir
        .join(".spare")
        .join(uuid::Uuid::new_v4().simple().to_string());
    let make = move || {
        let made = std::fs::create_dir_all(root.join("tmp"))
            .map_err(anyhow::Error::from)
            .and_then(|()| copy_tree(&key, &root.join("app")));
        let copied = Instant::now();
        // Measured before taking the lock, which wakes wait on.
        let bytes = if made.is_ok() { disk_usage(&root) } else { 0 };
        let pristine = Pristine::of(&root).map(|(entries, newest)| Pristine {
            entries,
            newest,
            made: copied,
        });
        let mut spares = SPARES.lock().expect("spares lock poisoned");
        if let Some(making) = spares.making.get_mut(&key) {
            *making -= 1;
            if *making == 0 {
                spares.making.remove(&key);
            }
        }
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
        let spare = Spare {
            root,
            bytes,
            pristine,
            made: copied,
        };
        let evicted = spares.add(&key, spare);
        drop(spares);
        for old in evicted {
            remove_quietly(&old);
        }
    };
    in_background(make);
}

/// Keeps the folder of a dyno gone to sleep, unchanged since it was a spare, as
/// a spare again: renamed back under `.spare/`, with no copy made or deleted.
fn keep_spare(dynos_dir: &Path, slug_app: &Path, folder: PathBuf, was: Pristine) {
    let room = SPARES.lock().expect("spares lock poisoned").count(slug_app) < MAX_SPARES_PER_SLUG;
    let root = dynos_dir
        .join(".spare")
        .join(uuid::Uuid::new_v4().simple().to_string());
    let moved = room
        && root
            .parent()
            .is_some_and(|p| std::fs::create_dir_all(p).is_ok())
        && std::fs::rename(&folder, &root).is_ok();
    if !moved {
        return remove_quietly(&folder);
    }
    let spare = Spare {
        bytes: disk_usage(&root),
        root,
        pristine: Some(was),
        made: was.made,
    };
    let evicted = SPARES
        .lock()
        .expect("spares lock poisoned")
        .add(slug_app, spare);
    for old in evicted {
        remove_quietly(&old);
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

    /// The ready spares of `slug_app` once `want` of them are ready.
    async fn ready(slug_app: &Path, want: usize) -> Vec<PathBuf> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let ready: Vec<PathBuf> = {
                let spares = SPARES.lock().unwrap();
                let ready = spares.ready.get(slug_app);
                ready.map_or_else(Vec::new, |r| r.iter().map(|s| s.root.clone()).collect())
            };
            if ready.len() >= want {
                return ready;
            }
            assert!(std::time::Instant::now() < deadline, "no spare was made");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    fn slug(dir: &Path) -> PathBuf {
        let slug_app = dir.join("slug/app");
        std::fs::create_dir_all(slug_app.join("lib")).unwrap();
        std::fs::write(slug_app.join("lib/a.txt"), "from the slug").unwrap();
        slug_app
    }

    #[tokio::test]
    async fn a_spare_is_a_fresh_copy_taken_once_and_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let slug_app = slug(dir.path());
        let dynos = dir.path().join("dynos");

        // Asked for more than its share, a slug gets SPARES_PER_SLUG of them.
        for _ in 0..5 {
            prepare_spare(&dynos, &slug_app);
        }
        let spares = ready(&slug_app, SPARES_PER_SLUG).await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(SPARES.lock().unwrap().count(&slug_app), SPARES_PER_SLUG);
        assert!(spares.iter().all(|s| s.starts_with(dynos.join(".spare"))));

        let first = DynoFs::create(&dynos, "app", "web.1", &slug_app)
            .await
            .unwrap();
        assert!(
            spares.iter().filter(|s| !s.exists()).count() == 1,
            "one spare was moved into place"
        );
        assert!(first.app_dir().starts_with(dynos.join("app")));
        let text = std::fs::read_to_string(first.app_dir().join("lib/a.txt")).unwrap();
        assert_eq!(text, "from the slug");
        assert!(first.tmp_dir().is_dir());
        std::fs::write(first.app_dir().join("lib/a.txt"), "changed by the dyno").unwrap();

        // Taken once, and made again: every later dyno gets a fresh copy of the
        // slug and sees none of the first's writes.
        let refilled = ready(&slug_app, SPARES_PER_SLUG).await;
        assert!(!refilled.contains(&first.root));
        for n in 2..=4 {
            let next = DynoFs::create(&dynos, "app", &format!("web.{n}"), &slug_app)
                .await
                .unwrap();
            let text = std::fs::read_to_string(next.app_dir().join("lib/a.txt")).unwrap();
            assert_eq!(text, "from the slug");
        }
    }

    /// A sleeping dyno's folder becomes the next spare only if nothing in it changed.
    #[tokio::test]
    async fn an_unchanged_folder_is_kept_as_a_spare_and_a_changed_one_is_not() {
        for change in [
            None,
            Some("write a file of the slug"),
            Some("add a file to /tmp"),
            Some("remove a file of the slug"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let slug_app = slug(dir.path());
            let dynos = dir.path().join("dynos");
            for _ in 0..SPARES_PER_SLUG {
                prepare_spare(&dynos, &slug_app);
            }
            let spares = ready(&slug_app, SPARES_PER_SLUG).await;
            // Old enough for the change times to show the dyno's writes.
            tokio::time::sleep(CLOCK_MARGIN + Duration::from_millis(10)).await;
            let fs = DynoFs::create(&dynos, "app", "web.1", &slug_app)
                .await
                .unwrap();
            assert!(fs.pristine.is_some(), "{change:?}");
            let folder = fs.root.clone();
            match change {
                None => {
                    let _ = std::fs::read_to_string(fs.app_dir().join("lib/a.txt")).unwrap();
                }
                Some("write a file of the slug") => {
                    std::fs::write(fs.app_dir().join("lib/a.txt"), "from the slug").unwrap();
                }
                Some("add a file to /tmp") => {
                    std::fs::write(fs.tmp_dir().join("scratch"), "x").unwrap();
                }
                Some(_) => std::fs::remove_file(fs.app_dir().join("lib/a.txt")).unwrap(),
            }
            // The refill of the taken spare lands first, so the kept one is the third.
            ready(&slug_app, SPARES_PER_SLUG).await;
            let before: Vec<PathBuf> = spares.iter().filter(|s| s.exists()).cloned().collect();
            fs.keep_as_spare();
            drop(fs);
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while folder.exists() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the folder stayed in place"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now: Vec<PathBuf> = {
                let spares = SPARES.lock().unwrap();
                spares.ready[&slug_app]
                    .iter()
                    .map(|s| s.root.clone())
                    .collect()
            };
            let kept = now.len() > SPARES_PER_SLUG;
            assert_eq!(kept, change.is_none(), "{change:?}: spares {now:?}");
            assert!(before.iter().all(|b| now.contains(b)));
            // Whatever was kept is still exactly the slug's files.
            for spare in &now {
                let text = std::fs::read_to_string(spare.join("app/lib/a.txt")).unwrap();
                assert_eq!(text, "from the slug");
                assert_eq!(std::fs::read_dir(spare.join("tmp")).unwrap().count(), 0);
            }
        }
    }

    /// A spare taken as soon as it is made is used, but never kept: a write in the
    /// same tick of the kernel's clock as its copy would not show.
    #[tokio::test]
    async fn a_spare_taken_at_once_is_not_kept_again() {
        let dir = tempfile::tempdir().unwrap();
        let slug_app = slug(dir.path());
        let dynos = dir.path().join("dynos");
        prepare_spare(&dynos, &slug_app);
        ready(&slug_app, 1).await;
        let fs = DynoFs::create(&dynos, "app", "web.1", &slug_app)
            .await
            .unwrap();
        assert!(fs.pristine.is_none());
    }
}
