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

pub mod accounts;
pub mod audit;
pub mod clock;
pub mod config;
pub mod crates;
pub mod docs;
pub mod error;
pub mod maintenance;
mod registries;
#[cfg(target_os = "linux")]
pub mod sendable;
mod sources;
pub mod supply;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
mod text;
mod throttle;
pub mod tokens;
pub mod transparency;
pub mod trust;
pub mod watch;
pub mod webhooks;

use std::collections::HashMap;
use std::sync::Arc;

use berth_store::{BlobStore, MetaStore};

pub use accounts::auth::{Identity, Role, Scope, Scopes};
pub use berth_store::address_key;
pub use berth_store::redact as redact_url;
pub use berth_store::set_operator;
pub use berth_store::sqlite_path;
pub use clock::Clock;
pub use config::registry::{KindSettings, ProxyConfig, ReplicaConfig, VirtualConfig};
pub use config::{Config, Overrides, RegistryConfig, RegistryKind};
pub use crates::{
    ChangePage, CrateDetail, Download, DownloadBody, IndexFile, OwnerList, PublishWarnings,
    VersionJson,
};
pub use error::ServiceError;
pub use maintenance::BlobCheck;
pub use sources::SearchResults;
pub use sources::{KindTraits, ReplicaStep, ToolchainBody, ToolchainFile};

/// A registry as the services see it.
#[derive(Debug, Clone)]
pub struct Registry {
    pub id: i64,
    pub name: String,
    pub private: bool,
    /// What it serves, by kind.
    pub(crate) source: Arc<sources::Source>,
    /// Its supply-chain policy; `None` when it sets no rule.
    pub(crate) policy: Option<Arc<berth_policy::Policy>>,
    /// Whether any policy decides what it serves: its own, or (a virtual
    /// registry) a member's. When not, index files and downloads skip
    /// the policy layer.
    pub(crate) policed: bool,
    /// What it serves is for some callers only: it is private, or it or a
    /// registry it serves from is limited to `allowed_cidrs`. A shared
    /// cache (a CDN) must never keep its downloads.
    pub(crate) restricted: bool,
}

/// The application: configuration, stores and caches, shared by every
/// request.
pub struct Berth {
    pub config: Config,
    pub(crate) meta: MetaStore,
    pub(crate) blobs: BlobStore,
    /// foldhash, seeded per process: looked up on every request, and
    /// only the configuration's names are keys.
    registries: HashMap<String, Registry, foldhash::fast::RandomState>,
    /// What the registries of each kind share (the hosted registries'
    /// index cache and watch, the proxies' memory budget).
    pub(crate) kinds: sources::Shared,
    downloads: crates::downloads::DownloadCounter,
    download_cache: crates::downloads::DownloadCache,
    pub(crate) throttle: throttle::Throttle,
    /// Where time comes from (see [`clock`]).
    pub(crate) clock: Clock,
    /// The advisory set and policy lists in force, and filtered index files.
    pub(crate) supply: supply::SupplyState,
    /// The transparency log's signing key and signed checkpoints.
    pub(crate) log: transparency::LogState,
    /// The trusted-publishing issuers' keys, fetched on demand.
    pub(crate) trust_keys: trust::verify::IssuerKeys,
    /// Single sign-on, when `[auth.oidc]` is set.
    pub(crate) oidc: Option<accounts::oidc::OidcState>,
    /// The directory, when `[auth.ldap]` is set.
    pub(crate) directory: Option<accounts::ldap::Directory>,
    /// When each directory user was last looked up again.
    pub(crate) directory_checks: accounts::sessions::DirectoryChecks,
    /// The client webhook deliveries are sent with.
    pub(crate) webhook_http: reqwest::Client,
    /// Deliveries this node may be sending at once.
    pub(crate) webhook_slots: Arc<tokio::sync::Semaphore>,
    /// Documentation uploads this node unpacks at once.
    pub(crate) docs_uploads: tokio::sync::Semaphore,
    /// Which docs sets crates have, read shortly before (`docs/`).
    pub(crate) docs_sets: docs::SetsCache,
    /// Outcomes of finished sends, written with the next claim.
    pub(crate) webhook_outcomes: std::sync::Mutex<Vec<berth_store::WebhookAttempt>>,
    /// Wakes the sending loop when a send finishes.
    pub(crate) webhook_wake: tokio::sync::Notify,
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
        crates::downloads::check_redirect(&config, &blobs)?;
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
        let mut registries = HashMap::default();
        let kinds = sources::Shared::new(&config, sole_writer);
        let reach = config::registry::reach_lists(&config.registries);
        for r in &config.registries {
            let source = sources::Source::open(&config, r, &kinds)?;
            let id = meta.ensure_registry(&r.name, r.kind()).await?;
            let policy = r
                .checked_policy()
                .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
            let policy = (!policy.is_empty()).then(|| Arc::new(policy));
            registries.insert(
                r.name.clone(),
                Registry {
                    id,
                    name: r.name.clone(),
                    private: r.is_private(),
                    restricted: r.is_private() || reach.contains_key(&r.name),
                    policed: policy.is_some(),
                    policy,
                    source: Arc::new(source),
                },
            );
        }
        // Versions stored before the transparency log existed are logged
        // once, in publish order.
        let logged = meta.log_backfill().await?;
        if logged > 0 {
            tracing::info!(
                records = logged,
                "logged the versions stored before the transparency log existed"
            );
        }
        // A virtual registry serves its members' files under their policies.
        let policed_members: Vec<String> = registries
            .values()
            .filter(|r| {
                r.source
                    .members()
                    .iter()
                    .any(|m| registries.get(m).is_some_and(|m| m.policy.is_some()))
            })
            .map(|r| r.name.clone())
            .collect();
        for name in policed_members {
            if let Some(r) = registries.get_mut(&name) {
                r.policed = true;
            }
        }
        let berth = Self {
            meta,
            blobs,
            registries,
            kinds,
            downloads: crates::downloads::DownloadCounter::default(),
            download_cache: crates::downloads::DownloadCache::new(config.limits.blob_cache_bytes),
            docs_sets: docs::SetsCache::default(),
            throttle: throttle::Throttle::new(&config.limits, config.database.max_connections),
            supply: supply::SupplyState::new(config.limits.index_cache_bytes / 4),
            log: transparency::LogState::new(
                transparency::keys::read_key(&config)?,
                transparency::keys::retired_keys(&config),
            ),
            trust_keys: trust::verify::IssuerKeys::new(),
            oidc: config
                .auth
                .oidc
                .as_ref()
                .map(accounts::oidc::OidcState::new),
            directory: config
                .auth
                .ldap
                .as_ref()
                .map(accounts::ldap::Directory::new)
                .transpose()?,
            directory_checks: Default::default(),
            webhook_http: trust::verify::outbound_client(),
            webhook_slots: Arc::new(tokio::sync::Semaphore::new(webhooks::BATCH)),
            docs_uploads: tokio::sync::Semaphore::new(2),
            webhook_outcomes: Default::default(),
            webhook_wake: tokio::sync::Notify::new(),
            config,
            clock,
        };
        // A stored set or list that does not load does not stop the
        // process (a command can then import a good set): policed
        // registries answer 503 until a refresh succeeds.
        if let Err(e) = berth.refresh_supply().await {
            tracing::error!(error = %e, "supply-chain state could not be loaded; policed registries answer 503 until it is");
        }
        berth.supply.opened();
        Ok(Arc::new(berth))
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

    /// The registries, by name.
    pub fn registries(&self) -> impl Iterator<Item = &Registry> {
        let mut v: Vec<&Registry> = self.registries.values().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v.into_iter()
    }

    /// Closes the database pool (at shutdown).
    pub async fn close(&self) {
        self.meta.close().await;
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
        let now = self.clock.now_unix();
        for reg in self.registries.values() {
            let Some(replica) = reg.source.as_replica() else {
                continue;
            };
            let Some(bound) = replica.settings.max_lag_secs else {
                continue;
            };
            match replica.lag_secs(now) {
                Some(lag) if lag <= bound as i64 => {}
                Some(lag) => {
                    return Err(ServiceError::Unavailable(format!(
                        "replica registry `{}` is {lag} s behind its primary (max_lag_secs =                          {bound})",
                        reg.name
                    )))
                }
                None => {
                    return Err(ServiceError::Unavailable(format!(
                        "replica registry `{}` has not caught up with its primary yet",
                        reg.name
                    )))
                }
            }
        }
        Ok(())
    }

    /// Each replica registry's lag behind its primary in seconds, as this
    /// node knows it (`None`: not caught up since this node started).
    pub fn replica_lags(&self) -> Vec<(String, Option<i64>)> {
        let now = self.clock.now_unix();
        self.registries()
            .filter_map(|r| Some((r.name.clone(), r.source.as_replica()?.lag_secs(now))))
            .collect()
    }

    /// The replica registries configured, by name.
    pub fn replicas(&self) -> Vec<String> {
        self.registries()
            .filter(|r| r.source.as_replica().is_some())
            .map(|r| r.name.clone())
            .collect()
    }
}
