//! A registry's policy as written (`[registries.policy]`: [`PolicyConfig`])
//! and as checked ([`Policy`]): durations parsed, informational kinds,
//! license ids and deny entries read, duplicates dropped, and a digest of
//! what is in force. Every refusal ([`PolicyError`]) names the key and the
//! value.

use std::fmt;

use berth_advisory::{Informational, Kind};
use berth_protocol::{canonical_name, validate_crate_name, NameError};
use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};
use spdx::Licensee;

use crate::hash::Feed;
use crate::license;
use crate::lists::same_crate;

/// The `[registries.policy]` table. Every key is optional; an empty table
/// (the default) blocks nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Block versions that a vulnerability advisory affects (withdrawn
    /// advisories never count).
    pub block_advisories: bool,
    /// Also block versions that an informational advisory of these kinds
    /// affects: `unmaintained`, `unsound`, `notice`.
    pub block_informational: Vec<String>,
    /// A cooldown: serve a version only this long after it was published
    /// (`72h`, `3d`, `1week`, `90m`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_age: Option<String>,
    /// What `min_age` does with a version whose publish time is unknown
    /// (a proxied index line without `pubtime`): `block` (the default; its
    /// age cannot be shown) or `allow`.
    pub min_age_unknown: MinAgeUnknown,
    /// When set, the licenses allowed (SPDX ids, `Apache-2.0 WITH
    /// LLVM-exception` for one with an exception): a version's license
    /// expression must be satisfiable from them; one without a license, or
    /// with an expression that does not parse, is blocked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licenses: Option<Vec<String>>,
    /// Crates denied: `name` (every version) or `name@REQ` (the versions
    /// that match the requirement, pre-releases by their release:
    /// `old@<2` denies `1.5.0-beta.1`).
    pub deny: Vec<String>,
    /// Serve only crates (and versions) on the registry's approved list.
    pub approved_only: bool,
}

/// What `min_age` does with a version whose publish time is unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MinAgeUnknown {
    /// Blocked: its age cannot be shown to be enough.
    #[default]
    Block,
    /// Served as if old enough.
    Allow,
}

impl MinAgeUnknown {
    /// `block` or `allow`.
    pub fn as_str(self) -> &'static str {
        match self {
            MinAgeUnknown::Block => "block",
            MinAgeUnknown::Allow => "allow",
        }
    }
}

/// Longest `min_age` accepted: 100 years (of 365 days), in seconds.
pub const MAX_MIN_AGE_SECS: i64 = 100 * 365 * 86_400;

/// A policy key whose value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy `{key}`: `{value}` {problem}")]
pub struct PolicyError {
    /// The key: `min_age`, `block_informational`, `licenses` or `deny`.
    pub key: &'static str,
    /// The value, or the entry of a list, as written.
    pub value: String,
    /// What is wrong with it, starting with a verb (`is not a duration...`).
    pub problem: String,
}

/// A checked policy: what [`crate::evaluate`] applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub(crate) block_advisories: bool,
    /// Sorted, without duplicates; never [`Informational::Other`].
    pub(crate) informational: Vec<Informational>,
    /// Seconds, above zero.
    pub(crate) min_age: Option<i64>,
    pub(crate) min_age_unknown: MinAgeUnknown,
    /// Sorted, without duplicates, never empty.
    pub(crate) licenses: Option<Vec<Licensee>>,
    /// Sorted, without duplicates.
    pub(crate) deny: Vec<DenyEntry>,
    pub(crate) approved_only: bool,
    digest: String,
}

/// One entry of `deny`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DenyEntry {
    /// The name folded (compare with [`same_crate`]).
    canonical: String,
    /// `None`: every version.
    req: Option<VersionReq>,
    /// As written (trimmed), for messages.
    pub(crate) text: String,
}

impl DenyEntry {
    /// Whether the entry denies this version. A pre-release also counts as
    /// its release, so that a range denies the pre-releases inside it.
    pub(crate) fn denies(&self, name: &str, version: &Version) -> bool {
        same_crate(&self.canonical, name)
            && self.req.as_ref().is_none_or(|req| {
                req.matches(version)
                    || (!version.pre.is_empty()
                        && req.matches(&Version::new(version.major, version.minor, version.patch)))
            })
    }

    /// `name` or `name@REQ`, folded and normalised: the digest's form.
    fn normal(&self) -> String {
        match &self.req {
            None => self.canonical.clone(),
            Some(req) => format!("{}@{req}", self.canonical),
        }
    }
}

impl Default for Policy {
    /// The empty policy: blocks nothing.
    fn default() -> Self {
        Policy {
            block_advisories: false,
            informational: Vec::new(),
            min_age: None,
            min_age_unknown: MinAgeUnknown::Block,
            licenses: None,
            deny: Vec::new(),
            approved_only: false,
            digest: String::new(),
        }
        .sealed()
    }
}

impl Policy {
    /// Checks a policy table.
    pub fn from_config(config: &PolicyConfig) -> Result<Policy, PolicyError> {
        let mut informational = config
            .block_informational
            .iter()
            .map(|kind| read_kind(kind))
            .collect::<Result<Vec<_>, _>>()?;
        informational.sort();
        informational.dedup();

        let min_age = config.min_age.as_deref().map(read_min_age).transpose()?;
        let min_age = min_age.flatten();

        let licenses = match &config.licenses {
            None => None,
            Some(list) if list.is_empty() => {
                return Err(error(
                    "licenses",
                    "[]",
                    "allows no license at all, which would block every crate; leave the key \
                     out to allow any license",
                ))
            }
            Some(list) => {
                let mut read = list
                    .iter()
                    .map(|entry| {
                        license::read_allowed(entry).map_err(|p| error("licenses", entry, p))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                read.sort();
                read.dedup();
                Some(read)
            }
        };

        let mut deny = config
            .deny
            .iter()
            .map(|entry| read_deny(entry))
            .collect::<Result<Vec<_>, _>>()?;
        deny.sort_by_key(DenyEntry::normal);
        deny.dedup_by_key(|e| e.normal());

        Ok(Policy {
            block_advisories: config.block_advisories,
            informational,
            min_age,
            // It means nothing without a `min_age`.
            min_age_unknown: match min_age {
                Some(_) => config.min_age_unknown,
                None => MinAgeUnknown::Block,
            },
            licenses,
            deny,
            approved_only: config.approved_only,
            digest: String::new(),
        }
        .sealed())
    }

    /// The policy with its digest, of the normalised rules.
    fn sealed(mut self) -> Policy {
        let mut feed = Feed::new("berth-policy policy v1");
        feed.put(&self.block_advisories.to_string());
        let kinds: Vec<String> = self
            .informational
            .iter()
            .map(|i| Kind::Informational(i.clone()).as_str().to_owned())
            .collect();
        feed.list(&kinds);
        feed.put(&self.min_age.map_or("none".to_owned(), |s| s.to_string()));
        feed.put(self.min_age_unknown.as_str());
        match &self.licenses {
            None => feed.put("any"),
            Some(list) => feed.list(&list.iter().map(|l| l.to_string()).collect::<Vec<_>>()),
        }
        feed.list(&self.deny.iter().map(DenyEntry::normal).collect::<Vec<_>>());
        feed.put(&self.approved_only.to_string());
        self.digest = feed.finish();
        self
    }

    /// Whether no rule is set, so that the policy blocks nothing.
    pub fn is_empty(&self) -> bool {
        !self.block_advisories
            && self.informational.is_empty()
            && self.min_age.is_none()
            && self.licenses.is_none()
            && self.deny.is_empty()
            && !self.approved_only
    }

    /// The SHA-256 of the policy in force, as 64 lowercase hex digits:
    /// equal for tables that mean the same (`72h` and `3d`, lists in any
    /// order, names in any spelling, duplicates), different otherwise.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The cooldown in seconds, if any.
    pub fn min_age_secs(&self) -> Option<i64> {
        self.min_age
    }

    /// Whether the policy limits licenses (so that a caller knows to look
    /// them up).
    pub fn checks_licenses(&self) -> bool {
        self.licenses.is_some()
    }

    /// Whether the policy uses the registry's approved list.
    pub fn approved_only(&self) -> bool {
        self.approved_only
    }
}

impl fmt::Display for Policy {
    /// A one-line summary of the rules set, for logs and `config show`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("no rules");
        }
        let mut parts = Vec::new();
        if !self.deny.is_empty() {
            parts.push(format!("deny {} entries", self.deny.len()));
        }
        if self.approved_only {
            parts.push("approved only".to_owned());
        }
        if self.block_advisories {
            parts.push("block advisories".to_owned());
        }
        for kind in &self.informational {
            parts.push(format!("block {}", Kind::Informational(kind.clone())));
        }
        if let Some(list) = &self.licenses {
            parts.push(format!("{} licenses", list.len()));
        }
        if let Some(secs) = self.min_age {
            parts.push(format!("min age {}", crate::text::span(secs)));
        }
        f.write_str(&parts.join(", "))
    }
}

fn error(key: &'static str, value: &str, problem: impl Into<String>) -> PolicyError {
    PolicyError {
        key,
        value: value.to_owned(),
        problem: problem.into(),
    }
}

fn read_kind(kind: &str) -> Result<Informational, PolicyError> {
    match Kind::from_informational(Some(kind)) {
        Kind::Informational(Informational::Other(_)) | Kind::Vulnerability => {
            let problem = if kind.trim() == "vulnerability" {
                "is not an informational kind: vulnerabilities are blocked by `block_advisories`"
            } else {
                "is not an informational kind: expected `unmaintained`, `unsound` or `notice`"
            };
            Err(error("block_informational", kind, problem))
        }
        Kind::Informational(known) => Ok(known),
    }
}

/// Reads `min_age`; `None` for a zero duration (no cooldown). Parts of a
/// second count as a whole second.
fn read_min_age(text: &str) -> Result<Option<i64>, PolicyError> {
    let duration = humantime::parse_duration(text.trim()).map_err(|e| {
        error(
            "min_age",
            text,
            format!("is not a duration ({e}); write one such as \"72h\", \"3d\" or \"90m\""),
        )
    })?;
    let secs = duration
        .as_secs()
        .saturating_add(u64::from(duration.subsec_nanos() > 0));
    match i64::try_from(secs) {
        Ok(0) => Ok(None),
        Ok(secs) if secs <= MAX_MIN_AGE_SECS => Ok(Some(secs)),
        _ => Err(error("min_age", text, "is longer than 100 years")),
    }
}

fn read_deny(entry: &str) -> Result<DenyEntry, PolicyError> {
    let text = entry.trim();
    let (name, req) = match text.split_once('@') {
        None => (text, None),
        Some((name, req)) => (name.trim(), Some(req.trim())),
    };
    match validate_crate_name(name) {
        // A reserved name (`std`) may still be denied.
        Ok(()) | Err(NameError::Reserved(_)) => {}
        Err(e) => return Err(error("deny", entry, format!("does not name a crate: {e}"))),
    }
    let req = match req {
        None => None,
        Some("") => {
            return Err(error(
                "deny",
                entry,
                "has nothing after `@`: write a crate name alone, or `name@REQ` such as \
                 `old-crate@<2`",
            ))
        }
        Some(req) => Some(VersionReq::parse(req).map_err(|e| {
            error(
                "deny",
                entry,
                format!("has a bad version requirement after `@` ({e})"),
            )
        })?),
    };
    Ok(DenyEntry {
        canonical: canonical_name(name),
        req,
        text: text.to_owned(),
    })
}
