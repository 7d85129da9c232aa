//! The same tests again, with each server's state in Postgres and its slugs in
//! an S3-compatible store (`support::backend_flags` picks them by this
//! module's name), both started by `scripts/test`.

#[path = "access.rs"]
mod access;
#[path = "api.rs"]
mod api;
#[path = "build_sources.rs"]
mod build_sources;
#[path = "builds.rs"]
mod builds;
#[path = "commands.rs"]
mod commands;
#[path = "heroku_acm.rs"]
mod heroku_acm;
#[path = "heroku_pipelines.rs"]
mod heroku_pipelines;
#[path = "heroku_tls.rs"]
mod heroku_tls;
#[path = "nodes.rs"]
mod nodes;
#[path = "nodes_partition.rs"]
mod nodes_partition;
#[path = "nodes_routing.rs"]
mod nodes_routing;
#[path = "nodes_shared.rs"]
mod nodes_shared;
#[path = "release_phase.rs"]
mod release_phase;
#[path = "run.rs"]
mod run;
