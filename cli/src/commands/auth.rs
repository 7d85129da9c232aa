//! `kumo login`, `logout`, `auth:whoami`, `auth:token`, `dashboard`, and the
//! admin's `accounts` and `accounts:create`.

use crate::client::Client;
use crate::netrc;
use anyhow::Context as _;
use serde_json::json;
use std::io::IsTerminal as _;

/// Reads an API key (hidden on a terminal, a line of stdin otherwise), checks
/// it against the API and stores it in `~/.netrc` for the API's host.
pub async fn login() -> anyhow::Result<()> {
    let token = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Enter your Kumo API key: ")?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the API key from stdin")?;
        line
    };
    let token = token.trim();
    if token.is_empty() {
        anyhow::bail!(
            "no API key given: paste the key `kumo accounts:create` printed (or the admin-token file of the server)"
        );
    }
    let client = Client::with_token(token)?;
    let account = client
        .call("GET", "/account", None)
        .await
        .context("the API refused that key")?;
    let email = account["email"].as_str().unwrap_or_default();
    netrc::set(client.host(), Some((email, token)))?;
    println!("Logged in as {email}");
    Ok(())
}

pub fn logout() -> anyhow::Result<()> {
    let (host, _) = Client::endpoint()?;
    netrc::set(&host, None)?;
    println!("Logging out... done");
    Ok(())
}

pub async fn whoami(client: &Client) -> anyhow::Result<()> {
    let account = client.call("GET", "/account", None).await?;
    println!("{}", account["email"].as_str().unwrap_or_default());
    Ok(())
}

pub fn token(client: &Client) {
    println!("{}", client.token());
}

/// Prints the dashboard's address, and a link that logs the browser in with
/// the token this CLI uses: in the URL's fragment, which browsers never send.
pub async fn dashboard(client: &Client, app: Option<&str>) -> anyhow::Result<()> {
    let account = client.call("GET", "/account", None).await?;
    let url = format!("{}/dashboard/", client.base_url());
    let mut link = format!("{url}#token={}", client.token());
    if let Some(app) = app {
        client.call("GET", &format!("/apps/{app}"), None).await?;
        link.push_str(&format!("&app={app}"));
    }
    println!("Dashboard: {url} (log in with your API key, `kumo auth:token`)");
    println!(
        "Or open this link, which logs you in as {} (it holds your API key: do not share it):",
        account["email"].as_str().unwrap_or_default()
    );
    println!("  {link}");
    Ok(())
}

pub async fn accounts(client: &Client, json_out: bool) -> anyhow::Result<()> {
    let accounts = client.list("/accounts").await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&accounts)?);
        return Ok(());
    }
    println!("=== Accounts");
    for account in &accounts {
        let admin = if account["admin"] == true {
            " (admin)"
        } else {
            ""
        };
        println!("{}{admin}", account["email"].as_str().unwrap_or_default());
    }
    Ok(())
}

pub async fn create_account(client: &Client, email: &str) -> anyhow::Result<()> {
    let account = client
        .call("POST", "/accounts", Some(json!({ "email": email })))
        .await?;
    println!("Creating account {email}... done");
    println!(
        "API key (shown once; give it to {email} for `kumo login`): {}",
        account["api_key"].as_str().unwrap_or_default()
    );
    Ok(())
}
