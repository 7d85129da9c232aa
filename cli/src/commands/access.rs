//! `kumo access`, `access:add` and `access:remove`: an app's collaborators.

use crate::client::Client;
use serde_json::json;

pub async fn list(client: &Client, app: &str, json_out: bool) -> anyhow::Result<()> {
    let info = client.call("GET", &format!("/apps/{app}"), None).await?;
    let collaborators = client.list(&format!("/apps/{app}/collaborators")).await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&collaborators)?);
        return Ok(());
    }
    let owner = info["owner"]["email"].as_str().unwrap_or_default();
    // The list holds the owner (role `owner`) and the collaborators.
    let mut rows = vec![(owner.to_string(), "owner")];
    for c in &collaborators {
        let email = c["user"]["email"].as_str().unwrap_or_default();
        if c["role"] != "owner" && email != owner {
            rows.push((email.to_string(), "collaborator"));
        }
    }
    let width = rows.iter().map(|(e, _)| e.len()).max().unwrap_or(0);
    println!("=== {app} Access List");
    for (email, role) in rows {
        println!("{email:width$}  {role}");
    }
    Ok(())
}

pub async fn add(client: &Client, app: &str, email: &str) -> anyhow::Result<()> {
    client
        .call(
            "POST",
            &format!("/apps/{app}/collaborators"),
            Some(json!({ "user": email })),
        )
        .await?;
    println!("Adding {email} access to the app {app}... done");
    Ok(())
}

pub async fn remove(client: &Client, app: &str, email: &str) -> anyhow::Result<()> {
    client
        .call(
            "DELETE",
            &format!("/apps/{app}/collaborators/{email}"),
            None,
        )
        .await?;
    println!("Removing {email} access from the app {app}... done");
    Ok(())
}
