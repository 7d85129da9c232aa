//! `kumo nodes` and `kumo nodes:remove` (operators only): the servers sharing
//! the platform's database, from `GET /nodes`.

use super::columns::table;
use crate::client::Client;
use serde_json::Value;

#[derive(clap::Subcommand)]
pub enum NodesCommand {
    /// List the nodes sharing this platform's database: state, address, capacity, dynos.
    #[command(name = "nodes")]
    List {
        #[arg(long)]
        json: bool,
    },
    /// Forget a node that is down (its `kumo server` stopped for good).
    #[command(name = "nodes:remove")]
    Remove { node: String },
}

pub async fn run(client: &Client, command: NodesCommand) -> anyhow::Result<()> {
    match command {
        NodesCommand::List { json } => {
            let nodes = client.call("GET", "/nodes", None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&nodes)?);
                return Ok(());
            }
            print_nodes(nodes.as_array().map(Vec::as_slice).unwrap_or_default());
            Ok(())
        }
        NodesCommand::Remove { node } => {
            client
                .call("DELETE", &format!("/nodes/{node}"), None)
                .await?;
            println!("Removing node {node}... done");
            Ok(())
        }
    }
}

fn print_nodes(nodes: &[Value]) {
    println!("=== Nodes");
    let mut rows = vec![
        [
            "Node",
            "State",
            "Advertise",
            "Dynos",
            "Slots",
            "Memory",
            "Seen",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for n in nodes {
        let mark = if n["this_node"] == true { " *" } else { "" };
        rows.push(vec![
            format!("{}{mark}", n["name"].as_str().unwrap_or_default()),
            n["state"].as_str().unwrap_or_default().to_string(),
            n["advertise"].as_str().unwrap_or_default().to_string(),
            n["dynos"].to_string(),
            n["capacity"]["instance_slots"].to_string(),
            format!("{} MB", n["capacity"]["memory_mb"]),
            format!("{} s ago", n["seen_seconds_ago"]),
        ]);
    }
    table(&rows);
    println!("(* the node that answered)");
}
