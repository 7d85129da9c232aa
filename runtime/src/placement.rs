//! Placement: which node runs each formation dyno when several nodes share a
//! ledger. Every formation dyno (`web.1`, `worker.2`) has a lease in the
//! ledger naming its node; a node runs exactly the dynos it holds leases for,
//! renews them all every [`TICK`], and a lease not renewed for [`LEASE_TTL`]
//! may be taken by another node. So a killed node's dynos start elsewhere
//! within about `LEASE_TTL` plus a tick, and a node cut off from the ledger
//! stops its dynos ([`Placement::fenced`], at [`FENCE`]) before any other
//! node could take them.
//!
//! A free dyno goes to the live node [`choose`] names: the one running the
//! fewest dynos of its process type, ties broken by a hash of the app, the
//! process type and the node, so two dynos of one type land on different
//! nodes where possible and apps start on different nodes. Every node
//! computes the same choice; if two disagree for a moment, the ledger's
//! conditional claim lets one win. A node keeps what it holds: a node that
//! joins takes new and orphaned dynos, not running ones.
//!
//! The ledger is reached through [`LeaseLedger`], so the data plane holds no
//! SQL. An embedded (SQLite) ledger is one node's alone and has no placement.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash as _, Hasher as _};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How often a node renews its leases and looks for dynos to take.
pub const TICK: Duration = Duration::from_secs(1);
/// How long a lease lasts past its last renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(6);
/// A node that has not renewed its leases for this long stops its dynos: it
/// is before `LEASE_TTL`, so they stop before another node may take them.
pub const FENCE: Duration = Duration::from_secs(4);

/// One dyno's lease as the ledger holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub app: String,
    pub dyno: String,
    pub node: String,
    pub expires_ms: i64,
    /// What its node last said of the dyno (`ps`): JSON, `{}` before it starts.
    pub status: String,
}

/// The ledger's side of placement.
#[async_trait::async_trait]
pub trait LeaseLedger: Send + Sync + 'static {
    /// The leases of `app`, or of every app.
    async fn leases(&self, app: Option<&str>) -> anyhow::Result<Vec<Lease>>;
    /// Takes `dyno` for `node` until `until_ms` if nobody holds it, its lease
    /// expired before `now_ms`, or `node` holds it already.
    async fn claim(
        &self,
        app: &str,
        dyno: &str,
        node: &str,
        until_ms: i64,
        now_ms: i64,
    ) -> anyhow::Result<bool>;
    /// Extends every lease `node` still holds to `until_ms`; returns them.
    async fn renew(&self, node: &str, until_ms: i64) -> anyhow::Result<Vec<(String, String)>>;
    /// Gives up `node`'s lease of `dyno`.
    async fn release(&self, app: &str, dyno: &str, node: &str) -> anyhow::Result<()>;
    /// Records what `node` says of a dyno it holds.
    async fn set_status(
        &self,
        app: &str,
        dyno: &str,
        node: &str,
        status: &str,
    ) -> anyhow::Result<()>;
    /// The nodes up at `now_ms`.
    async fn live_nodes(&self, now_ms: i64) -> anyhow::Result<Vec<LiveNode>>;
    /// Tells the other nodes that `app`'s desired state changed.
    async fn announce(&self, node: &str, app: &str) -> anyhow::Result<()>;
    /// The apps other nodes announce, as they come.
    async fn announcements(
        &self,
        node: &str,
    ) -> anyhow::Result<tokio::sync::mpsc::UnboundedReceiver<String>>;
}

/// A node that is up, and where its router takes forwarded requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveNode {
    pub name: String,
    /// The base URL of its router (`--advertise-router`), empty if unknown.
    pub router: String,
    pub capacity: Capacity,
    /// Its last heartbeat, in ms since the epoch.
    pub seen_at_ms: i64,
}

/// How full a node is, from its last heartbeat.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capacity {
    /// The dynos it runs.
    pub dynos: i64,
    /// Its engine's instance slots; 0 if unknown.
    pub slots: i64,
}

impl Capacity {
    /// Full nodes last, then the share of slots in use, in percent.
    fn rank(self) -> (bool, i64) {
        if self.slots <= 0 {
            return (false, 0);
        }
        (self.dynos >= self.slots, self.dynos * 100 / self.slots)
    }
}

/// A web dyno another node runs, as the routers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Elsewhere {
    pub dyno: String,
    pub node: String,
    /// The base URL of that node's router.
    pub router: String,
    /// Whether its node last said it is up (else starting, asleep or unknown).
    pub up: bool,
}

/// One formation dyno of an app, as placement sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    pub name: String,
    pub process_type: String,
}

/// This node's side of placement.
pub struct Placement {
    node: String,
    ledger: Arc<dyn LeaseLedger>,
    /// The leases this node holds, as far as it knows: `(app, dyno)`.
    held: Mutex<HashSet<(String, String)>>,
    renewed: Mutex<Instant>,
    /// The nodes up as last read from the ledger.
    nodes: RwLock<Vec<LiveNode>>,
    /// The leases of every app as last read, for routing to other nodes.
    seen: RwLock<HashMap<String, Vec<Lease>>>,
    /// Dyno statuses for the ledger, written in the order they changed.
    statuses: tokio::sync::mpsc::UnboundedSender<(String, String, String)>,
}

impl Placement {
    /// Must be called within a tokio runtime: it starts the task that
    /// writes dyno statuses.
    pub fn new(node: &str, ledger: Arc<dyn LeaseLedger>) -> Placement {
        let (statuses, mut pending) =
            tokio::sync::mpsc::unbounded_channel::<(String, String, String)>();
        let (writer, name) = (ledger.clone(), node.to_string());
        tokio::spawn(async move {
            while let Some((app, dyno, status)) = pending.recv().await {
                if let Err(e) = writer.set_status(&app, &dyno, &name, &status).await {
                    tracing::warn!(app, dyno, error = %format!("{e:#}"), "recording a dyno's status failed");
                }
            }
        });
        Placement {
            node: node.to_string(),
            ledger,
            held: Mutex::default(),
            renewed: Mutex::new(Instant::now()),
            nodes: RwLock::default(),
            seen: RwLock::default(),
            statuses,
        }
    }

    /// Records what this node says of `dyno` in its lease, after every
    /// status reported before it (one writer, so the last change wins).
    pub fn report(&self, app: &str, dyno: &str, status: String) {
        let _ = self
            .statuses
            .send((app.to_string(), dyno.to_string(), status));
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn ledger(&self) -> &Arc<dyn LeaseLedger> {
        &self.ledger
    }

    /// Whether this node has gone [`FENCE`] without renewing its leases: it
    /// must run no formation dyno.
    pub fn fenced(&self) -> bool {
        self.renewed
            .lock()
            .expect("renewed lock poisoned")
            .elapsed()
            >= FENCE
    }

    /// Of `placed` dynos of `app`, those this node runs: those it holds, and
    /// free ones [`choose`] gives it, claimed now. A fenced node runs none; if
    /// the ledger cannot be read, a node keeps what it holds.
    pub async fn claim(&self, app: &str, placed: &[Placed]) -> HashSet<String> {
        if self.fenced() {
            return HashSet::new();
        }
        let leases = match self.ledger.leases(Some(app)).await {
            Ok(leases) => leases,
            Err(e) => {
                tracing::warn!(app, error = %format!("{e:#}"), "reading the app's dyno leases failed");
                let held = self.held.lock().expect("held lock poisoned");
                return placed
                    .iter()
                    .filter(|p| held.contains(&(app.to_string(), p.name.clone())))
                    .map(|p| p.name.clone())
                    .collect();
            }
        };
        let now = crate::nodes::now_ms();
        let mut sorted = sort(&self.node, &leases, placed, now);
        let mut mine = std::mem::take(&mut sorted.mine);
        // Which nodes are up matters only for a free dyno: a wake of an app
        // whose dynos this node holds reads the leases alone.
        let ours = if sorted.free.is_empty() {
            Vec::new()
        } else {
            self.read_nodes(now).await;
            let (live, capacity) = self.placeable(now);
            sorted.falling_to(app, &live, capacity, &self.node)
        };
        for dyno in ours {
            let until = now + LEASE_TTL.as_millis() as i64;
            match self
                .ledger
                .claim(app, &dyno.name, &self.node, until, now)
                .await
            {
                Ok(true) => {
                    mine.insert(dyno.name.clone());
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(app, dyno = %dyno.name, error = %format!("{e:#}"), "claiming a dyno failed");
                }
            }
        }
        let mut held = self.held.lock().expect("held lock poisoned");
        for name in &mine {
            held.insert((app.to_string(), name.clone()));
        }
        mine
    }

    /// Gives up this node's leases of `app`'s dynos other than `keep`.
    pub async fn release_others(&self, app: &str, keep: &HashSet<String>) {
        let gone: Vec<String> = {
            let mut held = self.held.lock().expect("held lock poisoned");
            let gone: Vec<String> = held
                .iter()
                .filter(|(a, d)| a == app && !keep.contains(d))
                .map(|(_, d)| d.clone())
                .collect();
            for dyno in &gone {
                held.remove(&(app.to_string(), dyno.clone()));
            }
            gone
        };
        for dyno in gone {
            if let Err(e) = self.ledger.release(app, &dyno, &self.node).await {
                tracing::warn!(app, dyno, error = %format!("{e:#}"), "releasing a dyno lease failed");
            }
        }
    }

    /// Renews every lease this node holds and reads which nodes are up.
    /// Returns the apps whose leases this node lost, which must converge.
    pub async fn renew(&self) -> anyhow::Result<HashSet<String>> {
        // The leases' new expiry counts from now, so the fence does too,
        // however long the ledger takes to answer.
        let asked = Instant::now();
        let now = crate::nodes::now_ms();
        let still = self
            .ledger
            .renew(&self.node, now + LEASE_TTL.as_millis() as i64)
            .await?;
        *self.renewed.lock().expect("renewed lock poisoned") = asked;
        let still: HashSet<(String, String)> = still.into_iter().collect();
        let lost: HashSet<String> = {
            let mut held = self.held.lock().expect("held lock poisoned");
            let lost: Vec<(String, String)> = held.difference(&still).cloned().collect();
            for lease in &lost {
                held.remove(lease);
            }
            lost.into_iter().map(|(app, _)| app).collect()
        };
        self.read_nodes(now).await;
        Ok(lost)
    }

    /// Reads which nodes are up (a node that just joined counts at once);
    /// keeps the last list if the ledger cannot be read.
    async fn read_nodes(&self, now: i64) {
        match self.ledger.live_nodes(now).await {
            Ok(nodes) => *self.nodes.write().expect("nodes lock poisoned") = nodes,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "reading the nodes that are up failed");
            }
        }
    }

    /// The nodes a free dyno may go to at `now`, this one always among them,
    /// and each one's capacity. Only a node heard from within a lease's life
    /// counts: one down for longer (up to NODE_TTL it still counts as up)
    /// would never claim the dyno, holding a dead node's dyno back until it
    /// is down.
    fn placeable(&self, now: i64) -> (Vec<String>, HashMap<String, Capacity>) {
        let fresh = now - LEASE_TTL.as_millis() as i64;
        let nodes = self.nodes.read().expect("nodes lock poisoned");
        let mut live: Vec<String> = nodes
            .iter()
            .filter(|n| n.seen_at_ms >= fresh)
            .map(|n| n.name.clone())
            .collect();
        if !live.contains(&self.node) {
            live.push(self.node.clone());
        }
        let capacity = nodes.iter().map(|n| (n.name.clone(), n.capacity)).collect();
        (live, capacity)
    }

    /// The apps with a free dyno that [`choose`] gives this node, among the
    /// `placed` dynos of each app, against the ledger's `leases`.
    pub fn apps_to_take(
        &self,
        leases: Vec<Lease>,
        placed: &HashMap<String, Vec<Placed>>,
    ) -> Vec<String> {
        if self.fenced() {
            return Vec::new();
        }
        let now = crate::nodes::now_ms();
        let (live, capacity) = self.placeable(now);
        let mut by_app: HashMap<String, Vec<Lease>> = HashMap::new();
        for lease in leases {
            by_app.entry(lease.app.clone()).or_default().push(lease);
        }
        let taken = placed
            .iter()
            .filter(|(app, dynos)| {
                let leases = by_app.get(app.as_str()).map_or(&[][..], Vec::as_slice);
                !sort(&self.node, leases, dynos, now)
                    .falling_to(app, &live, capacity.clone(), &self.node)
                    .is_empty()
            })
            .map(|(app, _)| app.clone())
            .collect();
        *self.seen.write().expect("seen lock poisoned") = by_app;
        taken
    }

    /// The web dynos of `app` that other live nodes hold, but those on the
    /// `avoid` nodes, from the leases as last read (every [`TICK`], or
    /// [`Placement::reread`]).
    pub fn web_elsewhere(&self, app: &str, avoid: &[String]) -> Vec<Elsewhere> {
        let now = crate::nodes::now_ms();
        let seen = self.seen.read().expect("seen lock poisoned");
        let Some(leases) = seen.get(app) else {
            return Vec::new();
        };
        let nodes = self.nodes.read().expect("nodes lock poisoned");
        let router = |node: &str| {
            let node = nodes
                .iter()
                .find(|n| n.name == node && !n.router.is_empty())?;
            Some(node.router.clone())
        };
        leases
            .iter()
            .filter(|l| l.dyno.starts_with("web.") && l.node != self.node && l.expires_ms >= now)
            .filter(|l| !avoid.contains(&l.node))
            .filter_map(|l| {
                Some(Elsewhere {
                    dyno: l.dyno.clone(),
                    node: l.node.clone(),
                    router: router(&l.node)?,
                    up: l.status.contains(r#""state":"up""#),
                })
            })
            .collect()
    }

    /// Reads `app`'s leases again, for a request waiting for a web dyno.
    pub async fn reread(&self, app: &str) {
        match self.ledger.leases(Some(app)).await {
            Ok(leases) => {
                self.seen
                    .write()
                    .expect("seen lock poisoned")
                    .insert(app.to_string(), leases);
            }
            Err(e) => {
                tracing::warn!(app, error = %format!("{e:#}"), "reading the app's dyno leases failed");
            }
        }
    }
}

/// `placed` dynos sorted against the ledger's leases.
struct Sorted<'a> {
    /// The dynos this node holds.
    mine: HashSet<String>,
    /// Those nobody holds: no lease, or an expired one.
    free: Vec<&'a Placed>,
    /// How many dynos of each process type each node runs: `(type, node)`.
    running: HashMap<(String, String), usize>,
}

impl<'a> Sorted<'a> {
    /// The free dynos [`choose`] gives `node`, each free dyno placed in turn
    /// (so a second dyno of a type goes to another node).
    fn falling_to(
        mut self,
        app: &str,
        live: &[String],
        mut capacity: HashMap<String, Capacity>,
        node: &str,
    ) -> Vec<&'a Placed> {
        let mut ours = Vec::new();
        for dyno in std::mem::take(&mut self.free) {
            let Some(chosen) = choose(app, &dyno.process_type, live, &self.running, &capacity)
            else {
                continue;
            };
            if chosen == node {
                ours.push(dyno);
            }
            capacity.entry(chosen.clone()).or_default().dynos += 1;
            *self
                .running
                .entry((dyno.process_type.clone(), chosen))
                .or_default() += 1;
        }
        ours
    }
}

/// Sorts `placed` against `leases` as `node` sees them at `now_ms`.
fn sort<'a>(node: &str, leases: &[Lease], placed: &'a [Placed], now_ms: i64) -> Sorted<'a> {
    let mut mine = HashSet::new();
    let mut free = Vec::new();
    let mut running: HashMap<(String, String), usize> = HashMap::new();
    for dyno in placed {
        match leases
            .iter()
            .find(|l| l.dyno == dyno.name && l.expires_ms >= now_ms)
        {
            Some(lease) if lease.node == node => {
                mine.insert(dyno.name.clone());
                *running
                    .entry((dyno.process_type.clone(), node.to_string()))
                    .or_default() += 1;
            }
            Some(lease) => {
                *running
                    .entry((dyno.process_type.clone(), lease.node.clone()))
                    .or_default() += 1;
            }
            None => free.push(dyno),
        }
    }
    Sorted {
        mine,
        free,
        running,
    }
}

/// The live node a free dyno of `process_type` goes to: the one running the
/// fewest of that type (`running`), then the one least full (`capacity`:
/// a node with every instance slot taken last), ties broken by a hash of the
/// app, the process type and the node's name. `None` with no live node.
pub fn choose(
    app: &str,
    process_type: &str,
    live: &[String],
    running: &HashMap<(String, String), usize>,
    capacity: &HashMap<String, Capacity>,
) -> Option<String> {
    live.iter()
        .min_by_key(|node| {
            let count = running
                .get(&(process_type.to_string(), (*node).clone()))
                .copied()
                .unwrap_or(0);
            let (full, used) = capacity.get(*node).copied().unwrap_or_default().rank();
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            (app, process_type, node.as_str()).hash(&mut hasher);
            (full, count, used, hasher.finish())
        })
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(names: &[&str]) -> Vec<Placed> {
        names
            .iter()
            .map(|n| Placed {
                name: n.to_string(),
                process_type: n.split('.').next().unwrap().to_string(),
            })
            .collect()
    }

    fn lease(dyno: &str, node: &str, expires_ms: i64) -> Lease {
        Lease {
            app: "app".into(),
            dyno: dyno.into(),
            node: node.into(),
            expires_ms,
            status: "{}".into(),
        }
    }

    #[test]
    fn dynos_of_a_type_spread_over_the_nodes() {
        let live: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let mut running = HashMap::new();
        let mut chosen = Vec::new();
        for _ in 0..3 {
            let node = choose("app", "web", &live, &running, &HashMap::new()).unwrap();
            *running.entry(("web".into(), node.clone())).or_default() += 1;
            chosen.push(node);
        }
        chosen.sort();
        assert_eq!(chosen, ["a", "b", "c"]);
        // The same inputs give the same node on every node.
        let none = HashMap::new();
        assert_eq!(
            choose("app", "worker", &live, &HashMap::new(), &none),
            choose("app", "worker", &live, &HashMap::new(), &none)
        );
        assert_eq!(choose("app", "web", &[], &HashMap::new(), &none), None);
    }

    #[test]
    fn a_free_dyno_goes_to_the_least_full_node_and_a_full_one_last() {
        let live: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let load = |a, b, c| {
            HashMap::from([
                (
                    "a".to_string(),
                    Capacity {
                        dynos: a,
                        slots: 100,
                    },
                ),
                (
                    "b".to_string(),
                    Capacity {
                        dynos: b,
                        slots: 100,
                    },
                ),
                (
                    "c".to_string(),
                    Capacity {
                        dynos: c,
                        slots: 100,
                    },
                ),
            ])
        };
        let running = HashMap::new();
        assert_eq!(
            choose("app", "web", &live, &running, &load(50, 10, 90)).unwrap(),
            "b"
        );
        // Fewer dynos of the type first, even on a fuller node...
        let web_on_b = HashMap::from([(("web".to_string(), "b".to_string()), 1)]);
        assert_eq!(
            choose("app", "web", &live, &web_on_b, &load(50, 10, 90)).unwrap(),
            "a"
        );
        // ...but a full node only when every node is full.
        assert_eq!(
            choose("app", "web", &live, &running, &load(100, 100, 90)).unwrap(),
            "c"
        );
        assert_eq!(
            choose("app", "web", &live, &web_on_b, &load(100, 10, 100)).unwrap(),
            "b"
        );
    }

    #[test]
    fn a_dyno_is_free_when_its_lease_expired() {
        let dynos = placed(&["web.1", "web.2", "web.3"]);
        let leases = [lease("web.1", "a", 2000), lease("web.2", "b", 500)];
        let Sorted {
            mine,
            free,
            running,
        } = sort("a", &leases, &dynos, 1000);
        assert_eq!(mine, HashSet::from(["web.1".to_string()]));
        let free: Vec<&str> = free.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(free, ["web.2", "web.3"]);
        assert_eq!(running.get(&("web".into(), "a".into())), Some(&1));
        assert_eq!(running.get(&("web".into(), "b".into())), None);
    }
}
