//! Which packages of a `Cargo.lock` `berth verify` checks: those whose
//! `source` is the registry's index (or a source it replaces, `--source`)
//! and that have a `checksum`; the rest are listed as skipped, with why.
//! Pure: the lockfile's text in, the list out.

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::index::IndexUrl;

/// Largest lockfile read.
pub const MAX_LOCKFILE_BYTES: u64 = 16 << 20;
/// Most packages in one lockfile.
pub const MAX_PACKAGES: usize = 50_000;

/// One locked package to check: the version cargo resolved and the
/// `.crate` checksum it will insist on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub name: String,
    pub version: String,
    /// SHA-256 of the `.crate` file, lowercase hex.
    pub sha256: String,
}

/// A locked package left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub name: String,
    pub version: String,
    pub source: Option<String>,
    pub why: String,
}

/// What a lockfile holds for this registry.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Locked {
    pub wanted: Vec<Wanted>,
    pub skipped: Vec<Skipped>,
}

#[derive(Deserialize)]
struct Lockfile {
    #[serde(default)]
    package: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    checksum: Option<String>,
}

/// Sorts the packages of `text` (a `Cargo.lock`) into those to check
/// against `index` (or the sources in `also`) and those skipped.
pub fn read(text: &str, index: &IndexUrl, also: &[String]) -> Result<Locked> {
    let lock: Lockfile = toml::from_str(text).context("not a Cargo.lock")?;
    if lock.package.len() > MAX_PACKAGES {
        bail!(
            "the lockfile has {} packages; at most {MAX_PACKAGES} are checked",
            lock.package.len()
        );
    }
    let mut out = Locked::default();
    for p in lock.package {
        let skip = |why: String| Skipped {
            name: p.name.clone(),
            version: p.version.clone(),
            source: p.source.clone(),
            why,
        };
        match (&p.source, &p.checksum) {
            (None, _) => out.skipped.push(skip("a path package (no source)".into())),
            (Some(source), _) if !index.matches_source(source, also) => {
                let kind = source.split_once('+').map_or("another", |(k, _)| k);
                out.skipped
                    .push(skip(format!("from another source ({kind})")));
            }
            (Some(_), None) => out.skipped.push(skip("no checksum in the lockfile".into())),
            (Some(_), Some(sum)) => out.wanted.push(Wanted {
                name: p.name.clone(),
                version: p.version.clone(),
                sha256: sum.clone(),
            }),
        }
    }
    Ok(out)
}

/// The distinct sources of the skipped packages with how many each has,
/// for "no package matched" (what the user may have meant).
pub fn sources_present(skipped: &[Skipped]) -> Vec<(String, usize)> {
    let mut counts = std::collections::BTreeMap::new();
    for s in skipped {
        if let Some(source) = &s.source {
            *counts.entry(source.clone()).or_insert(0) += 1;
        }
    }
    counts.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
version = 4

[[package]]
name = "app"
version = "0.1.0"
dependencies = ["bar", "foo"]

[[package]]
name = "bar"
version = "1.0.0"
source = "sparse+http://127.0.0.1:7878/r/main/index/"
checksum = "aa00000000000000000000000000000000000000000000000000000000000000"

[[package]]
name = "foo"
version = "2.0.0-rc.1"
source = "sparse+http://127.0.0.1:7878/r/main/index/"
checksum = "bb00000000000000000000000000000000000000000000000000000000000000"

[[package]]
name = "other"
version = "1.0.0"
source = "sparse+http://other.test/index/"
checksum = "cc00000000000000000000000000000000000000000000000000000000000000"

[[package]]
name = "nosum"
version = "1.0.0"
source = "sparse+http://127.0.0.1:7878/r/main/index/"

[[package]]
name = "gitdep"
version = "0.3.0"
source = "git+http://git.test/x#0123456789abcdef"
"#;

    fn index() -> IndexUrl {
        IndexUrl::parse("sparse+http://127.0.0.1:7878/r/main/index").unwrap()
    }

    #[test]
    fn packages_of_the_index_with_a_checksum_are_checked() {
        let locked = read(LOCK, &index(), &[]).unwrap();
        let wanted: Vec<_> = locked
            .wanted
            .iter()
            .map(|w| format!("{} {} {}", w.name, w.version, &w.sha256[..2]))
            .collect();
        assert_eq!(wanted, ["bar 1.0.0 aa", "foo 2.0.0-rc.1 bb"]);
        let skipped: Vec<_> = locked
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.name, s.why))
            .collect();
        assert_eq!(
            skipped,
            [
                "app: a path package (no source)",
                "other: from another source (sparse)",
                "nosum: no checksum in the lockfile",
                "gitdep: from another source (git)",
            ]
        );
        assert_eq!(
            sources_present(&locked.skipped),
            [
                ("git+http://git.test/x#0123456789abcdef".to_string(), 1),
                ("sparse+http://127.0.0.1:7878/r/main/index/".to_string(), 1),
                ("sparse+http://other.test/index/".to_string(), 1),
            ]
        );
    }

    #[test]
    fn a_replaced_source_counts_as_the_index() {
        let also = vec!["sparse+http://other.test/index".to_string()];
        let locked = read(LOCK, &index(), &also).unwrap();
        assert!(locked.wanted.iter().any(|w| w.name == "other"));
        assert_eq!(locked.wanted.len(), 3);
    }

    #[test]
    fn a_file_that_is_not_a_lockfile_is_refused() {
        let e = format!(
            "{:#}",
            read("[[package]]\nname = 1\n", &index(), &[]).unwrap_err()
        );
        assert!(e.starts_with("not a Cargo.lock"), "{e}");
    }
}
