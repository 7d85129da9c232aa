//! `kumo authorizations`, `authorizations:create`, `authorizations:info` and
//! `authorizations:revoke`: the account's API tokens, which may expire.

use crate::client::Client;
use serde_json::{Value, json};

pub async fn list(client: &Client, json_out: bool) -> anyhow::Result<()> {
    let authorizations = client.list("/oauth/authorizations").await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&authorizations)?);
        return Ok(());
    }
    println!("=== Authorizations");
    let width = authorizations
        .iter()
        .map(|a| description(a).chars().count())
        .max()
        .unwrap_or(0);
    for a in &authorizations {
        println!(
            "{:width$}  {}  {}  {}",
            description(a),
            a["id"].as_str().unwrap_or_default(),
            scope(a),
            expiry(a)
        );
    }
    Ok(())
}

/// Makes a new token; `--short` prints only the token, for scripts.
pub async fn create(
    client: &Client,
    description: Option<&str>,
    expires_in: Option<&str>,
    scope: Option<&str>,
    short: bool,
    json_out: bool,
) -> anyhow::Result<()> {
    let mut body = json!({});
    if let Some(d) = description {
        body["description"] = json!(d);
    }
    if let Some(e) = expires_in {
        // A number when it is one; otherwise as typed, for the API to name in its refusal.
        body["expires_in"] = e
            .trim()
            .parse::<i64>()
            .map_or_else(|_| json!(e), |n| json!(n));
    }
    if let Some(s) = scope {
        body["scope"] = json!(s.split(',').map(str::trim).collect::<Vec<_>>());
    }
    let a = client
        .call("POST", "/oauth/authorizations", Some(body))
        .await?;
    let token = a["access_token"]["token"].as_str().unwrap_or_default();
    if short {
        println!("{token}");
        return Ok(());
    }
    if json_out {
        println!("{}", serde_json::to_string_pretty(&a)?);
        return Ok(());
    }
    println!("Creating authorization... done");
    show(&a);
    println!("Token:       {token} (shown once: keep it now)");
    Ok(())
}

pub async fn info(client: &Client, id: &str, json_out: bool) -> anyhow::Result<()> {
    let a = client
        .call("GET", &format!("/oauth/authorizations/{id}"), None)
        .await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&a)?);
        return Ok(());
    }
    println!("=== Authorization {id}");
    show(&a);
    Ok(())
}

pub async fn revoke(client: &Client, id: &str) -> anyhow::Result<()> {
    let a = client
        .call("DELETE", &format!("/oauth/authorizations/{id}"), None)
        .await?;
    println!(
        "Revoking authorization {id}... done, revoked {}",
        description(&a)
    );
    Ok(())
}

/// The lines `create` and `info` share.
fn show(a: &Value) {
    println!("ID:          {}", a["id"].as_str().unwrap_or_default());
    println!("Description: {}", description(a));
    println!("Scope:       {}", scope(a));
    println!(
        "Created at:  {}",
        a["created_at"].as_str().unwrap_or_default()
    );
    println!("Expires:     {}", expiry(a));
}

fn description(a: &Value) -> &str {
    match a["description"].as_str() {
        Some("") | None => "(no description)",
        Some(d) => d,
    }
}

fn scope(a: &Value) -> String {
    a["scope"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn expiry(a: &Value) -> String {
    match a["access_token"]["expires_in"].as_u64() {
        None => "never expires".to_string(),
        Some(0) => "expired".to_string(),
        Some(seconds) => format!(
            "expires in {}",
            humantime::format_duration(std::time::Duration::from_secs(seconds))
        ),
    }
}
