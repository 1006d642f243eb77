//! Where a proxy may connect. Its upstream's host and the operator's
//! `upstream_allowed_hosts` are trusted whatever they resolve to (an
//! upstream is often another registry inside the network). Any other host
//! an upstream names (a `dl` on a download host, as public registries use,
//! or a redirect) is contacted only at public addresses: an IP literal must
//! be one, and a name is resolved here, at connect time, keeping only its
//! public addresses, so that no upstream can make the server reach
//! loopback, private, link-local or other internal addresses (and DNS
//! answers that change between a check and the connection change nothing).
//!
//! This module only decides and resolves; it never sends a request.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Ranges that are not the public internet (IANA special-purpose
/// registries): never contacted unless the operator lists the host.
const INTERNAL: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "::ffff:0:0/96",
    "64:ff9b::/96",
    "64:ff9b:1::/48",
    "100::/64",
    "2001::/23",
    "2001:db8::/32",
    "2002::/16",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
];

fn internal_ranges() -> &'static [IpNet] {
    static RANGES: OnceLock<Vec<IpNet>> = OnceLock::new();
    RANGES.get_or_init(|| INTERNAL.iter().filter_map(|r| r.parse().ok()).collect())
}

/// Whether an address is not on the public internet. An IPv4-mapped IPv6
/// address is judged as the IPv4 address it maps.
pub(crate) fn is_internal(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    internal_ranges().iter().any(|r| r.contains(&ip))
}

/// Resolves names for a proxy's client: a trusted name (the upstream's
/// host, an allowed host) to all its addresses, any other to its public
/// addresses only.
pub(crate) struct PublicUnlessTrusted {
    /// Lowercase host names whose every address may be contacted.
    trusted: Vec<String>,
}

impl PublicUnlessTrusted {
    pub(crate) fn new(trusted: Vec<String>) -> Arc<Self> {
        Arc::new(Self { trusted })
    }
}

impl Resolve for PublicUnlessTrusted {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let trusted = self.trusted.contains(&host);
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept = keep(found, trusted);
            if kept.is_empty() {
                return Err(format!(
                    "`{host}` resolves only to internal addresses (loopback, private, link-local \
                     or reserved); not contacted (list it in the proxy's `upstream_allowed_hosts` \
                     if you trust it)"
                )
                .into());
            }
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// The addresses of a name that may be contacted.
fn keep(found: Vec<SocketAddr>, trusted: bool) -> Vec<SocketAddr> {
    found
        .into_iter()
        .filter(|a| trusted || !is_internal(a.ip()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_told_from_public_ones() {
        for a in [
            "127.0.0.2",
            "10.1.2.3",
            "172.20.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
        ] {
            assert!(is_internal(ip(a)), "{a}");
        }
        for a in [
            "93.184.216.34",
            "1.1.1.1",
            "2a00:1450:4001::1",
            "::ffff:1.1.1.1",
        ] {
            assert!(!is_internal(ip(a)), "{a}");
        }
        assert_eq!(internal_ranges().len(), INTERNAL.len());
    }

    #[test]
    fn an_untrusted_name_keeps_its_public_addresses_only() {
        let found = vec![
            SocketAddr::new(ip("127.0.0.1"), 0),
            SocketAddr::new(ip("93.184.216.34"), 0),
            SocketAddr::new(ip("10.0.0.7"), 0),
        ];
        assert_eq!(
            keep(found.clone(), false),
            [SocketAddr::new(ip("93.184.216.34"), 0)]
        );
        assert_eq!(keep(found.clone(), true), found);
        assert!(keep(vec![SocketAddr::new(ip("::1"), 0)], false).is_empty());
    }
}
