//! A visit counter that keeps its count in the app's Postgres add-on, written
//! with the Spin SDK (`spin_sdk::pg4`) and run by Kumo unchanged.
//!
//! Deploy it and attach a database (see README.md), then
//! `curl http://visits.localhost:8080/` answers `Visit number 1`, then 2, …
//! across restarts, deploys and sleeps.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;
use spin_sdk::pg4::{Connection, Decode, ParameterValue};

#[http_component]
fn handle(request: Request) -> anyhow::Result<impl IntoResponse> {
    // DATABASE_URL is set by attaching the add-on; the release phase made the table.
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| anyhow::anyhow!("DATABASE_URL is not set: run `kumo addons:create kumo-postgresql`"))?;
    let db = Connection::open(&url)?;
    db.execute(
        "INSERT INTO visits (path) VALUES ($1)",
        &[ParameterValue::Str(request.path().to_string())],
    )?;
    let rows = db.query("SELECT count(*) FROM visits", &[])?;
    let count = match rows.rows.first() {
        Some(row) => i64::decode(&row[0])?,
        None => 0,
    };
    Ok(Response::new(200, format!("Visit number {count}\n")))
}
