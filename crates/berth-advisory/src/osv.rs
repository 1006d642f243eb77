//! OSV records (one JSON object per file, the Open Source Vulnerability
//! schema): the entries of `affected` for Rust crates (ecosystem
//! [`OSV_ECOSYSTEM`]) become one [`Advisory`]
//! per crate; entries for other ecosystems are left out, and a record with
//! none is skipped. `SEMVER` and `ECOSYSTEM` ranges are read as semver
//! (Rust crate versions are); `GIT` ranges are dropped. The informational kind
//! is read from `database_specific.informational` (as the RustSec export
//! writes it) or `ecosystem_specific.informational`.

use semver::{Version, VersionReq};
use serde::Deserialize;
use serde_json::Value;

use crate::error::ImportError;
use crate::model::{
    is_web_link, parse_date, short_description, Advisory, Kind, OsvAffected, OsvEvent, OsvRange,
};
use crate::rustsec::{check_id, check_package};

/// The OSV `ecosystem` value of Rust crates: a name in the OSV schema's
/// list of ecosystems, compared as data (Berth never contacts it).
pub const OSV_ECOSYSTEM: &str = "crates.io";

#[derive(Deserialize)]
struct Record {
    id: String,
    modified: Option<String>,
    published: Option<String>,
    withdrawn: Option<String>,
    aliases: Option<Vec<String>>,
    related: Option<Vec<String>>,
    summary: Option<String>,
    details: Option<String>,
    affected: Option<Vec<Affected>>,
    references: Option<Vec<Reference>>,
}

#[derive(Deserialize)]
struct Affected {
    package: Option<Package>,
    ranges: Option<Vec<Range>>,
    versions: Option<Vec<String>>,
    database_specific: Option<Value>,
    ecosystem_specific: Option<Value>,
}

#[derive(Deserialize)]
struct Package {
    ecosystem: String,
    name: String,
}

#[derive(Deserialize)]
struct Range {
    #[serde(rename = "type")]
    kind: String,
    events: Vec<Event>,
}

#[derive(Deserialize)]
struct Event {
    introduced: Option<String>,
    fixed: Option<String>,
    last_affected: Option<String>,
    limit: Option<String>,
}

#[derive(Deserialize)]
struct Reference {
    #[serde(rename = "type")]
    kind: Option<String>,
    url: Option<String>,
}

/// Reads one OSV record: one advisory per Rust crate it names, in the
/// order the record first names them (none for another ecosystem).
pub(crate) fn parse(path: &str, bytes: &[u8]) -> Result<Vec<Advisory>, ImportError> {
    let record: Record = serde_json::from_slice(bytes)
        .map_err(|e| ImportError::malformed(path, format!("invalid OSV JSON: {e}")))?;
    let id = record.id.trim().to_owned();
    check_id(path, &id)?;

    // Group the Rust crates' entries by crate, first-seen order.
    let mut crates: Vec<(String, Vec<&Affected>)> = Vec::new();
    for entry in record.affected.iter().flatten() {
        let Some(package) = &entry.package else {
            continue;
        };
        if package.ecosystem != OSV_ECOSYSTEM {
            continue;
        }
        let name = package.name.trim();
        check_package(path, name)?;
        let canon = berth_protocol::canonical_name(name);
        match crates
            .iter_mut()
            .find(|(n, _)| berth_protocol::canonical_name(n) == canon)
        {
            Some((_, entries)) => entries.push(entry),
            None => crates.push((name.to_owned(), vec![entry])),
        }
    }
    if crates.is_empty() {
        return Ok(Vec::new());
    }

    let date_text = record
        .published
        .as_deref()
        .or(record.modified.as_deref())
        .ok_or_else(|| ImportError::malformed(path, "no `published` or `modified` date"))?;
    let date = parse_date(date_text).ok_or_else(|| {
        ImportError::malformed(path, format!("`published` is not a date: {date_text}"))
    })?;
    let withdrawn = match record.withdrawn.as_deref() {
        None => None,
        Some(w) => Some(parse_date(w).ok_or_else(|| {
            ImportError::malformed(path, format!("`withdrawn` is not a date: {w}"))
        })?),
    };
    let details = record.details.as_deref().unwrap_or("");
    let title = match record.summary.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => match details.lines().map(str::trim).find(|l| !l.is_empty()) {
            Some(line) => line.trim_start_matches('#').trim().to_owned(),
            None => id.clone(),
        },
    };
    let references: Vec<(Option<String>, String)> = record
        .references
        .iter()
        .flatten()
        .filter_map(|r| Some((r.kind.clone(), r.url.clone()?)))
        .filter(|(_, u)| is_web_link(u))
        .collect();
    // The long-form link: the first ADVISORY reference, else the first one
    // that is not the package's own page.
    let url = references
        .iter()
        .find(|(k, _)| k.as_deref() == Some("ADVISORY"))
        .or_else(|| {
            references
                .iter()
                .find(|(k, _)| k.as_deref() != Some("PACKAGE"))
        })
        .map(|(_, u)| u.clone());

    let mut advisories = Vec::with_capacity(crates.len());
    for (package, entries) in crates {
        let mut osv = OsvAffected::default();
        for entry in &entries {
            for range in entry.ranges.iter().flatten() {
                if range.kind == "SEMVER" || range.kind == "ECOSYSTEM" {
                    osv.ranges.push(read_range(path, range)?);
                }
            }
            for v in entry.versions.iter().flatten() {
                osv.versions.push(version(path, v)?);
            }
        }
        let (patched, unaffected) = display_requirements(&osv);
        let specific = |key: &str| {
            entries.iter().find_map(|e| {
                [&e.database_specific, &e.ecosystem_specific]
                    .into_iter()
                    .flatten()
                    .find_map(|v| v.get(key).filter(|v| !v.is_null()).cloned())
            })
        };
        let kind =
            Kind::from_informational(specific("informational").as_ref().and_then(|v| v.as_str()));
        let categories = specific("categories")
            .and_then(|v| serde_json::from_value::<Vec<String>>(v).ok())
            .unwrap_or_default();
        let cvss = specific("cvss").and_then(|v| v.as_str().map(str::to_owned));
        advisories.push(Advisory {
            id: id.clone(),
            package,
            title: title.clone(),
            description: short_description(details),
            date,
            url: url.clone(),
            references: references.iter().map(|(_, u)| u.clone()).collect(),
            aliases: record.aliases.clone().unwrap_or_default(),
            related: record.related.clone().unwrap_or_default(),
            categories,
            keywords: Vec::new(),
            cvss,
            kind,
            withdrawn,
            patched,
            unaffected,
            osv: Some(osv),
        });
    }
    Ok(advisories)
}

fn version(path: &str, text: &str) -> Result<Version, ImportError> {
    Version::parse(text.trim())
        .map_err(|e| ImportError::malformed(path, format!("invalid version `{text}`: {e}")))
}

/// One range's events, each with exactly one key, sorted by version
/// (stable: events at one version keep their order).
fn read_range(path: &str, range: &Range) -> Result<OsvRange, ImportError> {
    let mut events = Vec::with_capacity(range.events.len());
    for event in &range.events {
        let fields = (
            &event.introduced,
            &event.fixed,
            &event.last_affected,
            &event.limit,
        );
        let e = match fields {
            (Some(v), None, None, None) if v.trim() == "0" => {
                OsvEvent::Introduced(version(path, "0.0.0-0")?)
            }
            (Some(v), None, None, None) => OsvEvent::Introduced(version(path, v)?),
            (None, Some(v), None, None) => OsvEvent::Fixed(version(path, v)?),
            (None, None, Some(v), None) => OsvEvent::LastAffected(version(path, v)?),
            (None, None, None, Some(v)) => OsvEvent::Limit(version(path, v)?),
            _ => {
                return Err(ImportError::malformed(
                    path,
                    "an OSV range event must have exactly one of introduced, fixed, \
                     last_affected, limit",
                ))
            }
        };
        events.push(e);
    }
    events.sort_by(|a, b| a.version().cmp(b.version()));
    Ok(OsvRange { events })
}

/// The `patched` and `unaffected` requirements a reader expects to see,
/// derived from each range: below its first `introduced` is unaffected,
/// from a `fixed` (after a `last_affected`) up to the next `introduced` is
/// patched. Display only: [`OsvAffected::affects`] is the test.
fn display_requirements(osv: &OsvAffected) -> (Vec<VersionReq>, Vec<VersionReq>) {
    let mut patched = Vec::new();
    let mut unaffected = Vec::new();
    for range in &osv.ranges {
        let mut affected = false;
        let mut started = false;
        let mut since: Option<String> = None;
        for event in &range.events {
            match event {
                OsvEvent::Introduced(v) if !affected => {
                    match since.take() {
                        Some(low) => push_req(&mut patched, &format!("{low}, < {v}")),
                        None if !started && !is_lowest(v) => {
                            push_req(&mut unaffected, &format!("< {v}"))
                        }
                        None => {}
                    }
                    affected = true;
                    started = true;
                }
                OsvEvent::Fixed(v) | OsvEvent::Limit(v) if affected => {
                    since = Some(format!(">= {v}"));
                    affected = false;
                }
                OsvEvent::LastAffected(v) if affected => {
                    since = Some(format!("> {v}"));
                    affected = false;
                }
                _ => {}
            }
        }
        if let Some(low) = since {
            push_req(&mut patched, &low);
        }
    }
    (patched, unaffected)
}

/// `0.0.0-0`, the version below every other (what `introduced: "0"` reads as).
fn is_lowest(v: &Version) -> bool {
    (v.major, v.minor, v.patch) == (0, 0, 0) && v.pre.as_str() == "0"
}

fn push_req(into: &mut Vec<VersionReq>, text: &str) {
    if let Ok(req) = VersionReq::parse(text) {
        into.push(req);
    }
}
