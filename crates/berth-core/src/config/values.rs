//! The words every part of the configuration shares: its error, a refusal
//! carried through serde whole, and CIDR lists read from their text.
//! Imports nothing of the crate, so that the settings of the whole file
//! (`file.rs` and its sections) and of each registry (`registry.rs`, each
//! kind's in `sources/settings.rs`) use them without importing each other.

use ipnet::IpNet;
use serde::de::{self, Deserialize, Deserializer};
use serde::ser::Serializer;

/// A configuration problem, reported before anything starts.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

/// What a refusal made while the file is decoded starts with: it is a
/// whole sentence that names its key itself, so the loader shows it as it
/// is (see [`whole`]) rather than after the key's path and file.
const WHOLE: &str = "\u{1}whole:";

/// `e` as serde's error, to be shown as it is.
pub(crate) fn refusal<E: de::Error>(e: ConfigError) -> E {
    E::custom(format_args!("{WHOLE}{}", e.0))
}

/// The sentence of a [`refusal`], if `message` is one.
pub(crate) fn whole(message: &str) -> Option<&str> {
    message.strip_prefix(WHOLE)
}

/// A CIDR range, or a bare address as its own /32 or /128, with host bits
/// cleared; the one reading of ranges for the file's settings and tokens'.
pub(crate) fn read_cidr(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map(|n| n.trunc())
        .ok()
}

/// Reads one CIDR range (a bare address is its own /32 or /128; host bits
/// are cleared); `key` names the setting in the error.
fn parse_network(key: &str, s: &str) -> Result<IpNet, ConfigError> {
    read_cidr(s).ok_or_else(|| {
        ConfigError(format!(
            "{key}: `{s}` is not an address or a CIDR range (such as 10.0.0.5/32 or \
                 fd00::/64)"
        ))
    })
}

/// Reads a list of CIDR ranges; `key` names the setting in the error.
pub(crate) fn parse_networks(key: &str, list: &[String]) -> Result<Vec<IpNet>, ConfigError> {
    list.iter().map(|s| parse_network(key, s)).collect()
}

/// Decodes a list of CIDR ranges given as text, refusing a bad one in
/// words that name `key`.
pub(crate) fn read_networks<'de, D: Deserializer<'de>>(
    d: D,
    key: &str,
) -> Result<Vec<IpNet>, D::Error> {
    let list = Vec::<String>::deserialize(d)?;
    parse_networks(key, &list).map_err(refusal)
}

/// Writes a list of CIDR ranges as text (`10.0.0.0/8`).
pub(crate) fn write_networks<S: Serializer>(list: &[IpNet], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(list.iter().map(|n| n.to_string()))
}
