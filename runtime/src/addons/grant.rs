//! What an attachment grants an app's dynos: the release carries one
//! [`AddonGrant`] per attached add-on, and each dyno's host reads it to open
//! exactly that resource (a database's host and port, a key-value namespace,
//! a bucket) and nothing else.

use serde::{Deserialize, Serialize};

/// One attached add-on as a release records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddonGrant {
    /// The attachment's name, the prefix of its config vars: `DATABASE`.
    pub attachment: String,
    /// The add-on's id.
    pub addon_id: String,
    /// The add-on's globally unique name: `postgresql-curved-12345`.
    pub addon: String,
    /// `kumo-postgresql:essential-0`, as `addon_plan_names` lists it.
    pub plan: String,
    /// The config var names the attachment sets (`DATABASE_URL`).
    pub config_vars: Vec<String>,
    pub resource: Resource,
}

/// The resource behind an add-on, with the credentials its app uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Resource {
    /// A database of its own with a role of its own: `postgres://role:pw@host:port/db`.
    Postgres { url: String },
    /// A key-value namespace no other add-on can read.
    KeyValue { store: KeyValueStore },
    /// Objects under a bucket (and key prefix) reachable with these credentials only.
    Bucket {
        /// `http://127.0.0.1:5000/…`, the S3 endpoint the app's dynos may reach.
        endpoint: String,
        bucket: String,
        access_key_id: String,
        secret_access_key: String,
    },
}

/// Where a key-value add-on's namespace lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "snake_case")]
pub enum KeyValueStore {
    /// The server's embedded store, one namespace per add-on.
    Embedded { namespace: String },
    /// A Redis server: `redis://user:pw@host:port`, an ACL user of its own
    /// whose keys all start with `prefix`.
    Redis { url: String, prefix: String },
}

impl Resource {
    /// The kind of add-on that provides this resource.
    pub fn kind(&self) -> super::catalog::Kind {
        match self {
            Resource::Postgres { .. } => super::catalog::Kind::Postgres,
            Resource::KeyValue { .. } => super::catalog::Kind::KeyValue,
            Resource::Bucket { .. } => super::catalog::Kind::Bucket,
        }
    }
}

impl AddonGrant {
    /// The `host:port` of the network service the grant opens to the app's
    /// dynos (a Postgres or Redis server, a bucket's endpoint), if any.
    pub fn endpoint(&self) -> Option<(String, u16)> {
        let url = match &self.resource {
            Resource::Postgres { url } => url.as_str(),
            Resource::KeyValue {
                store: KeyValueStore::Redis { url, .. },
            } => url.as_str(),
            Resource::KeyValue { .. } => return None,
            Resource::Bucket { endpoint, .. } => endpoint.as_str(),
        };
        let url = url::Url::parse(url).ok()?;
        let host = url.host_str()?.to_string();
        let port = url.port_or_known_default().or(match url.scheme() {
            "postgres" | "postgresql" => Some(5432),
            "redis" => Some(6379),
            _ => None,
        })?;
        Some((host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(resource: Resource) -> AddonGrant {
        AddonGrant {
            attachment: "DATABASE".into(),
            addon_id: "id".into(),
            addon: "postgresql-curved-12345".into(),
            plan: "kumo-postgresql:essential-0".into(),
            config_vars: vec!["DATABASE_URL".into()],
            resource,
        }
    }

    #[test]
    fn endpoints() {
        let pg = grant(Resource::Postgres {
            url: "postgres://u:p@127.0.0.1:5433/db".into(),
        });
        assert_eq!(pg.endpoint(), Some(("127.0.0.1".into(), 5433)));
        let pg = grant(Resource::Postgres {
            url: "postgres://u:p@db.internal/db".into(),
        });
        assert_eq!(pg.endpoint(), Some(("db.internal".into(), 5432)));
        let kv = grant(Resource::KeyValue {
            store: KeyValueStore::Embedded {
                namespace: "n".into(),
            },
        });
        assert_eq!(kv.endpoint(), None);
        let json = serde_json::to_string(&pg).unwrap();
        assert_eq!(serde_json::from_str::<AddonGrant>(&json).unwrap(), pg);
    }
}
