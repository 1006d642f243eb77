//! The read-only views of crates the management API and the web UI show:
//! a registry's front page and listing, one crate's detail, README and
//! page (with its dependents and downloads per day). Every kind of registry
//! is browsable: a virtual registry's pages come from the member that owns
//! a name, among the members the viewer may read; a proxy's from its cache
//! (see `proxied_page`). Every view checks [`Berth::authorize_read`] before
//! it touches a registry's rows; nothing here renders anything. What the
//! advisories and policies say of a crate's versions is `page_supply`'s;
//! the views it fills ([`BlockedView`], [`SupplyFacts`]) are here.

use berth_protocol::PublishMetadata;
use berth_store::{CrateSummary, VersionPage};
use serde::Serialize;

use crate::crates::owners::OwnerJson;
use crate::error::ServiceError;
use crate::sources::RegistryFront;
use crate::supply::advisories::AdvisoryView;
use crate::supply::filter::Blocked;
use crate::{Berth, Identity, Registry};

/// A crate with its versions, for the management API and the UI.
#[derive(Debug, Clone, Serialize)]
pub struct CrateDetail {
    pub name: String,
    pub description: Option<String>,
    pub max_version: Option<String>,
    pub downloads: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub owners: Vec<OwnerJson>,
    pub versions: Vec<VersionJson>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionJson {
    pub vers: String,
    pub yanked: bool,
    pub cksum: String,
    pub size: i64,
    pub published_at: i64,
    pub published_by: Option<String>,
    pub downloads: i64,
    pub has_readme: bool,
    /// The advisories in force that affect this version (withdrawn ones
    /// never).
    pub advisories: Vec<AdvisoryView>,
    /// Why a policy keeps this version from cargo in the registry asked;
    /// `None` when it is served.
    pub blocked: Option<BlockedView>,
    /// Its index in the transparency log of the registry holding it, when
    /// logged with this checksum (filled for crate pages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
    /// The CI job that published it through trusted publishing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_publisher: Option<crate::trust::CiClaims>,
}

/// One crate's page: the hosted registry that holds it, its details, the
/// version shown and that version's publish metadata.
#[derive(Debug, Clone)]
pub struct CratePage {
    /// The hosted registry holding the crate (for a virtual registry, the
    /// member that owns the name).
    pub holder: String,
    pub detail: CrateDetail,
    pub version: VersionPage,
    /// The publish metadata of `version` as cargo sent it (for a proxy's
    /// crate, what its index line says: dependencies, features, Rust
    /// version).
    pub metadata: PublishMetadata,
    /// Crates of the holder registry whose newest live version depends on
    /// this crate, most downloaded first (at most [`DEPENDENTS_SHOWN`]).
    pub dependents: Vec<CrateSummary>,
    /// How many such crates there are.
    pub dependents_total: i64,
    /// Downloads per day over the last [`CHART_DAYS`] days, oldest first,
    /// one entry per day (zero included): `(Unix day number, count)`.
    pub daily_downloads: Vec<(i64, i64)>,
    /// The crate comes from a proxy's cache: versions from its cached index
    /// file, no owners, downloads or dependents of its own, and a README
    /// only when the proxy holds that version's `.crate`.
    pub proxied: bool,
    /// What the banners and the dependency list say of advisories (each
    /// version's own are in `detail.versions`).
    pub supply: SupplyFacts,
    /// How to check a version against the holder's transparency log (each
    /// version's index is in `detail.versions`); `None` while the server
    /// has no signing key.
    pub log: Option<PageLog>,
}

/// What `berth verify` needs to check a version of a crate page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageLog {
    /// The index URL of the registry whose log holds the crate (without
    /// `sparse+`).
    pub index_url: String,
    /// The key that signs its checkpoints now (`NAME+HASH+BASE64`).
    pub key: String,
}

/// Dependents one crate page lists.
pub const DEPENDENTS_SHOWN: i64 = 50;
/// Days of the crate page's downloads chart (today included).
pub const CHART_DAYS: i64 = 90;

impl Berth {
    /// A crate, its owners and its versions, each with the advisories that
    /// affect it and whether the registry's policy blocks it.
    pub async fn crate_detail(
        &self,
        registry: &str,
        who: Option<&Identity>,
        name: &str,
    ) -> Result<CrateDetail, ServiceError> {
        let asked = self.registry(registry)?;
        let reg = self.hosted_for(registry, who, name).await?;
        let mut detail = self.hosted_detail(reg, who, name).await?;
        self.annotate_versions(asked, who, &detail.name, &mut detail.versions)
            .await?;
        Ok(detail)
    }

    /// A hosted registry's crate, its owners and its versions (their
    /// supply-chain fields left empty).
    async fn hosted_detail(
        &self,
        reg: &Registry,
        who: Option<&Identity>,
        name: &str,
    ) -> Result<CrateDetail, ServiceError> {
        self.authorize_read(reg, who)?;
        let krate = self.existing_crate(reg, name).await?;
        let owners = self.all_owners(krate.id).await?;
        let versions = self.meta.crate_versions(krate.id).await?;
        Ok(CrateDetail {
            name: krate.name,
            description: krate.description,
            max_version: krate.max_version,
            downloads: krate.downloads,
            created_at: krate.created_at,
            updated_at: krate.updated_at,
            owners,
            versions: versions
                .into_iter()
                .map(|v| VersionJson {
                    vers: v.vers,
                    yanked: v.yanked,
                    cksum: v.cksum,
                    size: v.size,
                    published_at: v.created_at,
                    published_by: v.published_by,
                    downloads: v.downloads,
                    has_readme: v.has_readme,
                    advisories: Vec::new(),
                    blocked: None,
                    log_index: None,
                    trusted_publisher: v
                        .trust_claims
                        .as_deref()
                        .and_then(|c| serde_json::from_str(c).ok()),
                })
                .collect(),
        })
    }

    /// The README of a version, as published.
    pub async fn readme(
        &self,
        registry: &str,
        who: Option<&Identity>,
        name: &str,
        vers: &str,
    ) -> Result<String, ServiceError> {
        let reg = self.hosted_for(registry, who, name).await?;
        self.authorize_read(reg, who)?;
        let missing = || ServiceError::NotFound(format!("no README for `{name}@{vers}`"));
        let krate = self
            .meta
            .find_crate(reg.id, &berth_protocol::canonical_name(name))
            .await?
            .ok_or_else(missing)?;
        let version = berth_protocol::validate_version(vers).map_err(|_| missing())?;
        self.meta
            .version_readme(krate.id, &berth_protocol::canonical_version(&version))
            .await?
            .ok_or_else(missing)
    }

    /// A registry's front: its newest and most downloaded crates.
    pub async fn registry_front(
        &self,
        reg: &Registry,
        who: Option<&Identity>,
        limit: i64,
    ) -> Result<RegistryFront, ServiceError> {
        self.authorize_read(reg, who)?;
        reg.source.front(self.at_for(reg, who), limit).await
    }

    /// A page of a registry's crates, and how many it has: a hosted
    /// registry's by name, a proxy's cached crates by name, a virtual
    /// registry's as its search with no words lists them (members the
    /// caller may not read left out).
    pub async fn list_crates(
        &self,
        registry: &str,
        who: Option<&Identity>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<CrateSummary>, i64), ServiceError> {
        let reg = self.registry(registry)?;
        self.authorize_read(reg, who)?;
        reg.source.list(self.at_for(reg, who), limit, offset).await
    }

    /// One crate's page, at `vers` or its newest version, with what the
    /// advisories in force and the policies that apply to the registry
    /// asked say of it.
    pub async fn crate_page(
        &self,
        registry: &str,
        who: Option<&Identity>,
        name: &str,
        vers: Option<&str>,
    ) -> Result<CratePage, ServiceError> {
        let asked = self.registry(registry)?;
        self.authorize_read(asked, who)?;
        let mut page = match self.page_holder(asked, who, name).await? {
            Some(holder) if holder.traits().caches_upstream => {
                self.proxied_page(holder, name, vers).await?
            }
            Some(holder) => self.hosted_page(holder, who, name, vers).await?,
            None => {
                return Err(ServiceError::NotFound(format!(
                    "crate `{name}` does not exist"
                )))
            }
        };
        let real = page.detail.name.clone();
        self.annotate_versions(asked, who, &real, &mut page.detail.versions)
            .await?;
        // The holder was authorized by `page_holder`.
        let holder = self.registry(&page.holder)?;
        self.annotate_log(holder, &mut page).await?;
        page.supply = self
            .supply_facts(
                asked,
                who,
                &page.detail,
                &page.version.vers,
                &page.metadata.deps,
            )
            .await?;
        Ok(page)
    }

    /// A hosted registry's crate page (`reg`, which the caller may read).
    async fn hosted_page(
        &self,
        reg: &Registry,
        who: Option<&Identity>,
        name: &str,
        vers: Option<&str>,
    ) -> Result<CratePage, ServiceError> {
        let detail = self.hosted_detail(reg, who, name).await?;
        let missing = || ServiceError::NotFound(format!("crate `{name}` does not exist"));
        let canon_name = berth_protocol::canonical_name(name);
        let krate = self
            .meta
            .find_crate(reg.id, &canon_name)
            .await?
            .ok_or_else(missing)?;
        let shown = match vers {
            Some(v) => v.to_string(),
            None => detail
                .max_version
                .clone()
                .or_else(|| detail.versions.last().map(|v| v.vers.clone()))
                .ok_or_else(missing)?,
        };
        let version = berth_protocol::validate_version(&shown).map_err(|_| {
            ServiceError::NotFound(format!("crate `{name}` has no version `{shown}`"))
        })?;
        let version = self
            .meta
            .version_page(krate.id, &berth_protocol::canonical_version(&version))
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("crate `{name}` has no version `{shown}`"))
            })?;
        // Stored as cargo sent it, which passed validation; a page of a row
        // that does not read shows no metadata rather than failing.
        let metadata = serde_json::from_str(&version.metadata)
            .unwrap_or_else(|_| PublishMetadata::bare(&detail.name, &version.vers));
        // The holder was authorized above: its dependents are readable too.
        let (dependents, dependents_total) = self
            .meta
            .dependents(reg.id, &canon_name, DEPENDENTS_SHOWN)
            .await?;
        let today = self.clock.now_unix() / 86_400;
        let from = today - (CHART_DAYS - 1);
        let counts = self.meta.daily_downloads(krate.id, from, today).await?;
        let daily_downloads = (from..=today)
            .map(|day| {
                let n = counts
                    .iter()
                    .find(|(d, _)| *d == day)
                    .map_or(0, |(_, n)| *n);
                (day, n)
            })
            .collect();
        Ok(CratePage {
            holder: reg.name.clone(),
            detail,
            version,
            metadata,
            dependents,
            dependents_total,
            daily_downloads,
            proxied: false,
            supply: SupplyFacts::default(),
            log: None,
        })
    }

    /// Each version's index in the holder's transparency log (when logged
    /// with the checksum the page shows), and what verifying one needs.
    async fn annotate_log(
        &self,
        holder: &Registry,
        page: &mut CratePage,
    ) -> Result<(), ServiceError> {
        let records = self
            .meta
            .log_records_of(holder.id, &page.detail.name)
            .await?;
        for v in &mut page.detail.versions {
            let canon = berth_store::canon_vers(&v.vers);
            v.log_index = records
                .iter()
                .find(|r| r.canon_vers == canon && r.sha256 == v.cksum)
                .map(|r| r.idx as u64);
        }
        page.log = self.log_verifier().map(|key| PageLog {
            index_url: self.index_url(holder),
            key: key.to_string(),
        });
        Ok(())
    }

    /// The registry whose rows a crate page of `reg` shows (see
    /// `Source::page_holder`), when the caller may read it: the owner
    /// decides, and a reader is never shown another member's namesake
    /// instead.
    async fn page_holder<'a>(
        &'a self,
        reg: &'a Registry,
        who: Option<&'a Identity>,
        name: &str,
    ) -> Result<Option<&'a Registry>, ServiceError> {
        let owner = reg.source.page_holder(self.at_for(reg, who), name).await?;
        Ok(owner.filter(|m| self.authorize_read(m, who).is_ok()))
    }
}

/// Why a policy keeps a version from cargo.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BlockedView {
    /// `deny`, `approved_only`, `advisory`, `informational`, `license` or
    /// `min_age`.
    pub rule: &'static str,
    /// The sentence a refused download shows.
    pub reason: String,
    /// The registry whose policy blocks it (a virtual registry's, or its
    /// member's).
    pub registry: String,
    /// The advisory id, for the advisory rules.
    pub advisory: Option<String>,
}

impl From<&Blocked> for BlockedView {
    fn from(b: &Blocked) -> Self {
        BlockedView {
            rule: b.rule.as_str(),
            reason: b.reason.clone(),
            registry: b.registry.clone(),
            advisory: b.advisory.clone(),
        }
    }
}

/// What a crate page's banners and dependency list say of advisories.
#[derive(Debug, Clone, Default)]
pub struct SupplyFacts {
    /// The vulnerabilities that affect the version shown; empty when that
    /// version is yanked (its row still lists them).
    pub vulnerable: Vec<AdvisoryView>,
    /// The newest version that is not yanked, with the vulnerabilities that
    /// affect it, when it is not the version shown and any do.
    pub newest_vulnerable: Option<(String, Vec<AdvisoryView>)>,
    /// `unmaintained` advisories of the crate that affect its newest
    /// version (any, when every version is yanked); withdrawn ones never.
    pub unmaintained: Vec<AdvisoryView>,
    /// Normal dependencies of the version shown whose newest version
    /// matching the requirement, in the registry cargo finds it in, is
    /// affected by an advisory.
    pub affected_deps: Vec<AffectedDependency>,
}

/// A dependency whose newest matching version an advisory affects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffectedDependency {
    pub name: String,
    /// The requirement, as published.
    pub req: String,
    /// The registry it was looked up in.
    pub registry: String,
    /// The newest version that matches `req`, is not yanked and is not
    /// blocked there: what a fresh resolution would pick.
    pub version: String,
    pub advisories: Vec<AdvisoryView>,
}
