//! What a crate asks of its documentation build: `[package.metadata.docs.rs]`
//! read from the normalized `Cargo.toml` into [`DocsMetadata`], and the cargo
//! flags and rustdoc arguments it makes. Pure: text in, values out.
//!
//! Honoured as docs.rs honours it, with one deliberate difference (the
//! registry's rule): with no word about features the build uses
//! `--all-features`, where docs.rs uses the default features. Once the table
//! names `features`, `no-default-features` or `all-features`, exactly that is
//! done. Only one target is built: `default-target`, else the first of
//! `targets`, else the host. Values that would be read as other options
//! (a target or feature starting with `-`) are refused.

use toml::Value;

/// The documentation settings of one crate version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocsMetadata {
    /// `features`: features to enable (passed as one `--features` value).
    pub features: Vec<String>,
    /// `all-features`; true when the table says nothing about features.
    pub all_features: bool,
    /// `no-default-features`.
    pub no_default_features: bool,
    /// `rustdoc-args`: extra arguments for rustdoc (`RUSTDOCFLAGS`).
    pub rustdoc_args: Vec<String>,
    /// `rustc-args`: extra arguments for rustc (`RUSTFLAGS`).
    pub rustc_args: Vec<String>,
    /// The one target documented: `default-target`, else the first of
    /// `targets`; `None` means the host (no `--target`).
    pub target: Option<String>,
    /// `cargo-args`: extra arguments for `cargo doc`, those that do not
    /// move its output or manifest.
    pub cargo_args: Vec<String>,
}

/// Why a manifest's `[package.metadata.docs.rs]` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[package.metadata.docs.rs]: {0}")]
pub struct MetadataError(String);

/// cargo options a crate may not set through `cargo-args`: they move the
/// output, the manifest or the configuration away from what the build reads.
const REFUSED_CARGO_ARGS: &[&str] = &[
    "--target-dir",
    "--manifest-path",
    "--artifact-dir",
    "--out-dir",
    "--config",
    "--target",
    "-Z",
];

impl Default for DocsMetadata {
    fn default() -> Self {
        DocsMetadata {
            features: Vec::new(),
            all_features: true,
            no_default_features: false,
            rustdoc_args: Vec::new(),
            rustc_args: Vec::new(),
            target: None,
            cargo_args: Vec::new(),
        }
    }
}

impl DocsMetadata {
    /// Reads `[package.metadata.docs.rs]` from a `Cargo.toml`'s text. An
    /// absent table gives [`DocsMetadata::default`] (all features, host).
    pub fn from_manifest(manifest: &str) -> Result<Self, MetadataError> {
        let table: toml::Table = manifest
            .parse()
            .map_err(|e: toml::de::Error| MetadataError(format!("Cargo.toml: {}", e.message())))?;
        let docs = table
            .get("package")
            .and_then(|p| p.get("metadata"))
            .and_then(|m| m.get("docs"))
            .and_then(|d| d.get("rs"));
        let Some(docs) = docs else {
            return Ok(DocsMetadata::default());
        };
        let Some(docs) = docs.as_table() else {
            return Err(MetadataError("is not a table".to_owned()));
        };
        let features = strings(docs, "features")?;
        let no_default = boolean(docs, "no-default-features")?;
        let all = boolean(docs, "all-features")?;
        let all_features = all.unwrap_or(features.is_none() && no_default.is_none());
        let targets = strings(docs, "targets")?.unwrap_or_default();
        let target = match docs.get("default-target") {
            None => targets.into_iter().next(),
            Some(Value::String(t)) => Some(t.clone()),
            Some(_) => return Err(MetadataError("`default-target` is not a string".to_owned())),
        };
        if let Some(t) = &target {
            let plain = t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if t.is_empty() || t.starts_with('-') || !plain {
                return Err(MetadataError(format!(
                    "`{}` is not a target name",
                    t.escape_default()
                )));
            }
        }
        let features = features.unwrap_or_default();
        if let Some(bad) = features
            .iter()
            .find(|f| f.starts_with('-') || f.contains(','))
        {
            return Err(MetadataError(format!(
                "`{}` is not a feature name",
                bad.escape_default()
            )));
        }
        let cargo_args = strings(docs, "cargo-args")?.unwrap_or_default();
        if let Some(bad) = cargo_args.iter().find(|a| {
            REFUSED_CARGO_ARGS.iter().any(|r| {
                a.as_str() == *r
                    || a.starts_with(&format!("{r}="))
                    || (*r == "-Z" && a.starts_with("-Z"))
            })
        }) {
            return Err(MetadataError(format!(
                "`cargo-args` may not contain `{}`: the build decides where cargo reads and writes",
                bad.escape_default()
            )));
        }
        Ok(DocsMetadata {
            features,
            all_features,
            no_default_features: no_default.unwrap_or(false),
            rustdoc_args: strings(docs, "rustdoc-args")?.unwrap_or_default(),
            rustc_args: strings(docs, "rustc-args")?.unwrap_or_default(),
            target,
            cargo_args,
        })
    }

    /// The arguments after `cargo doc` that this metadata asks for: feature
    /// flags, `--target` and `cargo-args`, in that order.
    pub fn cargo_flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        if self.all_features {
            flags.push("--all-features".to_owned());
        }
        if self.no_default_features {
            flags.push("--no-default-features".to_owned());
        }
        if !self.features.is_empty() {
            flags.push(format!("--features={}", self.features.join(",")));
        }
        if let Some(target) = &self.target {
            flags.push(format!("--target={target}"));
        }
        flags.extend(self.cargo_args.iter().cloned());
        flags
    }
}

fn boolean(table: &toml::Table, key: &str) -> Result<Option<bool>, MetadataError> {
    match table.get(key) {
        None => Ok(None),
        Some(Value::Boolean(b)) => Ok(Some(*b)),
        Some(_) => Err(MetadataError(format!("`{key}` is not true or false"))),
    }
}

fn strings(table: &toml::Table, key: &str) -> Result<Option<Vec<String>>, MetadataError> {
    let not_strings = || MetadataError(format!("`{key}` is not a list of strings"));
    match table.get(key) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(not_strings))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(not_strings()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn read(docs: &str) -> Result<DocsMetadata, MetadataError> {
        DocsMetadata::from_manifest(&format!(
            "[package]\nname = \"a\"\nversion = \"1.0.0\"\n\n[package.metadata.docs.rs]\n{docs}"
        ))
    }

    #[test]
    fn absent_table_means_all_features_on_the_host() {
        let m =
            DocsMetadata::from_manifest("[package]\nname = \"a\"\nversion = \"1.0.0\"\n").unwrap();
        assert_eq!(m, DocsMetadata::default());
        assert_eq!(m.cargo_flags(), ["--all-features"]);
    }

    #[test]
    fn a_table_silent_on_features_still_means_all_features() {
        let m = read("rustdoc-args = [\"--cfg\", \"docsrs\"]\n").unwrap();
        assert!(m.all_features);
        assert_eq!(m.rustdoc_args, ["--cfg", "docsrs"]);
        assert_eq!(m.cargo_flags(), ["--all-features"]);
    }

    #[test]
    fn named_features_are_exactly_what_is_built() {
        let m = read("features = [\"extra\", \"serde\"]\n").unwrap();
        assert!(!m.all_features);
        assert_eq!(m.cargo_flags(), ["--features=extra,serde"]);
    }

    #[test]
    fn no_default_features_alone_turns_all_features_off() {
        let m = read("no-default-features = true\n").unwrap();
        assert_eq!(m.cargo_flags(), ["--no-default-features"]);
    }

    #[test]
    fn all_features_false_means_default_features() {
        let m = read("all-features = false\n").unwrap();
        assert!(m.cargo_flags().is_empty());
    }

    #[test]
    fn all_features_true_with_features_keeps_both() {
        let m = read("all-features = true\nfeatures = [\"x\"]\n").unwrap();
        assert_eq!(m.cargo_flags(), ["--all-features", "--features=x"]);
    }

    #[test]
    fn default_target_wins_then_first_of_targets() {
        let m = read("targets = [\"aarch64-unknown-linux-gnu\", \"x86_64-pc-windows-msvc\"]\n")
            .unwrap();
        assert_eq!(m.target.as_deref(), Some("aarch64-unknown-linux-gnu"));
        let m = read("default-target = \"wasm32-unknown-unknown\"\ntargets = [\"aarch64-unknown-linux-gnu\"]\n").unwrap();
        assert_eq!(m.target.as_deref(), Some("wasm32-unknown-unknown"));
        assert_eq!(
            m.cargo_flags(),
            ["--all-features", "--target=wasm32-unknown-unknown"]
        );
    }

    #[test]
    fn options_disguised_as_values_are_refused() {
        assert!(read("default-target = \"--config=x\"\n").is_err());
        assert!(read("default-target = \"a b\"\n").is_err());
        assert!(read("features = [\"--all-targets\"]\n").is_err());
        assert!(read("features = [\"a,b\"]\n").is_err());
        assert!(read("cargo-args = [\"--target-dir\", \"/x\"]\n").is_err());
        assert!(read("cargo-args = [\"--config=build.rustc='x'\"]\n").is_err());
        assert!(read("cargo-args = [\"-Zbuild-std\"]\n").is_err());
    }

    #[test]
    fn simple_cargo_args_pass_through() {
        let m = read("cargo-args = [\"--examples\"]\n").unwrap();
        assert_eq!(m.cargo_flags(), ["--all-features", "--examples"]);
    }

    #[test]
    fn wrong_types_are_named() {
        let e = read("features = \"extra\"\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "[package.metadata.docs.rs]: `features` is not a list of strings"
        );
        let e = read("all-features = \"yes\"\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "[package.metadata.docs.rs]: `all-features` is not true or false"
        );
    }
}
