//! `kumo deploy --wasm app.wasm`: a prebuilt component (or WASI preview 1
//! module) packed into a slug, uploaded, released.

use crate::client::Client;
use anyhow::Context as _;
use serde_json::json;
use std::path::Path;

pub async fn wasm(
    client: &Client,
    app: &str,
    file: &Path,
    process_type: &str,
) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    println!(
        "-----> Packing {} as the `{process_type}` process",
        file.display()
    );
    let scratch = tempfile::tempdir()?;
    let out = scratch.path().join("slug.tar.zst");
    let packed = kumo_builder::prebuilt::slug(&bytes, process_type, &out)
        .with_context(|| format!("{} cannot be deployed", file.display()))?;
    let archive = std::fs::read(&packed.path)?;
    println!(
        "-----> Uploading slug {} ({} KB)",
        packed.digest.short(),
        archive.len().div_ceil(1024)
    );
    let slug = client
        .send(
            "POST",
            &format!("/apps/{app}/slugs"),
            "application/zstd",
            archive.into(),
        )
        .await?;
    let release = client
        .call(
            "POST",
            &format!("/apps/{app}/releases"),
            Some(json!({ "slug": slug["id"] })),
        )
        .await?;
    println!(
        "-----> Releasing... done, v{}",
        release["version"].as_i64().unwrap_or(0)
    );
    super::releases::follow_phase(client, app, &release).await?;
    let info = client.call("GET", &format!("/apps/{app}"), None).await?;
    println!(
        "{} deployed to Kumo",
        info["web_url"].as_str().unwrap_or_default()
    );
    Ok(())
}
