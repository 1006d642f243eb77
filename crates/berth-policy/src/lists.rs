//! The lists a registry keeps beside its policy: exceptions (one version
//! allowed whatever the rules say, until an optional expiry) and the
//! approved list (crates, optionally a version range of each, that
//! `approved_only` lets through). Crate names fold as crate names do.

use semver::{Version, VersionReq};

use crate::hash::Feed;

/// A registry's exceptions and approved list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lists {
    pub exceptions: Vec<Exception>,
    pub approved: Vec<Approval>,
}

/// One version allowed whatever the rules say (`berth policy allow`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    /// The crate, in any spelling.
    pub name: String,
    /// The one version allowed (build metadata is not compared).
    pub version: Version,
    /// When the exception stops counting, in Unix seconds; `None`: never.
    pub expires_at: Option<i64>,
    /// Why it was granted, as its author wrote it.
    pub reason: String,
}

/// A crate on the approved list (`berth policy approve`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The crate, in any spelling.
    pub name: String,
    /// The versions approved, with cargo's matching (a pre-release matches
    /// only a requirement that names a pre-release of the same
    /// `major.minor.patch`); `None`: every version.
    pub req: Option<VersionReq>,
}

impl Exception {
    /// Whether the exception still counts at `now` (it stops at
    /// `expires_at` itself).
    pub fn is_live(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }

    /// Whether it names exactly this crate and version.
    pub fn covers(&self, name: &str, version: &Version) -> bool {
        same_crate(&self.name, name) && self.version.cmp_precedence(version).is_eq()
    }
}

impl Approval {
    /// Whether it approves this version of this crate.
    pub fn covers(&self, name: &str, version: &Version) -> bool {
        same_crate(&self.name, name) && self.req.as_ref().is_none_or(|r| r.matches(version))
    }
}

impl Lists {
    /// The live exception for exactly this version at `now`, if any (of
    /// several, the one that lasts longest).
    pub fn live_exception(&self, name: &str, version: &Version, now: i64) -> Option<&Exception> {
        self.exceptions
            .iter()
            .filter(|e| e.is_live(now) && e.covers(name, version))
            .max_by_key(|e| e.expires_at.unwrap_or(i64::MAX))
    }

    /// The first approval that covers this version, if any.
    pub fn approval(&self, name: &str, version: &Version) -> Option<&Approval> {
        self.approved.iter().find(|a| a.covers(name, version))
    }

    /// The approvals of this crate, whichever versions they cover.
    pub fn approvals_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Approval> + 'a {
        self.approved
            .iter()
            .filter(move |a| same_crate(&a.name, name))
    }

    /// The first instant after `now` at which an exception expires: until
    /// then, nothing in the lists changes a verdict.
    pub fn next_expiry(&self, now: i64) -> Option<i64> {
        self.exceptions
            .iter()
            .filter_map(|e| e.expires_at)
            .filter(|&at| at > now)
            .min()
    }

    /// The SHA-256 of the lists' content, as 64 lowercase hex digits: the
    /// same whatever the order of the entries, different when any field of
    /// any entry differs.
    pub fn digest(&self) -> String {
        let mut exceptions: Vec<String> = self
            .exceptions
            .iter()
            .map(|e| {
                let expires = e.expires_at.map_or("never".to_owned(), |t| t.to_string());
                encode(&[&e.name, &e.version.to_string(), &expires, &e.reason])
            })
            .collect();
        let mut approved: Vec<String> = self
            .approved
            .iter()
            .map(|a| {
                let req = a.req.as_ref().map_or("*any".to_owned(), |r| r.to_string());
                encode(&[&a.name, &req])
            })
            .collect();
        exceptions.sort();
        approved.sort();
        let mut feed = Feed::new("berth-policy lists v1");
        feed.list(&exceptions);
        feed.list(&approved);
        feed.finish()
    }
}

/// Fields joined unambiguously (each prefixed by its length).
fn encode(fields: &[&str]) -> String {
    fields.iter().map(|f| format!("{}:{f};", f.len())).collect()
}

/// Whether two names are the same crate: equal once ASCII-lowercased with
/// `-` read as `_` (as [`berth_protocol::canonical_name`] folds them).
pub(crate) fn same_crate(a: &str, b: &str) -> bool {
    let fold = |c: u8| match c {
        b'-' => b'_',
        c => c.to_ascii_lowercase(),
    };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| fold(x) == fold(y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_protocol::canonical_name;

    #[test]
    fn same_crate_folds_as_canonical_name() {
        for (a, b) in [
            ("foo-bar", "foo_bar"),
            ("Foo-Bar", "foo_BAR"),
            ("foo", "foo"),
            ("foo", "fo"),
            ("foo-bar", "foobar"),
            ("é", "É"),
        ] {
            assert_eq!(
                same_crate(a, b),
                canonical_name(a) == canonical_name(b),
                "{a} {b}"
            );
        }
    }
}
