//! Kumo's data plane: everything that runs an app once a release exists.
//!
//! The modules follow Heroku's concepts: [`slugs`] unpacks slugs, [`engine`] compiles
//! and caches their components, [`dynos`] runs them (web, CGI and worker dynos with
//! their own filesystems), [`manager`] converges running dynos on each app's
//! formation, [`router`] sends HTTP to web dynos, and [`logplex`] collates every line.
//! The control plane feeds it through the [`source::ReleaseSource`] trait; [`addons`]
//! provisions the databases, stores and buckets releases attach.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod addons;
pub mod api;
pub mod dashboard;
pub mod drains;
pub mod dynos;
pub mod engine;
pub mod logplex;
pub mod manager;
pub mod metrics;
pub mod nodes;
pub mod placement;
pub mod router;
pub mod sizes;
pub mod slugs;
pub mod source;
pub mod state;
pub mod tls;

pub use manager::{DynoManager, ManagerConfig};
pub use source::{AppSpec, MemorySource, ReleaseSource, ReleaseSpec};
