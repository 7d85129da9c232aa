//! The network an app's attached add-ons open to its dynos: exactly each
//! add-on's host and port (a Postgres or Redis server, a bucket's endpoint),
//! whatever `KUMO_ALLOWED_HOSTS` says and wherever that service runs. An
//! operator's database usually sits on a private or loopback address, which
//! [`super::off_limits`] refuses to everything else; an attachment is the
//! operator's own grant, recorded in the release, so it passes.

use crate::addons::{AddonAccess, AddonGrant, Backends};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// How long a dyno's start waits for an add-on's host to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The add-ons a dyno was started with and the addresses they open.
#[derive(Debug)]
pub struct Granted {
    access: AddonAccess,
    /// `(host, port)` as each grant names its endpoint, for `wasi:http`.
    endpoints: Vec<(String, u16)>,
    /// The addresses those endpoints resolved to, for sockets and dialling.
    addrs: Vec<SocketAddr>,
}

impl Granted {
    /// Resolves each grant's endpoint; the second value has a line for each
    /// that did not resolve (the add-on is then unreachable from this dyno).
    pub async fn resolve(grants: &[AddonGrant], backends: Arc<Backends>) -> (Granted, Vec<String>) {
        let mut granted = Granted {
            access: AddonAccess::new(grants, backends),
            endpoints: Vec::new(),
            addrs: Vec::new(),
        };
        let mut lines = Vec::new();
        for grant in grants {
            let Some((host, port)) = grant.endpoint() else {
                continue;
            };
            let found = tokio::time::timeout(
                RESOLVE_TIMEOUT,
                tokio::net::lookup_host((host.as_str(), port)),
            )
            .await;
            match found {
                Ok(Ok(addrs)) => granted.addrs.extend(addrs.map(canonical)),
                Ok(Err(e)) => lines.push(format!(
                    "Add-on {} ({}) is unreachable: its host `{host}` did not resolve: {e}",
                    grant.addon, grant.attachment
                )),
                Err(_) => lines.push(format!(
                    "Add-on {} ({}) is unreachable: its host `{host}` gave no answer within {} s",
                    grant.addon,
                    grant.attachment,
                    RESOLVE_TIMEOUT.as_secs()
                )),
            }
            granted.endpoints.push((host.to_ascii_lowercase(), port));
        }
        (granted, lines)
    }

    /// The add-ons the dyno's release attached, and the server's backends.
    pub fn access(&self) -> &AddonAccess {
        &self.access
    }

    /// Gives `wasi:config/store` the release's config vars.
    pub fn set_config(&mut self, config: &std::collections::BTreeMap<String, String>) {
        self.access = self.access.clone().with_config(config);
    }

    /// No add-on: what a dyno whose release attached none gets.
    pub fn none(backends: Arc<Backends>) -> Granted {
        Granted {
            access: AddonAccess::new(&[], backends),
            endpoints: Vec::new(),
            addrs: Vec::new(),
        }
    }

    /// Whether some add-on opens a network endpoint.
    pub fn opens_network(&self) -> bool {
        !self.endpoints.is_empty()
    }

    /// Whether `addr` is an add-on's endpoint.
    pub fn allows_addr(&self, addr: SocketAddr) -> bool {
        self.addrs.contains(&canonical(addr))
    }

    /// Whether `host` (as a URI's authority names it) on `port` is an add-on's endpoint.
    pub fn allows_host(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.endpoints.iter().any(|(h, p)| {
            *p == port
                && h.trim_start_matches('[')
                    .trim_end_matches(']')
                    .eq_ignore_ascii_case(host)
        })
    }
}

fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(IpAddr::to_canonical(&addr.ip()), addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addons::Resource;

    #[tokio::test]
    async fn a_grant_opens_its_endpoint_only() {
        let grant = AddonGrant {
            attachment: "DATABASE".into(),
            addon_id: "id".into(),
            addon: "postgresql-curved-12345".into(),
            plan: "kumo-postgresql:essential-0".into(),
            config_vars: vec!["DATABASE_URL".into()],
            resource: Resource::Postgres {
                url: "postgres://u:p@127.0.0.1:5433/db".into(),
            },
        };
        let backends = Backends::new("/nonexistent");
        let (granted, lines) = Granted::resolve(&[grant], backends.clone()).await;
        assert!(lines.is_empty(), "{lines:?}");
        assert!(granted.opens_network());
        assert!(granted.allows_addr("127.0.0.1:5433".parse().unwrap()));
        assert!(granted.allows_addr("[::ffff:127.0.0.1]:5433".parse().unwrap()));
        assert!(!granted.allows_addr("127.0.0.1:5432".parse().unwrap()));
        assert!(!granted.allows_addr("127.0.0.2:5433".parse().unwrap()));
        assert!(granted.allows_host("127.0.0.1", 5433));
        assert!(!granted.allows_host("127.0.0.1", 80));
        let (none, _) = Granted::resolve(&[], backends).await;
        assert!(!none.opens_network());
    }
}
