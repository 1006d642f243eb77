//! What limits a token beyond its scopes: crate-name patterns, one
//! registry, CIDR ranges; parsed from the command line and the management
//! API, stored as text, and decoded when a token authenticates. This module
//! decides whether a request is inside a token's limits; it imports no
//! other part of the token service.

use std::net::IpAddr;
use std::str::FromStr;

use berth_store::{StoredList, TokenRecord};
use ipnet::IpNet;

use crate::error::ServiceError;
use crate::text::{clip, format_time};

/// Most crate patterns or CIDR ranges one token may carry.
pub const MAX_LIST: usize = 32;
/// Longest token name.
pub const MAX_NAME: usize = 64;

/// The one rule a token's name meets, wherever it is given (the API, the
/// command line, the account page): 1-64 printable ASCII characters without
/// spaces, commas or backquotes.
pub fn check_token_name(name: &str) -> Result<(), ServiceError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && c != ',' && c != '`');
    if ok {
        return Ok(());
    }
    Err(ServiceError::BadRequest(format!(
        "invalid token name `{}`: use 1-64 printable ASCII characters without spaces, \
         commas or backquotes",
        clip(name, MAX_NAME)
    )))
}

/// A crate-name pattern: a name, or a name's start followed by `*`.
/// Matching folds case and `-`/`_` as crate names fold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CratePattern {
    /// As given (validated), for display.
    text: String,
    /// Folded, without the `*`.
    folded: String,
    prefix: bool,
}

impl CratePattern {
    /// Whether a crate name matches.
    pub fn matches(&self, name: &str) -> bool {
        let name = berth_protocol::canonical_name(name);
        if self.prefix {
            name.starts_with(&self.folded)
        } else {
            name == self.folded
        }
    }

    /// Whether every name `other` matches, `self` matches too.
    fn covers(&self, other: &CratePattern) -> bool {
        if self.prefix {
            other.folded.starts_with(&self.folded)
        } else {
            !other.prefix && other.folded == self.folded
        }
    }
}

impl FromStr for CratePattern {
    type Err = ServiceError;

    fn from_str(s: &str) -> Result<Self, ServiceError> {
        let bad = |why: &str| {
            ServiceError::BadRequest(format!(
                "invalid crate pattern `{}`: {why}; use a crate name, or the start of one \
                 followed by `*` (`acme-*`)",
                clip(s, MAX_NAME)
            ))
        };
        let (stem, prefix) = match s.strip_suffix('*') {
            Some(stem) => (stem, true),
            None => (s, false),
        };
        if stem.is_empty() {
            return Err(bad(
                "it names no crate (leave out the patterns for every crate)",
            ));
        }
        if stem.len() > MAX_NAME {
            return Err(bad("it is longer than 64 characters"));
        }
        if !stem.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(bad("it must start with a letter"));
        }
        if !stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(bad(
                "only ASCII letters, digits, `-`, `_` and one trailing `*` are allowed",
            ));
        }
        Ok(CratePattern {
            text: s.to_string(),
            folded: berth_protocol::canonical_name(stem),
            prefix,
        })
    }
}

impl std::fmt::Display for CratePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parses a CIDR range; a bare address is the range of that one address.
pub fn parse_cidr(s: &str) -> Result<IpNet, ServiceError> {
    let s = s.trim();
    crate::config::values::read_cidr(s).ok_or_else(|| {
        ServiceError::BadRequest(format!(
            "invalid CIDR range `{}`: write an address and a prefix length, like \
                 `10.0.0.0/8` or `2001:db8::/32`",
            clip(s, MAX_NAME)
        ))
    })
}

/// What limits a token beyond its scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenLimits {
    /// Crates the token may publish, yank and change owners of; empty for
    /// every crate. Reads are never limited by these.
    pub crates: Vec<CratePattern>,
    /// The one registry (by name, as in request URLs) the token works on.
    pub registry: Option<String>,
    /// Addresses the token may be used from; empty for any.
    pub cidrs: Vec<IpNet>,
    /// When the token stops working (Unix seconds).
    pub expires_at: Option<i64>,
}

pub(crate) fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|p| !p.is_empty())
}

impl TokenLimits {
    /// The limits stored with a token.
    pub(crate) fn from_record(record: &TokenRecord) -> Result<Self, ServiceError> {
        Self::from_stored(
            &record.crate_patterns,
            record.registry.clone(),
            &record.allowed_cidrs,
            record.expires_at,
        )
    }

    /// The limits of a stored token, whose lists the store has decoded.
    pub(crate) fn from_stored(
        crates: &StoredList<String>,
        registry: Option<String>,
        cidrs: &StoredList<IpNet>,
        expires_at: Option<i64>,
    ) -> Result<Self, ServiceError> {
        Ok(TokenLimits {
            crates: crates
                .0
                .iter()
                .map(|p| CratePattern::from_str(p))
                .collect::<Result<_, _>>()
                .map_err(|e| ServiceError::Internal(format!("stored token limits: {e}")))?,
            registry,
            cidrs: cidrs.0.clone(),
            expires_at,
        })
    }

    /// Whether the token may change crate `name` (publish, yank, owners).
    pub fn allows_crate(&self, name: &str) -> bool {
        self.crates.is_empty() || self.crates.iter().any(|p| p.matches(name))
    }

    /// Whether the token may be used from `client`.
    pub fn allows_address(&self, client: Option<IpAddr>) -> bool {
        if self.cidrs.is_empty() {
            return true;
        }
        let Some(ip) = client else { return false };
        let ip = ip.to_canonical();
        self.cidrs.iter().any(|n| n.contains(&ip))
    }

    /// The patterns as the user wrote them, to store.
    pub(crate) fn crates_to_store(&self) -> StoredList<String> {
        StoredList(self.crates.iter().map(|p| p.to_string()).collect())
    }

    pub(crate) fn cidrs_to_store(&self) -> StoredList<IpNet> {
        StoredList(self.cidrs.clone())
    }

    /// Why `child` would have more rights than `self`, if it would: the
    /// new token (`other` is `None`), or an existing one, named by `other`.
    pub(crate) fn widened_by(&self, child: &TokenLimits, other: Option<&str>) -> Option<String> {
        let unlike = || match other {
            None => "the new token would not be".to_string(),
            Some(name) => format!("{name} is not"),
        };
        if !self.crates.is_empty() {
            if child.crates.is_empty() {
                return Some(format!(
                    "this token is limited to crates matching {}, and {}",
                    quoted(&self.crates),
                    unlike()
                ));
            }
            if let Some(wider) = child
                .crates
                .iter()
                .find(|c| !self.crates.iter().any(|p| p.covers(c)))
            {
                return Some(format!(
                    "the crate pattern `{wider}` is wider than this token's patterns {}",
                    quoted(&self.crates)
                ));
            }
        }
        if let Some(mine) = &self.registry {
            if child.registry.as_ref() != Some(mine) {
                return Some(format!(
                    "this token is restricted to registry `{mine}`; {}",
                    match other {
                        None => "a token it creates must be too".to_string(),
                        Some(name) => format!("{name} is not"),
                    }
                ));
            }
        }
        if let Some(mine) = self.expires_at {
            if child.expires_at.is_none_or(|t| t > mine) {
                return Some(format!(
                    "this token expires at {}; {}",
                    format_time(mine),
                    match other {
                        None => "a token it creates must expire no later".to_string(),
                        Some(name) => format!("{name} expires later or never"),
                    }
                ));
            }
        }
        if !self.cidrs.is_empty() {
            if child.cidrs.is_empty() {
                return Some(format!(
                    "this token is limited to the address ranges {}, and {}",
                    quoted(&self.cidrs),
                    unlike()
                ));
            }
            if let Some(wider) = child
                .cidrs
                .iter()
                .find(|c| !self.cidrs.iter().any(|p| p.contains(*c)))
            {
                return Some(format!(
                    "the address range `{wider}` is not inside this token's ranges {}",
                    quoted(&self.cidrs)
                ));
            }
        }
        None
    }
}

pub(crate) fn quoted<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
