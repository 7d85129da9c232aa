//! Kumo's builder: turns what a user deploys into what a slug holds.
//!
//! [`buildpack::build`] turns a source tree into a slug with the first
//! [`buildpack::Buildpack`] that recognises it (Rust, Go, Ruby, Python, JavaScript, Java, Scala, Clojure, C, prebuilt `.wasm`),
//! the app's `Procfile` ([`procfile`]) and its build cache. It converts WASI
//! preview 1 core modules (what Go, C, C++ and Rust's `wasm32-wasip1` target
//! produce) into components with the preview 1 adapter that matches Kumo's
//! wasmtime, so the runtime only ever runs components.
//! The builder never touches the database; it runs Wasm itself only to
//! pre-initialise the Ruby interpreter with Wizer.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod buildpack;
pub mod c;
pub mod clojure;
mod componentize;
pub mod go;
pub mod java;
pub mod js;
pub mod php;
pub mod prebuilt;
mod preinit;
mod process;
pub mod procfile;
pub mod python;
pub mod ruby;
pub mod rust;
pub mod scala;
pub mod source;
mod wit;

pub use componentize::{ModuleKind, componentize, module_kind};
