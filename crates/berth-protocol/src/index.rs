//! Sparse-index paths and index lines.
//!
//! An index line is the JSON object cargo reads for one version. Its field
//! order and the omission rules follow the public registry so that a line
//! written by Berth is byte-for-byte what cargo and other tools expect.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Feature map: feature name to the list of features/dependencies it enables.
pub type FeatureMap = BTreeMap<String, Vec<String>>;

/// The index file path for a crate, by cargo's rules, from its lowercased name:
/// `1/a`, `2/ab`, `3/a/abc`, `ab/cd/abcd...`.
pub fn index_path(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    // By characters, so that any string is safe; for the ASCII names a
    // registry accepts this is cargo's byte rule.
    let head = |n: usize| name.chars().take(n).collect::<String>();
    match name.chars().count() {
        0 => String::new(),
        1 => format!("1/{name}"),
        2 => format!("2/{name}"),
        3 => format!("3/{}/{name}", head(1)),
        _ => format!(
            "{}/{}/{name}",
            head(2),
            name.chars().skip(2).take(2).collect::<String>()
        ),
    }
}

/// The crate name an index request path asks for, if the path is exactly the
/// one cargo's rules give for that name (so `ab/zz/abcd` is not `abcd`). The
/// returned name is lowercased. Names must already be ASCII to match.
pub fn crate_from_index_path(path: &str) -> Option<String> {
    let path = path.trim_start_matches('/').as_bytes();
    if path.len() > 3 * 64 || !path.is_ascii() {
        return None;
    }
    // On every index request: compared in place, without building the
    // expected path.
    let name = path.rsplit(|&b| b == b'/').next()?;
    let prefix = &path[..path.len() - name.len()];
    let same = |a: &[u8], b: &[u8]| a.eq_ignore_ascii_case(b);
    let ok = match name.len() {
        0 => false,
        1 => prefix == b"1/",
        2 => prefix == b"2/",
        3 => {
            prefix.len() == 4
                && prefix.starts_with(b"3/")
                && same(&prefix[2..3], &name[..1])
                && prefix[3] == b'/'
        }
        _ => {
            prefix.len() == 6
                && same(&prefix[..2], &name[..2])
                && prefix[2] == b'/'
                && same(&prefix[3..5], &name[2..4])
                && prefix[5] == b'/'
        }
    };
    // ASCII, checked above.
    ok.then(|| String::from_utf8_lossy(name).to_ascii_lowercase())
}

/// Kind of a dependency, as the index spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DependencyKind {
    Normal,
    Build,
    Dev,
}

impl DependencyKind {
    /// The word the index and cargo use.
    pub fn as_str(self) -> &'static str {
        match self {
            DependencyKind::Normal => "normal",
            DependencyKind::Build => "build",
            DependencyKind::Dev => "dev",
        }
    }
}

/// One dependency in an index line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDependency {
    /// The name used in `Cargo.toml` (the rename, when there is one).
    pub name: String,
    pub req: String,
    pub features: Vec<String>,
    pub optional: bool,
    pub default_features: bool,
    pub target: Option<String>,
    pub kind: DependencyKind,
    /// The index URL of another registry; absent means this registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// The real crate name when `name` is a rename.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
}

impl IndexDependency {
    /// Sort key: by name, normal dependencies before others of the same name
    /// (old cargo versions misread duplicate names in another order).
    fn sort_key(&self) -> impl Ord + '_ {
        (
            &self.name,
            self.kind,
            &self.req,
            self.optional,
            self.default_features,
            &self.target,
            &self.package,
            &self.features,
        )
    }
}

/// One line of an index file: one published version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub name: String,
    pub vers: String,
    pub deps: Vec<IndexDependency>,
    pub cksum: String,
    pub features: FeatureMap,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features2: Option<FeatureMap>,
    pub yanked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rust_version: Option<String>,
    /// Publication time, RFC 3339 in UTC with seconds precision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pubtime: Option<String>,
    /// Schema version: 2 when `features2` is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
}

/// The few fields of an index line that a mirror needs, read from lines it
/// passes through untouched (other fields are ignored, so lines from newer
/// registries still read).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LineSummary {
    pub name: String,
    pub vers: String,
    pub cksum: String,
    #[serde(default)]
    pub yanked: bool,
}

impl LineSummary {
    /// Reads every line of an index file; `Err` names the first line that
    /// is not an index entry (an upstream answering garbage).
    pub fn read_file(body: &str) -> Result<Vec<LineSummary>, String> {
        Self::lines(body).collect()
    }

    /// Reads the lines of an index file one at a time, without holding
    /// them all (for large upstream files); each `Err` names its line.
    pub fn lines(body: &str) -> impl Iterator<Item = Result<LineSummary, String>> + '_ {
        body.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                let s: LineSummary = serde_json::from_str(l)
                    .map_err(|e| format!("line {} is not an index entry: {e}", i + 1))?;
                let hex_ok = s.cksum.len() == 64
                    && s.cksum
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                if !hex_ok {
                    return Err(format!("line {} has an invalid checksum", i + 1));
                }
                Ok(s)
            })
    }
}

impl IndexEntry {
    /// The line as stored and served (without the trailing newline).
    pub fn to_line(&self) -> String {
        // Serializing plain strings, bools and maps cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a stored line.
    pub fn from_line(line: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(line)
    }
}

/// Sorts dependencies into the index's canonical order.
pub fn sort_dependencies(deps: &mut [IndexDependency]) {
    deps.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
}

/// Splits features into those old cargo can read (`features`) and those that
/// use the newer syntax (`dep:` or `?/`), together with every feature that
/// enables one of them, transitively (`features2`).
pub fn split_features(all: FeatureMap) -> (FeatureMap, FeatureMap) {
    fn new_syntax(v: &str) -> bool {
        v.starts_with("dep:") || v.contains("?/")
    }
    let (mut plain, mut extended): (FeatureMap, FeatureMap) = all
        .into_iter()
        .partition(|(_, vals)| !vals.iter().any(|v| new_syntax(v)));
    // Each round moves at least one feature, so this ends after at most
    // `plain.len()` rounds.
    loop {
        let (keep, moved): (FeatureMap, FeatureMap) = plain
            .into_iter()
            .partition(|(_, vals)| !vals.iter().any(|v| extended.contains_key(v)));
        plain = keep;
        if moved.is_empty() {
            break;
        }
        extended.extend(moved);
    }
    (plain, extended)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_cargo_rules() {
        assert_eq!(index_path("a"), "1/a");
        assert_eq!(index_path("ab"), "2/ab");
        assert_eq!(index_path("abc"), "3/a/abc");
        assert_eq!(index_path("Serde"), "se/rd/serde");
        assert_eq!(index_path("foo-bar"), "fo/o-/foo-bar");
        // Never panics, whatever the input.
        assert_eq!(index_path("aébc"), "aé/bc/aébc");
        assert_eq!(index_path("éé"), "2/éé");
    }

    /// The in-place check agrees with its definition: the path is the one
    /// `index_path` gives for its last segment, case aside.
    #[test]
    fn request_path_check_matches_its_definition() {
        let reference = |path: &str| {
            let path = path.trim_start_matches('/');
            let name = path.rsplit('/').next()?.to_ascii_lowercase();
            (path.len() <= 3 * 64
                && path.is_ascii()
                && !name.is_empty()
                && index_path(&name) == path.to_ascii_lowercase())
            .then_some(name)
        };
        let alphabet = [
            "", "/", "a", "B", "1", "-", "ab", "/x", "3", "2", "1/", "é", "a/", "ab/", "AB/", "cd/",
        ];
        let (mut checked, mut accepted) = (0, 0);
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    for d in ["a", "ab", "abc", "abcd", "Abcde", "x/y"] {
                        let path = format!("{a}{b}{c}{d}");
                        let found = crate_from_index_path(&path);
                        assert_eq!(found, reference(&path), "{path:?}");
                        checked += 1;
                        accepted += usize::from(found.is_some());
                    }
                }
            }
        }
        for name in ["a", "ab", "abc", "abcd", "Serde", "foo-bar", "x_y-z"] {
            let path = index_path(name);
            assert_eq!(crate_from_index_path(&path), reference(&path));
            assert_eq!(
                crate_from_index_path(&path),
                Some(name.to_ascii_lowercase())
            );
        }
        assert!(
            checked > 20_000 && accepted > 50,
            "{checked} paths, {accepted} accepted"
        );
    }

    #[test]
    fn request_paths_map_back_to_names() {
        assert_eq!(
            crate_from_index_path("se/rd/serde").as_deref(),
            Some("serde")
        );
        assert_eq!(crate_from_index_path("3/a/abc").as_deref(), Some("abc"));
        assert_eq!(crate_from_index_path("1/a").as_deref(), Some("a"));
        assert_eq!(
            crate_from_index_path("SE/RD/Serde").as_deref(),
            Some("serde")
        );
        assert_eq!(crate_from_index_path("xx/rd/serde"), None);
        assert_eq!(crate_from_index_path("3/b/abc"), None);
        assert_eq!(crate_from_index_path("se/rd/../serde"), None);
        assert_eq!(crate_from_index_path(""), None);
        assert_eq!(crate_from_index_path("config.json"), None);
    }

    #[test]
    fn features_split_transitively() {
        let mut f = FeatureMap::new();
        f.insert("a".into(), vec!["b".into()]);
        f.insert("b".into(), vec!["dep:x".into()]);
        f.insert("c".into(), vec!["y?/z".into()]);
        f.insert("d".into(), vec![]);
        f.insert("e".into(), vec!["a".into()]);
        let (plain, ext) = split_features(f);
        assert_eq!(plain.keys().collect::<Vec<_>>(), ["d"]);
        assert_eq!(ext.keys().collect::<Vec<_>>(), ["a", "b", "c", "e"]);
    }

    #[test]
    fn line_round_trips_and_omits_absent_fields() {
        let e = IndexEntry {
            name: "foo".into(),
            vers: "1.2.3".into(),
            deps: vec![],
            cksum: "00".into(),
            features: FeatureMap::new(),
            features2: None,
            yanked: false,
            links: None,
            rust_version: None,
            pubtime: Some("2026-01-02T03:04:05Z".into()),
            v: None,
        };
        let line = e.to_line();
        insta::assert_snapshot!(line, @r#"{"name":"foo","vers":"1.2.3","deps":[],"cksum":"00","features":{},"yanked":false,"pubtime":"2026-01-02T03:04:05Z"}"#);
        assert_eq!(IndexEntry::from_line(&line).unwrap(), e);
    }
}
