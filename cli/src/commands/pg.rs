//! `kumo pg:info`, `pg:psql` and `pg:reset`: an app's Postgres add-ons, found
//! by their attachment (DATABASE, or the name given with `--as`).

use crate::client::Client;
use serde_json::Value;

/// The services whose add-ons are Postgres databases (Kumo's name and Heroku's alias).
const POSTGRES_SERVICES: &[&str] = &["kumo-postgresql", "heroku-postgresql"];

#[derive(clap::Subcommand)]
pub enum PgCommand {
    /// Show an app's databases (or one): plan, status, connections, size, tables.
    #[command(name = "pg:info", alias = "pg")]
    Info {
        #[arg(short, long, default_value = crate::git_app(), help = crate::APP_HELP)]
        app: String,
        /// The database's attachment (DATABASE, FOO_URL), add-on name, or APP::ATTACHMENT.
        database: Option<String>,
    },
    /// Run the local `psql` on a database (default: DATABASE); exits with psql's status.
    #[command(name = "pg:psql", alias = "psql")]
    Psql {
        #[arg(short, long, default_value = crate::git_app(), help = crate::APP_HELP)]
        app: String,
        /// The database's attachment (DATABASE, FOO_URL), add-on name, or APP::ATTACHMENT.
        database: Option<String>,
        /// SQL to run, instead of an interactive session.
        #[arg(short, long, conflicts_with = "file")]
        command: Option<String>,
        /// A file of SQL to run.
        #[arg(short, long)]
        file: Option<std::path::PathBuf>,
    },
    /// Delete every table and all data of a database; its credentials stay.
    #[command(name = "pg:reset")]
    Reset {
        #[arg(short, long, default_value = crate::git_app(), help = crate::APP_HELP)]
        app: String,
        /// The database's attachment (DATABASE, FOO_URL), add-on name, or APP::ATTACHMENT.
        database: Option<String>,
        /// The app's name again, to confirm.
        #[arg(short, long)]
        confirm: Option<String>,
    },
}

pub async fn run(client: &Client, command: PgCommand) -> anyhow::Result<()> {
    match command {
        PgCommand::Info { app, database } => info(client, &app, database.as_deref()).await,
        PgCommand::Psql {
            app,
            database,
            command,
            file,
        } => {
            let code = psql(
                client,
                &app,
                database.as_deref(),
                command.as_deref(),
                file.as_deref(),
            )
            .await?;
            use std::io::Write as _;
            let _ = std::io::stdout().flush();
            std::process::exit(code);
        }
        PgCommand::Reset {
            app,
            database,
            confirm,
        } => reset(client, &app, database.as_deref(), confirm.as_deref()).await,
    }
}

/// One database of an app: the add-on and the attachment names it has on the app.
struct Database {
    /// The app the attachment is on (the app asked about, or APP of APP::NAME).
    app: String,
    addon: Value,
    attachments: Vec<String>,
}

impl Database {
    fn addon_name(&self) -> &str {
        self.addon["name"].as_str().unwrap_or_default()
    }

    fn addon_id(&self) -> &str {
        self.addon["id"].as_str().unwrap_or_default()
    }

    /// The config var holding its URL: `DATABASE_URL`.
    fn var(&self) -> String {
        format!(
            "{}_URL",
            self.attachments.first().map_or("DATABASE", String::as_str)
        )
    }
}

/// The app's Postgres databases, the one attached as DATABASE first.
async fn databases(client: &Client, app: &str) -> anyhow::Result<Vec<Database>> {
    let addons = client.list(&format!("/apps/{app}/addons")).await?;
    let attachments = client
        .list(&format!("/apps/{app}/addon-attachments"))
        .await?;
    let mut found: Vec<Database> = addons
        .into_iter()
        .filter(|a| {
            let service = a["addon_service"]["name"].as_str().unwrap_or_default();
            let plan = a["plan"]["name"].as_str().unwrap_or_default();
            POSTGRES_SERVICES.contains(&service)
                || POSTGRES_SERVICES
                    .iter()
                    .any(|s| plan.starts_with(&format!("{s}:")))
        })
        .map(|addon| {
            let mut names: Vec<String> = attachments
                .iter()
                .filter(|att| att["addon"]["id"] == addon["id"] && att["app"]["name"] == app)
                .filter_map(|att| att["name"].as_str().map(str::to_string))
                .collect();
            names.sort_by_key(|n| (n != "DATABASE", n.clone()));
            Database {
                app: app.to_string(),
                addon,
                attachments: names,
            }
        })
        .filter(|db| !db.attachments.is_empty())
        .collect();
    found.sort_by_key(|db| (db.var() != "DATABASE_URL", db.var()));
    Ok(found)
}

/// The database `name` means on `app` (default: DATABASE): an attachment name,
/// its config var (`FOO_URL`), an add-on name or id, or `APP::ATTACHMENT`.
async fn database(client: &Client, app: &str, name: Option<&str>) -> anyhow::Result<Database> {
    let (app, name) = match name.and_then(|n| n.split_once("::")) {
        Some((other, name)) => (other, Some(name)),
        None => (app, name),
    };
    let mut all = databases(client, app).await?;
    if all.is_empty() {
        anyhow::bail!(
            "⬢ {app} has no databases: add one with `kumo addons:create kumo-postgresql -a {app}`"
        );
    }
    let wanted = name.unwrap_or("DATABASE");
    let attachment = wanted.strip_suffix("_URL").unwrap_or(wanted);
    let position = all.iter().position(|db| {
        db.attachments.iter().any(|a| a == attachment)
            || db.addon_name() == wanted
            || db.addon_id() == wanted
    });
    if let Some(i) = position {
        return Ok(all.swap_remove(i));
    }
    if name.is_none() && all.len() == 1 {
        return Ok(all.swap_remove(0));
    }
    let options: Vec<String> = all
        .iter()
        .flat_map(|db| db.attachments.iter().cloned())
        .collect();
    anyhow::bail!(
        "Unknown database: {attachment}. Valid options are: {}",
        options.join(", ")
    )
}

async fn info(client: &Client, app: &str, name: Option<&str>) -> anyhow::Result<()> {
    let dbs = match name {
        Some(_) => vec![database(client, app, name).await?],
        None => databases(client, app).await?,
    };
    if dbs.is_empty() {
        println!("⬢ {app} has no kumo-postgresql databases.");
        return Ok(());
    }
    for db in &dbs {
        let facts = client
            .call(
                "GET",
                &format!("/apps/{}/addons/{}/info", db.app, db.addon_id()),
                None,
            )
            .await?;
        let vars: Vec<String> = db.attachments.iter().map(|a| format!("{a}_URL")).collect();
        println!("=== {}", vars.join(", "));
        let mut fields: Vec<(String, String)> = facts
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|fact| {
                let values: Vec<&str> = fact["values"]
                    .as_array()?
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                if values.is_empty() {
                    return None;
                }
                Some((fact["name"].as_str()?.to_string(), values.join(", ")))
            })
            .collect();
        let owner = db.addon["app"]["name"].as_str().unwrap_or_default();
        if !owner.is_empty() && owner != db.app {
            fields.push(("Billing App".to_string(), owner.to_string()));
        }
        if !fields.iter().any(|(label, _)| label == "Add-on") {
            fields.push(("Add-on".to_string(), db.addon_name().to_string()));
        }
        super::addons::print_fields(&fields);
        println!();
    }
    Ok(())
}

/// The `PG*` environment variables that make `psql` connect to `url`
/// (`postgres://user:password@host:port/database?sslmode=…`), so the password
/// never appears on psql's command line.
fn psql_env(url: &str) -> anyhow::Result<Vec<(&'static str, String)>> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or_else(|| anyhow::anyhow!("the database URL is not a postgres:// URL"))?;
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, hostport) = authority.rsplit_once('@').unwrap_or(("", authority));
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let (host, port) = match hostport.strip_prefix('[') {
        // An IPv6 address: [::1]:5432.
        Some(v6) => {
            let (host, port) = v6.split_once(']').unwrap_or((v6, ""));
            (host, port.trim_start_matches(':'))
        }
        None => hostport.rsplit_once(':').unwrap_or((hostport, "")),
    };
    let mut env = Vec::new();
    for (key, value) in [
        ("PGUSER", user),
        ("PGPASSWORD", password),
        ("PGHOST", host),
        ("PGPORT", port),
        ("PGDATABASE", database),
    ] {
        if !value.is_empty() {
            env.push((key, percent_decode(value)));
        }
    }
    for pair in query.split('&') {
        if let Some(mode) = pair.strip_prefix("sslmode=") {
            env.push(("PGSSLMODE", percent_decode(mode)));
        }
    }
    Ok(env)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs psql on the database; returns its exit status.
async fn psql(
    client: &Client,
    app: &str,
    name: Option<&str>,
    command: Option<&str>,
    file: Option<&std::path::Path>,
) -> anyhow::Result<i32> {
    let db = database(client, app, name).await?;
    let config = client
        .call("GET", &format!("/apps/{}/config-vars", db.app), None)
        .await?;
    let var = db.var();
    let url = config[&var].as_str().ok_or_else(|| {
        anyhow::anyhow!(
            "⬢ {} has no {var} config var for {}: detach and attach the add-on again with `kumo addons:detach` and `kumo addons:attach`",
            db.app,
            db.addon_name()
        )
    })?;
    let mut psql = std::process::Command::new("psql");
    psql.envs(psql_env(url)?);
    match (command, file) {
        (Some(sql), _) => {
            psql.arg("-c").arg(sql);
        }
        (None, Some(file)) => {
            psql.arg("-f").arg(file);
        }
        (None, None) => {
            let prompt = format!("{}::{}%R%# ", db.app, var.trim_end_matches("_URL"));
            psql.arg("--set")
                .arg(format!("PROMPT1={prompt}"))
                .arg("--set")
                .arg(format!("PROMPT2={prompt}"));
        }
    }
    eprintln!("--> Connecting to {}", db.addon_name());
    let status = match psql.status() {
        Ok(status) => status,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "psql is not installed: install PostgreSQL's client (`apt-get install postgresql-client` on Debian and Ubuntu), then run this again"
        ),
        Err(e) => return Err(anyhow::anyhow!("cannot run psql: {e}")),
    };
    Ok(status.code().unwrap_or(1))
}

async fn reset(
    client: &Client,
    app: &str,
    name: Option<&str>,
    confirm: Option<&str>,
) -> anyhow::Result<()> {
    let db = database(client, app, name).await?;
    let addon = db.addon_name();
    match confirm {
        Some(c) if c == db.app => {}
        Some(c) => anyhow::bail!("Confirmation {c} did not match {}. Aborted.", db.app),
        None => anyhow::bail!(
            "this deletes all the data of {addon}: run again with --confirm {}",
            db.app
        ),
    }
    client
        .call(
            "POST",
            &format!("/apps/{}/addons/{}/actions/reset", db.app, db.addon_id()),
            None,
        )
        .await?;
    println!("Resetting {addon}... done");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::psql_env;

    fn check(url: &str, expected: &[(&str, &str)]) {
        let env = psql_env(url).unwrap_or_default();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(env, expected, "{url}");
    }

    #[test]
    fn database_urls_become_libpq_variables() {
        check(
            "postgres://u:p%40ss@db.example:6543/app_db",
            &[
                ("PGUSER", "u"),
                ("PGPASSWORD", "p@ss"),
                ("PGHOST", "db.example"),
                ("PGPORT", "6543"),
                ("PGDATABASE", "app_db"),
            ],
        );
        check(
            "postgresql://u@[::1]:5432/d?sslmode=require",
            &[
                ("PGUSER", "u"),
                ("PGHOST", "::1"),
                ("PGPORT", "5432"),
                ("PGDATABASE", "d"),
                ("PGSSLMODE", "require"),
            ],
        );
        check(
            "postgres://localhost/d",
            &[("PGHOST", "localhost"), ("PGDATABASE", "d")],
        );
        assert!(psql_env("mysql://u@h/d").is_err());
    }
}
