//! A crate page from a proxy's cache: versions from its cached index
//! file, no owners, downloads or dependents of its own, and a README only
//! when the proxy holds that version's `.crate`. It never asks the
//! upstream.

use berth_protocol::{DependencyKind, PublishDependency, PublishMetadata};
use berth_store::VersionPage;

use crate::crates::pages::{CrateDetail, CratePage};
use crate::error::ServiceError;
use crate::sources::{index_lines, str_of};
use crate::{Berth, Registry};

impl Berth {
    /// A crate page from a proxy's cache (see [`CratePage::proxied`]).
    pub(crate) async fn proxied_page(
        &self,
        reg: &Registry,
        name: &str,
        vers: Option<&str>,
    ) -> Result<CratePage, ServiceError> {
        let lname = name.to_ascii_lowercase();
        let missing = || ServiceError::NotFound(format!("crate `{name}` does not exist"));
        let row = self.meta.proxy_index_get(reg.id, &lname).await?;
        let body = row
            .as_ref()
            .and_then(|r| r.body.as_deref())
            .ok_or_else(missing)?;
        let mut lines = index_lines(body);
        if lines.is_empty() {
            return Err(missing());
        }
        lines.sort_by_cached_key(|l| semver::Version::parse(str_of(l, "vers")).ok());
        let real = str_of(&lines[0], "name").to_string();
        let cached: std::collections::HashMap<String, berth_store::ProxyCrateRow> = self
            .meta
            .proxy_cached_versions(reg.id, &lname)
            .await?
            .into_iter()
            .collect();
        let shown = match vers {
            Some(v) => {
                let wanted = semver::Version::parse(v).ok();
                lines
                    .iter()
                    .position(|l| {
                        str_of(l, "vers") == v
                            || (wanted.is_some()
                                && semver::Version::parse(str_of(l, "vers"))
                                    .ok()
                                    .as_ref()
                                    .zip(wanted.as_ref())
                                    .is_some_and(|(a, b)| a.cmp_precedence(b).is_eq()))
                    })
                    .ok_or_else(|| {
                        ServiceError::NotFound(format!("crate `{name}` has no version `{v}`"))
                    })?
            }
            None => lines
                .iter()
                .rposition(|l| !l["yanked"].as_bool().unwrap_or(false))
                .unwrap_or(lines.len() - 1),
        };
        let line = &lines[shown];
        let shown_vers = str_of(line, "vers").to_string();
        let readme = match cached.get(&shown_vers) {
            Some(c) => self.cached_readme(&c.cksum, &real, &shown_vers).await,
            None => None,
        };
        let versions = lines
            .iter()
            .map(|l| {
                let v = str_of(l, "vers").to_string();
                crate::crates::pages::VersionJson {
                    yanked: l["yanked"].as_bool().unwrap_or(false),
                    cksum: str_of(l, "cksum").to_string(),
                    size: cached.get(&v).map_or(0, |c| c.size),
                    published_at: l["pubtime"]
                        .as_str()
                        .and_then(|t| {
                            time::OffsetDateTime::parse(
                                t,
                                &time::format_description::well_known::Rfc3339,
                            )
                            .ok()
                        })
                        .map_or(0, |t| t.unix_timestamp()),
                    published_by: None,
                    downloads: 0,
                    has_readme: false,
                    advisories: Vec::new(),
                    blocked: None,
                    log_index: None,
                    trusted_publisher: None,
                    vers: v,
                }
            })
            .collect::<Vec<_>>();
        let max_version = lines
            .iter()
            .rev()
            .find(|l| !l["yanked"].as_bool().unwrap_or(false))
            .map(|l| str_of(l, "vers").to_string());
        let changed = row.as_ref().map_or(0, |r| r.changed_at);
        Ok(CratePage {
            holder: reg.name.clone(),
            detail: CrateDetail {
                name: real,
                description: None,
                max_version,
                downloads: 0,
                created_at: versions.first().map_or(0, |v| v.published_at),
                updated_at: changed,
                owners: Vec::new(),
                versions,
            },
            version: VersionPage {
                vers: shown_vers,
                metadata: line.to_string(),
                readme,
            },
            metadata: line_metadata(line),
            dependents: Vec::new(),
            dependents_total: 0,
            daily_downloads: Vec::new(),
            proxied: true,
            supply: Default::default(),
            log: None,
        })
    }

    /// The README of a `.crate` a proxy holds (its `README.md`), read with
    /// the publish limits off the async workers; `None` when it has none or
    /// cannot be read (the page then says it has no README).
    async fn cached_readme(&self, cksum: &str, name: &str, vers: &str) -> Option<String> {
        let bytes = match self.blobs.get(cksum).await {
            Ok(Some(b)) => b,
            Ok(None) => return None,
            Err(e) => {
                tracing::debug!(%cksum, error = %e, "cached crate unreadable for its page");
                return None;
            }
        };
        let (name, vers) = (name.to_string(), vers.to_string());
        let limits = berth_tarball::Limits {
            max_unpacked_size: self.config.limits.max_unpacked_size,
            max_entries: self.config.limits.max_crate_entries,
            ..Default::default()
        };
        tokio::task::spawn_blocking(move || {
            berth_tarball::inspect(&bytes, &name, &vers, Some("README.md"), &limits)
                .ok()
                .and_then(|info| info.readme)
        })
        .await
        .ok()
        .flatten()
    }
}

/// What a crate page reads of publish metadata, from an index line of an
/// upstream (read leniently: a field missing or of another type is left
/// empty): the dependencies (by their real names), the features (both maps)
/// and the Rust version.
fn line_metadata(line: &serde_json::Value) -> PublishMetadata {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let deps = line["deps"]
        .as_array()
        .map(|deps| {
            deps.iter()
                .map(|d| PublishDependency {
                    name: d["package"]
                        .as_str()
                        .or(d["name"].as_str())
                        .unwrap_or_default()
                        .to_string(),
                    version_req: text(&d["req"]),
                    features: strings(&d["features"]),
                    optional: d["optional"].as_bool().unwrap_or(false),
                    default_features: d["default_features"].as_bool().unwrap_or(true),
                    target: d["target"].as_str().map(str::to_string),
                    kind: match d["kind"].as_str() {
                        Some("dev") => DependencyKind::Dev,
                        Some("build") => DependencyKind::Build,
                        _ => DependencyKind::Normal,
                    },
                    registry: d["registry"].as_str().map(str::to_string),
                    explicit_name_in_toml: None,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut meta = PublishMetadata::bare(&text(&line["name"]), &text(&line["vers"]));
    meta.deps = deps;
    for map in [&line["features"], &line["features2"]] {
        if let Some(map) = map.as_object() {
            meta.features
                .extend(map.iter().map(|(k, v)| (k.clone(), strings(v))));
        }
    }
    meta.rust_version = line["rust_version"].as_str().map(str::to_string);
    meta
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upstream_line_reads_leniently_into_typed_metadata() {
        let line = serde_json::json!({
            "name": "tool", "vers": "1.0.0",
            "deps": [
                {"name": "renamed", "package": "real", "req": "^1", "kind": "dev", "optional": true},
                {"name": "odd", "req": 7, "kind": "future-kind"},
            ],
            "features": {"default": ["a"], "a": []},
            "features2": {"b": ["dep:real", 3]},
            "rust_version": "1.70",
        });
        let m = line_metadata(&line);
        assert_eq!((m.name.as_str(), m.vers.as_str()), ("tool", "1.0.0"));
        assert_eq!(m.deps[0].name, "real");
        assert_eq!(m.deps[0].kind, DependencyKind::Dev);
        assert!(m.deps[0].optional);
        assert_eq!(
            (m.deps[1].version_req.as_str(), m.deps[1].kind),
            ("", DependencyKind::Normal)
        );
        assert_eq!(m.features["b"], vec!["dep:real".to_string()]);
        assert_eq!(m.features.len(), 3);
        assert_eq!(m.rust_version.as_deref(), Some("1.70"));
        assert!(line_metadata(&serde_json::json!("not an object"))
            .deps
            .is_empty());
    }
}
