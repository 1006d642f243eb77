//! Fixtures for the policy tests: advisories made with berth-advisory's
//! public types (never copies of real ones), policies from TOML tables, and
//! candidates that own their version.

#![allow(dead_code)]

use berth_advisory::{Advisory, AdvisorySet, Informational, Kind};
use berth_policy::{Candidate, Lists, Policy, PolicyConfig, Verdict};
use semver::{Version, VersionReq};

/// 2024-05-01T12:00:00Z.
pub const NOW: i64 = 1_714_564_800;
pub const HOUR: i64 = 3_600;

pub fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

pub fn req(s: &str) -> VersionReq {
    VersionReq::parse(s).unwrap()
}

/// A RustSec-style advisory against `package`, of `kind`, patched in
/// `patched` (every version affected when empty).
pub fn advisory(id: &str, package: &str, kind: Kind, patched: &[&str]) -> Advisory {
    Advisory {
        id: id.to_owned(),
        package: package.to_owned(),
        title: format!("Made-up flaw {id}"),
        description: "A test advisory.".to_owned(),
        date: time::Date::from_calendar_date(2024, time::Month::January, 2).unwrap(),
        url: None,
        references: Vec::new(),
        aliases: Vec::new(),
        related: Vec::new(),
        categories: Vec::new(),
        keywords: Vec::new(),
        cvss: None,
        kind,
        withdrawn: None,
        patched: patched.iter().map(|p| req(p)).collect(),
        unaffected: Vec::new(),
        osv: None,
    }
}

pub fn vuln(id: &str, package: &str, patched: &[&str]) -> Advisory {
    advisory(id, package, Kind::Vulnerability, patched)
}

pub fn info(id: &str, package: &str, kind: Informational, patched: &[&str]) -> Advisory {
    advisory(id, package, Kind::Informational(kind), patched)
}

pub fn set(advisories: Vec<Advisory>) -> AdvisorySet {
    AdvisorySet::from_advisories(advisories)
}

/// A policy from the body of a `[registries.policy]` table.
pub fn policy(toml_text: &str) -> Policy {
    Policy::from_config(&config(toml_text)).unwrap()
}

pub fn config(toml_text: &str) -> PolicyConfig {
    toml::from_str(toml_text).unwrap()
}

/// A version as a caller knows it, owning its parts.
#[derive(Clone)]
pub struct Case {
    pub name: String,
    pub version: Version,
    pub published_at: Option<i64>,
    pub license: Option<String>,
}

/// `name@version`, published a year before [`NOW`], licensed MIT.
pub fn case(name: &str, version: &str) -> Case {
    Case {
        name: name.to_owned(),
        version: v(version),
        published_at: Some(NOW - 365 * 24 * HOUR),
        license: Some("MIT".to_owned()),
    }
}

impl Case {
    pub fn published(mut self, at: Option<i64>) -> Case {
        self.published_at = at;
        self
    }

    pub fn license(mut self, license: Option<&str>) -> Case {
        self.license = license.map(str::to_owned);
        self
    }

    pub fn candidate(&self) -> Candidate<'_> {
        Candidate {
            name: &self.name,
            version: &self.version,
            published_at: self.published_at,
            license: berth_policy::License::of(self.license.as_deref()),
        }
    }

    pub fn verdict(&self, policy: &Policy, set: &AdvisorySet, lists: &Lists, now: i64) -> Verdict {
        berth_policy::evaluate(policy, set, lists, &self.candidate(), now)
    }
}

/// The rule that blocked, or `None` when allowed.
pub fn rule_of(verdict: &Verdict) -> Option<&'static str> {
    verdict.block().map(|b| b.rule.as_str())
}
