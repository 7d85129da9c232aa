//! The user commands, named as Heroku's CLI names them.

pub mod access;
pub mod addons;
pub mod apps;
pub mod auth;
pub mod authorizations;
pub mod builds;
pub mod columns;
pub mod config;
pub mod deploy;
pub mod domains;
pub mod drains;
pub mod git;
pub mod logs;
pub mod metrics;
pub mod nodes;
pub mod pg;
pub mod ps;
pub mod releases;
pub mod run;
