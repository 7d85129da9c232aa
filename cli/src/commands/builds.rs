//! `kumo builds`, `builds:output`, `buildpacks`, `buildpacks:set`, `buildpacks:clear`.

use crate::client::Client;
use serde_json::{Value, json};

pub async fn list(client: &Client, app: &str, json_out: bool) -> anyhow::Result<()> {
    let builds = client.list(&format!("/apps/{app}/builds")).await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&Value::Array(builds))?);
        return Ok(());
    }
    println!("=== {app} Builds");
    for build in builds.iter().rev() {
        println!(
            "{}  {:<10} {:<10} {:<24} {}",
            build["id"].as_str().unwrap_or_default(),
            build["status"].as_str().unwrap_or_default(),
            build["buildpacks"][0]["name"].as_str().unwrap_or("-"),
            build["user"]["email"].as_str().unwrap_or_default(),
            build["created_at"].as_str().unwrap_or_default(),
        );
    }
    Ok(())
}

/// Prints a build's output (default: the newest build's).
pub async fn output(client: &Client, app: &str, build: Option<&str>) -> anyhow::Result<()> {
    let build = match build {
        Some(id) => {
            client
                .call("GET", &format!("/apps/{app}/builds/{id}"), None)
                .await?
        }
        None => client
            .list(&format!("/apps/{app}/builds"))
            .await?
            .pop()
            .ok_or_else(|| anyhow::anyhow!("{app} has no builds yet"))?,
    };
    let url = build["output_stream_url"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the build has no output URL"))?;
    client.stream(url, &mut |chunk| print!("{chunk}")).await
}

pub async fn buildpacks(client: &Client, app: &str) -> anyhow::Result<()> {
    let installed = client
        .call("GET", &format!("/apps/{app}/buildpack-installations"), None)
        .await?;
    match installed[0]["buildpack"]["name"].as_str() {
        Some(name) => println!("=== {app} Buildpack\n{name}"),
        None => println!(
            "{app} has no buildpack set: each build uses the first that detects the app (rust, go, ruby, python, php, nodejs, clojure, java, scala, c, prebuilt)."
        ),
    }
    Ok(())
}

pub async fn set_buildpack(
    client: &Client,
    app: &str,
    buildpack: Option<&str>,
) -> anyhow::Result<()> {
    let updates: Vec<Value> = buildpack
        .map(|b| json!({ "buildpack": b }))
        .into_iter()
        .collect();
    client
        .call(
            "PUT",
            &format!("/apps/{app}/buildpack-installations"),
            Some(json!({ "updates": updates })),
        )
        .await?;
    match buildpack {
        Some(name) => println!(
            "Buildpack set. Next release on {app} will use {name}.\nRun kumo deploy to create a new release using this buildpack."
        ),
        None => println!("Buildpack cleared. Next release on {app} will detect its buildpack."),
    }
    Ok(())
}
