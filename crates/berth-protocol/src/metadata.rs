//! Publish metadata (the JSON cargo sends with `cargo publish`), its
//! validation, and the index line derived from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::index::{
    sort_dependencies, split_features, DependencyKind, IndexDependency, IndexEntry,
};
use crate::names::{canonical_name, validate_crate_name, NameError};
use crate::version::{canonical_version, validate_version, VersionError};

/// How much one version may declare. The defaults sit well above the
/// largest crates of the public registry (`web-sys`: 1,727 features in one
/// version; `windows-sys`: 278; `reqwest`: 64 dependencies), so that every
/// real crate publishes, and stop only declarations no real crate makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataLimits {
    /// Most dependencies a version may declare.
    pub max_dependencies: usize,
    /// Most features a version may declare.
    pub max_features: usize,
    /// Most entries one feature may enable.
    pub max_feature_values: usize,
}

impl Default for MetadataLimits {
    fn default() -> Self {
        Self {
            max_dependencies: 2_000,
            max_features: 10_000,
            max_feature_values: 5_000,
        }
    }
}
/// Most keywords, and their longest length (the public registry's rules).
pub const MAX_KEYWORDS: usize = 5;
pub const MAX_KEYWORD_LEN: usize = 20;
/// Longest free-text field kept (description, URLs, license...).
pub const MAX_TEXT_LEN: usize = 10_000;

/// A dependency as cargo sends it in publish metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishDependency {
    /// The real crate name.
    pub name: String,
    pub version_req: String,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub optional: bool,
    #[serde(default = "yes")]
    pub default_features: bool,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default = "normal")]
    pub kind: DependencyKind,
    /// Index URL of another registry; `None` is the registry published to.
    #[serde(default)]
    pub registry: Option<String>,
    /// The name used in Cargo.toml when the dependency is renamed.
    #[serde(default)]
    pub explicit_name_in_toml: Option<String>,
}

fn yes() -> bool {
    true
}
fn normal() -> DependencyKind {
    DependencyKind::Normal
}

/// The metadata half of a publish request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishMetadata {
    pub name: String,
    pub vers: String,
    #[serde(default)]
    pub deps: Vec<PublishDependency>,
    #[serde(default)]
    pub features: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub documentation: Option<String>,
    #[serde(default)]
    pub homepage: Option<String>,
    #[serde(default)]
    pub readme: Option<String>,
    #[serde(default)]
    pub readme_file: Option<String>,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub license: Option<String>,
    #[serde(default)]
    pub license_file: Option<String>,
    #[serde(default)]
    pub repository: Option<String>,
    #[serde(default)]
    pub badges: serde_json::Value,
    #[serde(default)]
    pub links: Option<String>,
    #[serde(default)]
    pub rust_version: Option<String>,
}

impl PublishMetadata {
    /// Metadata that says nothing but the name and version (what a page
    /// shows of a version whose stored metadata cannot be read).
    pub fn bare(name: &str, vers: &str) -> Self {
        PublishMetadata {
            name: name.to_string(),
            vers: vers.to_string(),
            deps: Vec::new(),
            features: BTreeMap::new(),
            authors: Vec::new(),
            description: None,
            documentation: None,
            homepage: None,
            readme: None,
            readme_file: None,
            keywords: Vec::new(),
            categories: Vec::new(),
            license: None,
            license_file: None,
            repository: None,
            badges: serde_json::Value::Null,
            links: None,
            rust_version: None,
        }
    }
}

/// Why publish metadata was refused. Messages are shown by cargo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("invalid publish metadata: {0}")]
    Json(String),
    #[error(transparent)]
    Name(#[from] NameError),
    #[error(transparent)]
    Version(#[from] VersionError),
    #[error("invalid dependency name `{name}`: {source}")]
    DependencyName { name: String, source: NameError },
    #[error("dependency `{name}` has an invalid version requirement `{req}`: {reason}")]
    DependencyReq {
        name: String,
        req: String,
        reason: String,
    },
    #[error(
        "wildcard (`*`) dependency constraints are not allowed; give `{0}` a version requirement"
    )]
    WildcardDependency(String),
    #[error("too many {what}: {count}, at most {max} are allowed")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
    #[error("invalid keyword `{0}`: keywords are at most {MAX_KEYWORD_LEN} ASCII letters, digits, `_`, `-` or `+`, starting with a letter or digit")]
    Keyword(String),
    #[error("the `{0}` field is too long")]
    FieldTooLong(&'static str),
    #[error("invalid feature name `{0}`")]
    FeatureName(String),
    #[error("invalid `rust-version` `{0}`: expected a version such as `1`, `1.70` or `1.70.0`")]
    RustVersion(String),
    #[error("invalid `links` value `{0}`")]
    Links(String),
}

/// Metadata that passed validation, with the parsed forms services need.
#[derive(Debug, Clone)]
pub struct ValidatedPublish {
    pub meta: PublishMetadata,
    pub version: semver::Version,
    pub canon_name: String,
    pub canon_vers: String,
}

impl PublishMetadata {
    /// Parses the metadata JSON. serde_json bounds nesting depth.
    pub fn from_json(bytes: &[u8]) -> Result<Self, MetadataError> {
        // serde would also read a struct from a JSON array, by position.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(MetadataError::Json("expected a JSON object".into()));
        }
        serde_json::from_slice(bytes).map_err(|e| MetadataError::Json(e.to_string()))
    }

    /// Checks every rule that can be checked without the registry's state,
    /// with the default [`MetadataLimits`].
    pub fn validate(self) -> Result<ValidatedPublish, MetadataError> {
        self.validate_with(&MetadataLimits::default())
    }

    /// Checks every rule that can be checked without the registry's state.
    pub fn validate_with(self, limits: &MetadataLimits) -> Result<ValidatedPublish, MetadataError> {
        validate_crate_name(&self.name)?;
        let version = validate_version(&self.vers)?;
        if self.deps.len() > limits.max_dependencies {
            return Err(MetadataError::TooMany {
                what: "dependencies",
                count: self.deps.len(),
                max: limits.max_dependencies,
            });
        }
        for dep in &self.deps {
            validate_dependency(dep, limits)?;
        }
        if self.features.len() > limits.max_features {
            return Err(MetadataError::TooMany {
                what: "features",
                count: self.features.len(),
                max: limits.max_features,
            });
        }
        for (name, values) in &self.features {
            if !valid_feature_name(name) {
                return Err(MetadataError::FeatureName(name.clone()));
            }
            if values.len() > limits.max_feature_values {
                return Err(MetadataError::TooMany {
                    what: "values in one feature",
                    count: values.len(),
                    max: limits.max_feature_values,
                });
            }
            if let Some(v) = values.iter().find(|v| v.len() > 200 || v.is_empty()) {
                return Err(MetadataError::FeatureName(v.clone()));
            }
        }
        if self.keywords.len() > MAX_KEYWORDS {
            return Err(MetadataError::TooMany {
                what: "keywords",
                count: self.keywords.len(),
                max: MAX_KEYWORDS,
            });
        }
        if let Some(k) = self.keywords.iter().find(|k| !valid_keyword(k)) {
            return Err(MetadataError::Keyword(k.clone()));
        }
        if let Some(c) = self.categories.iter().find(|c| c.len() > 100) {
            return Err(MetadataError::Keyword(c.clone()));
        }
        if self.badges.to_string().len() > MAX_TEXT_LEN {
            return Err(MetadataError::FieldTooLong("badges"));
        }
        if self.categories.len() > MAX_KEYWORDS {
            return Err(MetadataError::TooMany {
                what: "categories",
                count: self.categories.len(),
                max: MAX_KEYWORDS,
            });
        }
        for (field, value) in [
            ("description", &self.description),
            ("documentation", &self.documentation),
            ("homepage", &self.homepage),
            ("license", &self.license),
            ("license-file", &self.license_file),
            ("repository", &self.repository),
            ("readme-file", &self.readme_file),
        ] {
            if value.as_ref().is_some_and(|v| v.len() > MAX_TEXT_LEN) {
                return Err(MetadataError::FieldTooLong(field));
            }
        }
        if self.authors.iter().map(String::len).sum::<usize>() > MAX_TEXT_LEN {
            return Err(MetadataError::FieldTooLong("authors"));
        }
        if let Some(rv) = &self.rust_version {
            if !valid_rust_version(rv) {
                return Err(MetadataError::RustVersion(rv.clone()));
            }
        }
        if let Some(links) = &self.links {
            let ok = !links.is_empty()
                && links.len() <= 64
                && links
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return Err(MetadataError::Links(links.clone()));
            }
        }
        let canon_name = canonical_name(&self.name);
        let canon_vers = canonical_version(&version);
        Ok(ValidatedPublish {
            meta: self,
            version,
            canon_name,
            canon_vers,
        })
    }
}

fn validate_dependency(
    dep: &PublishDependency,
    limits: &MetadataLimits,
) -> Result<(), MetadataError> {
    // Crates from other registries follow that registry's rules, but names
    // must still be plain identifiers to be safe in paths and lines.
    validate_crate_name(&dep.name).or_else(|e| match e {
        NameError::Reserved(_) if dep.registry.is_some() => Ok(()),
        e => Err(MetadataError::DependencyName {
            name: dep.name.clone(),
            source: e,
        }),
    })?;
    if let Some(rename) = &dep.explicit_name_in_toml {
        validate_crate_name(rename).or_else(|e| match e {
            NameError::Reserved(_) => Ok(()),
            e => Err(MetadataError::DependencyName {
                name: rename.clone(),
                source: e,
            }),
        })?;
    }
    if dep.version_req.len() > 1_000 {
        return Err(MetadataError::FieldTooLong("version_req"));
    }
    let req =
        semver::VersionReq::parse(&dep.version_req).map_err(|e| MetadataError::DependencyReq {
            name: dep.name.clone(),
            req: dep.version_req.clone(),
            reason: e.to_string(),
        })?;
    if req.comparators.is_empty() {
        return Err(MetadataError::WildcardDependency(dep.name.clone()));
    }
    if dep.features.len() > limits.max_feature_values {
        return Err(MetadataError::TooMany {
            what: "features on one dependency",
            count: dep.features.len(),
            max: limits.max_feature_values,
        });
    }
    for text in dep
        .target
        .iter()
        .chain(dep.registry.iter())
        .chain(dep.features.iter())
    {
        if text.len() > 1_000 {
            return Err(MetadataError::FieldTooLong("dependency"));
        }
    }
    Ok(())
}

fn valid_feature_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    name.len() <= 200
        && (first.is_alphanumeric() || first == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '+' | '.'))
}

fn valid_keyword(k: &str) -> bool {
    let mut chars = k.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    k.len() <= MAX_KEYWORD_LEN
        && first.is_ascii_alphanumeric()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
}

fn valid_rust_version(rv: &str) -> bool {
    let parts: Vec<&str> = rv.split('.').collect();
    (1..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

impl ValidatedPublish {
    /// The index line for this version. `cksum` is the sha256 of the `.crate`
    /// bytes; `pubtime` is RFC 3339 UTC with seconds precision.
    pub fn index_entry(&self, cksum: &str, pubtime: &str) -> IndexEntry {
        let mut deps: Vec<IndexDependency> = self
            .meta
            .deps
            .iter()
            .map(|d| {
                let (name, package) = match &d.explicit_name_in_toml {
                    Some(rename) => (rename.clone(), Some(d.name.clone())),
                    None => (d.name.clone(), None),
                };
                IndexDependency {
                    name,
                    req: d.version_req.clone(),
                    features: d.features.clone(),
                    optional: d.optional,
                    default_features: d.default_features,
                    target: d.target.clone(),
                    kind: d.kind,
                    registry: d.registry.clone(),
                    package,
                }
            })
            .collect();
        sort_dependencies(&mut deps);
        let (features, features2) = split_features(self.meta.features.clone());
        let (features2, v) = if features2.is_empty() {
            (None, None)
        } else {
            (Some(features2), Some(2))
        };
        IndexEntry {
            name: self.meta.name.clone(),
            vers: self.meta.vers.clone(),
            deps,
            cksum: cksum.to_string(),
            features,
            features2,
            yanked: false,
            links: self.meta.links.clone(),
            rust_version: self.meta.rust_version.clone(),
            pubtime: Some(pubtime.to_string()),
            v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(json: serde_json::Value) -> Result<ValidatedPublish, MetadataError> {
        PublishMetadata::from_json(json.to_string().as_bytes())?.validate()
    }

    #[test]
    fn derives_an_index_line() {
        let v = meta(serde_json::json!({
            "name": "Foo-Bar", "vers": "1.0.0+build",
            "deps": [
                {"name": "zed", "version_req": "^1", "features": ["x"], "optional": true,
                 "default_features": false, "target": "cfg(unix)", "kind": "normal",
                 "registry": null, "explicit_name_in_toml": "z"},
                {"name": "abc", "version_req": "^0.1", "features": [], "optional": false,
                 "default_features": true, "target": null, "kind": "dev", "registry": "sparse+http://other/index/"},
                {"name": "abc", "version_req": "^0.1", "features": [], "optional": false,
                 "default_features": true, "target": null, "kind": "build", "registry": null}
            ],
            "features": {"default": ["std"], "std": [], "serde": ["dep:zed"], "weak": ["abc?/x"], "all": ["serde"]},
            "links": "foo", "rust_version": "1.70"
        }))
        .unwrap();
        assert_eq!(v.canon_name, "foo_bar");
        assert_eq!(v.canon_vers, "1.0.0");
        let line = v.index_entry("abcd", "2026-01-02T03:04:05Z").to_line();
        insta::assert_snapshot!(line, @r#"{"name":"Foo-Bar","vers":"1.0.0+build","deps":[{"name":"abc","req":"^0.1","features":[],"optional":false,"default_features":true,"target":null,"kind":"build"},{"name":"abc","req":"^0.1","features":[],"optional":false,"default_features":true,"target":null,"kind":"dev","registry":"sparse+http://other/index/"},{"name":"z","req":"^1","features":["x"],"optional":true,"default_features":false,"target":"cfg(unix)","kind":"normal","package":"zed"}],"cksum":"abcd","features":{"default":["std"],"std":[]},"features2":{"all":["serde"],"serde":["dep:zed"],"weak":["abc?/x"]},"yanked":false,"links":"foo","rust_version":"1.70","pubtime":"2026-01-02T03:04:05Z","v":2}"#);
    }

    #[test]
    fn refuses_wildcards_and_bad_fields() {
        let base = |deps: serde_json::Value| {
            meta(serde_json::json!({"name": "foo", "vers": "1.0.0", "deps": deps}))
        };
        assert!(matches!(
            base(serde_json::json!([{"name": "bar", "version_req": "*"}])),
            Err(MetadataError::WildcardDependency(_))
        ));
        assert!(matches!(
            base(serde_json::json!([{"name": "bar", "version_req": "not a req"}])),
            Err(MetadataError::DependencyReq { .. })
        ));
        assert!(matches!(
            base(serde_json::json!([{"name": "../x", "version_req": "1"}])),
            Err(MetadataError::DependencyName { .. })
        ));
        assert!(matches!(
            meta(serde_json::json!({"name": "foo", "vers": "1.0"})),
            Err(MetadataError::Version(_))
        ));
        assert!(matches!(
            meta(serde_json::json!({"name": "nul", "vers": "1.0.0"})),
            Err(MetadataError::Name(NameError::Reserved(_)))
        ));
        assert!(matches!(
            meta(
                serde_json::json!({"name": "foo", "vers": "1.0.0", "keywords": ["a","b","c","d","e","f"]})
            ),
            Err(MetadataError::TooMany { .. })
        ));
        assert!(matches!(
            meta(serde_json::json!({"name": "foo", "vers": "1.0.0", "rust_version": "latest"})),
            Err(MetadataError::RustVersion(_))
        ));
        assert!(matches!(
            PublishMetadata::from_json(b"{"),
            Err(MetadataError::Json(_))
        ));
        let deep = "[".repeat(10_000);
        assert!(matches!(
            PublishMetadata::from_json(deep.as_bytes()),
            Err(MetadataError::Json(_))
        ));
    }
}
