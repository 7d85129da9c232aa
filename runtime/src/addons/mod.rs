//! Add-ons: attached services that set config vars *and* grant the app a
//! capability. Kumo offers a Postgres database ([`postgres`]), a key-value store
//! and an object-storage bucket ([`catalog`]); each backend is a [`Provider`].
//!
//! The ledger holds every add-on and attachment (`state::addons`); a release
//! records its attachments as [`AddonGrant`]s, which is all the data plane reads:
//! a dyno opens exactly its app's add-ons (their host and port, their
//! namespace) and nothing else.

pub mod backends;
pub mod bucket;
pub mod catalog;
pub mod cluster;
pub mod config;
pub mod grant;
pub mod keyvalue;
pub mod names;
pub mod postgres;
pub mod provider;
pub mod providers;
pub mod required;
pub mod spin_pg;

pub use backends::{AddonAccess, Backends};
pub use grant::{AddonGrant, KeyValueStore, Resource};
pub use provider::Provider;
pub use providers::{PostgresServer, Providers};
