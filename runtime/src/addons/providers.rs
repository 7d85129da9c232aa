//! Which backend provisions each kind of add-on on this server, chosen from
//! `kumo server`'s flags: the operator's Postgres (`--addons-postgres-url`),
//! else the server's own state database when that is Postgres, else a private
//! cluster under the data folder, started the first time it is needed.

use super::catalog::Kind;
use super::cluster::Cluster;
use super::grant::{KeyValueStore, Resource};
use super::postgres::PostgresProvider;
use super::provider::Provider;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// Where the Postgres add-on's databases are made.
#[derive(Clone, Debug)]
pub enum PostgresServer {
    /// An administrator's URL: the operator's server or the state database.
    Url(String),
    /// A private cluster in this folder (`<data dir>/addons/postgres`).
    Cluster(PathBuf),
}

/// The add-on backends of one server, by kind.
pub struct Providers {
    postgres_server: PostgresServer,
    postgres: OnceCell<Arc<dyn Provider>>,
    keyvalue: Option<Arc<dyn Provider>>,
    /// The embedded key-value store, for the add-ons made on it when the
    /// server ran without `--addons-redis-url`, whatever `keyvalue` is now.
    embedded_keyvalue: Option<Arc<dyn Provider>>,
    bucket: Option<Arc<dyn Provider>>,
}

impl Providers {
    pub fn new(postgres: PostgresServer) -> Providers {
        Providers {
            postgres_server: postgres,
            postgres: OnceCell::new(),
            keyvalue: None,
            embedded_keyvalue: None,
            bucket: None,
        }
    }

    /// Sets the key-value backend new add-ons get, and the embedded one
    /// (the same when the server has no Redis).
    pub fn with_keyvalue(
        mut self,
        provider: Arc<dyn Provider>,
        embedded: Arc<dyn Provider>,
    ) -> Providers {
        self.keyvalue = Some(provider);
        self.embedded_keyvalue = Some(embedded);
        self
    }

    /// The backend that made `resource` (an add-on of `kind`; `None` while
    /// it is provisioning, when it is the backend new add-ons get).
    pub async fn provider_of(
        &self,
        kind: Kind,
        resource: Option<&Resource>,
    ) -> Result<Arc<dyn Provider>, String> {
        if let Some(Resource::KeyValue {
            store: KeyValueStore::Embedded { .. },
        }) = resource
            && let Some(embedded) = &self.embedded_keyvalue
        {
            return Ok(embedded.clone());
        }
        self.provider(kind).await
    }

    /// Sets the bucket backend.
    pub fn with_bucket(mut self, provider: Arc<dyn Provider>) -> Providers {
        self.bucket = Some(provider);
        self
    }

    /// Starts the private cluster if an earlier run made one, so the apps
    /// whose databases live there reach them after a restart.
    pub async fn start(&self) -> anyhow::Result<()> {
        if let PostgresServer::Cluster(dir) = &self.postgres_server
            && Cluster::new(dir).exists()
        {
            self.provider(Kind::Postgres)
                .await
                .map_err(anyhow::Error::msg)?;
        }
        Ok(())
    }

    /// Stops the private cluster, if this server started one.
    pub async fn stop(&self) {
        if let PostgresServer::Cluster(dir) = &self.postgres_server
            && self.postgres.initialized()
        {
            let cluster = Cluster::new(dir.clone());
            let _ = tokio::task::spawn_blocking(move || cluster.stop()).await;
        }
    }

    /// The backend of `kind`, or why this server has none.
    pub async fn provider(&self, kind: Kind) -> Result<Arc<dyn Provider>, String> {
        match kind {
            Kind::Postgres => self
                .postgres
                .get_or_try_init(|| async {
                    let (url, public) = match &self.postgres_server {
                        PostgresServer::Url(url) => (url.clone(), None),
                        PostgresServer::Cluster(dir) => {
                            let cluster = Cluster::new(dir.clone());
                            let (url, public) = tokio::task::spawn_blocking(move || cluster.start())
                                .await
                                .map_err(|e| e.to_string())?
                                .map_err(|e| format!("{e:#}"))?;
                            (url, Some(public))
                        }
                    };
                    let provider = PostgresProvider::new(&url, public).map_err(|e| format!("{e:#}"))?;
                    Ok(Arc::new(provider) as Arc<dyn Provider>)
                })
                .await
                .cloned(),
            Kind::KeyValue => self.keyvalue.clone().ok_or_else(|| {
                "this server has no key-value backend: start it with `kumo server --addons-redis-url redis://…`".to_string()
            }),
            Kind::Bucket => self.bucket.clone().ok_or_else(|| {
                "this server has no object store for buckets".to_string()
            }),
        }
    }
}
