//! The dyno manager's side of placement (`crate::placement`), when several
//! nodes share the ledger: each converge runs only the formation dynos this
//! node holds leases for, and three things make the nodes converge again —
//! an app another node announces it changed, a lease this node lost, and a
//! free dyno (a new one, or a dead node's) that falls to this node, found by
//! the sweep every `TICK`. A node that cannot renew its leases for `FENCE`
//! stops its formation dynos from what it last applied, without the ledger.

use super::{AppRuntime, DynoManager, DynoStatus};
use crate::dynos::DynoState;
use crate::placement::{Placed, Placement, TICK};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

impl DynoManager {
    /// Places this node's formation dynos through `placement` from now on,
    /// and starts listening, renewing and sweeping.
    pub async fn use_placement(self: &Arc<Self>, placement: Arc<Placement>) -> anyhow::Result<()> {
        placement.renew().await?;
        let mut announced = placement.ledger().announcements(placement.node()).await?;
        if self.placement.set(placement.clone()).is_err() {
            anyhow::bail!("the dyno manager already has a placement");
        }
        let manager = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(app) = announced.recv().await {
                let Some(manager) = manager.upgrade() else {
                    return;
                };
                manager.converge_soon(app);
            }
        });
        let manager = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut was_fenced = false;
            loop {
                tokio::time::sleep(TICK).await;
                let Some(manager) = manager.upgrade() else {
                    return;
                };
                was_fenced = manager.tick(&placement, was_fenced).await;
            }
        });
        Ok(())
    }

    /// One placement round; returns whether this node is fenced.
    async fn tick(self: &Arc<Self>, placement: &Placement, was_fenced: bool) -> bool {
        // A ledger that does not answer (a partition: the pool waits for a
        // connection for much longer) must not hold the fence back.
        match within_tick(placement.renew()).await {
            Ok(_) if was_fenced => {
                tracing::warn!(
                    node = placement.node(),
                    "the ledger answers again: converging every app"
                );
                for app in self.app_names() {
                    self.converge_soon(app);
                }
            }
            Ok(lost) => {
                for app in lost {
                    self.converge_soon(app);
                }
            }
            Err(e) => {
                tracing::warn!(node = placement.node(), error = %format!("{e:#}"), "renewing the dyno leases failed");
            }
        }
        if placement.fenced() {
            if !was_fenced {
                tracing::error!(
                    node = placement.node(),
                    "no lease renewed for the fence period: stopping this node's formation dynos"
                );
                for app in self.app_names() {
                    let manager = self.clone();
                    tokio::spawn(async move { manager.converge_applied(&app).await });
                }
            }
            return true;
        }
        match within_tick(placement.ledger().leases(None)).await {
            Ok(leases) => {
                let placed = self.placed_dynos();
                for app in placement.apps_to_take(leases, &placed) {
                    self.converge_soon(app);
                }
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "reading the dyno leases failed");
            }
        }
        false
    }

    /// Converges `app` on this node in a task of its own: a converge waits
    /// for new dynos to come up, and renewals must not wait for it.
    fn converge_soon(self: &Arc<Self>, app: String) {
        let manager = self.clone();
        tokio::spawn(async move { manager.converge_here(&app).await });
    }

    pub(super) fn placement(&self) -> Option<&Arc<Placement>> {
        self.placement.get()
    }

    /// Tells the other nodes that `app` changed, if there are any.
    pub(super) fn announce(&self, app: &str) {
        if let Some(placement) = self.placement() {
            let (placement, app) = (placement.clone(), app.to_string());
            tokio::spawn(async move {
                if let Err(e) = placement.ledger().announce(placement.node(), &app).await {
                    tracing::warn!(app, error = %format!("{e:#}"), "announcing an app change failed");
                }
            });
        }
    }

    /// Records a dyno's status in its lease, for `ps` on other nodes.
    pub(super) fn report_status(&self, app: &str, status: &DynoStatus) {
        if let Some(placement) = self.placement() {
            placement.report(app, &status.name, status_json(status));
        }
    }

    /// The node this manager runs as, when nodes share the ledger.
    pub fn node(&self) -> Option<&str> {
        self.placement().map(|p| p.node())
    }

    /// The formation dynos of `app` other nodes run, from their leases, with
    /// each one's node: what `ps` adds to this node's own dynos.
    pub async fn dynos_elsewhere(&self, app: &str) -> Vec<(DynoStatus, String)> {
        let Some(placement) = self.placement() else {
            return Vec::new();
        };
        let leases = match placement.ledger().leases(Some(app)).await {
            Ok(leases) => leases,
            Err(e) => {
                tracing::warn!(app, error = %format!("{e:#}"), "reading the app's dyno leases failed");
                return Vec::new();
            }
        };
        let now = crate::nodes::now_ms();
        leases
            .into_iter()
            .filter(|l| l.node != placement.node() && l.expires_ms >= now)
            .filter_map(|l| Some((parse_status(&l.dyno, &l.status)?, l.node)))
            .collect()
    }

    fn app_names(&self) -> Vec<String> {
        self.apps
            .read()
            .expect("apps lock poisoned")
            .keys()
            .cloned()
            .collect()
    }

    /// Every app's formation dynos, as its last converge placed them.
    fn placed_dynos(&self) -> HashMap<String, Vec<Placed>> {
        self.apps
            .read()
            .expect("apps lock poisoned")
            .iter()
            .map(|(name, runtime)| (name.clone(), runtime.placed()))
            .collect()
    }
}

impl AppRuntime {
    fn placed(&self) -> Vec<Placed> {
        self.placed.lock().expect("placed lock poisoned").clone()
    }
}

/// A ledger call's answer, or an error if it took longer than a [`TICK`].
async fn within_tick<T>(call: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::time::timeout(TICK, call)
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the ledger did not answer within {TICK:?}")))
}

/// What a lease (or another node) says of a dyno.
pub fn status_json(status: &DynoStatus) -> String {
    json!({
        "process_type": status.process_type,
        "state": status.state.as_str(),
        "release": status.release,
        "size": status.size.name(),
        "command": status.command,
        "since": crate::state::format_time(status.since),
    })
    .to_string()
}

/// The status a lease holds, or `None` before its node started the dyno.
pub fn parse_status(name: &str, text: &str) -> Option<DynoStatus> {
    let status: serde_json::Value = serde_json::from_str(text).ok()?;
    let state = match status["state"].as_str()? {
        "starting" => DynoState::Starting,
        "up" => DynoState::Up,
        "crashed" => DynoState::Crashed,
        "idle" => DynoState::Idle,
        _ => DynoState::Down,
    };
    let since = time::OffsetDateTime::parse(
        status["since"].as_str()?,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()?;
    Some(DynoStatus {
        name: name.to_string(),
        process_type: status["process_type"].as_str()?.to_string(),
        state,
        release: status["release"].as_u64()?,
        size: status["size"].as_str()?.parse().ok()?,
        command: status["command"].as_str()?.to_string(),
        since,
    })
}
