//! `kumo ps`, `kumo ps:scale` and `kumo ps:restart`.

use crate::client::Client;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub async fn list(client: &Client, app: &str, json_out: bool) -> anyhow::Result<()> {
    let dynos = serde_json::Value::Array(client.list(&format!("/apps/{app}/dynos")).await?);
    if json_out {
        println!("{}", serde_json::to_string_pretty(&dynos)?);
        return Ok(());
    }
    let mut by_type: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for dyno in dynos.as_array().into_iter().flatten() {
        by_type
            .entry(dyno["type"].as_str().unwrap_or_default().to_string())
            .or_default()
            .push(dyno.clone());
    }
    if by_type.is_empty() {
        println!("No dynos on ⬢ {app}");
    }
    for (process_type, dynos) in by_type {
        let first = &dynos[0];
        println!(
            "=== {process_type} ({}): `{}` ({})",
            first["size"].as_str().unwrap_or_default(),
            first["command"].as_str().unwrap_or_default(),
            dynos.len()
        );
        for dyno in &dynos {
            // With several nodes, where each dyno runs.
            let node = dyno["node"]
                .as_str()
                .map(|n| format!(" on {n}"))
                .unwrap_or_default();
            println!(
                "{}: {} {}{node}",
                dyno["name"].as_str().unwrap_or_default(),
                dyno["state"].as_str().unwrap_or_default(),
                dyno["updated_at"]
                    .as_str()
                    .unwrap_or_default()
                    .replace('T', " ")
                    .trim_end_matches('Z')
            );
        }
        println!();
    }
    Ok(())
}

/// `web=3`, `web=2:standard-2X`, `worker=0`.
pub async fn scale(client: &Client, app: &str, changes: &[String]) -> anyhow::Result<()> {
    let mut updates = Vec::new();
    for change in changes {
        let (process_type, spec) = change
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("`{change}` is invalid: write TYPE=QUANTITY or TYPE=QUANTITY:SIZE, like web=2:standard-2X"))?;
        let (quantity, size) = match spec.split_once(':') {
            Some((q, s)) => (q, Some(s)),
            None => (spec, None),
        };
        let mut update = json!({ "type": process_type });
        if !quantity.is_empty() {
            let n: i64 = quantity.parse().map_err(|_| {
                anyhow::anyhow!("`{quantity}` in `{change}` is not a number of dynos")
            })?;
            update["quantity"] = json!(n);
        }
        if let Some(size) = size {
            update["size"] = json!(size);
        }
        updates.push(update);
    }
    let lines = client
        .call(
            "PATCH",
            &format!("/apps/{app}/formation"),
            Some(json!({ "updates": updates })),
        )
        .await?;
    let now: Vec<String> = lines
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            format!(
                "{} at {}:{}",
                l["type"].as_str().unwrap_or_default(),
                l["quantity"].as_i64().unwrap_or(0),
                l["size"].as_str().unwrap_or_default()
            )
        })
        .collect();
    println!("Scaling dynos... done, now running {}", now.join(", "));
    Ok(())
}

pub async fn restart(client: &Client, app: &str, dyno: Option<&str>) -> anyhow::Result<()> {
    match dyno {
        Some(dyno) => {
            client
                .call("DELETE", &format!("/apps/{app}/dynos/{dyno}"), None)
                .await?;
            println!("Restarting {dyno} dyno on ⬢ {app}... done");
        }
        None => {
            client
                .call("DELETE", &format!("/apps/{app}/dynos"), None)
                .await?;
            println!("Restarting dynos on ⬢ {app}... done");
        }
    }
    Ok(())
}

pub async fn stop(client: &Client, app: &str, dyno: &str) -> anyhow::Result<()> {
    client
        .call(
            "POST",
            &format!("/apps/{app}/dynos/{dyno}/actions/stop"),
            None,
        )
        .await?;
    println!("Stopping {dyno} dyno on ⬢ {app}... done");
    Ok(())
}
