//! Slugs on the platform's side: the [`SlugStore`] keeps every uploaded archive
//! (a local folder or any S3-compatible bucket); the [`SlugCache`] unpacks the
//! ones running dynos need onto local disk.

mod cache;
mod store;

pub use cache::{SlugCache, UnpackedSlug};
pub use store::SlugStore;
