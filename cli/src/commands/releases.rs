//! `kumo releases`.

use crate::client::Client;

pub async fn list(client: &Client, app: &str, json_out: bool) -> anyhow::Result<()> {
    let releases = serde_json::Value::Array(client.list(&format!("/apps/{app}/releases")).await?);
    if json_out {
        println!("{}", serde_json::to_string_pretty(&releases)?);
        return Ok(());
    }
    let list = releases.as_array().cloned().unwrap_or_default();
    let current = list
        .iter()
        .find(|r| r["current"] == true)
        .and_then(|r| r["version"].as_i64());
    match current {
        Some(v) => println!("=== {app} Releases - Current: v{v}"),
        None => println!("=== {app} Releases"),
    }
    for release in list.iter().rev() {
        println!(
            "v{:<4} {:<40} {:<24} {}",
            release["version"].as_i64().unwrap_or(0),
            release["description"].as_str().unwrap_or_default(),
            release["user"]["email"].as_str().unwrap_or_default(),
            release["created_at"]
                .as_str()
                .unwrap_or_default()
                .replace('T', " ")
                .trim_end_matches('Z'),
        );
    }
    Ok(())
}

/// `kumo rollback [vN]`: a new release copying vN's slug and config (default: the one before current).
pub async fn rollback(client: &Client, app: &str, target: Option<&str>) -> anyhow::Result<()> {
    let target = match target {
        Some(t) => t.trim_start_matches('v').to_string(),
        None => {
            let releases =
                serde_json::Value::Array(client.list(&format!("/apps/{app}/releases")).await?);
            let list = releases.as_array().cloned().unwrap_or_default();
            let current = list
                .iter()
                .position(|r| r["current"] == true)
                .unwrap_or(list.len());
            let previous = current.checked_sub(1).and_then(|i| list.get(i));
            previous
                .and_then(|r| r["version"].as_i64())
                .map(|v| v.to_string())
                .ok_or_else(|| {
                    anyhow::anyhow!("{app} has no release before the current one to roll back to")
                })?
        }
    };
    let release = client
        .call(
            "POST",
            &format!("/apps/{app}/releases"),
            Some(serde_json::json!({ "release": target })),
        )
        .await?;
    println!(
        "Rolling back ⬢ {app}... done, v{}",
        release["version"].as_i64().unwrap_or(0)
    );
    Ok(())
}

/// `kumo releases:info [vN]` (default: the current release).
pub async fn info(
    client: &Client,
    app: &str,
    release: Option<&str>,
    json_out: bool,
) -> anyhow::Result<()> {
    let release = match release {
        Some(r) => {
            client
                .call(
                    "GET",
                    &format!("/apps/{app}/releases/{}", r.trim_start_matches('v')),
                    None,
                )
                .await?
        }
        None => {
            let releases =
                serde_json::Value::Array(client.list(&format!("/apps/{app}/releases")).await?);
            releases
                .as_array()
                .and_then(|list| list.iter().find(|r| r["current"] == true).cloned())
                .ok_or_else(|| anyhow::anyhow!("{app} has no releases yet"))?
        }
    };
    if json_out {
        println!("{}", serde_json::to_string_pretty(&release)?);
        return Ok(());
    }
    let version = release["version"].as_i64().unwrap_or(0);
    let config = client
        .call(
            "GET",
            &format!("/apps/{app}/releases/{version}/config-vars"),
            None,
        )
        .await?;
    println!("=== Release v{version}");
    println!(
        "By:          {}",
        release["user"]["email"].as_str().unwrap_or_default()
    );
    println!(
        "Change:      {}",
        release["description"].as_str().unwrap_or_default()
    );
    println!(
        "Status:      {}",
        release["status"].as_str().unwrap_or_default()
    );
    println!(
        "When:        {}",
        release["created_at"].as_str().unwrap_or_default()
    );
    println!();
    println!("=== v{version} Config vars");
    for (key, value) in config.as_object().into_iter().flatten() {
        println!("{key}: {}", value.as_str().unwrap_or_default());
    }
    Ok(())
}
