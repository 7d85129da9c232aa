//! `BucketProvider`: a bucket per add-on on the server's S3 endpoint, named
//! after the add-on ([`bucket_name`]) so a deprovision given only the name
//! removes every object it left, with an access key and secret of its own.

use super::bucket_name;
use super::objects::Objects;
use super::s3::human_bytes;
use crate::addons::catalog::Plan;
use crate::addons::grant::Resource;
use crate::addons::provider::Provider;
use async_trait::async_trait;
use rand::Rng as _;

/// Buckets on this server's endpoint, their objects in `objects`.
pub struct BucketProvider {
    objects: Objects,
    /// `http://127.0.0.1:PORT`, the endpoint the apps' grants name.
    endpoint: String,
}

impl BucketProvider {
    pub fn new(objects: Objects, endpoint: &str) -> BucketProvider {
        BucketProvider {
            objects,
            endpoint: endpoint.trim_end_matches('/').to_string(),
        }
    }
}

#[async_trait]
impl Provider for BucketProvider {
    async fn provision(&self, addon: &str, _plan: &Plan) -> anyhow::Result<Resource> {
        let bucket = bucket_name(addon);
        // Nothing of an earlier add-on of the same name may show through.
        self.objects.clear(&bucket).await?;
        Ok(Resource::Bucket {
            endpoint: self.endpoint.clone(),
            bucket,
            access_key_id: format!("KUMO{}", random_hex(8).to_ascii_uppercase()),
            secret_access_key: random_hex(20),
        })
    }

    async fn deprovision(&self, addon: &str) -> anyhow::Result<()> {
        // The credentials live in the ledger with the add-on, and go with it.
        self.objects.clear(&bucket_name(addon)).await
    }

    async fn reset(&self, _addon: &str, resource: &Resource) -> anyhow::Result<()> {
        self.objects.clear(bucket_of(resource)?).await
    }

    async fn change_plan(
        &self,
        addon: &str,
        resource: &Resource,
        plan: &Plan,
    ) -> anyhow::Result<()> {
        let (_, bytes) = self.objects.usage(bucket_of(resource)?).await?;
        if bytes > plan.limit {
            anyhow::bail!(
                "{addon} holds {}, more than the {} plan's {}: delete objects first",
                human_bytes(bytes),
                plan.name,
                human_bytes(plan.limit)
            );
        }
        Ok(())
    }

    async fn info(
        &self,
        _addon: &str,
        resource: &Resource,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let bucket = bucket_of(resource)?;
        let (objects, bytes) = self.objects.usage(bucket).await?;
        Ok(vec![
            ("Bucket".to_string(), bucket.to_string()),
            ("Objects".to_string(), objects.to_string()),
            ("Size".to_string(), human_bytes(bytes)),
        ])
    }
}

fn bucket_of(resource: &Resource) -> anyhow::Result<&str> {
    match resource {
        Resource::Bucket { bucket, .. } => Ok(bucket),
        other => anyhow::bail!("not a bucket: {:?}", other.kind()),
    }
}

/// `bytes` random bytes, in hex.
fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    hex::encode(buf)
}
