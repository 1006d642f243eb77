//! The words every part of the configuration shares: its error, and CIDR
//! lists parsed from its text. Imports nothing of the crate, so that the
//! settings of the whole file ([`crate::config::Config`]) and of each registry
//! ([`crate::config::registry`], each kind's in `sources/settings.rs`) use
//! them without importing each other.

/// A configuration problem, reported before anything starts.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

/// Parses a list of CIDR ranges (a bare address is its own /32 or /128);
/// `key` names the setting in the error.
pub fn parse_networks(key: &str, list: &[String]) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    list.iter()
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .map(|n| n.trunc())
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    ConfigError(format!(
                        "{key}: `{s}` is not an address or a CIDR range (such as 10.0.0.5/32 or \
                         fd00::/64)"
                    ))
                })
        })
        .collect()
}
