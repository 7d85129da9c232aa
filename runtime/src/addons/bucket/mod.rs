//! The bucket add-on (`kumo-bucket`, like Bucketeer): an object-storage bucket
//! per add-on, used by apps with plain S3 over `wasi:http`.
//!
//! Kumo serves its own S3-compatible endpoint ([`listener`], on `s3s`): each
//! add-on has an access key and secret of its own, kept in the ledger with
//! its grant, and a request signed with them reaches only that add-on's
//! bucket ([`access`]). Objects live in the server's slug store, a folder or
//! an S3 bucket, under `addons/buckets/<bucket>/` ([`objects`]), so servers
//! sharing one store see the same objects, and any of them can check the
//! credentials.
//!
//! - [`provider`]: `BucketProvider`, the add-on's [`Provider`](super::Provider).
//! - [`keys`]: `BucketKeys`, where the endpoint looks credentials up (the ledger).
//! - [`s3`]: the S3 operations.
//! - [`listing`]: `ListObjectsV2`'s paging and grouping, pure.

pub mod access;
#[cfg(test)]
mod endpoint_tests;
pub mod keys;
pub mod listener;
pub mod listing;
pub mod objects;
pub mod provider;
pub mod s3;

pub use keys::{BucketKeys, GrantedBucket};
pub use listener::serve;
pub use objects::Objects;
pub use provider::BucketProvider;

use super::names::resource_id;

/// The bucket name of add-on `addon`: its [`resource_id`] in S3's bucket
/// alphabet (`kumo-bucket-curved-12345`), at most 58 characters.
pub fn bucket_name(addon: &str) -> String {
    resource_id(addon).replace('_', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_are_valid_s3_names() {
        for addon in ["bucket-curved-12345", "My_Bucket", &"b".repeat(200)] {
            let name = bucket_name(addon);
            assert!(s3s::path::check_bucket_name(&name), "{addon}: {name}");
        }
        assert_eq!(
            bucket_name("bucket-curved-12345"),
            "kumo-bucket-curved-12345"
        );
    }
}
