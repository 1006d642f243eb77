//! Dependency confusion rules for publishes into a hosted registry that is
//! a member of a virtual registry: how each dependency's `registry` field
//! is recorded, and which new names are refused because an upstream has
//! them. (Serving needs no rules: a virtual registry gives each name to one
//! member; see `sources/virtual_registry.rs`.)
//!
//! cargo records a dependency it resolved through a replaced source as
//! coming from the original source (for the public registry, its canonical
//! identifier), and a dependency on the registry published to with no
//! `registry` at all. So a private crate published through a virtual
//! registry that stands in for the public source names even its private
//! dependencies as public ones. Recorded as sent, a user of the hosted
//! registry directly would be pointed at the upstream's namesake. Here such
//! a dependency becomes "this registry" when the hosted registry has the
//! name, and the upstream's canonical identifier when a proxy member owns
//! it. The identifier cargo sends for the replaced source needs no
//! configuration: until `upstream_aliases` says what it is, any identifier
//! the server does not know is taken as it on a hosted name. This module
//! never lets a hosted name point at an upstream, and says at start what a
//! virtual registry cannot protect direct users from.

use berth_protocol::PublishDependency;

use crate::error::ServiceError;
use crate::{Berth, Registry};

/// The virtual registries a hosted registry is a member of.
fn virtuals_of<'b>(
    berth: &'b Berth,
    target: &Registry,
) -> Vec<(&'b Registry, &'b crate::sources::Virtual)> {
    berth
        .registries()
        .filter_map(|r| {
            let v = r.source.as_virtual()?;
            v.hosted_members().contains(&target.name).then_some((r, v))
        })
        .collect()
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

impl Berth {
    fn own_identifiers(&self, reg: &Registry) -> [String; 2] {
        let url = self.index_url(reg);
        [format!("sparse+{url}"), url]
    }

    /// The proxy members of `target`'s virtual registries whose upstream
    /// may have `name`, in order.
    fn upstream_proxies<'b>(&'b self, target: &Registry, name: &str) -> Vec<&'b Registry> {
        let mut out: Vec<&Registry> = Vec::new();
        for (_, v) in virtuals_of(self, target) {
            if v.claimed(name) {
                continue;
            }
            for p in v.proxy_members() {
                if let Ok(reg) = self.registry(p) {
                    if !out.iter().any(|r| r.name == reg.name) {
                        out.push(reg);
                    }
                }
            }
        }
        out
    }

    /// Whether the server knows what cargo calls every replaced source that
    /// the virtual registries of `target` stand in for: each has a proxy
    /// member, and each proxy member has `upstream_aliases`. Only then is an
    /// unknown identifier surely another registry's.
    fn replaced_source_known(&self, target: &Registry) -> bool {
        virtuals_of(self, target).iter().all(|(_, v)| {
            !v.proxy_members().is_empty()
                && v.proxy_members().iter().all(|p| {
                    self.registry(p)
                        .is_ok_and(|r| r.source.as_proxy().is_some_and(|p| p.has_aliases()))
                })
        })
    }

    /// What a virtual registry cannot protect its direct users from, one
    /// sentence each, for a serving node's log at start.
    pub(crate) fn unprotected_virtuals(&self) -> Vec<String> {
        let mut out = Vec::new();
        for reg in self.registries() {
            let Some(v) = reg.source.as_virtual() else {
                continue;
            };
            if v.hosted_members().len() > 1 {
                out.push(format!(
                    "virtual registry `{}` has more than one hosted member ({}): a dependency of a \
                     crate published to one of them on a crate of another is recorded with the \
                     identifier cargo sends, so users of that hosted registry directly (not through \
                     `{}`) may resolve it from the upstream. Give it one hosted member to protect them",
                    reg.name,
                    v.hosted_members().join(", "),
                    reg.name
                ));
            }
            if !v.allow_upstream_names.is_empty() {
                out.push(format!(
                    "virtual registry `{}` allows private crates named like upstream ones ({}): \
                     crates published before such a private crate existed record those names as \
                     the upstream's, so users of the hosted registry directly get the upstream crate \
                     for them while users of `{}` get the private one",
                    reg.name,
                    v.allow_upstream_names.join(", "),
                    reg.name
                ));
            }
        }
        out
    }

    /// The identifier a dependency on a proxy's upstream is recorded with.
    fn upstream_identifier(reg: &Registry) -> Option<String> {
        reg.source
            .as_proxy()
            .map(|p| p.canonical_identifier().to_string())
    }

    /// The spelling under which proxy `p`'s upstream has a crate, trying
    /// `spellings` in order (a few at a time): an upstream keeps a crate
    /// under the spelling it was published with, while hosted registries
    /// fold `-` and `_`, so every spelling must be asked.
    async fn upstream_spelling(
        &self,
        p: &Registry,
        spellings: &[String],
    ) -> Result<Option<String>, ServiceError> {
        for chunk in spellings.chunks(8) {
            let asked = futures::future::join_all(chunk.iter().map(|s| self.has_crate(p, s))).await;
            for (s, found) in chunk.iter().zip(asked) {
                if found? {
                    return Ok(Some(s.clone()));
                }
            }
        }
        Ok(None)
    }

    async fn has_crate(&self, p: &Registry, name: &str) -> Result<bool, ServiceError> {
        Ok(p.source.index_file(self.at(p), name).await?.is_some())
    }

    /// Whether `name` (in any spelling) is in a proxy member's upstream:
    /// `Ok(Some(proxy))`.
    async fn upstream_owner<'b>(
        &'b self,
        target: &Registry,
        name: &str,
    ) -> Result<Option<&'b Registry>, ServiceError> {
        let lname = name.to_ascii_lowercase();
        // A name with too many separators to try every spelling: as sent
        // (what cargo resolved it as).
        let spellings = berth_protocol::spellings(&lname).unwrap_or_else(|| vec![lname.clone()]);
        for p in self.upstream_proxies(target, &lname) {
            if self.upstream_spelling(p, &spellings).await?.is_some() {
                return Ok(Some(p));
            }
        }
        Ok(None)
    }

    /// The `registry` field to record for a dependency of a crate published
    /// to `target` (through `via`, a virtual registry, or directly).
    pub(crate) async fn dependency_registry(
        &self,
        target: &Registry,
        via: Option<&Registry>,
        own_canon: &str,
        dep: &PublishDependency,
    ) -> Result<Option<String>, ServiceError> {
        let canon = berth_protocol::canonical_name(&dep.name);
        let in_target = canon == own_canon || self.meta.crate_exists(target.id, &canon).await?;
        let missing = |reg: &Registry| {
            ServiceError::BadRequest(format!(
                "dependency `{}` does not exist in registry `{}`; publish it first",
                dep.name, reg.name
            ))
        };
        let Some(sent) = dep.registry.as_deref() else {
            // "This registry": the one published to.
            if in_target {
                return Ok(None);
            }
            let Some(via) = via else {
                return Err(missing(target));
            };
            return match self.upstream_owner(target, &dep.name).await? {
                Some(p) => Ok(Self::upstream_identifier(p)),
                None => Err(missing(via)),
            };
        };
        let virtuals = virtuals_of(self, target);
        let is_virtual_url = virtuals
            .iter()
            .any(|(v, _)| self.own_identifiers(v).iter().any(|i| same_url(i, sent)));
        let stands_in = is_virtual_url
            || self
                .own_identifiers(target)
                .iter()
                .any(|i| same_url(i, sent))
            || virtuals.iter().any(|(_, v)| {
                v.proxy_members().iter().any(|p| {
                    self.registry(p)
                        .is_ok_and(|r| r.source.as_proxy().is_some_and(|p| p.is_identifier(sent)))
                })
            });
        if !stands_in && in_target && !virtuals.is_empty() && !self.replaced_source_known(target) {
            // Without `upstream_aliases` the identifier cargo uses for the
            // replaced source is unknown, and it cannot be told apart from
            // another registry's: on a hosted name it is taken as the
            // replaced source, which the virtual registry serves this name
            // from the hosted registry. Recorded as sent, a user of the
            // hosted registry directly would get the upstream's namesake.
            tracing::info!(
                registry = %target.name, dependency = %dep.name, sent,
                "dependency recorded as this registry's: the name is hosted here and the \
                 identifier is none the server knows (set `upstream_aliases` on the proxy \
                 member to tell the public source apart from other registries)"
            );
            return Ok(None);
        }
        if !stands_in {
            return if self.config.publish.allows_registry(sent) {
                Ok(Some(sent.to_string()))
            } else {
                Err(ServiceError::BadRequest(format!(
                    "dependency `{}` comes from registry `{sent}`, which this server's \
                     configuration does not allow (`publish.allowed_registries` / \
                     `publish.denied_registries`)",
                    dep.name
                )))
            };
        }
        if in_target {
            // A hosted name never points at an upstream's namesake.
            if dep.registry.is_some()
                && !self
                    .own_identifiers(target)
                    .iter()
                    .any(|i| same_url(i, sent))
            {
                tracing::info!(
                    registry = %target.name, dependency = %dep.name, sent,
                    "dependency recorded as this registry's: the name is hosted here"
                );
            }
            return Ok(None);
        }
        if let Some((v, _)) = virtuals.iter().find(|(_, v)| v.claimed(&dep.name)) {
            return Err(ServiceError::BadRequest(format!(
                "dependency `{}` is a name that virtual registry `{}` claims for hosted crates, but \
                 registry `{}` does not have it; publish it first",
                dep.name, v.name, target.name
            )));
        }
        if is_virtual_url {
            return match self.upstream_owner(target, &dep.name).await? {
                Some(p) => Ok(Self::upstream_identifier(p)),
                None => Err(missing(via.unwrap_or(target))),
            };
        }
        Ok(Some(sent.to_string()))
    }

    /// Refuses a new private crate whose name a proxy member's upstream
    /// already has (unless claimed or allowed by name): users of the
    /// virtual registry would otherwise get one or the other depending on
    /// where they look.
    pub(crate) async fn check_new_name_upstream(
        &self,
        target: &Registry,
        name: &str,
    ) -> Result<(), ServiceError> {
        for (v_reg, v) in virtuals_of(self, target) {
            let canon = berth_protocol::canonical_name(name);
            if v.claimed(name)
                || v.allow_upstream_names
                    .iter()
                    .any(|a| berth_protocol::canonical_name(a) == canon)
            {
                continue;
            }
            if v.proxy_members().is_empty() {
                continue;
            }
            // Hosted names fold `-`/`_`: a private `serde-json` would answer
            // for the upstream's `serde_json`, so every spelling is asked.
            let Some(spellings) = berth_protocol::spellings(name) else {
                return Err(ServiceError::Forbidden(format!(
                    "crate `{name}` has more than {max} `-`/`_`: too many spellings to check \
                     against the upstream of virtual registry `{virt}` (a private crate must not \
                     share a name with an upstream one). Choose another name, or an operator can \
                     allow it with `allow_upstream_names = [\"{name}\"]` on registry `{virt}` (or \
                     claim the name with `claims`)",
                    max = berth_protocol::names::MAX_SPELLING_SEPARATORS,
                    virt = v_reg.name
                )));
            };
            for p in v.proxy_members() {
                let p = self.registry(p)?;
                let found = self.upstream_spelling(p, &spellings).await.map_err(|e| {
                    ServiceError::Unavailable(format!(
                        "cannot check whether `{name}` exists upstream of registry `{}`: {e}",
                        p.name
                    ))
                })?;
                if let Some(spelling) = found {
                    let upstream_name = if spelling == name.to_ascii_lowercase() {
                        String::new()
                    } else {
                        format!(" (as `{spelling}`)")
                    };
                    metrics::counter!("berth_confusion_guard_total", "guard" => "upstream_name")
                        .increment(1);
                    tracing::warn!(
                        registry = %target.name, virtual_registry = %v_reg.name, krate = %name,
                        upstream = %p.name, "refused a new private crate whose name exists upstream"
                    );
                    return Err(ServiceError::Forbidden(format!(
                        "crate `{name}` already exists upstream of registry `{proxy}`{upstream_name}; a private crate \
                         of that name would make `{virt}` serve different crates to different users \
                         (dependency confusion). Choose another name, or an operator can allow it \
                         with `allow_upstream_names = [\"{name}\"]` on registry `{virt}` (or claim \
                         the name with `claims`)",
                        proxy = p.name,
                        virt = v_reg.name
                    )));
                }
            }
        }
        Ok(())
    }
}
