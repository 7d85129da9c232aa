//! Slugs on the platform's side: the [`SlugStore`] keeps every uploaded archive
//! (a local folder or any S3-compatible bucket); the [`SlugCache`] unpacks the
//! ones running dynos need onto local disk; [`check_components`] refuses
//! components that declare what no dyno could run.

mod cache;
mod check;
mod store;

pub use cache::{SlugCache, UnpackedSlug, remove_stale_partials};
pub use check::{check_component, check_components};
pub use store::SlugStore;
