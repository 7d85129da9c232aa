//! The `kumo` binary end to end: its server, its Platform API and its commands.
//! One test binary, since each one links all of wasmtime.
#![allow(clippy::unwrap_used)]
// `on_postgres_and_s3` loads test files a second time, on purpose.
#![allow(clippy::duplicate_mod)]

mod access;
mod addon_apps;
mod addon_buckets;
mod addon_kv_apps;
mod addon_lifecycle;
mod addons;
mod api;
mod api_pieces;
mod build_sources;
mod builds;
mod clojure;
mod commands;
mod crash;
mod dashboard;
mod drains;
mod heroku;
mod heroku3;
mod heroku_acm;
mod heroku_addons;
mod heroku_pipelines;
mod heroku_tls;
mod hostile_api;
mod hostile_tokens;
mod hostile_uploads;
mod interrupted;
mod java;
mod metrics;
mod nodes;
mod php;
mod program_names;
mod release_phase;
mod ruby;
mod run;
mod server;
mod support;
mod sustained;

mod on_postgres_and_s3;
