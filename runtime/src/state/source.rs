//! The data plane's view of the ledger: the [`ReleaseSource`] the dyno manager
//! reads, built from the state database and the slug store.

use super::State;
use crate::slugs::SlugStore;
use crate::source::{AppSpec, FormationEntry, ReleaseSource, ReleaseSpec};
use async_trait::async_trait;
use kumo_slug::Digest;
use std::path::Path;

/// Apps, releases and slugs as the ledger holds them.
pub struct LedgerSource {
    pub state: State,
    pub slugs: SlugStore,
}

impl LedgerSource {
    async fn spec(&self, app: super::App) -> anyhow::Result<AppSpec> {
        let mut spec = AppSpec::new(&app.name);
        spec.maintenance = app.maintenance;
        spec.domains = self.state.domains(&app).await?;
        spec.restarts = self.state.restarts(&app).await?;
        if let Some(release) = self.state.current_release(&app).await?
            && let Some(digest) = &release.slug_digest
        {
            spec.release = Some(ReleaseSpec {
                version: release.version as u64,
                slug: Digest::parse(digest)?,
                config: release.config,
                addons: release.addons,
            });
        }
        for line in self.state.formation(&app).await? {
            spec.formation.insert(
                line.process_type,
                FormationEntry {
                    quantity: line.quantity.clamp(0, u32::MAX as i64) as u32,
                    size: line.size,
                },
            );
        }
        Ok(spec)
    }
}

#[async_trait]
impl ReleaseSource for LedgerSource {
    async fn app(&self, app: &str) -> anyhow::Result<Option<AppSpec>> {
        match self.state.app(app).await? {
            Some(app) => Ok(Some(self.spec(app).await?)),
            None => Ok(None),
        }
    }

    async fn apps(&self) -> anyhow::Result<Vec<AppSpec>> {
        let mut specs = Vec::new();
        for app in self.state.all_apps().await? {
            specs.push(self.spec(app).await?);
        }
        Ok(specs)
    }

    async fn fetch_slug(&self, digest: &Digest, dest: &Path) -> anyhow::Result<()> {
        self.slugs.fetch(digest, dest).await
    }
}
