//! A crate page from a proxy's cache: versions from its cached index
//! file, no owners, downloads or dependents of its own, and a README only
//! when the proxy holds that version's `.crate`. It never asks the
//! upstream.

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
                metadata: line_metadata(line).to_string(),
                readme,
            },
            metadata: line_metadata(line),
            dependents: Vec::new(),
            dependents_total: 0,
            daily_downloads: Vec::new(),
            proxied: true,
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

/// What a crate page reads of publish metadata, from an index line: the
/// dependencies (by their real names), the features (both maps) and the
/// Rust version.
fn line_metadata(line: &serde_json::Value) -> serde_json::Value {
    let deps: Vec<serde_json::Value> = line["deps"]
        .as_array()
        .map(|deps| {
            deps.iter()
                .map(|d| {
                    serde_json::json!({
                        "name": d["package"].as_str().or(d["name"].as_str()),
                        "version_req": d["req"],
                        "kind": d["kind"],
                        "optional": d["optional"],
                        "registry": d["registry"],
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let mut features = line["features"].as_object().cloned().unwrap_or_default();
    if let Some(more) = line["features2"].as_object() {
        features.extend(more.clone());
    }
    serde_json::json!({
        "deps": deps,
        "features": features,
        "rust_version": line["rust_version"],
    })
}
