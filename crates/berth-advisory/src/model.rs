//! One advisory as Berth keeps it, whichever format it came from, and the one
//! test that decides whether it affects a version of its crate.
//!
//! RustSec advisories say which versions are *not* affected (`patched` and
//! `unaffected` requirements); OSV records say which *are* (ordered
//! `introduced`/`fixed`/`last_affected` events). Each keeps its own test so
//! that nothing is lost in a conversion; an OSV record also gets `patched`
//! and `unaffected` requirements derived from its events, for display only.

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::Date;

/// A security advisory against one crate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advisory {
    /// `RUSTSEC-YYYY-NNNN`, or an OSV record's id (`GHSA-...`, `CVE-...`).
    pub id: String,
    /// The crate's name as the advisory spells it (compare after
    /// [`berth_protocol::canonical_name`]).
    pub package: String,
    /// One line: the Markdown heading, or the OSV `summary`.
    pub title: String,
    /// The first paragraph of the description, at most
    /// [`MAX_DESCRIPTION_CHARS`] characters (Markdown source, unrendered).
    pub description: String,
    /// The day the advisory was disclosed (OSV: `published`, else `modified`).
    pub date: Date,
    /// Link to the long-form description (`http` or `https` only).
    pub url: Option<String>,
    /// Further links (`http` or `https` only).
    pub references: Vec<String>,
    /// Ids of the same advisory in other databases (`CVE-...`, `GHSA-...`).
    pub aliases: Vec<String>,
    /// Ids of related but different advisories.
    pub related: Vec<String>,
    /// RustSec categories (`memory-corruption`, `denial-of-service`, ...).
    pub categories: Vec<String>,
    /// Free-form keywords.
    pub keywords: Vec<String>,
    /// A CVSS vector string, kept as written.
    pub cvss: Option<String>,
    /// A vulnerability or an informational notice.
    pub kind: Kind,
    /// Set when the advisory was withdrawn: it then affects nothing.
    pub withdrawn: Option<Date>,
    /// Versions that carry the fix. RustSec: the test; OSV: derived for display.
    pub patched: Vec<VersionReq>,
    /// Versions never affected. RustSec: the test; OSV: derived for display.
    pub unaffected: Vec<VersionReq>,
    /// For an advisory read from OSV, its ranges: the test.
    pub osv: Option<OsvAffected>,
}

/// Longest [`Advisory::description`] kept, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// What kind of advisory this is. Informational kinds are kept apart from
/// vulnerabilities so that policies can opt in to them one by one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    /// A security vulnerability.
    Vulnerability,
    /// A notice that is not a vulnerability in itself.
    Informational(Informational),
}

/// The informational kinds of the RustSec format (`informational = "..."`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Informational {
    /// The crate is no longer maintained.
    Unmaintained,
    /// Safe code can cause undefined behaviour through the crate's API.
    Unsound,
    /// Any other notice.
    Notice,
    /// A kind this version of Berth does not know, kept as written.
    Other(String),
}

impl Kind {
    /// Reads the RustSec `informational` field (absent: a vulnerability).
    pub fn from_informational(field: Option<&str>) -> Kind {
        match field.map(str::trim) {
            None => Kind::Vulnerability,
            Some("unmaintained") => Kind::Informational(Informational::Unmaintained),
            Some("unsound") => Kind::Informational(Informational::Unsound),
            Some("notice") => Kind::Informational(Informational::Notice),
            Some(other) => Kind::Informational(Informational::Other(other.to_owned())),
        }
    }

    /// `vulnerability`, `unmaintained`, `unsound`, `notice` or the unknown
    /// kind as written: the word a policy's `block_informational` lists.
    pub fn as_str(&self) -> &str {
        match self {
            Kind::Vulnerability => "vulnerability",
            Kind::Informational(Informational::Unmaintained) => "unmaintained",
            Kind::Informational(Informational::Unsound) => "unsound",
            Kind::Informational(Informational::Notice) => "notice",
            Kind::Informational(Informational::Other(s)) => s,
        }
    }

    /// Whether this is a vulnerability (not an informational notice).
    pub fn is_vulnerability(&self) -> bool {
        matches!(self, Kind::Vulnerability)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The affected versions of an OSV record for one crate: any range or any
/// listed version.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OsvAffected {
    /// `SEMVER` and `ECOSYSTEM` ranges (Rust crate versions are semver);
    /// `GIT` ranges cannot be tested against a version and are dropped.
    pub ranges: Vec<OsvRange>,
    /// Versions listed one by one.
    pub versions: Vec<Version>,
}

/// One OSV range: its events, sorted by version (events at the same version
/// keep their order in the record).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OsvRange {
    pub events: Vec<OsvEvent>,
}

/// One event of an OSV range. `introduced: "0"` is read as `0.0.0-0`, the
/// lowest semver version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OsvEvent {
    /// Versions from this one on are affected.
    Introduced(Version),
    /// Versions from this one on are not.
    Fixed(Version),
    /// Versions after this one are not.
    LastAffected(Version),
    /// Versions from this one on are outside the range.
    Limit(Version),
}

impl OsvEvent {
    /// The version the event is at.
    pub fn version(&self) -> &Version {
        match self {
            OsvEvent::Introduced(v)
            | OsvEvent::Fixed(v)
            | OsvEvent::LastAffected(v)
            | OsvEvent::Limit(v) => v,
        }
    }
}

impl OsvRange {
    /// Walks the events in version order: each event at or below `version`
    /// switches the answer (`last_affected` only once `version` is past it).
    pub fn affects(&self, version: &Version) -> bool {
        let mut affected = false;
        for event in &self.events {
            match event {
                OsvEvent::Introduced(v) if version >= v => affected = true,
                OsvEvent::Fixed(v) | OsvEvent::Limit(v) if version >= v => affected = false,
                OsvEvent::LastAffected(v) if version > v => affected = false,
                _ => {}
            }
        }
        affected
    }
}

impl OsvAffected {
    /// Whether any range, or the list of versions, holds `version`.
    pub fn affects(&self, version: &Version) -> bool {
        self.ranges.iter().any(|r| r.affects(version)) || self.versions.contains(version)
    }
}

impl Advisory {
    /// Whether this advisory affects `version` of its crate. A withdrawn
    /// advisory affects nothing. A RustSec advisory affects a version that
    /// matches none of `patched` and none of `unaffected`, with cargo's
    /// semver matching (so a pre-release matches only a requirement that
    /// names a pre-release of the same `major.minor.patch`). An OSV record
    /// affects what its ranges or versions hold.
    pub fn affects(&self, version: &Version) -> bool {
        if self.withdrawn.is_some() {
            return false;
        }
        match &self.osv {
            Some(osv) => osv.affects(version),
            None => {
                !self.patched.iter().any(|r| r.matches(version))
                    && !self.unaffected.iter().any(|r| r.matches(version))
            }
        }
    }

    /// Whether the advisory was withdrawn.
    pub fn is_withdrawn(&self) -> bool {
        self.withdrawn.is_some()
    }

    /// Feeds every field into `hasher`, each length-prefixed, so that two
    /// advisories feed the same bytes only when they are equal.
    pub(crate) fn feed(&self, hasher: &mut Sha256) {
        let mut put = |s: &str| {
            hasher.update((s.len() as u64).to_le_bytes());
            hasher.update(s.as_bytes());
        };
        put(&self.id);
        put(&self.package);
        put(&self.title);
        put(&self.description);
        put(&self.date.to_string());
        put(self.url.as_deref().unwrap_or("\u{0}none"));
        for list in [
            &self.references,
            &self.aliases,
            &self.related,
            &self.categories,
            &self.keywords,
        ] {
            put(&list.len().to_string());
            list.iter().for_each(|s| put(s));
        }
        put(self.cvss.as_deref().unwrap_or("\u{0}none"));
        put(self.kind.as_str());
        put(&self
            .withdrawn
            .map_or("\u{0}none".to_owned(), |d| d.to_string()));
        for reqs in [&self.patched, &self.unaffected] {
            put(&reqs.len().to_string());
            reqs.iter().for_each(|r| put(&r.to_string()));
        }
        match &self.osv {
            None => put("\u{0}none"),
            Some(osv) => {
                put(&osv.ranges.len().to_string());
                for range in &osv.ranges {
                    put(&range.events.len().to_string());
                    for event in &range.events {
                        let tag = match event {
                            OsvEvent::Introduced(_) => "introduced",
                            OsvEvent::Fixed(_) => "fixed",
                            OsvEvent::LastAffected(_) => "last_affected",
                            OsvEvent::Limit(_) => "limit",
                        };
                        put(tag);
                        put(&event.version().to_string());
                    }
                }
                put(&osv.versions.len().to_string());
                osv.versions.iter().for_each(|v| put(&v.to_string()));
            }
        }
    }
}

/// Reads `YYYY-MM-DD`, alone or as the start of an RFC 3339 timestamp
/// (`2021-05-01T12:00:00Z`).
pub(crate) fn parse_date(text: &str) -> Option<Date> {
    let text = text.trim();
    let day = text.get(..10)?;
    let rest = &text[10..];
    if !(rest.is_empty() || rest.starts_with(['T', 't', ' '])) {
        return None;
    }
    let bytes = day.as_bytes();
    if bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let digits = |s: &str| -> Option<u32> {
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse().ok())
            .flatten()
    };
    let year = i32::try_from(digits(&day[..4])?).ok()?;
    let month = u8::try_from(digits(&day[5..7])?).ok()?;
    let dom = u8::try_from(digits(&day[8..10])?).ok()?;
    let month = time::Month::try_from(month).ok()?;
    Date::from_calendar_date(year, month, dom).ok()
}

/// The first paragraph of a Markdown text that is not a heading, its lines
/// joined by spaces, cut to [`MAX_DESCRIPTION_CHARS`] characters.
pub(crate) fn short_description(markdown: &str) -> String {
    let mut paragraph: Vec<&str> = Vec::new();
    for line in markdown.lines().map(str::trim) {
        if line.is_empty() {
            if !paragraph.is_empty() {
                break;
            }
            continue;
        }
        if paragraph.is_empty() && line.starts_with('#') {
            continue;
        }
        paragraph.push(line);
    }
    let joined = paragraph.join(" ");
    match joined.char_indices().nth(MAX_DESCRIPTION_CHARS) {
        None => joined,
        Some((cut, _)) => {
            let mut short = joined[..cut].trim_end().to_owned();
            short.push('…');
            short
        }
    }
}

/// Whether a link may be kept: `http` or `https`, no whitespace.
pub(crate) fn is_web_link(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    fn range(events: Vec<OsvEvent>) -> OsvRange {
        OsvRange { events }
    }

    #[test]
    fn osv_range_walks_events_in_order() {
        let r = range(vec![
            OsvEvent::Introduced(v("0.0.0-0")),
            OsvEvent::Fixed(v("1.2.0")),
            OsvEvent::Introduced(v("1.3.0")),
            OsvEvent::LastAffected(v("1.3.5")),
        ]);
        assert!(r.affects(&v("0.1.0")));
        assert!(r.affects(&v("1.1.9")));
        assert!(!r.affects(&v("1.2.0")));
        assert!(!r.affects(&v("1.2.9")));
        assert!(r.affects(&v("1.3.0")));
        assert!(r.affects(&v("1.3.5")));
        assert!(!r.affects(&v("1.3.6")));
        assert!(!r.affects(&v("2.0.0")));
        // OSV orders pre-releases as semver does: 1.2.0-rc.1 < 1.2.0.
        assert!(r.affects(&v("1.2.0-rc.1")));
    }

    #[test]
    fn osv_limit_and_versions() {
        let osv = OsvAffected {
            ranges: vec![range(vec![
                OsvEvent::Introduced(v("2.0.0")),
                OsvEvent::Limit(v("3.0.0")),
            ])],
            versions: vec![v("0.5.1")],
        };
        assert!(osv.affects(&v("2.9.9")));
        assert!(!osv.affects(&v("3.0.0")));
        assert!(!osv.affects(&v("1.0.0")));
        assert!(osv.affects(&v("0.5.1")));
        assert!(!osv.affects(&v("0.5.2")));
    }

    #[test]
    fn dates_read_alone_or_as_timestamps() {
        let d = parse_date("2021-05-01").unwrap();
        assert_eq!(d.to_string(), "2021-05-01");
        assert_eq!(parse_date("2021-05-01T12:00:00Z"), Some(d));
        for bad in [
            "2021-5-01",
            "2021-02-30",
            "20210501",
            "2021-05-01x",
            "",
            "２０２１-05-01",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn description_is_first_paragraph_cut() {
        let text = "## Impact\n\nFirst line\nsecond line.\n\nSecond paragraph.";
        assert_eq!(short_description(text), "First line second line.");
        let long = "é".repeat(MAX_DESCRIPTION_CHARS + 10);
        let short = short_description(&long);
        assert_eq!(short.chars().count(), MAX_DESCRIPTION_CHARS + 1);
        assert!(short.ends_with('…'));
    }

    #[test]
    fn links_are_web_only() {
        assert!(is_web_link("https://example.org/a"));
        assert!(is_web_link("HTTP://example.org"));
        assert!(!is_web_link("javascript:alert(1)"));
        assert!(!is_web_link("https://exa mple.org"));
        assert!(!is_web_link("ftp://example.org"));
    }
}
