//! `kumo logs [-n N] [--tail] [--source app|kumo] [--dyno web.1]`.

use crate::client::Client;
use serde_json::json;

pub async fn show(
    client: &Client,
    app: &str,
    lines: usize,
    tail: bool,
    source: Option<&str>,
    dyno: Option<&str>,
) -> anyhow::Result<()> {
    let session = client
        .call(
            "POST",
            &format!("/apps/{app}/log-sessions"),
            Some(json!({ "lines": lines, "tail": tail, "source": source, "dyno": dyno })),
        )
        .await?;
    let url = session["logplex_url"].as_str().unwrap_or_default();
    client.stream(url, &mut |chunk| print!("{chunk}")).await
}
