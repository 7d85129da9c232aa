//! Which addresses a dyno may never dial unless the server allows private
//! outbound: those of the machine itself and of the networks behind it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a dyno may not dial `ip` unless the server allows private outbound
/// (`ManagerConfig::outbound_private`), or `None` for a public address.
///
/// These are the addresses of the machine itself and of the networks behind it
/// rather than of the internet: loopback, unspecified (`0.0.0.0/8` and `::`,
/// which Linux dials as loopback), link-local (`169.254.0.0/16`, a cloud's
/// metadata service included, and `fe80::/10`), private (`10/8`, `172.16/12`,
/// `192.168/16`, `fc00::/7` and the deprecated site-local `fec0::/10`),
/// carrier-grade NAT (`100.64/10`), multicast, and reserved (`240/4`, the
/// broadcast address included). An IPv4 address inside an IPv6 one (mapped
/// `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`) is
/// judged as the IPv4 address it carries.
pub fn off_limits(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => off_limits_v4(ip),
        IpAddr::V6(ip) => off_limits_v6(ip),
    }
}

fn off_limits_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    Some(match () {
        () if ip.is_loopback() => "loopback",
        () if a == 0 => "unspecified",
        () if ip.is_link_local() => "link-local",
        () if ip.is_private() => "private",
        () if a == 100 && b & 0xc0 == 64 => "carrier-grade NAT",
        () if ip.is_multicast() => "multicast",
        () if ip.is_broadcast() => "broadcast",
        () if a >= 240 => "reserved",
        () => return None,
    })
}

fn off_limits_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_loopback() {
        return Some("loopback");
    }
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    let segments = ip.segments();
    // Mapped and compatible (`to_ipv4`), and NAT64's well-known prefix.
    let [.., a, b, c, d] = ip.octets();
    let nat64 = segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if let Some(v4) = ip
        .to_ipv4()
        .or_else(|| nat64.then(|| Ipv4Addr::new(a, b, c, d)))
    {
        return off_limits_v4(v4);
    }
    Some(match segments[0] {
        s if s & 0xffc0 == 0xfe80 => "link-local",
        s if s & 0xffc0 == 0xfec0 => "site-local",
        s if s & 0xfe00 == 0xfc00 => "private",
        s if s & 0xff00 == 0xff00 => "multicast",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_off_limits(ip: &str, expected: Option<&str>) {
        let parsed: IpAddr = ip.parse().expect("test IP");
        assert_eq!(off_limits(parsed), expected, "{ip}");
    }

    #[test]
    fn classifies_addresses() {
        let cases: &[(&str, Option<&str>)] = &[
            ("127.0.0.1", Some("loopback")),
            ("127.255.255.254", Some("loopback")),
            ("0.0.0.0", Some("unspecified")),
            ("0.1.2.3", Some("unspecified")),
            ("169.254.169.254", Some("link-local")),
            ("169.254.0.1", Some("link-local")),
            ("10.0.0.1", Some("private")),
            ("10.255.255.255", Some("private")),
            ("172.16.0.1", Some("private")),
            ("172.31.255.255", Some("private")),
            ("172.15.255.255", None),
            ("172.32.0.1", None),
            ("192.168.1.1", Some("private")),
            ("192.169.0.1", None),
            ("100.64.0.1", Some("carrier-grade NAT")),
            ("100.127.255.255", Some("carrier-grade NAT")),
            ("100.63.255.255", None),
            ("100.128.0.0", None),
            ("224.0.0.1", Some("multicast")),
            ("239.255.255.250", Some("multicast")),
            ("255.255.255.255", Some("broadcast")),
            ("240.0.0.1", Some("reserved")),
            ("8.8.8.8", None),
            ("93.184.216.34", None),
            ("192.0.2.7", None),
            ("::1", Some("loopback")),
            ("::", Some("unspecified")),
            ("fe80::1", Some("link-local")),
            ("febf::1", Some("link-local")),
            ("fec0::1", Some("site-local")),
            ("fc00::1", Some("private")),
            ("fd00:ec2::254", Some("private")),
            ("ff02::1", Some("multicast")),
            ("2001:db8::1", None),
            ("2606:4700::1111", None),
            ("fe00::1", None),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:0.0.0.0", Some("unspecified")),
            ("::ffff:169.254.169.254", Some("link-local")),
            ("::ffff:10.0.0.1", Some("private")),
            ("::ffff:172.16.0.1", Some("private")),
            ("::ffff:192.168.0.1", Some("private")),
            ("::ffff:100.64.0.1", Some("carrier-grade NAT")),
            ("::ffff:224.0.0.1", Some("multicast")),
            ("::ffff:255.255.255.255", Some("broadcast")),
            ("::ffff:8.8.8.8", None),
            ("::127.0.0.1", Some("loopback")),
            ("64:ff9b::a9fe:a9fe", Some("link-local")),
            ("64:ff9b::10.0.0.1", Some("private")),
            ("64:ff9b::8.8.8.8", None),
        ];
        for (ip, expected) in cases {
            check_off_limits(ip, *expected);
        }
    }
}
