//! The host of Spin's `fermyon:spin/key-value@2.0.0`, what `spin_sdk::key_value`
//! (Rust `spin-sdk` 5.x) binds to, so Spin apps run unchanged:
//! `Store::open_default()` (label `default`) is the app's key-value add-on.
//! Errors are Spin's: an unknown label is `no-such-store`, a refusal by the
//! backend `access-denied`.

use super::store::{Namespace, StoreError};
use super::{NO_ADDON, OpenError};
use crate::addons::AddonAccess;
use crate::dynos::host::DynoHost;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/keyvalue",
        world: "kumo:keyvalue/spin-key-value",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/key-value.store": super::Store,
        },
    });
}

use bindings::fermyon::spin::key_value::{self, Error};

/// An open store: an add-on's namespace.
pub struct Store(Namespace);

/// What the interface sees of a dyno instance's host.
pub struct SpinKeyValue<'a> {
    addons: &'a AddonAccess,
    table: &'a mut ResourceTable,
}

struct HasSpinKeyValue;

impl HasData for HasSpinKeyValue {
    type Data<'a> = SpinKeyValue<'a>;
}

/// Links `fermyon:spin/key-value@2.0.0`.
pub fn add_to_linker(linker: &mut Linker<DynoHost>) -> anyhow::Result<()> {
    key_value::add_to_linker::<_, HasSpinKeyValue>(linker, |host: &mut DynoHost| SpinKeyValue {
        addons: &host.addons,
        table: &mut host.table,
    })?;
    Ok(())
}

type Answer<T> = wasmtime::Result<Result<T, Error>>;

fn error(e: StoreError) -> Error {
    match e {
        StoreError::Denied(_) => Error::AccessDenied,
        e => Error::Other(e.to_string()),
    }
}

impl SpinKeyValue<'_> {
    fn namespace(&self, store: &Resource<Store>) -> wasmtime::Result<Namespace> {
        Ok(self.table.get(store)?.0.clone())
    }
}

impl key_value::Host for SpinKeyValue<'_> {}

impl key_value::HostStore for SpinKeyValue<'_> {
    async fn open(&mut self, label: String) -> Answer<Resource<Store>> {
        match super::open(self.addons, &label).await {
            Ok(namespace) => Ok(Ok(self.table.push(Store(namespace))?)),
            Err(OpenError::NoAddon) => Ok(Err(Error::Other(NO_ADDON.to_string()))),
            Err(OpenError::NoSuchStore) => Ok(Err(Error::NoSuchStore)),
            Err(OpenError::Failed(e)) => Ok(Err(Error::Other(format!("{e:#}")))),
        }
    }

    async fn get(&mut self, store: Resource<Store>, key: String) -> Answer<Option<Vec<u8>>> {
        let namespace = self.namespace(&store)?;
        Ok(namespace.get(&key).await.map_err(error))
    }

    async fn set(&mut self, store: Resource<Store>, key: String, value: Vec<u8>) -> Answer<()> {
        let namespace = self.namespace(&store)?;
        Ok(namespace.set(&key, &value).await.map_err(error))
    }

    async fn delete(&mut self, store: Resource<Store>, key: String) -> Answer<()> {
        let namespace = self.namespace(&store)?;
        Ok(namespace.delete(&key).await.map_err(error))
    }

    async fn exists(&mut self, store: Resource<Store>, key: String) -> Answer<bool> {
        let namespace = self.namespace(&store)?;
        Ok(namespace.exists(&key).await.map_err(error))
    }

    async fn get_keys(&mut self, store: Resource<Store>) -> Answer<Vec<String>> {
        let namespace = self.namespace(&store)?;
        Ok(namespace.all_keys().await.map_err(error))
    }

    async fn drop(&mut self, store: Resource<Store>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}
