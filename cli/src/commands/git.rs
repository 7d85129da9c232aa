//! `kumo git:remote`, and the `pre-receive` hook of Kumo's app repositories:
//! a push to `main` (or `master`) is built like `kumo deploy`, its output
//! going back to the pusher as `remote:` lines; any other branch is refused.

use crate::client::Client;
use anyhow::Context as _;
use serde_json::json;
use std::io::BufRead as _;
use std::process::Command;

/// `kumo git:remote -a APP`: points the remote (default `kumo`) at the app's repository.
pub async fn add_remote(client: &Client, app: &str, remote: &str) -> anyhow::Result<()> {
    client.call("GET", &format!("/apps/{app}"), None).await?;
    let (host, port) = Client::endpoint()?;
    let url = format!("http://{host}:{port}/{app}.git");
    let exists = Command::new("git")
        .args(["remote", "get-url", remote])
        .output()
        .context("running git: is it installed?")?
        .status
        .success();
    let action = if exists { "set-url" } else { "add" };
    let out = Command::new("git")
        .args(["remote", action, remote, &url])
        .output()
        .context("running git")?;
    if !out.status.success() {
        anyhow::bail!(
            "git remote {action} failed: {} (run it inside the app's git repository)",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // git asks Kumo for the token the way the kumo CLI finds it, so a push
    // works without `kumo login` (KUMO_API_KEY, ~/.netrc or the local admin token).
    let exe = std::env::current_exe().context("finding the kumo executable")?;
    let helper = format!(
        "!'{}' git:credentials",
        exe.display().to_string().replace('\'', "'\\''")
    );
    for (key, value) in [
        (
            format!("credential.http://{host}:{port}.helper"),
            helper.as_str(),
        ),
        (
            format!("credential.https://{host}:{port}.helper"),
            helper.as_str(),
        ),
    ] {
        let out = Command::new("git")
            .args(["config", "--replace-all", &key, value])
            .output()
            .context("running git config")?;
        if !out.status.success() {
            anyhow::bail!(
                "git config {key} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    println!("set git remote {remote} to {url}");
    Ok(())
}

/// `kumo git:credentials get`: git's credential helper for Kumo's repositories.
/// git writes `host=…` (and more) on stdin; the answer is the token for that
/// host as the password. Other hosts, and `store`/`erase`, get nothing.
pub fn credentials(action: &str) -> anyhow::Result<()> {
    let mut host = None;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("host=") {
            host = Some(value.to_string());
        }
    }
    if action != "get" {
        return Ok(());
    }
    let Some(host) = host else {
        return Ok(());
    };
    // `~/.netrc` entries are by host name, without the port.
    let name = host
        .rsplit_once(':')
        .map_or(host.as_str(), |(name, _)| name);
    let token = Client::token_for(name)?;
    println!("username=kumo\npassword={token}");
    Ok(())
}

/// `kumo git-hook pre-receive`, run by git inside the app's bare repository
/// with `KUMO_API_URL`, `KUMO_APP` and the pusher's `KUMO_PUSH_TOKEN` set by the server.
pub async fn hook(name: &str) -> anyhow::Result<()> {
    if name != "pre-receive" {
        anyhow::bail!("unknown git hook `{name}`");
    }
    let api = server_var("KUMO_API_URL")?;
    let app = server_var("KUMO_APP")?;
    let token = server_var("KUMO_PUSH_TOKEN")?;
    let client = Client::for_url(&api, &token)?;

    let mut updates = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let [_, new, reference] = parts.as_slice() {
            updates.push((new.to_string(), reference.to_string()));
        }
    }
    let mut to_build = None;
    for (new, reference) in updates {
        let branch = reference.strip_prefix("refs/heads/").unwrap_or(&reference);
        if new.chars().all(|c| c == '0') {
            anyhow::bail!("deleting `{branch}` is not supported: Kumo keeps the branch it deploys");
        }
        if branch != "main" && branch != "master" {
            anyhow::bail!(
                "pushing to `{branch}` is not supported: Kumo builds `main`. Deploy this branch with `git push kumo {branch}:main`."
            );
        }
        to_build = Some(new);
    }
    let Some(commit) = to_build else {
        return Ok(());
    };
    let archive = Command::new("git")
        .args(["archive", "--format=tar.gz", &commit])
        .output()
        .context("running git archive")?;
    if !archive.status.success() {
        anyhow::bail!(
            "git archive failed: {}",
            String::from_utf8_lossy(&archive.stderr).trim()
        );
    }
    println!("-----> Building {} on Kumo", &commit[..commit.len().min(7)]);
    let uploaded = client
        .send(
            "POST",
            &format!("/apps/{app}/sources"),
            "application/gzip",
            archive.stdout.into(),
        )
        .await?;
    let url = uploaded["source_blob"]["get_url"]
        .as_str()
        .context("the API gave no source URL")?;
    super::deploy::build(&client, &app, json!({ "url": url, "version": commit })).await
}

/// An environment variable the server sets for the hook.
fn server_var(name: &str) -> anyhow::Result<String> {
    std::env::var(name).map_err(|_| {
        anyhow::anyhow!("{name} is not set: this hook runs inside Kumo's git repositories")
    })
}
