//! `kumo releases`.

use crate::client::Client;
use serde_json::Value;

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
        let description = release["description"].as_str().unwrap_or_default();
        let description = match release["status"].as_str() {
            Some("pending") => format!("{description} (release command executing)"),
            Some("failed") => format!("{description} (release command failed)"),
            _ => description.to_string(),
        };
        println!(
            "v{:<4} {:<40} {:<24} {}",
            release["version"].as_i64().unwrap_or(0),
            description,
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
    // Heroku's own warning: add-ons and their data are never rolled back.
    eprintln!(
        " ›   Warning: rollback affects code and config vars; it doesn't add or remove add-ons or change their data."
    );
    eprintln!(" ›   To undo add-on changes, use addons:create or addons:destroy.");
    follow_phase(client, app, &release).await
}

/// When `release` has a release phase, streams the release command's output
/// until it ends, then fails if the command failed.
pub async fn follow_phase(client: &Client, app: &str, release: &Value) -> anyhow::Result<()> {
    let Some(url) = release["output_stream_url"].as_str() else {
        return Ok(());
    };
    println!("Running release command...");
    client.stream(url, &mut |chunk| print!("{chunk}")).await?;
    let version = release["version"].as_i64().unwrap_or(0);
    let after = by_version(client, app, &version.to_string()).await?;
    if after["status"] == "failed" {
        anyhow::bail!(
            "Release v{version} failed: its release command did not succeed, so the previous release keeps serving. Its output: kumo releases:output v{version} -a {app}"
        );
    }
    println!("Release v{version} is live");
    Ok(())
}

/// `kumo releases:output [vN]`: what the release command of a release printed.
pub async fn output(client: &Client, app: &str, release: Option<&str>) -> anyhow::Result<()> {
    let release = match release {
        Some(r) => by_version(client, app, r).await?,
        None => newest(client, app).await?,
    };
    let version = release["version"].as_i64().unwrap_or(0);
    let Some(url) = release["output_stream_url"].as_str() else {
        anyhow::bail!(
            "v{version} of {app} has no release phase output: its slug has no `release` process type"
        );
    };
    client.stream(url, &mut |chunk| print!("{chunk}")).await
}

/// One release of the app, by version (`3` or `v3`) or id.
async fn by_version(client: &Client, app: &str, release: &str) -> anyhow::Result<Value> {
    client
        .call(
            "GET",
            &format!("/apps/{app}/releases/{}", release.trim_start_matches('v')),
            None,
        )
        .await
}

/// The app's newest release, whatever its status.
pub async fn newest(client: &Client, app: &str) -> anyhow::Result<Value> {
    let releases = client.list(&format!("/apps/{app}/releases")).await?;
    releases
        .last()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("{app} has no releases yet"))
}

/// `kumo releases:info [vN]` (default: the current release).
pub async fn info(
    client: &Client,
    app: &str,
    release: Option<&str>,
    json_out: bool,
) -> anyhow::Result<()> {
    let release = match release {
        Some(r) => by_version(client, app, r).await?,
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
