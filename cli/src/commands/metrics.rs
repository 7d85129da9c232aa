//! `kumo metrics -a APP [--minutes N]`: what the router saw of an app and
//! the memory its dynos held, summed and minute by minute (`GET /apps/{app}/metrics`).

use crate::client::Client;
use serde_json::Value;

#[derive(clap::Subcommand)]
pub enum MetricsCommand {
    /// Show an app's requests, status classes, errors and response times, per minute.
    #[command(name = "metrics")]
    Show {
        #[arg(short, long, default_value = crate::git_app(), help = crate::APP_HELP)]
        app: String,
        /// How many minutes back, up to 1440 (24 hours).
        #[arg(long, default_value_t = 60)]
        minutes: u32,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(client: &Client, command: MetricsCommand) -> anyhow::Result<()> {
    let MetricsCommand::Show { app, minutes, json } = command;
    let metrics = client
        .call(
            "GET",
            &format!("/apps/{app}/metrics?minutes={minutes}"),
            None,
        )
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&metrics)?);
        return Ok(());
    }
    let summary = &metrics["summary"];
    println!("=== {app} metrics, last {minutes} minutes");
    println!(
        "Requests:       {} ({}/s)",
        summary["requests"], summary["throughput_rps"]
    );
    println!("Status:         {}", statuses(&summary["status"]));
    let errors = summary["errors"]
        .as_object()
        .map(|e| {
            e.iter()
                .map(|(code, n)| format!("{code} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "none".to_string());
    println!("Errors:         {errors}");
    println!("Response time:  {}", times(&summary["response_time_ms"]));
    println!("Memory:         {}", memory(&summary["memory_mb"]));
    let series = metrics["series"].as_array().cloned().unwrap_or_default();
    if series.is_empty() {
        return Ok(());
    }
    println!();
    println!(
        "{:<21} {:>8}  {:<34} {:<42} Memory",
        "Minute", "Requests", "Status", "Response time"
    );
    for minute in &series {
        println!(
            "{:<21} {:>8}  {:<34} {:<42} {}",
            minute["at"].as_str().unwrap_or_default(),
            minute["requests"],
            statuses(&minute["status"]),
            times(&minute["response_time_ms"]),
            memory(&minute["memory_mb"])
        );
    }
    Ok(())
}

fn statuses(status: &Value) -> String {
    let text: Vec<String> = ["1xx", "2xx", "3xx", "4xx", "5xx"]
        .iter()
        .filter_map(|class| {
            let n = status[*class].as_u64().unwrap_or(0);
            (n > 0).then(|| format!("{class} {n}"))
        })
        .collect();
    if text.is_empty() {
        "none".to_string()
    } else {
        text.join(", ")
    }
}

fn times(time: &Value) -> String {
    if time["p50"].is_null() {
        return "none".to_string();
    }
    format!(
        "p50 {} ms, p95 {} ms, p99 {} ms, mean {} ms",
        time["p50"], time["p95"], time["p99"], time["mean"]
    )
}

/// A minute's (or the window's) peak memory of the app's dynos.
fn memory(memory: &Value) -> String {
    if memory.is_null() {
        return "none".to_string();
    }
    format!("peak {} MB of {} MB", memory["total"], memory["quota"])
}
