//! `kumo domains`, `kumo domains:add` and `kumo domains:remove`.

use crate::client::Client;
use serde_json::json;

pub async fn list(client: &Client, app: &str, json_out: bool) -> anyhow::Result<()> {
    let domains = serde_json::Value::Array(client.list(&format!("/apps/{app}/domains")).await?);
    if json_out {
        println!("{}", serde_json::to_string_pretty(&domains)?);
        return Ok(());
    }
    let list = domains.as_array().cloned().unwrap_or_default();
    for domain in list.iter().filter(|d| d["kind"] == "heroku") {
        println!("=== {app} Kumo Domain");
        println!("{}", domain["hostname"].as_str().unwrap_or_default());
    }
    let custom: Vec<_> = list.iter().filter(|d| d["kind"] == "custom").collect();
    if !custom.is_empty() {
        println!();
        println!("=== {app} Custom Domains");
        for domain in custom {
            println!("{}", domain["hostname"].as_str().unwrap_or_default());
        }
    }
    Ok(())
}

pub async fn add(client: &Client, app: &str, hostname: &str) -> anyhow::Result<()> {
    let domain = client
        .call(
            "POST",
            &format!("/apps/{app}/domains"),
            Some(json!({ "hostname": hostname })),
        )
        .await?;
    println!(
        "Adding {} to ⬢ {app}... done",
        domain["hostname"].as_str().unwrap_or_default()
    );
    Ok(())
}

pub async fn remove(client: &Client, app: &str, hostname: &str) -> anyhow::Result<()> {
    client
        .call("DELETE", &format!("/apps/{app}/domains/{hostname}"), None)
        .await?;
    println!("Removing {hostname} from ⬢ {app}... done");
    Ok(())
}
