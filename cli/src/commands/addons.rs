//! `kumo addons` and its `addons:*` commands: add-on services and plans,
//! provisioning, attaching to more apps, plan changes and destroying, named
//! and printed as Heroku's CLI names and prints them.

use super::columns::{print_row, table, widths};
use crate::client::Client;
use serde_json::{Value, json};

#[derive(clap::Subcommand)]
pub enum AddonsCommand {
    /// List an app's add-ons and their attachments (with --all or outside an app: all of yours).
    #[command(name = "addons")]
    List {
        #[arg(short, long, default_value = crate::git_app(), help = crate::APP_HELP)]
        app: Option<String>,
        /// Every add-on you can see, on any app.
        #[arg(short = 'A', long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Provision an add-on and attach it to an app: `kumo-postgresql`, `kumo-keyvalue:mini`.
    #[command(name = "addons:create", alias = "addons:add")]
    Create {
        #[arg(short, long, default_value = crate::git_app(), help = crate::APP_HELP)]
        app: String,
        /// SERVICE or SERVICE:PLAN (see `kumo addons:services` and `kumo addons:plans SERVICE`).
        service_plan: String,
        /// The attachment's name: `--as FOO` sets FOO_URL. Default: the service's (DATABASE).
        #[arg(long = "as")]
        attachment: Option<String>,
        /// The add-on's name. Default: a generated one, like postgresql-curved-12345.
        #[arg(long)]
        name: Option<String>,
        /// The app's name again, to overwrite config vars an attachment would replace.
        #[arg(long)]
        confirm: Option<String>,
        /// Wait until the add-on is provisioned.
        #[arg(long)]
        wait: bool,
    },
    /// Show an add-on: plan, attachments, owning app, state and facts.
    #[command(name = "addons:info")]
    Info {
        #[arg(short, long, default_value = crate::git_app(), help = crate::APP_HELP)]
        app: Option<String>,
        /// The add-on's name or id, an attachment name (DATABASE) or APP::ATTACHMENT.
        addon: String,
        #[arg(long)]
        json: bool,
    },
    /// Attach an existing add-on to another app: it gets the add-on's config vars.
    #[command(name = "addons:attach")]
    Attach {
        #[arg(short, long, default_value = crate::git_app(), help = crate::APP_HELP)]
        app: String,
        /// The add-on's name or id.
        addon: String,
        /// The attachment's name. Default: the service's (DATABASE).
        #[arg(long = "as")]
        attachment: Option<String>,
        /// The app's name again, to overwrite config vars the attachment would replace.
        #[arg(long)]
        confirm: Option<String>,
    },
    /// Detach an add-on from an app: its config vars are removed.
    #[command(name = "addons:detach")]
    Detach {
        #[arg(short, long, default_value = crate::git_app(), help = crate::APP_HELP)]
        app: String,
        /// The attachment's name, like DATABASE.
        attachment: String,
    },
    /// Destroy add-ons and their data, and detach them from every app.
    #[command(name = "addons:destroy", alias = "addons:remove")]
    Destroy {
        #[arg(short, long, default_value = crate::git_app(), help = crate::APP_HELP)]
        app: Option<String>,
        #[arg(required = true)]
        addons: Vec<String>,
        /// The owning app's name again, to confirm.
        #[arg(short, long)]
        confirm: Option<String>,
        /// Destroy it even when it is attached to other apps.
        #[arg(short, long)]
        force: bool,
    },
    /// Change an add-on's plan: `kumo addons:upgrade postgresql-x essential-1`.
    #[command(name = "addons:upgrade", alias = "addons:downgrade")]
    Upgrade {
        #[arg(short, long, default_value = crate::git_app(), help = crate::APP_HELP)]
        app: Option<String>,
        addon: String,
        /// PLAN or SERVICE:PLAN.
        plan: String,
    },
    /// List a service's plans.
    #[command(name = "addons:plans")]
    Plans {
        service: String,
        #[arg(long)]
        json: bool,
    },
    /// List the add-on services you can create.
    #[command(name = "addons:services")]
    Services {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(client: &Client, command: AddonsCommand) -> anyhow::Result<()> {
    match command {
        AddonsCommand::List { app, all, json } => {
            list(client, app.as_deref().filter(|_| !all), json).await
        }
        AddonsCommand::Create {
            app,
            service_plan,
            attachment,
            name,
            confirm,
            wait,
        } => {
            let options = CreateOptions {
                attachment: attachment.as_deref(),
                name: name.as_deref(),
                confirm: confirm.as_deref(),
                wait,
            };
            create(client, &app, &service_plan, options).await
        }
        AddonsCommand::Info { app, addon, json } => {
            info(client, app.as_deref(), &addon, json).await
        }
        AddonsCommand::Attach {
            app,
            addon,
            attachment,
            confirm,
        } => {
            attach(
                client,
                &app,
                &addon,
                attachment.as_deref(),
                confirm.as_deref(),
            )
            .await
        }
        AddonsCommand::Detach { app, attachment } => detach(client, &app, &attachment).await,
        AddonsCommand::Destroy {
            app,
            addons,
            confirm,
            force,
        } => destroy(client, app.as_deref(), &addons, confirm.as_deref(), force).await,
        AddonsCommand::Upgrade { app, addon, plan } => {
            upgrade(client, app.as_deref(), &addon, &plan).await
        }
        AddonsCommand::Plans { service, json } => plans(client, &service, json).await,
        AddonsCommand::Services { json } => services(client, json).await,
    }
}

/// Finds the one add-on `name` means (an add-on name or id, an attachment
/// name on `app`, or `APP::ATTACHMENT`), as the API's resolver answers it.
pub async fn resolve(client: &Client, app: Option<&str>, name: &str) -> anyhow::Result<Value> {
    let (app, addon) = match name.split_once("::") {
        Some((app, addon)) => (Some(app), addon),
        None => (app, name),
    };
    let found = client
        .call(
            "POST",
            "/actions/addons/resolve",
            Some(json!({ "addon": addon, "app": app })),
        )
        .await?;
    let found = found.as_array().cloned().unwrap_or_default();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => anyhow::bail!("Couldn't find that add-on: {name} (see `kumo addons`)"),
        many => anyhow::bail!(
            "{name} names more than one add-on: {}; use the add-on's name",
            many.iter()
                .map(str_of("name"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A closure reading one string field of a JSON object.
fn str_of(field: &'static str) -> impl Fn(&Value) -> &str {
    move |v| v[field].as_str().unwrap_or_default()
}

/// A plan's price as Heroku's CLI shows it: `free`, or `$N/month`.
pub fn price(plan: &Value) -> String {
    let price = &plan["price"];
    if price["contract"] == true {
        return "contract".to_string();
    }
    match price["cents"].as_i64() {
        None | Some(0) => "free".to_string(),
        Some(cents) => format!(
            "${:.2}/{}",
            cents as f64 / 100.0,
            price["unit"].as_str().unwrap_or("month")
        ),
    }
}

/// An add-on's state in Heroku's CLI's words.
pub fn state(addon: &Value) -> &'static str {
    match addon["state"].as_str() {
        Some("provisioned") => "created",
        Some("provisioning") => "creating",
        Some("deprovisioning") => "destroying",
        Some("deprovisioned") => "errored",
        _ => "",
    }
}

async fn list(client: &Client, app: Option<&str>, json_out: bool) -> anyhow::Result<()> {
    let Some(app) = app else {
        let addons = client.list("/addons").await?;
        if json_out {
            println!("{}", serde_json::to_string_pretty(&addons)?);
            return Ok(());
        }
        if addons.is_empty() {
            println!("No add-ons.");
            return Ok(());
        }
        let mut rows = vec![vec![
            "Owning App".to_string(),
            "Add-on".to_string(),
            "Plan".to_string(),
            "Price".to_string(),
            "State".to_string(),
        ]];
        let mut addons = addons;
        addons.sort_by_key(|a| {
            (
                a["app"]["name"].as_str().unwrap_or_default().to_string(),
                a["name"].as_str().unwrap_or_default().to_string(),
            )
        });
        for a in &addons {
            rows.push(vec![
                a["app"]["name"].as_str().unwrap_or_default().to_string(),
                a["name"].as_str().unwrap_or_default().to_string(),
                a["plan"]["name"].as_str().unwrap_or_default().to_string(),
                price(&a["plan"]),
                state(a).to_string(),
            ]);
        }
        table(&rows);
        return Ok(());
    };
    let mut addons = client.list(&format!("/apps/{app}/addons")).await?;
    let attachments = client
        .list(&format!("/apps/{app}/addon-attachments"))
        .await?;
    for addon in &mut addons {
        // Every app this add-on is attached to, not only this one.
        let id = addon["id"].as_str().unwrap_or_default().to_string();
        let mut on = match client
            .list(&format!("/addons/{id}/addon-attachments"))
            .await
        {
            Ok(all) => all,
            Err(_) => attachments
                .iter()
                .filter(|a| a["addon"]["id"] == addon["id"])
                .cloned()
                .collect(),
        };
        // This app's attachments first, then the others by app and name.
        on.sort_by_key(|a| {
            (
                a["app"]["name"] != app,
                a["app"]["name"].as_str().unwrap_or_default().to_string(),
                a["name"].as_str().unwrap_or_default().to_string(),
            )
        });
        addon["attachments"] = Value::Array(on);
    }
    if json_out {
        println!("{}", serde_json::to_string_pretty(&addons)?);
        return Ok(());
    }
    if addons.is_empty() {
        println!("No add-ons for app {app}.");
        return Ok(());
    }
    // The app's own add-ons first, then those it uses from other apps.
    addons.sort_by_key(|a| {
        (
            a["app"]["name"] != app,
            a["name"].as_str().unwrap_or_default().to_string(),
        )
    });
    let mut rows = vec![vec![
        "Add-on".to_string(),
        "Plan".to_string(),
        "Price".to_string(),
        "State".to_string(),
    ]];
    let mut attachment_lines = Vec::new();
    for a in &addons {
        let plan = a["plan"]["name"].as_str().unwrap_or_default();
        let owner = a["app"]["name"].as_str().unwrap_or_default();
        rows.push(vec![
            format!(
                "{} ({})",
                a["addon_service"]["name"].as_str().unwrap_or("?"),
                a["name"].as_str().unwrap_or_default()
            ),
            plan.split_once(':').map_or(plan, |(_, p)| p).to_string(),
            if owner == app {
                price(&a["plan"])
            } else {
                format!("(billed to {owner} app)")
            },
            state(a).to_string(),
        ]);
        let on = a["attachments"].as_array().cloned().unwrap_or_default();
        let lines: Vec<String> = on
            .iter()
            .enumerate()
            .map(|(i, att)| {
                let branch = if i + 1 == on.len() {
                    "└─"
                } else {
                    "├─"
                };
                let name = att["name"].as_str().unwrap_or_default();
                match att["app"]["name"].as_str() {
                    Some(other) if other != app => format!(" {branch} as {name} on {other} app"),
                    _ => format!(" {branch} as {name}"),
                }
            })
            .collect();
        attachment_lines.push(lines);
    }
    // The table, with each add-on's attachments under its row.
    let widths = widths(&rows);
    print_row(&rows[0], &widths);
    for (row, lines) in rows.iter().skip(1).zip(attachment_lines) {
        print_row(row, &widths);
        for line in lines {
            println!("{line}");
        }
    }
    println!();
    println!(
        "The table above shows add-ons and the attachments to the current app ({app}) or other apps."
    );
    Ok(())
}

struct CreateOptions<'a> {
    attachment: Option<&'a str>,
    name: Option<&'a str>,
    confirm: Option<&'a str>,
    wait: bool,
}

async fn create(
    client: &Client,
    app: &str,
    service_plan: &str,
    options: CreateOptions<'_>,
) -> anyhow::Result<()> {
    let mut body = json!({ "plan": service_plan });
    if let Some(attachment) = options.attachment {
        body["attachment"] = json!({ "name": attachment });
    }
    if let Some(name) = options.name {
        body["name"] = json!(name);
    }
    if let Some(confirm) = options.confirm {
        body["confirm"] = json!(confirm);
    }
    let mut addon = client
        .call("POST", &format!("/apps/{app}/addons"), Some(body))
        .await?;
    let name = addon["name"].as_str().unwrap_or_default().to_string();
    println!(
        "Creating {} on ⬢ {app}... done",
        addon["plan"]["name"].as_str().unwrap_or(service_plan)
    );
    if addon["state"] == "provisioning" {
        if !options.wait {
            println!(
                "{name} is being created in the background. The app will restart when complete..."
            );
            println!("Run `kumo addons:info {name}` to check creation progress.");
            return Ok(());
        }
        println!("Waiting for {name}...");
        let id = addon["id"].as_str().unwrap_or_default().to_string();
        while addon["state"] == "provisioning" {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            addon = client
                .call("GET", &format!("/apps/{app}/addons/{id}"), None)
                .await?;
        }
    }
    if addon["state"] == "deprovisioned" {
        anyhow::bail!("The add-on {name} was unable to be created, with status deprovisioned");
    }
    let vars: Vec<&str> = addon["config_vars"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if vars.is_empty() {
        println!("Created {name}");
    } else {
        println!("Created {name} as {}", vars.join(", "));
    }
    Ok(())
}

async fn info(
    client: &Client,
    app: Option<&str>,
    name: &str,
    json_out: bool,
) -> anyhow::Result<()> {
    let mut addon = resolve(client, app, name).await?;
    let id = addon["id"].as_str().unwrap_or_default().to_string();
    let owner = addon["app"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let attachments = client
        .list(&format!("/addons/{id}/addon-attachments"))
        .await?;
    // Facts such as connections and size; an add-on without them still shows the rest.
    let facts = client
        .call("GET", &format!("/apps/{owner}/addons/{id}/info"), None)
        .await
        .ok()
        .and_then(|f| f.as_array().cloned())
        .unwrap_or_default();
    if json_out {
        addon["attachments"] = Value::Array(attachments);
        addon["info"] = Value::Array(facts);
        println!("{}", serde_json::to_string_pretty(&addon)?);
        return Ok(());
    }
    let mut names: Vec<String> = attachments
        .iter()
        .map(|a| {
            format!(
                "{}::{}",
                a["app"]["name"].as_str().unwrap_or_default(),
                a["name"].as_str().unwrap_or_default()
            )
        })
        .collect();
    names.sort();
    let mut fields = vec![
        (
            "Plan".to_string(),
            addon["plan"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ),
        ("Price".to_string(), price(&addon["plan"])),
        ("Attachments".to_string(), names.join(", ")),
        ("Owning app".to_string(), owner.clone()),
        (
            "Installed at".to_string(),
            addon["created_at"].as_str().unwrap_or_default().to_string(),
        ),
        ("State".to_string(), state(&addon).to_string()),
    ];
    for fact in &facts {
        let label = fact["name"].as_str().unwrap_or_default();
        // The add-on's name heads the output and `Installed at` is its creation time.
        let shown = ["Add-on", "Created"];
        if label.is_empty() || shown.contains(&label) || fields.iter().any(|(l, _)| l == label) {
            continue;
        }
        let values: Vec<&str> = fact["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        fields.push((label.to_string(), values.join(", ")));
    }
    println!("=== {}", addon["name"].as_str().unwrap_or_default());
    print_fields(&fields);
    Ok(())
}

/// `Label: value` lines, the values aligned.
pub fn print_fields(fields: &[(String, String)]) {
    let width = fields
        .iter()
        .map(|(l, _)| l.chars().count() + 1)
        .max()
        .unwrap_or(0);
    for (label, value) in fields {
        println!("{:width$} {value}", format!("{label}:"));
    }
}

async fn attach(
    client: &Client,
    app: &str,
    name: &str,
    attachment: Option<&str>,
    confirm: Option<&str>,
) -> anyhow::Result<()> {
    let addon = resolve(client, None, name).await?;
    let addon_name = addon["name"].as_str().unwrap_or_default();
    let mut body = json!({ "addon": addon["id"], "app": app });
    if let Some(attachment) = attachment {
        body["name"] = json!(attachment);
    }
    if let Some(confirm) = confirm {
        body["confirm"] = json!(confirm);
    }
    let created = client
        .call("POST", "/addon-attachments", Some(body))
        .await?;
    let label = attachment.map_or(String::new(), |a| format!(" as {a}"));
    println!("Attaching {addon_name}{label} to ⬢ {app}... done");
    let release = super::releases::newest(client, app).await?;
    println!(
        "Setting {} config vars and restarting ⬢ {app}... done, v{}",
        created["name"].as_str().unwrap_or_default(),
        release["version"].as_i64().unwrap_or(0)
    );
    Ok(())
}

async fn detach(client: &Client, app: &str, name: &str) -> anyhow::Result<()> {
    let attachment = client
        .call(
            "GET",
            &format!("/apps/{app}/addon-attachments/{name}"),
            None,
        )
        .await?;
    let id = attachment["id"].as_str().unwrap_or_default();
    client
        .call("DELETE", &format!("/addon-attachments/{id}"), None)
        .await?;
    let attachment_name = attachment["name"].as_str().unwrap_or(name);
    println!(
        "Detaching {attachment_name} to {} from ⬢ {app}... done",
        attachment["addon"]["name"].as_str().unwrap_or_default()
    );
    let release = super::releases::newest(client, app).await?;
    println!(
        "Unsetting {attachment_name} config vars and restarting ⬢ {app}... done, v{}",
        release["version"].as_i64().unwrap_or(0)
    );
    Ok(())
}

async fn destroy(
    client: &Client,
    app: Option<&str>,
    names: &[String],
    confirm: Option<&str>,
    force: bool,
) -> anyhow::Result<()> {
    let mut addons = Vec::new();
    for name in names {
        let addon = resolve(client, app, name).await?;
        let owner = addon["app"]["name"].as_str().unwrap_or_default();
        if let Some(app) = app
            && owner != app
        {
            anyhow::bail!(
                "{} is on ⬢ {owner}, not ⬢ {app}: destroy it with -a {owner}, or detach it from {app} with `kumo addons:detach`",
                addon["name"].as_str().unwrap_or_default()
            );
        }
        addons.push(addon);
    }
    for addon in &addons {
        let owner = addon["app"]["name"].as_str().unwrap_or_default();
        let name = addon["name"].as_str().unwrap_or_default();
        match confirm {
            Some(c) if c == owner => {}
            Some(c) => anyhow::bail!("Confirmation {c} did not match {owner}. Aborted."),
            None => anyhow::bail!(
                "this destroys {name} and all its data: run again with --confirm {owner}"
            ),
        }
    }
    for addon in &addons {
        let owner = addon["app"]["name"].as_str().unwrap_or_default();
        let name = addon["name"].as_str().unwrap_or_default();
        let id = addon["id"].as_str().unwrap_or_default();
        let gone = client
            .call(
                "DELETE",
                &format!("/apps/{owner}/addons/{id}"),
                Some(json!({ "force": force })),
            )
            .await
            .map_err(|e| anyhow::anyhow!("The add-on {name} was unable to be destroyed: {e}"))?;
        println!("Destroying {name} on ⬢ {owner}... done");
        if gone["state"] == "deprovisioning" {
            println!("{name} is being destroyed in the background.");
        }
    }
    Ok(())
}

async fn upgrade(client: &Client, app: Option<&str>, name: &str, plan: &str) -> anyhow::Result<()> {
    let addon = resolve(client, app, name).await?;
    let service = addon["addon_service"]["name"].as_str().unwrap_or_default();
    let plan = plan.split_once(':').map_or(plan, |(_, p)| p);
    let wanted = format!("{service}:{plan}");
    let owner = addon["app"]["name"].as_str().unwrap_or_default();
    let id = addon["id"].as_str().unwrap_or_default();
    let changed = client
        .call(
            "PATCH",
            &format!("/apps/{owner}/addons/{id}"),
            Some(json!({ "plan": wanted })),
        )
        .await?;
    println!(
        "Changing {} on ⬢ {owner} from {} to {}... done, {}",
        addon["name"].as_str().unwrap_or_default(),
        addon["plan"]["name"].as_str().unwrap_or_default(),
        changed["plan"]["name"].as_str().unwrap_or(&wanted),
        price(&changed["plan"])
    );
    Ok(())
}

async fn plans(client: &Client, service: &str, json_out: bool) -> anyhow::Result<()> {
    let plans = client
        .list(&format!("/addon-services/{service}/plans"))
        .await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&plans)?);
        return Ok(());
    }
    let mut rows = vec![vec![
        String::new(),
        "Slug".to_string(),
        "Name".to_string(),
        "Price".to_string(),
    ]];
    for plan in &plans {
        rows.push(vec![
            if plan["default"] == true {
                "default".to_string()
            } else {
                String::new()
            },
            plan["name"].as_str().unwrap_or_default().to_string(),
            plan["human_name"].as_str().unwrap_or_default().to_string(),
            price(plan),
        ]);
    }
    table(&rows);
    Ok(())
}

async fn services(client: &Client, json_out: bool) -> anyhow::Result<()> {
    let services = client.list("/addon-services").await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&services)?);
        return Ok(());
    }
    let mut rows = vec![vec![
        "Slug".to_string(),
        "Name".to_string(),
        "State".to_string(),
    ]];
    for service in &services {
        rows.push(vec![
            service["name"].as_str().unwrap_or_default().to_string(),
            service["human_name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            service["state"].as_str().unwrap_or_default().to_string(),
        ]);
    }
    table(&rows);
    println!();
    println!("See plans with `kumo addons:plans SERVICE`");
    Ok(())
}
