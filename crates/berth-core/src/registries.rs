//! The registries as a whole: which one acts on a crate (a virtual
//! registry's owning member) or takes a publish, what cargo is told to use
//! (`config.json`, the `.cargo/config.toml` snippet), which ones a caller may
//! read, and the visibility recorded with the data, checked before a node
//! serves.

use crate::error::ServiceError;
use crate::{Berth, Identity, Registry};

impl Berth {
    /// The hosted registry that acts on crate `krate` asked of `registry`:
    /// the registry itself when hosted; for a virtual registry, the hosted
    /// member that owns the name. Yank, unyank, owners and crate details
    /// exist only there.
    pub async fn hosted_for(
        &self,
        registry: &str,
        who: Option<&Identity>,
        krate: &str,
    ) -> Result<&Registry, ServiceError> {
        let reg = self.registry(registry)?;
        // Nothing about a private registry's names before its readers.
        self.authorize_read(reg, who)?;
        let target = reg.source.hosted_for(self.at_for(reg, who), krate).await?;
        self.registry(&target.name)
    }

    /// As [`Berth::hosted_for`], for a change (yank, unyank, owners): a
    /// replica's crates are changed on its primary only.
    pub async fn writable_for(
        &self,
        registry: &str,
        who: Option<&Identity>,
        krate: &str,
    ) -> Result<&Registry, ServiceError> {
        let reg = self.hosted_for(registry, who, krate).await?;
        match reg.source.refuses_writes(reg) {
            Some(refusal) => Err(refusal),
            None => Ok(reg),
        }
    }

    /// Where a publish to `registry` goes: the registry itself when hosted,
    /// or a virtual registry's `publish_to` member (with the virtual
    /// registry, whose members decide dependency lines and guards).
    pub fn publish_target(
        &self,
        registry: &str,
    ) -> Result<(&Registry, Option<&Registry>), ServiceError> {
        let reg = self.registry(registry)?;
        reg.source.publish_target(self, reg)
    }

    /// The sparse-index URL of a registry.
    pub fn index_url(&self, reg: &Registry) -> String {
        format!("{}/r/{}/index/", self.config.public_url, reg.name)
    }

    /// `config.json` for a registry's sparse index. Downloads go to
    /// `downloads.base_url` when it is set (a CDN in front of this server),
    /// everything else to `public_url`.
    pub fn index_config(&self, reg: &Registry) -> serde_json::Value {
        let base = format!("{}/r/{}", self.config.public_url, reg.name);
        let dl_base = self.config.downloads.dl_base(&self.config.public_url);
        let mut cfg = serde_json::json!({
            "dl": format!("{dl_base}/r/{}/api/v1/crates", reg.name),
            "api": base,
        });
        if reg.private {
            cfg["auth-required"] = serde_json::Value::Bool(true);
        }
        cfg
    }

    /// The `.cargo/config.toml` lines that point cargo at a registry: a
    /// proxy or a virtual registry stands in for the public registry
    /// through source replacement (`[source.crates-io] replace-with`), which
    /// is how cargo uses a mirror, with a `[registries]` entry of the same
    /// index where cargo needs one (a virtual registry's publishes, a
    /// private proxy's token); a hosted registry is a named registry.
    pub fn cargo_config_snippet(&self, reg: &Registry) -> String {
        reg.source.cargo_config_snippet(reg, &self.index_url(reg))
    }

    /// The registries `who` may read, by name.
    pub fn readable_registries<'a>(
        &'a self,
        who: Option<&'a Identity>,
    ) -> impl Iterator<Item = &'a Registry> + 'a {
        self.registries().filter(move |r| self.may_read(r, who))
    }

    /// A virtual registry's members, hosted ones first (empty for other
    /// kinds).
    pub fn members_of(&self, reg: &Registry) -> Vec<String> {
        reg.source.members()
    }

    /// The registry `/crates/NAME` means: the first one configured.
    pub fn default_registry(&self) -> Option<&Registry> {
        self.config
            .registries
            .first()
            .and_then(|r| self.registry(&r.name).ok())
    }

    /// Bytes of crate files a proxy registry holds in its cache (`None`
    /// for other kinds), for the admin pages.
    pub async fn proxy_cache_bytes(&self, reg: &Registry) -> Result<Option<u64>, ServiceError> {
        if !reg.traits().caches_upstream {
            return Ok(None);
        }
        Ok(Some(self.meta.proxy_cache_bytes(reg.id).await?))
    }
}

fn visibility(private: bool) -> &'static str {
    if private {
        "private"
    } else {
        "public"
    }
}

impl Berth {
    /// Checks each registry's visibility against the one kept with the
    /// data, recording it the first time. A serving node calls it before it
    /// listens: a node started without (or with a stale) configuration file
    /// must never serve a private registry openly. (`open` already refused
    /// registries missing from the configuration or of another kind.)
    pub async fn check_stored_registries(&self) -> Result<(), ServiceError> {
        for stored in self.meta.stored_registries().await? {
            let Some(reg) = self.registries.get(&stored.name) else {
                continue; // `open` refused this already
            };
            match stored.private {
                None => {
                    self.meta
                        .set_registry_private(stored.id, reg.private)
                        .await?
                }
                Some(private) if private != reg.private => {
                    return Err(ServiceError::Conflict(format!(
                        "registry `{name}` is stored as {stored} but configured as {configured}; refusing to \
                         start, so that a lost or edited configuration never changes who may read it. To \
                         change it deliberately, run `berth registry visibility {name} {configured}` and \
                         start again",
                        name = reg.name,
                        stored = visibility(private),
                        configured = visibility(reg.private),
                    )));
                }
                Some(_) => {}
            }
        }
        for warning in self.unprotected_virtuals() {
            tracing::warn!("{warning}");
        }
        Ok(())
    }

    /// Changes a registry's recorded visibility (the deliberate way; the
    /// configuration must say the same before a node will serve it).
    pub async fn set_registry_visibility(
        &self,
        registry: &str,
        private: bool,
    ) -> Result<(), ServiceError> {
        let reg = self.registry(registry)?;
        self.meta.set_registry_private(reg.id, private).await?;
        tracing::info!(registry = %reg.name, visibility = visibility(private), "registry visibility changed");
        Ok(())
    }
}
