//! `kumo drains`, `drains:add URL` and `drains:remove URL`: where an app's
//! log stream is sent (syslog, syslog over TLS, HTTPS), printed as Heroku's
//! CLI prints them.

use crate::client::Client;
use serde_json::json;

#[derive(clap::Subcommand)]
pub enum DrainsCommand {
    /// List an app's log drains, with the token each message carries.
    #[command(name = "drains")]
    List {
        #[arg(short, long, default_value = crate::git_app(), help = crate::APP_HELP)]
        app: String,
        #[arg(long)]
        json: bool,
    },
    /// Send an app's logs to syslog://HOST:PORT, syslog+tls://HOST:PORT or https://HOST/PATH.
    #[command(name = "drains:add")]
    Add {
        #[arg(short, long, default_value = crate::git_app(), help = crate::APP_HELP)]
        app: String,
        url: String,
    },
    /// Stop sending an app's logs to a drain (by URL or token).
    #[command(name = "drains:remove")]
    Remove {
        #[arg(short, long, default_value = crate::git_app(), help = crate::APP_HELP)]
        app: String,
        url: String,
    },
}

pub async fn run(client: &Client, command: DrainsCommand) -> anyhow::Result<()> {
    match command {
        DrainsCommand::List { app, json } => {
            let drains = client.list(&format!("/apps/{app}/log-drains")).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&drains)?);
            } else if drains.is_empty() {
                println!("{app} has no drains.");
            } else {
                println!("=== Drains");
                for drain in &drains {
                    println!(
                        "{} ({})",
                        drain["url"].as_str().unwrap_or_default(),
                        drain["token"].as_str().unwrap_or_default()
                    );
                }
            }
            Ok(())
        }
        DrainsCommand::Add { app, url } => {
            let drain = client
                .call(
                    "POST",
                    &format!("/apps/{app}/log-drains"),
                    Some(json!({ "url": url })),
                )
                .await?;
            println!(
                "Successfully added drain {}",
                drain["url"].as_str().unwrap_or_default()
            );
            Ok(())
        }
        DrainsCommand::Remove { app, url } => {
            let path = format!(
                "/apps/{app}/log-drains/{}",
                percent_encoding::utf8_percent_encode(&url, percent_encoding::NON_ALPHANUMERIC)
            );
            let drain = client.call("DELETE", &path, None).await?;
            println!(
                "Successfully removed drain {}",
                drain["url"].as_str().unwrap_or_default()
            );
            Ok(())
        }
    }
}
