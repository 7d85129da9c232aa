//! Which database a guest's `open(address)` may reach: only one a Postgres
//! grant of its release names, compared by host, port, database and user
//! (parsed, so `postgres://u:p@h/db` and `host=h user=u dbname=db` are one
//! address), and reached with the grant's own settings, never the guest's.

use crate::addons::{AddonGrant, Resource};
use std::str::FromStr;
use std::time::Duration;
use tokio_postgres::Config;
use tokio_postgres::config::Host;

/// How long a connection to an add-on's server may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The settings to connect to the add-on `address` names, or the message of
/// the `connection-failed` error the guest gets. Messages never hold a password.
pub fn granted(grants: &[AddonGrant], address: &str) -> Result<Config, String> {
    let Ok(asked) = Config::from_str(address) else {
        return Err(
            "the address is not a Postgres URL (postgres://user:password@host:port/database): \
             use the DATABASE_URL of the app's Postgres add-on"
                .to_string(),
        );
    };
    let wanted = Target::of(&asked);
    let found = grants.iter().find_map(|grant| {
        let Resource::Postgres { url } = &grant.resource else {
            return None;
        };
        let config = Config::from_str(url).ok()?;
        (wanted.is_some() && Target::of(&config) == wanted).then_some(config)
    });
    match found {
        Some(mut config) => {
            if config.get_connect_timeout().is_none() {
                config.connect_timeout(CONNECT_TIMEOUT);
            }
            Ok(config)
        }
        None => Err(format!(
            "no Postgres add-on of this app has the address `{}`: attach one with \
             `kumo addons:create kumo-postgresql` and use its DATABASE_URL",
            shown(&asked)
        )),
    }
}

/// What identifies a database: one TCP host, its port, the database and the user.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    host: String,
    port: u16,
    dbname: String,
    user: String,
}

impl Target {
    fn of(config: &Config) -> Option<Target> {
        let [Host::Tcp(host)] = config.get_hosts() else {
            return None;
        };
        let port = match config.get_ports() {
            [] => 5432,
            [port] => *port,
            _ => return None,
        };
        let user = config.get_user()?;
        Some(Target {
            host: host.to_ascii_lowercase(),
            port,
            // As libpq: the database defaults to the user's name.
            dbname: config.get_dbname().unwrap_or(user).to_string(),
            user: user.to_string(),
        })
    }
}

/// `config` as a URL without its password: `postgres://user@host:port/db`.
fn shown(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            Host::Tcp(name) if name.contains(':') => format!("[{name}]"),
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let user = config
        .get_user()
        .map(|user| format!("{user}@"))
        .unwrap_or_default();
    let ports = match config.get_ports() {
        [] => String::new(),
        ports => format!(
            ":{}",
            ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
    };
    let dbname = config
        .get_dbname()
        .map(|db| format!("/{db}"))
        .unwrap_or_default();
    format!("postgres://{user}{}{ports}{dbname}", hosts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(url: &str) -> AddonGrant {
        AddonGrant {
            attachment: "DATABASE".into(),
            addon_id: "id".into(),
            addon: "postgresql-curved-12345".into(),
            plan: "kumo-postgresql:essential-0".into(),
            config_vars: vec!["DATABASE_URL".into()],
            resource: Resource::Postgres { url: url.into() },
        }
    }

    fn check(grants: &[&str], address: &str, expected: Result<&str, &str>) {
        let grants: Vec<AddonGrant> = grants.iter().map(|url| grant(url)).collect();
        let got = granted(&grants, address);
        match expected {
            // The grant's own settings, password included, are the ones used.
            Ok(password) => {
                let config = got.unwrap_or_else(|e| panic!("{address}: {e}"));
                assert_eq!(
                    config.get_password(),
                    Some(password.as_bytes()),
                    "{address}"
                );
                assert_eq!(config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
            }
            Err(message) => {
                let error = got.err().unwrap_or_else(|| panic!("{address} was granted"));
                assert!(error.contains(message), "{address}: {error}");
                assert!(!error.contains("secret"), "{address}: {error}");
            }
        }
    }

    #[test]
    fn addresses() {
        let a = "postgres://role_a:pw-a@127.0.0.1:5433/db_a";
        let b = "postgres://role_b:pw-b@127.0.0.1:5433/db_b";
        check(&[a], a, Ok("pw-a"));
        check(&[b, a], a, Ok("pw-a"));
        // Parsed, not compared as text: another password, the key-value form.
        check(
            &[a],
            "postgresql://role_a:other@127.0.0.1:5433/db_a",
            Ok("pw-a"),
        );
        check(
            &[a],
            "host=127.0.0.1 port=5433 user=role_a dbname=db_a",
            Ok("pw-a"),
        );
        check(
            &["postgres://u:p@DB.internal/u"],
            "postgres://u@db.internal",
            Ok("p"),
        );
        let missing = "no Postgres add-on of this app has the address";
        check(
            &[a],
            "postgres://role_b:secret@127.0.0.1:5433/db_b",
            Err(
                "`postgres://role_b@127.0.0.1:5433/db_b`: attach one with `kumo addons:create kumo-postgresql`",
            ),
        );
        check(
            &[a],
            "postgres://role_a:secret@127.0.0.1:5432/db_a",
            Err(missing),
        );
        check(
            &[a],
            "postgres://role_a:secret@localhost:5433/db_a",
            Err(missing),
        );
        check(
            &[a],
            "postgres://role_a:secret@127.0.0.1:5433/postgres",
            Err(missing),
        );
        check(
            &[a],
            "postgres://postgres:secret@127.0.0.1:5433/db_a",
            Err(missing),
        );
        check(
            &[a],
            "postgres://role_a:secret@127.0.0.1:5433,127.0.0.2:5433/db_a",
            Err(missing),
        );
        check(
            &[a],
            "host=/run/postgresql user=role_a dbname=db_a",
            Err(missing),
        );
        check(&[], a, Err(missing));
        check(
            &[a],
            "mysql://role_a:secret@x/db_a",
            Err("not a Postgres URL"),
        );
    }
}
