//! What a policy says: the rules in their order ([`Rule`]), the verdict on
//! one version ([`Verdict`], [`Block`]) and each rule's answer for an
//! explanation ([`Check`], [`Outcome`]).

use std::fmt;

/// A rule of a policy. [`Rule::ALL`] is the order in which they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// `deny`: the crate, or a range of its versions, is denied.
    Deny,
    /// `approved_only`: only approved crates and versions are served.
    ApprovedOnly,
    /// `block_advisories`: a vulnerability advisory affects the version.
    Advisory,
    /// `block_informational`: an informational advisory of a blocked kind
    /// affects the version.
    Informational,
    /// `licenses`: the version's license is not allowed.
    License,
    /// `min_age`: the version is younger than the cooldown.
    MinAge,
}

impl Rule {
    /// Every rule, in the order they run: deny, approved_only, advisory,
    /// informational, license, min_age. Cheap and absolute rules come
    /// first, so that a denied crate is reported as denied, not as young.
    pub const ALL: [Rule; 6] = [
        Rule::Deny,
        Rule::ApprovedOnly,
        Rule::Advisory,
        Rule::Informational,
        Rule::License,
        Rule::MinAge,
    ];

    /// `deny`, `approved_only`, `advisory`, `informational`, `license` or
    /// `min_age`: the rule's one name, for metrics labels, logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Deny => "deny",
            Rule::ApprovedOnly => "approved_only",
            Rule::Advisory => "advisory",
            Rule::Informational => "informational",
            Rule::License => "license",
            Rule::MinAge => "min_age",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether one version may be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Served.
    Allowed,
    /// Left out of the index file, its download refused.
    Blocked(Block),
}

impl Verdict {
    /// Whether the version may be served.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allowed)
    }

    /// Why the version is blocked, if it is.
    pub fn block(&self) -> Option<&Block> {
        match self {
            Verdict::Allowed => None,
            Verdict::Blocked(block) => Some(block),
        }
    }
}

/// Why a version is blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The first rule that blocked it.
    pub rule: Rule,
    /// One sentence for the cargo user, starting `blocked by policy: ` and
    /// naming the crate and version, e.g. ``blocked by policy: `foo@1.2.0`
    /// is affected by RUSTSEC-2024-0001 (title); patched: >=1.2.3``.
    pub reason: String,
    /// For [`Rule::Advisory`] and [`Rule::Informational`], the id of the
    /// advisory named in the reason.
    pub advisory: Option<String>,
}

/// What one rule says about one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The rule is set and lets the version through.
    Pass,
    /// The rule is set and blocks the version.
    Block,
    /// The policy does not set this rule.
    NotApplicable,
}

impl Outcome {
    /// `pass`, `block` or `not_applicable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Block => "block",
            Outcome::NotApplicable => "not_applicable",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule's answer in an explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub rule: Rule,
    pub outcome: Outcome,
    /// A sentence saying why; for [`Outcome::Block`], the reason a
    /// [`Block`] would carry.
    pub why: String,
}
