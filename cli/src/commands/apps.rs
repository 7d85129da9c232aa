//! `kumo apps`, `apps:create`, `apps:info`, `apps:rename`, `apps:destroy`,
//! `maintenance` and `open`.

use crate::client::Client;
use serde_json::json;

pub async fn list(client: &Client, json_out: bool) -> anyhow::Result<()> {
    let apps = serde_json::Value::Array(client.list("/apps").await?);
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

pub async fn info(client: &Client, app: &str, json_out: bool) -> anyhow::Result<()> {
    let info = client.call("GET", &format!("/apps/{app}"), None).await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&info)?);
        return Ok(());
    }
    println!("=== {app}");
    println!(
        "Owner:       {}",
        info["owner"]["email"].as_str().unwrap_or_default()
    );
    println!(
        "Stack:       {}",
        info["stack"]["name"].as_str().unwrap_or_default()
    );
    println!(
        "Web URL:     {}",
        info["web_url"].as_str().unwrap_or_default()
    );
    println!(
        "Git URL:     {}",
        info["git_url"].as_str().unwrap_or_default()
    );
    if let Some(bytes) = info["slug_size"].as_u64() {
        println!("Slug Size:   {bytes} bytes");
    }
    println!(
        "Maintenance: {}",
        if info["maintenance"] == true {
            "on"
        } else {
            "off"
        }
    );
    Ok(())
}

/// `kumo apps:rename NEWNAME -a APP`. A git remote that names the old path
/// needs `kumo git:remote -a NEWNAME` again.
pub async fn rename(client: &Client, app: &str, new_name: &str) -> anyhow::Result<()> {
    let renamed = client
        .call(
            "PATCH",
            &format!("/apps/{app}"),
            Some(json!({ "name": new_name })),
        )
        .await?;
    println!("Renaming ⬢ {app} to ⬢ {new_name}... done");
    println!(
        "{} | {}",
        renamed["web_url"].as_str().unwrap_or_default(),
        renamed["git_url"].as_str().unwrap_or_default()
    );
    println!("Update git remotes that name {app}: kumo git:remote -a {new_name}");
    Ok(())
}

pub async fn destroy(client: &Client, app: &str, confirm: Option<&str>) -> anyhow::Result<()> {
    if confirm != Some(app) {
        anyhow::bail!("this deletes {app} and everything it has: run again with --confirm {app}");
    }
    client.call("DELETE", &format!("/apps/{app}"), None).await?;
    println!("Destroying ⬢ {app}... done");
    Ok(())
}

pub async fn maintenance(client: &Client, app: &str, on: bool) -> anyhow::Result<()> {
    client
        .call(
            "PATCH",
            &format!("/apps/{app}"),
            Some(json!({ "maintenance": on })),
        )
        .await?;
    println!(
        "{} maintenance mode for ⬢ {app}... done",
        if on { "Enabling" } else { "Disabling" }
    );
    Ok(())
}

/// `kumo open [PATH]`: the app's URL in a browser (`$BROWSER`, else
/// `xdg-open`); with neither, the URL is printed to open by hand.
pub async fn open(client: &Client, app: &str, path: Option<&str>) -> anyhow::Result<()> {
    let info = client.call("GET", &format!("/apps/{app}"), None).await?;
    let base = info["web_url"].as_str().unwrap_or_default();
    let url = match path {
        Some(path) => format!(
            "{}/{}",
            base.trim_end_matches('/'),
            path.trim_start_matches('/')
        ),
        None => base.to_string(),
    };
    let browser = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| "xdg-open".to_string());
    println!("Opening ⬢ {app}... {url}");
    let opened = std::process::Command::new(&browser)
        .arg(&url)
        .status()
        .is_ok_and(|status| status.success());
    if !opened {
        eprintln!("No browser could be started ({browser}): open {url} by hand, or set BROWSER.");
    }
    Ok(())
}
