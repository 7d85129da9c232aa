//! The key-value add-on (`kumo-keyvalue`, alias `heroku-redis`): each add-on
//! is a namespace ([`store`]) in the server's embedded store ([`embedded`]) or
//! on the operator's Redis server ([`redis`]), made by a [`provider`], and
//! reached by guests through `wasi:keyvalue` ([`wasi`]) and Spin's key-value
//! interface ([`spin`]).
//!
//! A guest opens a store by name: `""` or `"default"` is the app's first
//! key-value add-on, an attachment name (`REDIS`) or add-on name is that one.
//! Nothing else is reachable: the names resolve only among the release's grants.

pub mod connections;
pub mod embedded;
pub mod provider;
pub mod redis;
pub mod spin;
pub mod store;
#[cfg(test)]
mod test_redis;
pub mod wasi;

pub use connections::Connections;
pub use provider::{EmbeddedProvider, RedisProvider};
pub use store::{Namespace, StoreError};

use crate::addons::grant::Resource;
use crate::addons::{AddonAccess, catalog};
use crate::dynos::host::DynoHost;
use wasmtime::component::Linker;

/// What a guest that opens a store in an app without a key-value add-on is told.
pub const NO_ADDON: &str =
    "no key-value add-on is attached to this app: kumo addons:create kumo-keyvalue";

/// Links both guest interfaces.
pub fn add_to_linker(linker: &mut Linker<DynoHost>) -> anyhow::Result<()> {
    wasi::add_to_linker(linker)?;
    spin::add_to_linker(linker)
}

/// Why a store did not open.
#[derive(Debug)]
pub enum OpenError {
    /// The app has no key-value add-on at all.
    NoAddon,
    /// The app has key-value add-ons, none of that name.
    NoSuchStore,
    Failed(anyhow::Error),
}

/// Opens the key-value add-on `identifier` names among the dyno's grants.
pub async fn open(access: &AddonAccess, identifier: &str) -> Result<Namespace, OpenError> {
    let mut stores = access
        .find(|grant| match &grant.resource {
            Resource::KeyValue { store } => Some((grant, store)),
            _ => None,
        })
        .peekable();
    if stores.peek().is_none() {
        return Err(OpenError::NoAddon);
    }
    let found = if identifier.is_empty() || identifier == "default" {
        stores.next()
    } else {
        stores.find(|(grant, _)| grant.attachment == identifier || grant.addon == identifier)
    };
    let Some((grant, store)) = found else {
        return Err(OpenError::NoSuchStore);
    };
    // The plan's limit, as the release recorded the plan; a plan Kumo no
    // longer knows keeps the smallest.
    let limit = catalog::resolve(&grant.plan)
        .map(|(_, plan)| plan.limit)
        .or_else(|_| catalog::resolve("kumo-keyvalue").map(|(_, plan)| plan.limit))
        .unwrap_or(25 << 20);
    Namespace::open(&access.backends, store, limit)
        .await
        .map_err(|e| OpenError::Failed(e.context(format!("opening {}", grant.addon))))
}
