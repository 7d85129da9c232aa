//! Spin's Postgres interface, `spin:postgres/postgres@4.0.0` (and `@3.0.0`),
//! on a dyno's Postgres add-ons, so guests built with Spin's SDKs
//! (`spin_sdk::pg4`) run unchanged and reach their app's database.
//!
//! `open(address)` connects only to a database a Postgres grant of the dyno's
//! release names ([`address`]); anything else is `connection-failed`, as is a
//! server that does not answer. Connections live in the instance's
//! `ResourceTable` and close when the guest drops them or the instance ends.
//! Parameters and rows are typed ([`values`], [`binary`], [`numeric`]).
//! Every host call is async, so the dyno's request deadline (a `select!`
//! around the guest's call) also cuts a query that takes too long.

mod address;
mod binary;
mod numeric;
mod pg3;
mod values;

use crate::addons::AddonAccess;
use crate::dynos::host::DynoHost;
use tokio_postgres::NoTls;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-postgres",
        world: "host",
        imports: { default: async | trappable },
        with: {
            "spin:postgres/postgres@4.0.0.connection": super::Connection,
            "spin:postgres/postgres@3.0.0.connection": super::Connection,
        },
    });
}

use bindings::spin::postgres3_0_0::postgres as v3;
use bindings::spin::postgres4_0_0::postgres as v4;

/// An open connection of a guest to its add-on's database.
pub struct Connection {
    client: tokio_postgres::Client,
}

/// Links both versions of the interface for every dyno.
pub fn add_to_linker(linker: &mut Linker<DynoHost>) -> anyhow::Result<()> {
    fn view(host: &mut DynoHost) -> SpinPg<'_> {
        SpinPg {
            table: &mut host.table,
            addons: &host.addons,
        }
    }
    v4::add_to_linker::<DynoHost, SpinPg<'static>>(linker, view).map_err(anyhow::Error::from)?;
    v3::add_to_linker::<DynoHost, SpinPg<'static>>(linker, view).map_err(anyhow::Error::from)?;
    Ok(())
}

/// What the interface works with in one instance: its table (the open
/// connections) and its release's add-ons.
pub struct SpinPg<'a> {
    table: &'a mut ResourceTable,
    addons: &'a AddonAccess,
}

impl HasData for SpinPg<'static> {
    type Data<'a> = SpinPg<'a>;
}

impl SpinPg<'_> {
    async fn open(
        &mut self,
        address: &str,
    ) -> wasmtime::Result<Result<Resource<Connection>, v4::Error>> {
        let config = match address::granted(&self.addons.grants, address) {
            Ok(config) => config,
            Err(message) => return Ok(Err(v4::Error::ConnectionFailed(message))),
        };
        let (client, connection) = match config.connect(NoTls).await {
            Ok(connected) => connected,
            Err(e) => {
                return Ok(Err(v4::Error::ConnectionFailed(format!(
                    "connecting to the app's Postgres add-on: {}",
                    with_cause(&e)
                ))));
            }
        };
        // The connection ends when its client is dropped (or the server goes).
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "add-on Postgres connection ended");
            }
        });
        match self.table.push(Connection { client }) {
            Ok(connection) => Ok(Ok(connection)),
            Err(e) => Ok(Err(v4::Error::Other(format!(
                "cannot keep another connection open: {e}"
            )))),
        }
    }

    async fn query(
        &mut self,
        connection: &Resource<Connection>,
        statement: &str,
        params: Vec<v4::ParameterValue>,
    ) -> wasmtime::Result<Result<v4::RowSet, v4::Error>> {
        let client = &self.table.get(connection)?.client;
        let params = match parameters(params) {
            Ok(params) => params,
            Err(e) => return Ok(Err(v4::Error::BadParameter(e))),
        };
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            params.iter().map(|p| &**p as _).collect();
        // Prepared first, so an empty result still has its columns.
        let prepared = match client.prepare(statement).await {
            Ok(prepared) => prepared,
            Err(e) => return Ok(Err(query_failed(e))),
        };
        let rows = match client.query(&prepared, &refs).await {
            Ok(rows) => rows,
            Err(e) => return Ok(Err(query_failed(e))),
        };
        let columns = prepared
            .columns()
            .iter()
            .map(|column| v4::Column {
                name: column.name().to_string(),
                data_type: values::data_type(column.type_()),
            })
            .collect();
        let rows = rows
            .iter()
            .map(|row| (0..row.len()).map(|i| values::db_value(row, i)).collect())
            .collect::<Result<Vec<_>, _>>();
        Ok(match rows {
            Ok(rows) => Ok(v4::RowSet { columns, rows }),
            Err(e) => Err(v4::Error::ValueConversionFailed(e)),
        })
    }

    async fn execute(
        &mut self,
        connection: &Resource<Connection>,
        statement: &str,
        params: Vec<v4::ParameterValue>,
    ) -> wasmtime::Result<Result<u64, v4::Error>> {
        let client = &self.table.get(connection)?.client;
        let params = match parameters(params) {
            Ok(params) => params,
            Err(e) => return Ok(Err(v4::Error::BadParameter(e))),
        };
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            params.iter().map(|p| &**p as _).collect();
        Ok(client.execute(statement, &refs).await.map_err(query_failed))
    }

    fn close(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

/// The guest's parameters for tokio-postgres, or why one cannot be sent.
fn parameters(params: Vec<v4::ParameterValue>) -> Result<Vec<values::Parameter>, String> {
    params
        .into_iter()
        .enumerate()
        .map(|(i, p)| values::parameter(p).map_err(|e| format!("parameter ${}: {e}", i + 1)))
        .collect()
}

/// A failed statement as Spin reports it: the server's error in its fields, or
/// the client's (a parameter Postgres cannot take, a closed connection) as text.
fn query_failed(e: tokio_postgres::Error) -> v4::Error {
    let Some(db) = e.as_db_error() else {
        return v4::Error::QueryFailed(v4::QueryError::Text(with_cause(&e)));
    };
    let position = db.position().map(|p| match p {
        tokio_postgres::error::ErrorPosition::Original(at) => at.to_string(),
        tokio_postgres::error::ErrorPosition::Internal { position, .. } => position.to_string(),
    });
    let extras = [
        ("hint", db.hint().map(str::to_string)),
        ("position", position),
        ("where", db.where_().map(str::to_string)),
        ("schema", db.schema().map(str::to_string)),
        ("table", db.table().map(str::to_string)),
        ("column", db.column().map(str::to_string)),
        ("datatype", db.datatype().map(str::to_string)),
        ("constraint", db.constraint().map(str::to_string)),
    ]
    .into_iter()
    .filter_map(|(key, value)| Some((key.to_string(), value?)))
    .collect();
    v4::Error::QueryFailed(v4::QueryError::DbError(v4::DbError {
        as_text: with_cause(&e),
        severity: db.severity().to_string(),
        code: db.code().code().to_string(),
        message: db.message().to_string(),
        detail: db.detail().map(str::to_string),
        extras,
    }))
}

/// tokio-postgres's errors say what failed and keep why in their source.
fn with_cause(e: &tokio_postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

impl v4::Host for SpinPg<'_> {}

impl v4::HostConnection for SpinPg<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<Connection>, v4::Error>> {
        SpinPg::open(self, &address).await
    }

    async fn query(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<v4::ParameterValue>,
    ) -> wasmtime::Result<Result<v4::RowSet, v4::Error>> {
        SpinPg::query(self, &connection, &statement, params).await
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<v4::ParameterValue>,
    ) -> wasmtime::Result<Result<u64, v4::Error>> {
        SpinPg::execute(self, &connection, &statement, params).await
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.close(connection)
    }
}
