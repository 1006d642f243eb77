//! The top-level keys about how the server is reached: `listen` (an IP
//! socket address), `public_url` (derived from it when unset),
//! `trusted_proxies` and the header they write (`forwarded_header`), and
//! `workers`. Each is decoded once, when the file is read; a bad value is
//! refused in words that name its key. Only reads configuration; never
//! binds a socket.

use std::net::SocketAddr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::values::{read_networks, refusal, ConfigError};

/// The address listened on when none is given.
pub(crate) const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 7878);

/// Reads `text` as the `listen` address.
pub fn parse_listen(text: &str) -> Result<SocketAddr, ConfigError> {
    text.parse().map_err(|_| {
        ConfigError(format!(
            "listen address `{text}` is not an IP:PORT socket address"
        ))
    })
}

/// Decodes `listen`, given as text.
pub(crate) fn read_listen<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    parse_listen(&String::deserialize(d)?).map_err(refusal)
}

/// Writes `listen` as text (`127.0.0.1:7878`, `[::1]:7878`).
pub(crate) fn write_listen<S: Serializer>(addr: &SocketAddr, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(addr)
}

/// Decodes `trusted_proxies`.
pub(crate) fn read_trusted_proxies<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<IpNet>, D::Error> {
    read_networks(d, "trusted_proxies")
}

/// Which header the trusted proxies write the client's address in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` (nginx, HAProxy, most load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=` (RFC 7239).
    Forwarded,
}

impl ForwardedHeader {
    /// The word the file uses, which is also the header's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        }
    }
}

impl Serialize for ForwardedHeader {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ForwardedHeader {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        [ForwardedHeader::XForwardedFor, ForwardedHeader::Forwarded]
            .into_iter()
            .find(|h| h.as_str() == text)
            .ok_or_else(|| {
                refusal(ConfigError(format!(
                    "forwarded_header `{text}` must be `x-forwarded-for` or `forwarded`"
                )))
            })
    }
}

/// The public URL of a server that was given none: its listen address,
/// over HTTPS when it speaks TLS itself. A wildcard address names no host
/// cargo could use, so it is refused.
pub(crate) fn default_public_url(listen: SocketAddr, https: bool) -> Result<String, ConfigError> {
    if listen.ip().is_unspecified() {
        return Err(ConfigError(format!(
            "listening on {listen} needs public_url (--public-url): the URL cargo uses to reach \
             this server, e.g. https://crates.example.internal"
        )));
    }
    let scheme = if https { "https" } else { "http" };
    Ok(format!("{scheme}://{listen}"))
}

/// Checks `public_url` (without its trailing slashes).
pub(crate) fn check_public_url(url: &str) -> Result<(), ConfigError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ConfigError(format!(
            "public_url `{url}` must start with http:// or https://"
        )));
    }
    Ok(())
}

/// Checks `workers`.
pub(crate) fn check_workers(workers: usize) -> Result<(), ConfigError> {
    if workers > 256 {
        return Err(ConfigError(format!(
            "workers is {workers}; at most 256 (0, the default, is one per CPU core)"
        )));
    }
    Ok(())
}
