//! The release phase (`release: migrate.wasm` in the Procfile): brings the
//! schema up to date before a release goes live. A failure fails the release
//! and the previous one keeps serving.

use spin_sdk::pg4::Connection;

fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| anyhow::anyhow!("DATABASE_URL is not set: run `kumo addons:create kumo-postgresql`"))?;
    let db = Connection::open(&url)?;
    db.execute(
        "CREATE TABLE IF NOT EXISTS visits (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now(),
            path text NOT NULL
        )",
        &[],
    )?;
    println!("migrated: table visits is ready");
    Ok(())
}
