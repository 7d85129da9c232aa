//! Kumo's end-to-end scenarios, one module per capability. They build into one
//! test binary: each binary links all of wasmtime, so one per file would cost
//! gigabytes of disk and minutes of linking.

mod addons_kv;
mod addons_pg;
mod cgi;
mod compile_cache;
mod faults;
mod files;
mod guest_faults;
mod hello;
mod hostile_http;
mod isolation;
mod logs;
mod reuse;
mod rolling;
mod router_limits;
mod routing_errors;
mod sleeping;
mod slow_clients;
mod worker;
