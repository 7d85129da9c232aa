//! What the data plane needs to know about apps, and where it reads it from.
//!
//! The data plane never queries the ledger itself: it asks a [`ReleaseSource`]
//! for an app's desired state ([`AppSpec`]) and for slug archives. The control
//! plane implements it over its database and slug store; tests use [`MemorySource`].

use crate::addons::AddonGrant;
use crate::sizes::DynoSize;
use anyhow::Context as _;
use async_trait::async_trait;
use kumo_slug::Digest;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The desired state of one app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppSpec {
    pub name: String,
    /// The current release; `None` until something is deployed.
    pub release: Option<ReleaseSpec>,
    /// Process type → how many dynos of which size.
    pub formation: BTreeMap<String, FormationEntry>,
    pub maintenance: bool,
    /// Custom domains routed to this app besides `<name>.<router domain>`.
    pub domains: Vec<String>,
    /// How many times its dynos were restarted: all (``), a process type
    /// (`web`) or one dyno (`web.1`). A dyno whose count rises is replaced.
    pub restarts: BTreeMap<String, u64>,
}

impl AppSpec {
    pub fn new(name: impl Into<String>) -> AppSpec {
        AppSpec {
            name: name.into(),
            release: None,
            formation: BTreeMap::new(),
            maintenance: false,
            domains: Vec::new(),
            restarts: BTreeMap::new(),
        }
    }

    /// Sets `quantity` dynos of `size` for `process_type`.
    pub fn scale(mut self, process_type: &str, quantity: u32, size: DynoSize) -> AppSpec {
        self.formation
            .insert(process_type.to_string(), FormationEntry { quantity, size });
        self
    }

    pub fn with_release(mut self, release: ReleaseSpec) -> AppSpec {
        self.release = Some(release);
        self
    }
}

/// One process type's line of the formation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FormationEntry {
    pub quantity: u32,
    pub size: DynoSize,
}

/// A release as the data plane runs it: a slug, the config vars and what its
/// attached add-ons grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseSpec {
    /// `1` for v1.
    pub version: u64,
    pub slug: Digest,
    pub config: BTreeMap<String, String>,
    /// The app's attached add-ons: the only resources beyond its allowed hosts
    /// its dynos can reach.
    pub addons: Vec<AddonGrant>,
}

/// Where the data plane reads apps, releases and slugs from.
#[async_trait]
pub trait ReleaseSource: Send + Sync + 'static {
    /// The desired state of `app`, or `None` if there is no such app.
    async fn app(&self, app: &str) -> anyhow::Result<Option<AppSpec>>;

    /// Every app, for start-up.
    async fn apps(&self) -> anyhow::Result<Vec<AppSpec>>;

    /// Writes the archive of slug `digest` to `dest`.
    async fn fetch_slug(&self, digest: &Digest, dest: &Path) -> anyhow::Result<()>;
}

/// A [`ReleaseSource`] held in memory.
#[derive(Default)]
pub struct MemorySource {
    apps: Mutex<HashMap<String, AppSpec>>,
    slugs: Mutex<HashMap<Digest, PathBuf>>,
}

impl MemorySource {
    pub fn new() -> MemorySource {
        MemorySource::default()
    }

    /// Sets the desired state of an app (creating it).
    pub fn put_app(&self, spec: AppSpec) {
        self.apps
            .lock()
            .expect("source lock poisoned")
            .insert(spec.name.clone(), spec);
    }

    /// Changes an app in place; returns false if there is no such app.
    pub fn update_app(&self, name: &str, change: impl FnOnce(&mut AppSpec)) -> bool {
        let mut apps = self.apps.lock().expect("source lock poisoned");
        match apps.get_mut(name) {
            Some(spec) => {
                change(spec);
                true
            }
            None => false,
        }
    }

    pub fn remove_app(&self, name: &str) {
        self.apps.lock().expect("source lock poisoned").remove(name);
    }

    /// Makes the slug archive at `path` available under `digest`.
    pub fn add_slug(&self, digest: Digest, path: impl Into<PathBuf>) {
        self.slugs
            .lock()
            .expect("source lock poisoned")
            .insert(digest, path.into());
    }
}

#[async_trait]
impl ReleaseSource for MemorySource {
    async fn app(&self, app: &str) -> anyhow::Result<Option<AppSpec>> {
        Ok(self
            .apps
            .lock()
            .expect("source lock poisoned")
            .get(app)
            .cloned())
    }

    async fn apps(&self) -> anyhow::Result<Vec<AppSpec>> {
        Ok(self
            .apps
            .lock()
            .expect("source lock poisoned")
            .values()
            .cloned()
            .collect())
    }

    async fn fetch_slug(&self, digest: &Digest, dest: &Path) -> anyhow::Result<()> {
        let path = self
            .slugs
            .lock()
            .expect("source lock poisoned")
            .get(digest)
            .cloned()
            .with_context(|| format!("no slug {digest}"))?;
        tokio::fs::copy(&path, dest)
            .await
            .with_context(|| format!("copying {} to {}", path.display(), dest.display()))?;
        Ok(())
    }
}
