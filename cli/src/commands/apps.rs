//! `kumo apps` and `kumo apps:create`.

use crate::client::Client;
use serde_json::json;

pub async fn list(client: &Client, json_out: bool) -> anyhow::Result<()> {
    let apps = client.call("GET", "/apps", None).await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&apps)?);
        return Ok(());
    }
    println!("=== My Apps");
    for app in apps.as_array().into_iter().flatten() {
        println!("{}", app["name"].as_str().unwrap_or_default());
    }
    Ok(())
}

pub async fn create(client: &Client, name: Option<String>) -> anyhow::Result<()> {
    let body = name
        .as_ref()
        .map(|n| json!({ "name": n }))
        .unwrap_or_else(|| json!({}));
    let app = client.call("POST", "/apps", Some(body)).await?;
    println!(
        "Creating ⬢ {}... done",
        app["name"].as_str().unwrap_or_default()
    );
    println!("{}", app["web_url"].as_str().unwrap_or_default());
    Ok(())
}
