//! `kumo config` and `kumo config:set`.

use crate::client::Client;
use serde_json::{Map, Value};

pub async fn show(client: &Client, app: &str, json_out: bool) -> anyhow::Result<()> {
    let config = client
        .call("GET", &format!("/apps/{app}/config-vars"), None)
        .await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&config)?);
        return Ok(());
    }
    println!("=== {app} Config Vars");
    print_vars(&config);
    Ok(())
}

pub async fn set(client: &Client, app: &str, pairs: &[String]) -> anyhow::Result<()> {
    let mut changes = Map::new();
    for pair in pairs {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("`{pair}` is invalid: write KEY=value"))?;
        changes.insert(key.to_string(), Value::String(value.to_string()));
    }
    let names: Vec<&str> = changes.keys().map(String::as_str).collect();
    let label = names.join(", ");
    let config = client
        .call(
            "PATCH",
            &format!("/apps/{app}/config-vars"),
            Some(Value::Object(changes.clone())),
        )
        .await?;
    let release = super::releases::newest(client, app).await?;
    let version = release["version"].as_i64().unwrap_or(0);
    println!("Setting {label} and restarting ⬢ {app}... done, v{version}");
    let shown: Map<String, Value> = config
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| changes.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    print_vars(&Value::Object(shown));
    super::releases::follow_phase(client, app, &release).await
}

fn print_vars(config: &Value) {
    let vars = config.as_object().cloned().unwrap_or_default();
    let width = vars.keys().map(|k| k.len() + 1).max().unwrap_or(0);
    for (key, value) in vars {
        println!(
            "{:width$} {}",
            format!("{key}:"),
            value.as_str().unwrap_or_default()
        );
    }
}

pub async fn get(client: &Client, app: &str, key: &str) -> anyhow::Result<()> {
    let config = client
        .call("GET", &format!("/apps/{app}/config-vars"), None)
        .await?;
    println!("{}", config[key].as_str().unwrap_or_default());
    Ok(())
}

pub async fn unset(client: &Client, app: &str, keys: &[String]) -> anyhow::Result<()> {
    let changes: Map<String, Value> = keys.iter().map(|k| (k.clone(), Value::Null)).collect();
    client
        .call(
            "PATCH",
            &format!("/apps/{app}/config-vars"),
            Some(Value::Object(changes)),
        )
        .await?;
    let release = super::releases::newest(client, app).await?;
    println!(
        "Unsetting {} and restarting ⬢ {app}... done, v{}",
        keys.join(", "),
        release["version"].as_i64().unwrap_or(0)
    );
    super::releases::follow_phase(client, app, &release).await
}
