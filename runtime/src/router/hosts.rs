//! The router's host → app table: `<app>.<domain>` and custom domains.
//! Pure data, no I/O, table-tested below.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// App names are shared, so a lookup per request copies none.
#[derive(Debug, Default)]
pub struct HostTable {
    domain: String,
    apps: BTreeSet<Arc<str>>,
    custom: HashMap<String, Arc<str>>,
}

impl HostTable {
    /// A table for apps under `domain` (`localhost` gives `myapp.localhost`).
    pub fn new(domain: &str) -> HostTable {
        HostTable {
            domain: normalize(domain).into_owned(),
            ..HostTable::default()
        }
    }

    /// Routes `app` and its custom `domains` (replacing the ones it had).
    pub fn set(&mut self, app: &str, domains: &[String]) {
        self.remove(app);
        let app: Arc<str> = app.into();
        self.apps.insert(app.clone());
        for domain in domains {
            self.custom
                .insert(normalize(domain).into_owned(), app.clone());
        }
    }

    pub fn remove(&mut self, app: &str) {
        self.apps.remove(app);
        self.custom.retain(|_, a| &**a != app);
    }

    /// The app a `Host` header value names, if any.
    pub fn app_for(&self, host: &str) -> Option<Arc<str>> {
        let host = normalize(strip_port(host));
        if !self.custom.is_empty()
            && let Some(app) = self.custom.get(&*host)
        {
            return Some(app.clone());
        }
        let name = host.strip_suffix(&self.domain)?.strip_suffix('.')?;
        if name.contains('.') {
            return None;
        }
        self.apps.get(name).cloned()
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host; // An IPv6 literal never names an app.
    }
    host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    })
}

/// The host without surrounding spaces or a trailing dot, in lowercase; borrowed
/// when it already is (as every browser and client sends it).
fn normalize(host: &str) -> Cow<'_, str> {
    let host = host.trim().trim_end_matches('.');
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let mut table = HostTable::new("localhost");
        table.set("myapp", &["www.example.com".to_string()]);
        table.set("other", &[]);
        fn check(table: &HostTable, host: &str, want: Option<&str>) {
            assert_eq!(table.app_for(host).as_deref(), want, "{host}");
        }
        check(&table, "myapp.localhost", Some("myapp"));
        check(&table, "myapp.localhost:8080", Some("myapp"));
        check(&table, "MyApp.LocalHost.", Some("myapp"));
        check(&table, "other.localhost", Some("other"));
        check(&table, "www.example.com", Some("myapp"));
        check(&table, "WWW.example.com:443", Some("myapp"));
        check(&table, "nope.localhost", None);
        check(&table, "a.myapp.localhost", None);
        check(&table, "localhost", None);
        check(&table, "myapp.localhostx", None);
        check(&table, "", None);
        check(&table, "[::1]:8080", None);
        table.set("myapp", &[]);
        check(&table, "www.example.com", None);
        table.remove("other");
        check(&table, "other.localhost", None);
    }
}
