//! The server's side of the add-on interfaces guests call: what a dyno's
//! host needs beyond its release's grants (the embedded stores under the data
//! folder, connections to the operator's servers), made once per server and
//! shared by every dyno.

use super::AddonGrant;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The add-on backends of one server.
#[derive(Debug)]
pub struct Backends {
    /// Where embedded add-on stores keep their files: `<data dir>/addons`.
    dir: PathBuf,
    /// The key-value add-on's store and Redis connections, made on first use.
    pub keyvalue: super::keyvalue::Connections,
}

impl Backends {
    pub fn new(dir: impl Into<PathBuf>) -> Arc<Backends> {
        Arc::new(Backends {
            dir: dir.into(),
            keyvalue: Default::default(),
        })
    }

    /// Where embedded add-on stores keep their files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// What one dyno instance's add-on interfaces work with: the grants of its
/// release (nothing else is reachable), the server's backends, and the
/// release's config vars for `wasi:config/store`.
#[derive(Clone)]
pub struct AddonAccess {
    pub grants: Arc<[AddonGrant]>,
    pub backends: Arc<Backends>,
    pub config: Arc<wasmtime_wasi_config::WasiConfigVariables>,
}

/// Config values are secrets (add-on passwords among them): never printed.
impl std::fmt::Debug for AddonAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddonAccess")
            .field("grants", &self.grants.len())
            .field("backends", &self.backends)
            .finish_non_exhaustive()
    }
}

impl AddonAccess {
    pub fn new(grants: &[AddonGrant], backends: Arc<Backends>) -> AddonAccess {
        AddonAccess {
            grants: grants.into(),
            backends,
            config: Arc::new(wasmtime_wasi_config::WasiConfigVariables::new()),
        }
    }

    /// The same, with `config` as what `wasi:config/store` answers.
    pub fn with_config<'a>(
        mut self,
        config: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> AddonAccess {
        self.config = Arc::new(
            config
                .into_iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
        );
        self
    }

    /// The attached add-ons whose resource `pick` accepts, in attachment order.
    pub fn find<'a, T>(
        &'a self,
        pick: impl Fn(&'a AddonGrant) -> Option<T> + 'a,
    ) -> impl Iterator<Item = T> + 'a {
        self.grants.iter().filter_map(pick)
    }
}
