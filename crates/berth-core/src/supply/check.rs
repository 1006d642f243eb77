//! `berth check` and `POST /api/v1/check`: every package of a `Cargo.lock`
//! from a registry, looked up in one registry (its hosted crates, its
//! proxy's upstream, a virtual registry's members), reported when the
//! registry's policy blocks it or an advisory affects it.
//!
//! A lockfile names the source it resolved from, which for a registry
//! standing in for another (source replacement) is the original's, so
//! every package with a `registry+` or `sparse+` source is looked up;
//! path and git packages are skipped. Bounded: the lockfile's size and
//! package count, at most [`LOOKUPS_AT_ONCE`] look-ups at a time, and
//! (through the API) a few checks at once per node (429 beyond).

use futures::{StreamExt, TryStreamExt};
use semver::Version;
use serde::{Deserialize, Serialize};

use crate::error::ServiceError;
use crate::{Berth, Identity};

/// Largest lockfile read, in bytes.
pub const MAX_LOCKFILE_BYTES: usize = 4 << 20;
/// Most packages checked in one lockfile.
pub const MAX_LOCKED_PACKAGES: usize = 5_000;
/// Look-ups in flight at once (a proxy may ask its upstream for each).
pub const LOOKUPS_AT_ONCE: usize = 8;

/// The answer for one lockfile.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CheckReport {
    pub registry: String,
    /// Packages from a registry source that were looked up.
    pub checked: usize,
    /// Packages skipped (path and git sources).
    pub skipped: usize,
    /// Whether there is no finding.
    pub ok: bool,
    /// By name, then version.
    pub findings: Vec<Finding>,
}

/// One locked package that fails the check.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Finding {
    pub name: String,
    pub version: String,
    /// `blocked` (the policy leaves it out: cargo cannot fetch it here),
    /// `advisory` (served, but an advisory affects it) or `missing` (the
    /// registry has no such version).
    pub status: &'static str,
    /// The rule that blocks it (`blocked` only).
    pub rule: Option<&'static str>,
    pub reason: String,
    /// The advisories that affect the version.
    pub advisories: Vec<String>,
}

#[derive(Deserialize)]
struct Lockfile {
    #[serde(default)]
    package: Vec<Locked>,
}

#[derive(Deserialize)]
struct Locked {
    name: String,
    version: String,
    #[serde(default)]
    source: Option<String>,
}

impl Berth {
    /// Checks the packages of `lockfile` (a `Cargo.lock`'s text) against
    /// `registry`, as `who` may read it.
    pub async fn check_lockfile(
        &self,
        registry: &str,
        who: Option<&Identity>,
        lockfile: &str,
    ) -> Result<CheckReport, ServiceError> {
        let reg = self.registry(registry)?;
        // A check may make a proxy ask its upstream for every package: not
        // for anonymous callers.
        if who.is_none() {
            return Err(ServiceError::Unauthorized(
                "checking a lockfile needs a token (Authorization header)".into(),
            ));
        }
        self.authorize_read(reg, who)?;
        let _slot = self.check_slot().await?;
        self.check_at(self.at_for(reg, who), lockfile).await
    }

    /// As [`Berth::check_lockfile`], for the operator (`berth check`): every
    /// registry and member is open to it.
    pub async fn check_lockfile_as_operator(
        &self,
        registry: &str,
        lockfile: &str,
    ) -> Result<CheckReport, ServiceError> {
        let reg = self.registry(registry)?;
        self.check_at(self.at(reg), lockfile).await
    }

    async fn check_at(
        &self,
        at: crate::sources::At<'_>,
        lockfile: &str,
    ) -> Result<CheckReport, ServiceError> {
        if at.reg.policed {
            self.supply.require_complete()?;
        }
        if lockfile.len() > MAX_LOCKFILE_BYTES {
            return Err(ServiceError::BadRequest(format!(
                "the lockfile is larger than {MAX_LOCKFILE_BYTES} bytes"
            )));
        }
        let parsed: Lockfile = toml::from_str(lockfile)
            .map_err(|e| ServiceError::BadRequest(format!("not a Cargo.lock: {}", e.message())))?;
        if parsed.package.len() > MAX_LOCKED_PACKAGES {
            return Err(ServiceError::BadRequest(format!(
                "the lockfile has more than {MAX_LOCKED_PACKAGES} packages"
            )));
        }
        let (from_registry, skipped): (Vec<_>, Vec<_>) =
            parsed.package.into_iter().partition(|p| {
                p.source
                    .as_deref()
                    .is_some_and(|s| s.starts_with("registry+") || s.starts_with("sparse+"))
            });
        let checked = from_registry.len();
        let mut findings: Vec<Finding> = futures::stream::iter(from_registry)
            .map(|p| async move { self.check_one(at, p).await })
            .buffer_unordered(LOOKUPS_AT_ONCE)
            .try_filter_map(|f| async move { Ok(f) })
            .try_collect()
            .await?;
        findings.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
        Ok(CheckReport {
            registry: at.reg.name.clone(),
            checked,
            skipped: skipped.len(),
            ok: findings.is_empty(),
            findings,
        })
    }

    async fn check_one(
        &self,
        at: crate::sources::At<'_>,
        p: Locked,
    ) -> Result<Option<Finding>, ServiceError> {
        let version = Version::parse(&p.version).map_err(|e| {
            ServiceError::BadRequest(format!(
                "package `{}` has version `{}`, which is not a version: {e}",
                p.name, p.version
            ))
        })?;
        let advisories: Vec<String> = self
            .supply
            .set()
            .set
            .affecting(&p.name, &version)
            .map(|a| a.id.clone())
            .collect();
        let finding = |status, rule, reason: String| {
            Some(Finding {
                name: p.name.clone(),
                version: p.version.clone(),
                status,
                rule,
                reason,
                advisories: advisories.clone(),
            })
        };
        let missing = |name: &str| {
            format!(
                "registry `{}` has no version `{}` of `{name}`",
                at.reg.name, p.version
            )
        };
        let lname = p.name.to_ascii_lowercase();
        let policed = self.policed_file(at, &lname).await?;
        if let Some(blocked) = policed.as_ref().and_then(|f| f.blocked_for(&p.version)) {
            return Ok(finding(
                "blocked",
                Some(blocked.rule.as_str()),
                blocked.reason.clone(),
            ));
        }
        let present =
            policed.is_some_and(|f| super::lists::line_of(&f.file.body, &version).is_some());
        if !present {
            return Ok(finding("missing", None, missing(&p.name)));
        }
        if !advisories.is_empty() {
            return Ok(finding(
                "advisory",
                None,
                format!(
                    "{}@{} is affected by {}",
                    p.name,
                    p.version,
                    advisories.join(", ")
                ),
            ));
        }
        Ok(None)
    }
}
