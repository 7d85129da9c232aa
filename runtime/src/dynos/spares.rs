//! Spare dyno folders: whole fresh copies of a slug's files (`app/` and an
//! empty `tmp/`) kept ready under `<dynos dir>/.spare/`, so a wake renames one
//! into place instead of copying the slug while its request waits. They are made
//! by copying ahead of need, or are the folders of dynos gone to sleep that
//! changed no file, and all the folder work no request waits for runs on one
//! thread of its own.

use super::fs::{copy_tree, disk_usage, remove_quietly};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

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
pub(super) fn in_background(job: impl FnOnce() + Send + 'static) {
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
pub(super) const CLOCK_MARGIN: Duration = Duration::from_millis(50);

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
pub(super) struct Spare {
    pub root: PathBuf,
    bytes: u64,
    /// Its entries and their newest change time when it was last checked.
    pub pristine: Option<Pristine>,
    /// When its files were copied.
    pub made: Instant,
}

/// A dyno folder as it was when its files were known to be the slug's: how many
/// entries it holds and the newest change time among them (`ctime`, which any
/// write, rename, link or removal moves forward and no guest can set back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pristine {
    entries: u64,
    newest: (i64, i64),
    /// When the files were copied.
    made: Instant,
}

impl Pristine {
    pub(super) fn entries_and_newest(&self) -> (u64, (i64, i64)) {
        (self.entries, self.newest)
    }

    /// The entries under `root` and their newest change time (the root itself,
    /// which a rename touches, is left out); `None` if it cannot be read whole.
    pub(super) fn of(root: &Path) -> Option<(u64, (i64, i64))> {
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

/// Takes a ready spare of `slug_app`, if it has one.
pub(super) fn take(slug_app: &Path) -> Option<Spare> {
    SPARES.lock().expect("spares lock poisoned").take(slug_app)
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
pub(super) fn keep_spare(dynos_dir: &Path, slug_app: &Path, folder: PathBuf, was: Pristine) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynos::fs::DynoFs;

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
