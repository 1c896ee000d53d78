//! Where alert webhooks may go. Anyone who may save an alert chooses its
//! webhook URL, so without a check the server would send requests for them
//! to addresses only it can reach: its own loopback, the private network,
//! a cloud metadata service (169.254.169.254). Unless the operator allows
//! private destinations (`hive serve --webhook-allow-private`), a webhook
//! host must resolve to public addresses only. The check runs when a rule
//! is saved and again when each webhook is sent: the host is resolved, every
//! address checked and the connection made to a checked address (a name
//! that resolved to a public address at save time and to a private one
//! later, DNS rebinding, is refused then).
//!
//! With `--webhook-proxy` the proxy is the operator's choice and is not
//! checked; the webhook's host is checked as far as this server can resolve
//! it (the proxy may resolve names this server cannot).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

/// What a refused delivery records: nothing about the address or whether
/// anything listens there (that would make webhooks a port scanner).
pub const REFUSED: &str = "refused: private address";

/// Why a destination is refused, as shown when a rule is saved.
pub fn refusal(url: &str) -> String {
    format!(
        "webhook.url: {} is refused: its host is a loopback, private, link-local or other \
         non-public address (a server started with --webhook-allow-private allows them)",
        crate::webhook::redact(url)
    )
}

/// Whether `ip` is a public unicast address: not loopback, private
/// (RFC 1918, fc00::/7), shared (100.64.0.0/10), link-local (169.254.0.0/16,
/// fe80::/10), multicast, broadcast, unspecified, documentation,
/// benchmarking or reserved; IPv6 forms that embed an IPv4 address
/// (mapped, compatible, NAT64, 6to4) are judged by that address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", 0.0.0.0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // CGNAT
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    match s {
        // ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d.
        [0, 0, 0, 0, 0, 0, hi, lo] => (hi != 0 || lo > 1) && is_public_v4(embedded(hi, lo)),
        // NAT64 (64:ff9b::/96): the IPv4 address it reaches.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => is_public_v4(embedded(hi, lo)),
        // Local-use NAT64 (64:ff9b:1::/48).
        [0x64, 0xff9b, 1, ..] => false,
        // Discard-only (100::/64).
        [0x100, 0, 0, 0, ..] => false,
        // 6to4 (2002::/16): the IPv4 address it tunnels to.
        [0x2002, hi, lo, ..] => is_public_v4(embedded(hi, lo)),
        // Teredo (2001::/32), benchmarking (2001:2::/48), ORCHID, and
        // documentation (2001:db8::/32, 3fff::/20).
        [0x2001, 0, ..] | [0x2001, 2, 0, ..] | [0x2001, 0x10..=0x2f, ..] => false,
        [0x2001, 0xdb8, ..] => false,
        [0x3fff, b, ..] if b < 0x1000 => false,
        // Unique local (fc00::/7), link-local (fe80::/10), the old
        // site-local (fec0::/10) and multicast (ff00::/8).
        [first, ..] => {
            !((first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                || (first & 0xff00) == 0xff00)
        }
    }
}

/// The host of an `http(s)://` URL as it would be resolved (brackets of an
/// IPv6 literal removed), and the port.
fn host_and_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default_port,
    };
    Some((host.trim_end_matches('.').to_ascii_lowercase(), port))
}

/// What resolving a webhook's host came to.
#[derive(Debug, PartialEq)]
pub enum Check {
    /// Every address is public (or private ones are allowed): these.
    Allowed(Vec<SocketAddr>),
    /// Some address is not public.
    Refused,
    /// The host does not resolve here.
    Unresolved,
}

/// Check a webhook URL's host: an address literal as it is, `localhost`
/// and `*.localhost` as loopback, other names through the system resolver
/// (blocking).
pub fn check(url: &str, allow_private: bool) -> Check {
    let Some((host, port)) = host_and_port(url) else {
        return Check::Unresolved;
    };
    if host == "localhost" || host.ends_with(".localhost") {
        return if allow_private {
            match (host.as_str(), port).to_socket_addrs() {
                Ok(a) => Check::Allowed(a.collect()),
                Err(_) => Check::Unresolved,
            }
        } else {
            Check::Refused
        };
    }
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => match (host.as_str(), port).to_socket_addrs() {
            Ok(a) => a.collect(),
            Err(_) => return Check::Unresolved,
        },
    };
    if addrs.is_empty() {
        return Check::Unresolved;
    }
    if !allow_private && addrs.iter().any(|a| !is_public(a.ip())) {
        return Check::Refused;
    }
    Check::Allowed(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_not() {
        let refused = [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.1.2.3",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "2002:a9fe:a9fe::1",
            "2002:7f00:1::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "3fff::1",
        ];
        for ip in refused {
            assert!(!is_public(ip.parse().unwrap()), "{ip} is not public");
        }
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "192.169.0.1",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700::1111",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ];
        for ip in public {
            assert!(is_public(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn hosts_and_ports_of_urls() {
        assert_eq!(
            host_and_port("https://hooks.slack.com/x"),
            Some(("hooks.slack.com".into(), 443))
        );
        assert_eq!(
            host_and_port("http://u:p@[::1]:9000/x?y"),
            Some(("::1".into(), 9000))
        );
        assert_eq!(
            host_and_port("http://LOCALHOST.:81"),
            Some(("localhost".into(), 81))
        );
        assert_eq!(host_and_port("http://h:x/"), None);
    }

    #[test]
    fn checks_refuse_without_sending_anything() {
        // Literals and localhost are judged without a lookup.
        for url in [
            "http://10.0.0.1/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:169.254.169.254]/",
            "http://[fd00::1]:8080/",
            "http://localhost:9/",
            "http://api.localhost/",
            "http://127.0.0.1:9/",
            "http://0.0.0.0:80/",
        ] {
            assert_eq!(check(url, false), Check::Refused, "{url}");
        }
        assert_eq!(
            check("http://127.0.0.1:9/", true),
            Check::Allowed(vec!["127.0.0.1:9".parse().unwrap()])
        );
        assert_eq!(
            check("https://8.8.8.8/x", false),
            Check::Allowed(vec!["8.8.8.8:443".parse().unwrap()])
        );
    }
}
