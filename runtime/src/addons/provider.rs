//! The one trait every add-on backend implements, so the embedded and the
//! real backend of a service share every caller and every test.

use super::catalog::Plan;
use super::grant::Resource;
use async_trait::async_trait;
use std::collections::BTreeMap;

/// Makes and removes the resources behind add-ons of one service.
///
/// Resources are named by the add-on's globally unique name, so a server that
/// stopped half-way can always remove what a name left behind.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// Makes the resource of add-on `addon` on `plan`, with credentials of its
    /// own. On error nothing of it is left and the message says why.
    async fn provision(&self, addon: &str, plan: &Plan) -> anyhow::Result<Resource>;

    /// Removes whatever exists of add-on `addon`: its data and its
    /// credentials. Removing what does not exist succeeds.
    async fn deprovision(&self, addon: &str) -> anyhow::Result<()>;

    /// Empties the resource and keeps its credentials (`pg:reset`).
    async fn reset(&self, addon: &str, resource: &Resource) -> anyhow::Result<()>;

    /// Applies `plan`'s limits to an existing resource.
    async fn change_plan(
        &self,
        addon: &str,
        resource: &Resource,
        plan: &Plan,
    ) -> anyhow::Result<()>;

    /// Facts about the resource for `addons:info` and `pg:info`
    /// (`Status`, `Connections`, `Data Size`, `Tables`…), in display order.
    async fn info(&self, addon: &str, resource: &Resource)
    -> anyhow::Result<Vec<(String, String)>>;
}

/// The config vars an attachment named `attachment` of `resource` sets.
pub fn config_vars(attachment: &str, resource: &Resource) -> BTreeMap<String, String> {
    let var = |suffix: &str| format!("{attachment}_{suffix}");
    let mut vars = BTreeMap::new();
    match resource {
        Resource::Postgres { url } => {
            vars.insert(var("URL"), url.clone());
        }
        Resource::KeyValue { store } => {
            let url = match store {
                super::grant::KeyValueStore::Redis { url, .. } => url.clone(),
                super::grant::KeyValueStore::Embedded { namespace } => {
                    format!("kumo-kv://{namespace}")
                }
            };
            vars.insert(var("URL"), url);
        }
        Resource::Bucket {
            endpoint,
            bucket,
            access_key_id,
            secret_access_key,
        } => {
            vars.insert(var("BUCKET_NAME"), bucket.clone());
            vars.insert(var("AWS_ACCESS_KEY_ID"), access_key_id.clone());
            vars.insert(var("AWS_SECRET_ACCESS_KEY"), secret_access_key.clone());
            vars.insert(var("AWS_ENDPOINT_URL"), endpoint.clone());
            vars.insert(var("AWS_REGION"), "us-east-1".to_string());
        }
    }
    vars
}
