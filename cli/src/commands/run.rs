//! `kumo run` and `kumo run:detached`: one-off dynos of the current release.

use crate::client::Client;
use anyhow::Context as _;
use bytes::BytesMut;
use kumo_runtime::dynos::attach::{Frame, PROTOCOL};
use serde_json::{Value, json};
use std::io::Write as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// `-e 'A=1;B=2'` as a map.
fn parse_env(env: Option<&str>) -> anyhow::Result<serde_json::Map<String, Value>> {
    let mut map = serde_json::Map::new();
    for pair in env
        .unwrap_or("")
        .split(';')
        .filter(|p| !p.trim().is_empty())
    {
        let (key, value) = pair.split_once('=').with_context(|| {
            format!("invalid --env entry `{pair}`: use KEY=value, separated by `;`")
        })?;
        map.insert(key.trim().to_string(), Value::String(value.to_string()));
    }
    Ok(map)
}

async fn create(
    client: &Client,
    app: &str,
    argv: &[String],
    size: Option<&str>,
    env: Option<&str>,
    attach: bool,
) -> anyhow::Result<Value> {
    let mut body = json!({
        "command": shell_words::join(argv),
        "attach": attach,
        "env": parse_env(env)?,
        "type": "run",
    });
    if let Some(size) = size {
        body["size"] = json!(size);
    }
    client
        .call("POST", &format!("/apps/{app}/dynos"), Some(body))
        .await
}

/// Runs `argv` attached: stdin goes to the dyno, its stdout and stderr come
/// back, and the result is the dyno's exit status.
pub async fn attached(
    client: &Client,
    app: &str,
    argv: &[String],
    size: Option<&str>,
    env: Option<&str>,
) -> anyhow::Result<i32> {
    let dyno = create(client, app, argv, size, env, true).await?;
    let name = dyno["name"].as_str().unwrap_or("run");
    let url = dyno["attach_url"]
        .as_str()
        .context("the API gave no attach_url for the dyno")?;
    // Heroku's clients take `rendezvous://HOST:PORT/SECRET`; the same secret
    // opens Kumo's own attach (stdout and stderr apart, the exit status) there.
    let url = match url.strip_prefix("rendezvous://") {
        Some(rest) => match rest.split_once('/') {
            Some((authority, secret)) => format!("http://{authority}/attach/{secret}"),
            None => anyhow::bail!("the attach URL `{url}` names no session"),
        },
        None => url.to_string(),
    };
    eprint!("Running {} on ⬢ {app}... ", shell_words::join(argv));
    let stream = client
        .upgrade(&url, PROTOCOL)
        .await
        .with_context(|| format!("attaching to {name}"))?;
    eprintln!("up, {name}");
    let (mut reader, mut writer) = tokio::io::split(stream);
    tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let _ = tokio::io::copy(&mut stdin, &mut writer).await;
        let _ = writer.shutdown().await;
    });
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        while let Some(frame) = Frame::decode(&mut buf)? {
            match frame {
                Frame::Stdout(bytes) => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&bytes)?;
                    out.flush()?;
                }
                Frame::Stderr(bytes) => {
                    let mut err = std::io::stderr().lock();
                    err.write_all(&bytes)?;
                    err.flush()?;
                }
                Frame::Exit(code) => return Ok(code),
                Frame::Error(why) => anyhow::bail!("{name}: {why}"),
            }
        }
        if reader.read_buf(&mut buf).await? == 0 {
            anyhow::bail!("the connection to {name} closed before its process ended");
        }
    }
}

pub async fn detached(
    client: &Client,
    app: &str,
    argv: &[String],
    size: Option<&str>,
    env: Option<&str>,
) -> anyhow::Result<()> {
    let dyno = create(client, app, argv, size, env, false).await?;
    let name = dyno["name"].as_str().unwrap_or("run");
    println!(
        "Running {} on ⬢ {app}... up, {name}",
        shell_words::join(argv)
    );
    println!("Use 'kumo logs -a {app} --dyno {name}' to view the output.");
    Ok(())
}
