//! Where the S3 endpoint looks an access key up: the ledger's add-ons, so
//! every server sharing the ledger accepts the same keys, and a destroyed
//! add-on's keys stop working at once.

use crate::addons::Resource;
use crate::addons::catalog;
use crate::state::State;
use async_trait::async_trait;

/// The bucket an access key opens, and what the endpoint needs to serve it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantedBucket {
    /// The add-on's name: `bucket-curved-12345`.
    pub addon: String,
    pub bucket: String,
    pub secret_access_key: String,
    /// The plan's limit, in bytes.
    pub limit: u64,
}

/// Looks up the bucket add-on an access key belongs to.
#[async_trait]
pub trait BucketKeys: Send + Sync + 'static {
    /// The provisioned bucket add-on whose access key is `access_key`, if any.
    async fn bucket_of(&self, access_key: &str) -> anyhow::Result<Option<GrantedBucket>>;
}

#[async_trait]
impl BucketKeys for State {
    async fn bucket_of(&self, access_key: &str) -> anyhow::Result<Option<GrantedBucket>> {
        // Read from the ledger at each request, so a destroy or another
        // server's provisioning counts at once.
        let Some(addon) = self.addon_with_bucket_key(access_key).await? else {
            return Ok(None);
        };
        let Some(Resource::Bucket {
            bucket,
            secret_access_key,
            ..
        }) = addon.resource
        else {
            return Ok(None);
        };
        let limit = catalog::resolve(&format!("{}:{}", addon.service, addon.plan))
            .map(|(_, plan)| plan.limit)
            .unwrap_or(0);
        Ok(Some(GrantedBucket {
            addon: addon.name,
            bucket,
            secret_access_key,
            limit,
        }))
    }
}
