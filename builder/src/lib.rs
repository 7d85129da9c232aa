//! Kumo's builder: turns what a user deploys into what a slug holds.
//!
//! So far it compiles Rust projects into components ([`rust`]) and converts WASI
//! preview 1 core modules (what Go, C, C++ and Rust's `wasm32-wasip1` target
//! produce) into components with the preview 1 adapter that matches Kumo's
//! wasmtime, so the runtime only ever runs components.
//! The builder neither links wasmtime's runtime nor touches the database.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod componentize;
pub mod prebuilt;
pub mod rust;

pub use componentize::{ModuleKind, componentize, module_kind};
