//! Berth's services: everything a request does between "who is asking" and
//! the stores.
//!
//! [`Berth`] holds the configuration and the stores and exposes one method
//! per operation (publish, yank, owners, search, index files, downloads,
//! users and tokens, with their limits in [`tokens`]). Business rules live
//! here: validation order, scopes, which registries a dependency may come
//! from. This crate serves no HTTP (the server crate routes requests and
//! maps [`ServiceError`] to responses; the proxy source is an HTTP client of
//! its upstream, with conditional requests) and never builds SQL (the store
//! crate owns the queries).

mod admin;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod clock;
pub mod config;
mod config_check;
mod config_values;
mod confusion;
mod downloads;
pub mod error;
pub mod fsck;
mod index;
pub mod migrate;
pub mod mirror;
mod operations;
mod publish;
mod registry_config;
mod registry_entry;
#[cfg(target_os = "linux")]
pub mod sendable;
mod sources;
mod tar_input;
mod teams;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
mod text;
mod throttle;
pub mod tokens;
pub mod watch;
pub mod web;

use std::collections::HashMap;
use std::sync::Arc;

use berth_store::{BlobStore, MetaStore};

pub use auth::{Identity, Role, Scope, Scopes};
pub use berth_store::address_key;
pub use berth_store::redact as redact_url;
pub use berth_store::set_operator;
pub use berth_store::sqlite_path;
pub use clock::Clock;
pub use config::{Config, Overrides, RegistryConfig, RegistryKind};
pub use downloads::{Download, DownloadBody};
pub use error::ServiceError;
pub use index::IndexFile;
pub use operations::{BlobCheck, CrateDetail, OwnerList, VersionJson};
pub use publish::PublishWarnings;
pub use registry_config::{KindSettings, ProxyConfig, VirtualConfig};
pub use sources::KindTraits;
pub use sources::SearchResults;

/// A registry as the services see it.
#[derive(Debug, Clone)]
pub struct Registry {
    pub id: i64,
    pub name: String,
    pub private: bool,
    /// What it serves, by kind.
    pub(crate) source: Arc<sources::Source>,
}

/// The application: configuration, stores and caches, shared by every
/// request.
pub struct Berth {
    pub config: Config,
    pub(crate) meta: MetaStore,
    pub(crate) blobs: BlobStore,
    registries: HashMap<String, Registry>,
    /// What the registries of each kind share (the hosted registries'
    /// index cache and watch, the proxies' memory budget).
    pub(crate) kinds: sources::Shared,
    downloads: downloads::DownloadCounter,
    download_cache: downloads::DownloadCache,
    pub(crate) throttle: throttle::Throttle,
    /// Where time comes from (see [`clock`]).
    pub(crate) clock: Clock,
}

impl Registry {
    /// The registry's kind.
    pub fn kind(&self) -> RegistryKind {
        self.source.kind()
    }

    /// What its kind is, as pages and the command line show it.
    pub fn traits(&self) -> KindTraits {
        self.source.traits()
    }
}

/// Opens (creating and migrating when needed) the metadata and blob stores
/// of `config`; `name("database")` and `name("blob store")` say which in
/// the error.
pub(crate) async fn open_stores(
    config: &Config,
    name: impl Fn(&str) -> String,
) -> Result<(MetaStore, BlobStore), ServiceError> {
    // The blob store first: it fails at once on missing credentials.
    let blobs = BlobStore::open_with(&config.storage.url, &config.storage.s3_credentials())
        .map_err(|e| {
            ServiceError::Unavailable(format!(
                "cannot open {} {}: {e}",
                name("blob store"),
                config.storage.url
            ))
        })?;
    let meta = MetaStore::connect(&config.database.url, config.database.max_connections)
        .await
        .map_err(|e| {
            ServiceError::Unavailable(format!(
                "cannot open {} {}: {e}",
                name("database"),
                berth_store::redact(&config.database.url)
            ))
        })?;
    Ok((meta, blobs))
}

impl Berth {
    /// Opens the stores (creating and migrating them when needed) and makes
    /// sure every configured registry exists.
    pub async fn open(config: Config) -> Result<Arc<Self>, ServiceError> {
        Self::open_with_clock(config, Clock::System).await
    }

    /// As [`Berth::open`], reading time from `clock` (tests inject a
    /// [`Clock::test`]).
    pub async fn open_with_clock(config: Config, clock: Clock) -> Result<Arc<Self>, ServiceError> {
        let (meta, blobs) = open_stores(&config, |store| format!("the {store} at")).await?;
        // This process makes every change to the metadata (single-node
        // SQLite), so a hosted registry's cached files stay valid until it
        // invalidates them.
        let sole_writer = meta.backend() == berth_store::Backend::Sqlite;
        // What the database holds must be what the configuration declares:
        // nothing missing, no kind changed.
        for stored in meta.stored_registries().await? {
            match config.registries.iter().find(|r| r.name == stored.name) {
                None => {
                    return Err(ServiceError::Conflict(format!(
                        "the database holds registry `{}` ({}), which the configuration does not \
                         declare; declare it under [[registries]] (is the configuration file missing?)",
                        stored.name, stored.kind
                    )))
                }
                Some(r) if r.kind() != stored.kind => {
                    return Err(ServiceError::Conflict(format!(
                        "registry `{}` holds {} data but is configured as kind `{}`",
                        r.name,
                        stored.kind,
                        r.kind()
                    )))
                }
                Some(_) => {}
            }
        }
        let mut registries = HashMap::new();
        let kinds = sources::Shared::new(&config, sole_writer);
        for r in &config.registries {
            let source = sources::Source::open(&config, r, &kinds)?;
            let id = meta.ensure_registry(&r.name, r.kind()).await?;
            registries.insert(
                r.name.clone(),
                Registry {
                    id,
                    name: r.name.clone(),
                    private: r.is_private(),
                    source: Arc::new(source),
                },
            );
        }
        Ok(Arc::new(Self {
            meta,
            blobs,
            registries,
            kinds,
            downloads: downloads::DownloadCounter::default(),
            download_cache: downloads::DownloadCache::new(config.limits.blob_cache_bytes),
            throttle: throttle::Throttle::new(&config.limits, config.database.max_connections),
            config,
            clock,
        }))
    }

    /// The clock this application reads.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// A configured registry by name.
    pub fn registry(&self, name: &str) -> Result<&Registry, ServiceError> {
        self.registries.get(name).ok_or_else(|| {
            ServiceError::NotFound(format!("no registry named `{name}` on this server"))
        })
    }

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

    /// The registries, by name.
    pub fn registries(&self) -> impl Iterator<Item = &Registry> {
        let mut v: Vec<&Registry> = self.registries.values().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v.into_iter()
    }

    /// Resolves an `Authorization` header value, if one was sent, for a
    /// request from `client` (the client's address, which a token's CIDR
    /// ranges are checked against).
    pub async fn identify(
        &self,
        header: Option<&str>,
        client: Option<std::net::IpAddr>,
    ) -> Result<Option<Identity>, ServiceError> {
        match header {
            None => Ok(None),
            Some(h) => auth::authenticate(
                &self.meta,
                auth::token_from_header(h),
                client,
                self.clock.now_unix(),
            )
            .await
            .map(Some),
        }
    }

    /// Checks that a caller may read a registry (index, downloads, search,
    /// owners): anyone for a public registry; a user with a role (or an
    /// administrator) for a private one.
    /// A user refused writes an `access.denied` row (within the refusal
    /// budget), written in the background so that a read waits for no
    /// write.
    pub fn authorize_read(
        &self,
        reg: &Registry,
        who: Option<&Identity>,
    ) -> Result<(), ServiceError> {
        if !reg.private {
            return Ok(());
        }
        match who {
            None => Err(ServiceError::Unauthorized(format!(
                "registry `{}` is private: a token is required; run `cargo login --registry {}`",
                reg.name, reg.name
            ))),
            Some(who) => {
                let refused = self.authorize_registry(reg, who, Role::Read);
                if refused.is_err() {
                    self.audit_in_background(berth_store::AuditEntry {
                        actor: Some(who.user.login.clone()),
                        registry: Some(reg.name.clone()),
                        detail: Some("no `read` role in this private registry".into()),
                        token_id: (who.token_id != 0).then_some(who.token_id),
                        client_addr: who.origin.client_addr.clone(),
                        user_agent: who.origin.user_agent.clone(),
                        ..berth_store::AuditEntry::new(
                            berth_store::AuditAction::AccessDenied,
                            berth_store::AuditOutcome::Denied,
                        )
                    });
                }
                refused
            }
        }
    }

    /// Whether a caller may read a registry, as [`Berth::authorize_read`]
    /// decides but recording nothing (for filters: lists and search).
    pub fn may_read(&self, reg: &Registry, who: Option<&Identity>) -> bool {
        !reg.private || who.is_some_and(|w| self.authorize_registry(reg, w, Role::Read).is_ok())
    }

    /// Appends an audit row on the runtime, when there is one; a failed
    /// write is logged.
    fn audit_in_background(&self, entry: berth_store::AuditEntry) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let meta = self.meta.clone();
        let now = self.clock.now_unix();
        runtime.spawn(async move {
            if let Err(e) = meta.append_audit_at(&entry, now).await {
                tracing::warn!(error = %e, action = %entry.action, "could not write the audit entry of a refusal");
            }
        });
    }

    /// Checks that an authenticated caller holds at least `needed` in a
    /// registry. Public registries let every user read and publish new
    /// crates; private ones need a role. Administrators pass everywhere.
    pub fn authorize_registry(
        &self,
        reg: &Registry,
        who: &Identity,
        needed: Role,
    ) -> Result<(), ServiceError> {
        if who.user.is_admin || (!reg.private && needed <= Role::Publish) {
            return Ok(());
        }
        match who.role(reg.id) {
            Some(role) if role >= needed => Ok(()),
            _ => Err(ServiceError::Forbidden(format!(
                "user `{}` does not have the `{}` role in registry `{}`; an operator can grant it with \
                 `berth role grant --registry {} --user {} --role {}`",
                who.user.login,
                needed.as_str(),
                reg.name,
                reg.name,
                who.user.login,
                needed.as_str()
            ))),
        }
    }

    /// Grants or revokes (`role = None`) a user's role in a registry.
    pub async fn set_role(
        &self,
        registry: &str,
        login: &str,
        role: Option<Role>,
    ) -> Result<(), ServiceError> {
        let reg = self.registry(registry)?;
        Ok(self.meta.set_role(reg.id, &reg.name, login, role).await?)
    }

    /// As [`Berth::set_role`], by a server administrator's session.
    pub async fn set_role_by(
        &self,
        by: &Identity,
        registry: &str,
        login: &str,
        role: Option<Role>,
    ) -> Result<(), ServiceError> {
        let reg = self.registry(registry)?;
        let entry = berth_store::AuditEntry {
            actor: Some(by.user.login.clone()),
            client_addr: by.origin.client_addr.clone(),
            user_agent: by.origin.user_agent.clone(),
            ..berth_store::AuditEntry::new(
                berth_store::AuditAction::RoleGrant,
                berth_store::AuditOutcome::Ok,
            )
        };
        Ok(self
            .meta
            .set_role_by(reg.id, &reg.name, login, role, entry)
            .await?)
    }

    /// The sparse-index URL of a registry.
    pub fn index_url(&self, reg: &Registry) -> String {
        format!("{}/r/{}/index/", self.config.public_url, reg.name)
    }

    /// `config.json` for a registry's sparse index.
    pub fn index_config(&self, reg: &Registry) -> serde_json::Value {
        let base = format!("{}/r/{}", self.config.public_url, reg.name);
        let mut cfg = serde_json::json!({
            "dl": format!("{base}/api/v1/crates"),
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

    /// Whether the database and blob store answer.
    pub async fn ready(&self) -> Result<(), ServiceError> {
        self.meta
            .ping()
            .await
            .map_err(|e| ServiceError::Unavailable(format!("database: {e}")))?;
        self.blobs
            .ping()
            .await
            .map_err(|e| ServiceError::Unavailable(format!("blob store: {e}")))?;
        Ok(())
    }

    /// Writes buffered download counts; call periodically and at shutdown.
    pub async fn flush_downloads(&self) -> Result<(), ServiceError> {
        self.downloads.flush(&self.meta).await
    }
}
