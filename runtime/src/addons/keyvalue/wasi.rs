//! The host of `wasi:keyvalue@0.2.0-draft2` (`store`, `atomics`, `batch`), as
//! Spin ships it (`runtime/wit/keyvalue`): a bucket is one of the app's
//! key-value add-ons ([`super::open`]), kept in the instance's resource table.

use super::store::{Namespace, StoreError};
use super::{NO_ADDON, OpenError};
use crate::addons::AddonAccess;
use crate::dynos::host::DynoHost;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/keyvalue",
        world: "kumo:keyvalue/wasi-keyvalue",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store.bucket": super::Bucket,
            "wasi:keyvalue/atomics.cas": super::Cas,
        },
    });
}

use bindings::wasi::keyvalue::{atomics, batch, store};

/// An open bucket: an add-on's namespace.
pub struct Bucket(Namespace);

/// A compare-and-swap in progress: the value `key` held when it began.
pub struct Cas {
    namespace: Namespace,
    key: String,
    current: Option<Vec<u8>>,
}

/// What the interfaces see of a dyno instance's host.
pub struct KeyValue<'a> {
    addons: &'a AddonAccess,
    table: &'a mut ResourceTable,
}

struct HasKeyValue;

impl HasData for HasKeyValue {
    type Data<'a> = KeyValue<'a>;
}

/// Links `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2`.
pub fn add_to_linker(linker: &mut Linker<DynoHost>) -> anyhow::Result<()> {
    fn view(host: &mut DynoHost) -> KeyValue<'_> {
        KeyValue {
            addons: &host.addons,
            table: &mut host.table,
        }
    }
    store::add_to_linker::<_, HasKeyValue>(linker, view)?;
    atomics::add_to_linker::<_, HasKeyValue>(linker, view)?;
    batch::add_to_linker::<_, HasKeyValue>(linker, view)?;
    Ok(())
}

type Answer<T> = wasmtime::Result<Result<T, store::Error>>;

fn error(e: StoreError) -> store::Error {
    match e {
        StoreError::Denied(_) => store::Error::AccessDenied,
        e => store::Error::Other(e.to_string()),
    }
}

impl KeyValue<'_> {
    fn namespace(&self, bucket: &Resource<Bucket>) -> wasmtime::Result<Namespace> {
        Ok(self.table.get(bucket)?.0.clone())
    }
}

impl store::Host for KeyValue<'_> {
    async fn open(&mut self, identifier: String) -> Answer<Resource<Bucket>> {
        match super::open(self.addons, &identifier).await {
            Ok(namespace) => Ok(Ok(self.table.push(Bucket(namespace))?)),
            Err(OpenError::NoAddon) => Ok(Err(store::Error::Other(NO_ADDON.to_string()))),
            Err(OpenError::NoSuchStore) => Ok(Err(store::Error::NoSuchStore)),
            Err(OpenError::Failed(e)) => Ok(Err(store::Error::Other(format!("{e:#}")))),
        }
    }
}

impl store::HostBucket for KeyValue<'_> {
    async fn get(&mut self, bucket: Resource<Bucket>, key: String) -> Answer<Option<Vec<u8>>> {
        let namespace = self.namespace(&bucket)?;
        Ok(namespace.get(&key).await.map_err(error))
    }

    async fn set(&mut self, bucket: Resource<Bucket>, key: String, value: Vec<u8>) -> Answer<()> {
        let namespace = self.namespace(&bucket)?;
        Ok(namespace.set(&key, &value).await.map_err(error))
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Answer<()> {
        let namespace = self.namespace(&bucket)?;
        Ok(namespace.delete(&key).await.map_err(error))
    }

    async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Answer<bool> {
        let namespace = self.namespace(&bucket)?;
        Ok(namespace.exists(&key).await.map_err(error))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<String>,
    ) -> Answer<store::KeyResponse> {
        let namespace = self.namespace(&bucket)?;
        Ok(namespace
            .list_keys(cursor.as_deref())
            .await
            .map(|(keys, cursor)| store::KeyResponse { keys, cursor })
            .map_err(error))
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for KeyValue<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> Answer<i64> {
        let namespace = self.namespace(&bucket)?;
        Ok(namespace.increment(&key, delta).await.map_err(error))
    }

    async fn swap(
        &mut self,
        cas: Resource<Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let Cas {
            namespace,
            key,
            current,
        } = self.table.delete(cas)?;
        match namespace
            .compare_and_swap(&key, current.as_deref(), &value)
            .await
        {
            Ok(true) => Ok(Ok(())),
            Ok(false) => {
                // A fresh handle with the value that won, for the retry.
                let current = match namespace.get(&key).await {
                    Ok(current) => current,
                    Err(e) => return Ok(Err(atomics::CasError::StoreError(error(e)))),
                };
                let retry = self.table.push(Cas {
                    namespace,
                    key,
                    current,
                })?;
                Ok(Err(atomics::CasError::CasFailed(retry)))
            }
            Err(e) => Ok(Err(atomics::CasError::StoreError(error(e)))),
        }
    }
}

impl atomics::HostCas for KeyValue<'_> {
    async fn new(&mut self, bucket: Resource<Bucket>, key: String) -> Answer<Resource<Cas>> {
        let namespace = self.namespace(&bucket)?;
        let current = match namespace.get(&key).await {
            Ok(current) => current,
            Err(e) => return Ok(Err(error(e))),
        };
        Ok(Ok(self.table.push(Cas {
            namespace,
            key,
            current,
        })?))
    }

    async fn current(&mut self, cas: Resource<Cas>) -> Answer<Option<Vec<u8>>> {
        Ok(Ok(self.table.get(&cas)?.current.clone()))
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for KeyValue<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Answer<Vec<(String, Option<Vec<u8>>)>> {
        let namespace = self.namespace(&bucket)?;
        Ok(namespace
            .get_many(&keys)
            .await
            .map(|values| keys.into_iter().zip(values).collect())
            .map_err(error))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Answer<()> {
        let namespace = self.namespace(&bucket)?;
        Ok(namespace.set_many(&key_values).await.map_err(error))
    }

    async fn delete_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> Answer<()> {
        let namespace = self.namespace(&bucket)?;
        Ok(namespace.delete_many(&keys).await.map_err(error))
    }
}
