//! What a dyno may reach on the network: the hosts its app allows.
//!
//! Outbound network is off unless the app allows hosts with the config var
//! `KUMO_ALLOWED_HOSTS`: comma-separated entries, whitespace around each ignored.
//!
//! - `host`: a DNS name or an IP literal, on ports 80 and 443;
//! - `host:port`: that host on that port only;
//! - `*.example.com` (or `*.example.com:port`): any subdomain of `example.com`, not `example.com` itself;
//! - `[::1]:port`: an IPv6 literal with a port (`[::1]` or `::1` alone: ports 80 and 443);
//! - `*` alone: any host on any port.
//!
//! Empty or unset, nothing is allowed. A `wasi:http` request is matched by the
//! host and port of its authority (the port defaults from the scheme). A
//! `wasi:sockets` connect is matched by address: IP entries directly, name
//! entries by the addresses they resolved to when the dyno started; wildcard
//! entries cover `wasi:http` only.
//!
//! The list is the app owner's; above it is the operator's: whatever the list
//! says, a dyno dials no address that [`off_limits`] names (loopback, private,
//! link-local and the like, where the server's own ports, its database and a
//! cloud's metadata service live) unless the server allows it
//! (`ManagerConfig::outbound_private`). That is checked on the address actually
//! dialled: `wasi:http` requests are resolved and connected by Kumo
//! ([`super::dial`]), so a listed name that resolves, or later rebinds, to such
//! an address reaches nothing.

use super::DynoSpec;
use super::granted::Granted;
use crate::logplex::Source;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::sockets::SocketAddrUse;

/// The config var that lists the hosts an app's dynos may reach.
pub const ALLOWED_HOSTS: &str = "KUMO_ALLOWED_HOSTS";

/// How long a dyno's start waits for one allowed name to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The parsed value of `KUMO_ALLOWED_HOSTS`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    entries: Vec<Entry>,
}

/// One entry: which hosts, on which ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub host: HostPattern,
    pub ports: Ports,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostPattern {
    /// `*`: every host.
    Any,
    /// A DNS name, lowercase, in ASCII (punycode), without a trailing dot.
    Name(String),
    /// `*.example.com`: names ending in `.example.com`.
    Subdomains(String),
    Ip(IpAddr),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ports {
    Any,
    /// 80 and 443, for an entry without a port.
    Web,
    Only(u16),
}

pub use super::off_limits::off_limits;

/// An entry of `KUMO_ALLOWED_HOSTS` that is none of the accepted forms.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid {ALLOWED_HOSTS} entry `{entry}`: {why}; use comma-separated entries of the forms `host`, `host:port`, `*.example.com`, `[::1]:port`, or `*` alone for any host"
)]
pub struct BadEntry {
    pub entry: String,
    pub why: String,
}

impl AllowedHosts {
    /// Parses a `KUMO_ALLOWED_HOSTS` value; an empty one allows nothing.
    pub fn parse(value: &str) -> Result<AllowedHosts, BadEntry> {
        let raw: Vec<&str> = value
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        let mut entries = Vec::with_capacity(raw.len());
        for entry in &raw {
            let bad = |why: &str| BadEntry {
                entry: entry.to_string(),
                why: why.to_string(),
            };
            if *entry == "*" {
                if raw.len() > 1 {
                    return Err(bad("`*` allows every host and must be the only entry"));
                }
                entries.push(Entry {
                    host: HostPattern::Any,
                    ports: Ports::Any,
                });
                continue;
            }
            entries.push(parse_entry(entry).map_err(|why| bad(&why))?);
        }
        Ok(AllowedHosts { entries })
    }

    /// Whether nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `host` (a name or an IP literal, IPv6 in brackets, as in a URI's
    /// authority) is allowed on `port`.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let Some(target) = Target::parse(host) else {
            return false;
        };
        self.entries
            .iter()
            .any(|e| e.ports.contains(port) && e.host.matches(&target))
    }

    /// Whether an outgoing request to `uri` is allowed: its scheme is `http` or
    /// `https`, and the host and port of its authority (the port defaulting from
    /// the scheme) match an entry.
    pub fn allows_uri(&self, uri: &http::Uri) -> bool {
        match uri_host_port(uri) {
            Some((host, port)) => self.allows(host, port),
            None => false,
        }
    }
}

impl HostPattern {
    fn matches(&self, target: &Target) -> bool {
        match (self, target) {
            (HostPattern::Any, _) => true,
            (HostPattern::Name(name), Target::Name(host)) => name == host,
            (HostPattern::Subdomains(parent), Target::Name(host)) => host
                .strip_suffix(parent.as_str())
                .and_then(|sub| sub.strip_suffix('.'))
                .is_some_and(|sub| !sub.is_empty()),
            (HostPattern::Ip(ip), Target::Ip(addr)) => ip == addr,
            _ => false,
        }
    }
}

impl Ports {
    pub fn contains(self, port: u16) -> bool {
        match self {
            Ports::Any => true,
            Ports::Web => port == 80 || port == 443,
            Ports::Only(only) => only == port,
        }
    }
}

/// The socket addresses a dyno may connect to: its allowed hosts' IP entries,
/// and the addresses its name entries resolved to when it started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedAddrs {
    any: bool,
    addrs: Vec<(IpAddr, Ports)>,
}

impl AllowedAddrs {
    /// Resolves the name entries of `hosts`. A name that does not resolve is
    /// skipped; the second value has a line saying so for each, and, unless
    /// `private` (the server allows private outbound), one for each entry whose
    /// addresses are [`off_limits`].
    pub async fn resolve(hosts: &AllowedHosts, private: bool) -> (AllowedAddrs, Vec<String>) {
        let mut allowed = AllowedAddrs::default();
        let mut names = Vec::new();
        let mut lines = Vec::new();
        for entry in &hosts.entries {
            match &entry.host {
                HostPattern::Any => allowed.any = true,
                HostPattern::Ip(ip) => {
                    allowed.addrs.push((*ip, entry.ports));
                    if let Some(why) = off_limits(*ip).filter(|_| !private) {
                        lines.push(off_limits_line(&ip.to_string(), &[(*ip, why)], false));
                    }
                }
                HostPattern::Name(name) => names.push((name.as_str(), entry.ports)),
                HostPattern::Subdomains(_) => {}
            }
        }
        let lookups = names.iter().map(|(name, _)| async move {
            match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((*name, 0))).await {
                Ok(Ok(addrs)) => Ok(addrs.map(|a| a.ip().to_canonical()).collect::<Vec<_>>()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {} s", RESOLVE_TIMEOUT.as_secs())),
            }
        });
        for ((name, ports), found) in names.iter().zip(futures::future::join_all(lookups).await) {
            match found {
                Ok(ips) if !ips.is_empty() => {
                    let refused: Vec<(IpAddr, &str)> = ips
                        .iter()
                        .filter_map(|ip| Some((*ip, off_limits(*ip)?)))
                        .filter(|_| !private)
                        .collect();
                    if !refused.is_empty() {
                        let some_left = refused.len() < ips.len();
                        lines.push(off_limits_line(name, &refused, some_left));
                    }
                    allowed.addrs.extend(ips.into_iter().map(|ip| (ip, *ports)));
                }
                Ok(_) => lines.push(unresolved_line(name, "it has no addresses")),
                Err(why) => lines.push(unresolved_line(name, &why)),
            }
        }
        (allowed, lines)
    }

    pub fn allows(&self, addr: SocketAddr) -> bool {
        let ip = addr.ip().to_canonical();
        self.any
            || self
                .addrs
                .iter()
                .any(|(allowed, ports)| *allowed == ip && ports.contains(addr.port()))
    }
}

/// What one dyno may reach, made once when the dyno starts.
#[derive(Debug)]
pub struct Outbound {
    hosts: AllowedHosts,
    /// What the app's attached add-ons open, whatever the list says.
    granted: Granted,
    addrs: AllowedAddrs,
    deadline: Option<Duration>,
    /// Whether the server lets dynos dial [`off_limits`] addresses.
    private: bool,
}

impl Outbound {
    /// Reads `spec`'s allowed hosts and resolves their names. A value that
    /// cannot be parsed (the API refuses one, so only an older ledger could
    /// hold it) leaves outbound network off; that, every name that does not
    /// resolve and every entry whose addresses are off limits are logged on the
    /// app's log. `deadline` caps each outgoing HTTP request, from its start to
    /// the end of its response (see [`Outbound::deadline`]).
    pub async fn start(spec: &DynoSpec, deadline: Option<Duration>) -> Arc<Outbound> {
        let log = |text: &str| spec.log.log(Source::Kumo, &spec.name, text);
        let hosts = spec.allowed_hosts().unwrap_or_else(|e| {
            log(&format!("Outbound network is off: {e}"));
            AllowedHosts::default()
        });
        let (mut granted, unresolved) =
            Granted::resolve(&spec.release.addons, spec.addons.clone()).await;
        granted.set_config(&spec.release.config);
        let (outbound, mut lines) =
            Outbound::resolve_with(hosts, granted, deadline, spec.outbound_private).await;
        lines.extend(unresolved);
        for line in lines {
            log(&line);
        }
        outbound
    }

    /// The add-ons the dyno's release attached, and the server's backends.
    pub fn addons(&self) -> &crate::addons::AddonAccess {
        self.granted.access()
    }

    /// `hosts` with their names resolved; `private` lets the dyno dial
    /// [`off_limits`] addresses. The second value says which names did not
    /// resolve and which entries are off limits.
    pub async fn resolve(
        hosts: AllowedHosts,
        deadline: Option<Duration>,
        private: bool,
    ) -> (Arc<Outbound>, Vec<String>) {
        let granted = Granted::none(crate::addons::Backends::new(""));
        Outbound::resolve_with(hosts, granted, deadline, private).await
    }

    /// The same, with what the release's add-ons open.
    async fn resolve_with(
        hosts: AllowedHosts,
        granted: Granted,
        deadline: Option<Duration>,
        private: bool,
    ) -> (Arc<Outbound>, Vec<String>) {
        let (addrs, lines) = AllowedAddrs::resolve(&hosts, private).await;
        let outbound = Outbound {
            hosts,
            granted,
            addrs,
            deadline,
            private,
        };
        (Arc::new(outbound), lines)
    }

    /// Sets `builder`'s socket rules: connects (TCP, and UDP connects, sends and
    /// receives) only to allowed addresses the dyno may dial; no listening or binding beyond the
    /// ephemeral bind a connect makes; TCP, UDP and name lookups only if some
    /// host is allowed (wasmtime-wasi's builder turns all three off by default).
    pub fn configure(self: &Arc<Self>, builder: &mut WasiCtxBuilder) {
        let this = self.clone();
        let open = !self.hosts.is_empty() || self.granted.opens_network();
        builder
            .allow_tcp(open)
            .allow_udp(open)
            .allow_ip_name_lookup(open)
            .socket_addr_check(move |addr, usage| {
                Box::pin(std::future::ready(this.allows_socket(addr, usage)))
            });
    }

    /// Whether a guest may use `addr` for `usage`.
    pub fn allows_socket(&self, addr: SocketAddr, usage: SocketAddrUse) -> bool {
        if self.hosts.is_empty() && !self.granted.opens_network() {
            return false;
        }
        match usage {
            // The wildcard address with port 0: the bind a connect or a send makes
            // implicitly, or its explicit equivalent. Listening stays refused.
            SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => {
                addr.ip().is_unspecified() && addr.port() == 0
            }
            SocketAddrUse::TcpConnect => {
                self.granted.allows_addr(addr)
                    || (self.addrs.allows(addr) && self.may_dial(addr.ip()))
            }
            SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => {
                self.addrs.allows(addr) && self.may_dial(addr.ip())
            }
            SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => false,
        }
    }

    /// Whether an outgoing `wasi:http` request to `uri` is allowed.
    pub fn allows_uri(&self, uri: &http::Uri) -> bool {
        self.hosts.allows_uri(uri)
            || uri_host_port(uri).is_some_and(|(host, port)| self.granted.allows_host(host, port))
    }

    /// Whether the dyno may dial `ip`, whatever its list says: a public
    /// address, or any if the server allows private outbound.
    pub fn may_dial(&self, ip: IpAddr) -> bool {
        self.private || off_limits(ip).is_none()
    }

    /// Whether the dyno may dial `addr`: an add-on's endpoint, or an address
    /// [`Outbound::may_dial`] allows.
    pub fn may_dial_addr(&self, addr: SocketAddr) -> bool {
        self.granted.allows_addr(addr) || self.may_dial(addr.ip())
    }

    /// The longest an outgoing HTTP request may live, response body included:
    /// a web dyno's request deadline, so a request a guest makes cannot outlast
    /// the request it serves; none for workers and one-off dynos.
    pub fn deadline(&self) -> Option<Duration> {
        self.deadline
    }
}

/// The host and port an outgoing request to `uri` dials: its scheme is `http`
/// or `https`, the port defaulting from it; `None` for anything else, and for
/// an authority with a user-info part (the sender would dial it as the host).
fn uri_host_port(uri: &http::Uri) -> Option<(&str, u16)> {
    let authority = uri.authority()?;
    let default_port = match uri.scheme_str() {
        Some("http") => 80,
        Some("https") => 443,
        _ => return None,
    };
    let text = authority.as_str();
    if text.contains('@') {
        return None;
    }
    let host = authority.host();
    let port = match text.strip_prefix(host)? {
        "" => default_port,
        rest => rest.strip_prefix(':').and_then(parse_port)?,
    };
    Some((host, port))
}

/// The IP address `host` (as in a URI's authority) is written as, in any form
/// the allow-list accepts (`127.1`, `[::ffff:10.0.0.1]`), or `None` for a name.
pub fn ip_literal(host: &str) -> Option<IpAddr> {
    match Target::parse(host)? {
        Target::Ip(ip) => Some(ip),
        Target::Name(_) => None,
    }
}

/// A host an outgoing request names, normalized as the sender will see it.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Name(String),
    Ip(IpAddr),
}

impl Target {
    fn parse(host: &str) -> Option<Target> {
        if host.contains('%') {
            // Percent escapes would be decoded here but dialled as they are.
            return None;
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some(Target::Ip(ip.to_canonical()));
        }
        match url::Host::parse(host).ok()? {
            url::Host::Ipv4(ip) => Some(Target::Ip(IpAddr::V4(ip))),
            url::Host::Ipv6(ip) => Some(Target::Ip(IpAddr::V6(ip).to_canonical())),
            url::Host::Domain(name) => {
                let name = name.strip_suffix('.').unwrap_or(&name);
                is_dns_name(name).then(|| Target::Name(name.to_string()))
            }
        }
    }
}

fn parse_entry(entry: &str) -> Result<Entry, String> {
    if entry.contains("://") || entry.contains('/') {
        return Err("give the host alone, without a scheme or a path".into());
    }
    if entry.contains('@') || entry.contains('%') {
        return Err("a host has no `@` or `%`".into());
    }
    let (host, port) = split_port(entry)?;
    let ports = match port {
        None => Ports::Web,
        Some(port) => Ports::Only(
            parse_port(port)
                .ok_or_else(|| format!("the port `{port}` is not a number from 1 to 65535"))?,
        ),
    };
    let host = match host.strip_prefix("*.") {
        Some(parent) => match parse_host(parent)? {
            HostPattern::Name(name) => HostPattern::Subdomains(name),
            _ => return Err("`*.` must be followed by a DNS name".into()),
        },
        None => parse_host(host)?,
    };
    Ok(Entry { host, ports })
}

/// Splits `host:port`, `[v6]:port`, `[v6]`, a bare IPv6 address or a host.
fn split_port(entry: &str) -> Result<(&str, Option<&str>), String> {
    if entry.starts_with('[') {
        let close = entry
            .find(']')
            .ok_or("an IPv6 address in `[` needs its closing `]`")?;
        let (host, rest) = entry.split_at(close + 1);
        return match rest {
            "" => Ok((host, None)),
            _ => match rest.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err("after `]` comes `:port` or nothing".into()),
            },
        };
    }
    if entry.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok((entry, None));
    }
    Ok(match entry.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (entry, None),
    })
}

fn parse_host(host: &str) -> Result<HostPattern, String> {
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    match Target::parse(host) {
        Some(Target::Ip(ip)) => Ok(HostPattern::Ip(ip)),
        Some(Target::Name(name)) => Ok(HostPattern::Name(name)),
        None => Err(format!("`{host}` is not a DNS name or an IP address")),
    }
}

/// Digits only (no sign), from 1 to 65535.
fn parse_port(port: &str) -> Option<u16> {
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse().ok().filter(|p| *p != 0)
}

/// Letters, digits, `-` and `_` in dot-separated labels of 1 to 63 bytes, 253 in all.
fn is_dns_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// `refused` are `entry`'s addresses and why each is off limits; `some_left`
/// says whether the entry has others.
fn off_limits_line(entry: &str, refused: &[(IpAddr, &str)], some_left: bool) -> String {
    let addrs: Vec<String> = refused
        .iter()
        .map(|(ip, why)| format!("{ip} is {why}"))
        .collect();
    let (partly, then) = if some_left {
        ("partly ", "connects to it reach only its other addresses")
    } else {
        ("", "connects to it are refused")
    };
    format!(
        "Allowed host `{entry}` is {partly}off limits ({}): this Kumo server lets dynos reach public addresses only, so {then}",
        addrs.join(", ")
    )
}

fn unresolved_line(name: &str, why: &str) -> String {
    format!(
        "Allowed host `{name}` did not resolve ({why}): socket connects to it stay refused until the dyno restarts"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> HostPattern {
        HostPattern::Ip(text.parse().expect("test IP"))
    }

    fn name(text: &str) -> HostPattern {
        HostPattern::Name(text.to_string())
    }

    fn check(value: &str, expected: Result<&[(HostPattern, Ports)], &str>) {
        match (AllowedHosts::parse(value), expected) {
            (Ok(hosts), Ok(want)) => {
                let got: Vec<(HostPattern, Ports)> = hosts
                    .entries
                    .into_iter()
                    .map(|e| (e.host, e.ports))
                    .collect();
                assert_eq!(got, want, "{value:?}");
            }
            (Err(e), Err(want)) => {
                let text = e.to_string();
                assert!(
                    text.contains(want),
                    "{value:?}: {text} should contain {want}"
                );
                assert!(text.contains("`host:port`"), "{text} names the forms");
            }
            (got, want) => panic!("{value:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn parses_entries() {
        use Ports::{Any, Only, Web};
        check("", Ok(&[]));
        check("  , ,", Ok(&[]));
        check("*", Ok(&[(HostPattern::Any, Any)]));
        check(" api.example.com ", Ok(&[(name("api.example.com"), Web)]));
        check("API.Example.COM.", Ok(&[(name("api.example.com"), Web)]));
        check("db:5432", Ok(&[(name("db"), Only(5432))]));
        check(
            "*.example.com, *.internal:8080",
            Ok(&[
                (HostPattern::Subdomains("example.com".into()), Web),
                (HostPattern::Subdomains("internal".into()), Only(8080)),
            ]),
        );
        check("127.0.0.1:8080", Ok(&[(ip("127.0.0.1"), Only(8080))]));
        check("10.1.2.3", Ok(&[(ip("10.1.2.3"), Web)]));
        check("[::1]:9000", Ok(&[(ip("::1"), Only(9000))]));
        check("[2001:db8::1]", Ok(&[(ip("2001:db8::1"), Web)]));
        check("::1", Ok(&[(ip("::1"), Web)]));
        check("[::ffff:127.0.0.1]:1", Ok(&[(ip("127.0.0.1"), Only(1))]));
        check(
            "bücher.example",
            Ok(&[(name("xn--bcher-kva.example"), Web)]),
        );
        check(
            "a.com,b.com:1,c.com",
            Ok(&[
                (name("a.com"), Web),
                (name("b.com"), Only(1)),
                (name("c.com"), Web),
            ]),
        );
    }

    #[test]
    fn refuses_bad_entries() {
        check("http://x", Err("entry `http://x`: give the host alone"));
        check("ok.com, a b", Err("entry `a b`"));
        check("host:99999", Err("the port `99999` is not a number"));
        check("host:0", Err("the port `0`"));
        check("host:", Err("the port ``"));
        check("host:+80", Err("the port `+80`"));
        check("*.", Err("entry `*.`: the host is empty"));
        check("*.10.0.0.1", Err("`*.` must be followed by a DNS name"));
        check("**.example.com", Err("entry `**.example.com`"));
        check("a.*.com", Err("entry `a.*.com`"));
        check("*, example.com", Err("must be the only entry"));
        check("x.com/path", Err("without a scheme or a path"));
        check("user@x.com", Err("no `@` or `%`"));
        check("ex%61mple.com", Err("no `@` or `%`"));
        check("[::1", Err("closing `]`"));
        check("[::1]80", Err("after `]`"));
        check(
            "[nope]:80",
            Err("`[nope]` is not a DNS name or an IP address"),
        );
        check("a..b", Err("entry `a..b`"));
        check("1.2.3.4.5", Err("entry `1.2.3.4.5`"));
        check(&format!("{}.com", "a".repeat(64)), Err("is not a DNS name"));
    }

    fn check_allows(list: &str, uri: &str, expected: bool) {
        let hosts = AllowedHosts::parse(list).expect("test list");
        let uri: http::Uri = uri.parse().expect("test URI");
        assert_eq!(hosts.allows_uri(&uri), expected, "{list:?} allows {uri}");
    }

    #[test]
    fn matches_requests() {
        check_allows("", "http://example.com/", false);
        check_allows("example.com", "http://example.com/", true);
        check_allows("example.com", "https://example.com/x?y", true);
        check_allows("example.com", "https://EXAMPLE.com./", true);
        check_allows("example.com", "http://example.com:8080/", false);
        check_allows("example.com", "http://www.example.com/", false);
        check_allows("example.com", "http://example.com.evil.net/", false);
        check_allows("example.com:8080", "http://example.com:8080/", true);
        check_allows("example.com:8080", "http://example.com/", false);
        check_allows("example.com:443", "https://example.com/", true);
        check_allows("*.example.com", "https://api.example.com/", true);
        check_allows("*.example.com", "https://a.b.example.com/", true);
        check_allows("*.example.com", "https://example.com/", false);
        check_allows("*.example.com", "https://badexample.com/", false);
        check_allows("127.0.0.1:4000", "http://127.0.0.1:4000/", true);
        check_allows("127.0.0.1:4000", "http://127.0.0.1:4001/", false);
        check_allows("127.0.0.1:4000", "http://localhost:4000/", false);
        check_allows("127.0.0.1:4000", "http://127.1:4000/", true);
        check_allows("127.0.0.1:4000", "http://[::ffff:127.0.0.1]:4000/", true);
        check_allows("localhost:4000", "http://127.0.0.1:4000/", false);
        check_allows("[::1]:4000", "http://[::1]:4000/", true);
        check_allows("[::1]:4000", "http://[::2]:4000/", false);
        check_allows("example.com", "http://user@example.com/", false);
        // http::Uri refuses escapes in an authority; the matcher does too.
        let hosts = AllowedHosts::parse("example.com").expect("test list");
        assert!(!hosts.allows("ex%61mple.com", 80));
        assert!(hosts.allows("example.com", 80));
        check_allows("example.com", "/relative", false);
        check_allows("*", "http://anything.example:1234/", true);
        // The list matches names; the address dialled is checked apart (`may_dial`).
        check_allows("*", "https://10.0.0.1/", true);
    }

    fn resolve(list: &str, private: bool) -> (Arc<Outbound>, Vec<String>) {
        let hosts = AllowedHosts::parse(list).expect("test list");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("test runtime");
        runtime.block_on(Outbound::resolve(hosts, None, private))
    }

    /// The allow-list alone: on a server that allows private outbound.
    fn check_socket(list: &str, addr: &str, usage: SocketAddrUse, expected: bool) {
        let (outbound, lines) = resolve(list, true);
        assert!(lines.is_empty(), "{lines:?}");
        let addr: SocketAddr = addr.parse().expect("test address");
        assert_eq!(
            outbound.allows_socket(addr, usage),
            expected,
            "{list:?} allows {usage:?} {addr}"
        );
    }

    /// On a server that keeps dynos to public addresses (the default).
    fn check_public_socket(list: &str, addr: &str, usage: SocketAddrUse, expected: bool) {
        let (outbound, _) = resolve(list, false);
        let addr: SocketAddr = addr.parse().expect("test address");
        assert_eq!(
            outbound.allows_socket(addr, usage),
            expected,
            "{list:?} allows {usage:?} {addr} with private outbound off"
        );
    }

    #[test]
    fn matches_sockets() {
        use SocketAddrUse::*;
        check_socket("", "127.0.0.1:5432", TcpConnect, false);
        check_socket("", "0.0.0.0:0", TcpBind, false);
        check_socket("127.0.0.1:5432", "127.0.0.1:5432", TcpConnect, true);
        check_socket("127.0.0.1:5432", "127.0.0.1:5433", TcpConnect, false);
        check_socket(
            "127.0.0.1:5432",
            "[::ffff:127.0.0.1]:5432",
            TcpConnect,
            true,
        );
        check_socket("127.0.0.1:5432", "0.0.0.0:0", TcpBind, true);
        check_socket("127.0.0.1:5432", "[::]:0", TcpBind, true);
        check_socket("127.0.0.1:5432", "0.0.0.0:8080", TcpBind, false);
        check_socket("127.0.0.1:5432", "127.0.0.1:0", TcpBind, false);
        check_socket("127.0.0.1:5432", "0.0.0.0:0", TcpListen, false);
        check_socket("127.0.0.1:5432", "127.0.0.1:5432", TcpAccept, false);
        check_socket("127.0.0.1:53", "127.0.0.1:53", UdpSend, true);
        check_socket("127.0.0.1:53", "127.0.0.1:53", UdpReceive, true);
        check_socket("127.0.0.1:53", "127.0.0.2:53", UdpSend, false);
        check_socket("10.0.0.1", "10.0.0.1:443", TcpConnect, true);
        check_socket("10.0.0.1", "10.0.0.1:22", TcpConnect, false);
        check_socket("localhost:7000", "127.0.0.1:7000", TcpConnect, true);
        check_socket("*.example.com", "93.184.216.34:443", TcpConnect, false);
        check_socket("*", "192.0.2.7:25", TcpConnect, true);
        check_socket("*", "0.0.0.0:80", TcpBind, false);
    }

    #[test]
    fn refuses_off_limits_sockets_whatever_the_list() {
        use SocketAddrUse::*;
        check_public_socket("127.0.0.1:5432", "127.0.0.1:5432", TcpConnect, false);
        check_public_socket(
            "127.0.0.1:5432",
            "[::ffff:127.0.0.1]:5432",
            TcpConnect,
            false,
        );
        check_public_socket("[::1]:5432", "[::1]:5432", TcpConnect, false);
        check_public_socket("localhost:7000", "127.0.0.1:7000", TcpConnect, false);
        check_public_socket("169.254.169.254", "169.254.169.254:80", TcpConnect, false);
        check_public_socket("10.0.0.1:53", "10.0.0.1:53", UdpSend, false);
        check_public_socket("10.0.0.1:53", "10.0.0.1:53", UdpReceive, false);
        check_public_socket("*", "127.0.0.1:5000", TcpConnect, false);
        check_public_socket("*", "0.0.0.0:5000", TcpConnect, false);
        check_public_socket("*", "[fd00:ec2::254]:80", TcpConnect, false);
        check_public_socket("*", "192.0.2.7:25", TcpConnect, true);
        check_public_socket("192.0.2.7:25", "192.0.2.7:25", TcpConnect, true);
        check_public_socket("192.0.2.7:25", "192.0.2.8:25", TcpConnect, false);
        // The ephemeral bind of a connect is no dial.
        check_public_socket("192.0.2.7:25", "0.0.0.0:0", TcpBind, true);
    }

    #[test]
    fn says_which_entries_are_off_limits() {
        let (_, lines) = resolve("127.0.0.1:5432, 192.0.2.7, localhost:1, *.x.example", false);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(
            lines[0],
            "Allowed host `127.0.0.1` is off limits (127.0.0.1 is loopback): this Kumo server lets dynos reach public addresses only, so connects to it are refused"
        );
        assert!(
            lines[1].starts_with("Allowed host `localhost` is off limits (")
                && lines[1].contains("127.0.0.1 is loopback")
                && lines[1].ends_with("so connects to it are refused"),
            "{lines:?}"
        );
        let (_, lines) = resolve("127.0.0.1:5432, localhost:1, 10.1.2.3", true);
        assert!(lines.is_empty(), "{lines:?}");
    }

    #[test]
    fn reads_ip_literals_as_the_list_does() {
        let ip = |text: &str| Some(text.parse::<IpAddr>().expect("test IP"));
        assert_eq!(ip_literal("127.0.0.1"), ip("127.0.0.1"));
        assert_eq!(ip_literal("127.1"), ip("127.0.0.1"));
        assert_eq!(ip_literal("[::1]"), ip("::1"));
        assert_eq!(ip_literal("[::ffff:10.0.0.1]"), ip("10.0.0.1"));
        assert_eq!(ip_literal("localhost"), None);
        assert_eq!(ip_literal("example.com"), None);
    }
}
