//! A registry's exceptions and approved list (`berth policy allow`,
//! `disallow`, `approve`, `unapprove`, `list`) and `berth policy explain`.
//! Every change is one audited transaction that bumps the registry's
//! policy revision; this node reloads the lists at once, the others at
//! their next refresh.

use std::time::Duration;

use berth_policy::{Candidate, License, Outcome, Verdict};
use berth_store::{
    AuditAction, AuditEntry, NewPolicyApproval, NewPolicyException, PolicyApprovalRow,
    PolicyExceptionRow,
};
use semver::{Version, VersionReq};
use serde::Serialize;

use super::filter::pubtime;
use crate::error::ServiceError;
use crate::{Berth, Registry};

/// Longest reason kept for an exception, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// Longest an exception may last.
pub const MAX_EXCEPTION_SECS: u64 = 10 * 365 * 86_400;

/// A registry's lists, as `berth policy list` and the admin page show them.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyLists {
    pub registry: String,
    /// The policy in force, in one line.
    pub policy: String,
    pub exceptions: Vec<PolicyExceptionRow>,
    pub approvals: Vec<PolicyApprovalRow>,
}

/// What the admin page shows of supply-chain control, as this node holds it.
#[derive(Debug, Clone, Serialize)]
pub struct SupplyOverview {
    /// The advisory set in force; `None` until one is imported.
    pub set: Option<super::advisories::SetView>,
    /// The registries with a policy, by name, with their lists.
    pub policed: Vec<PolicyLists>,
    /// The registries without one, by name.
    pub unpoliced: Vec<String>,
    /// Per policed registry (in `policed`'s order), the versions this node
    /// has lately left out of the index files it served, with why: at most
    /// [`MAX_BLOCKED_SHOWN`] each.
    pub blocked: Vec<Vec<BlockedVersion>>,
    /// Now, by the server's clock (Unix seconds): an exception whose
    /// `expires_at` is not after it has lapsed.
    pub now: i64,
}

/// Most blocked versions [`SupplyOverview`] lists per registry.
pub const MAX_BLOCKED_SHOWN: usize = 500;

/// A version a policy keeps from cargo.
#[derive(Debug, Clone, Serialize)]
pub struct BlockedVersion {
    #[serde(rename = "crate")]
    pub krate: String,
    pub version: String,
    pub rule: &'static str,
    pub reason: String,
}

/// Every rule's answer for one version (`berth policy explain`).
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub registry: String,
    #[serde(rename = "crate")]
    pub krate: String,
    pub version: String,
    /// The registry whose file holds the version (a virtual registry's member).
    pub found_in: String,
    pub published_at: Option<i64>,
    /// The license, when the registry knows it.
    pub license: Option<String>,
    /// Whether cargo is served the version.
    pub served: bool,
    /// Each policy that applies (the owning member's, then the registry's).
    pub policies: Vec<PolicyAnswer>,
}

/// One policy's answer in an [`Explanation`].
#[derive(Debug, Clone, Serialize)]
pub struct PolicyAnswer {
    pub registry: String,
    pub allowed: bool,
    pub checks: Vec<RuleAnswer>,
}

/// One rule's answer.
#[derive(Debug, Clone, Serialize)]
pub struct RuleAnswer {
    pub rule: &'static str,
    /// `pass`, `block` or `n/a`.
    pub outcome: &'static str,
    pub why: String,
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Block => "block",
        Outcome::NotApplicable => "n/a",
    }
}

/// Checks a crate name as the lists keep it.
fn crate_name(name: &str) -> Result<String, ServiceError> {
    berth_protocol::validate_crate_name(name)
        .map_err(|e| ServiceError::BadRequest(format!("`{name}` is not a crate name: {e}")))?;
    Ok(berth_protocol::canonical_name(name))
}

fn who() -> String {
    berth_store::operator().unwrap_or("server").to_string()
}

impl Berth {
    /// A registry that has a policy (an exception or approval on one
    /// without would change nothing).
    fn policed_registry(&self, registry: &str) -> Result<&Registry, ServiceError> {
        let reg = self.registry(registry)?;
        if reg.policy.is_none() {
            return Err(ServiceError::BadRequest(format!(
                "registry `{registry}` has no policy ([registries.policy]), so an exception or \
                 approval there would change nothing"
            )));
        }
        Ok(reg)
    }

    /// Allows `name@version` in `registry` whatever its policy says, for
    /// `expires_in` (a duration: `30d`, `12h`; `None`: until removed),
    /// recording `reason`.
    pub async fn policy_allow(
        &self,
        registry: &str,
        name: &str,
        version: &str,
        reason: &str,
        expires_in: Option<&str>,
    ) -> Result<PolicyExceptionRow, ServiceError> {
        let reg = self.policed_registry(registry)?;
        let canon = crate_name(name)?;
        let parsed = Version::parse(version).map_err(|e| {
            ServiceError::BadRequest(format!("`{version}` is not a version (x.y.z): {e}"))
        })?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
            return Err(ServiceError::BadRequest(format!(
                "an exception needs a reason of 1 to {MAX_REASON_CHARS} characters (--reason)"
            )));
        }
        let expires_in: Option<Duration> = expires_in
            .map(|text| {
                humantime::parse_duration(text.trim()).map_err(|e| {
                    ServiceError::BadRequest(format!(
                        "--expires-in `{text}` is not a duration like `30d` or `12h`: {e}"
                    ))
                })
            })
            .transpose()?;
        if let Some(d) = expires_in {
            if d.is_zero() || d.as_secs() > MAX_EXCEPTION_SECS {
                return Err(ServiceError::BadRequest(
                    "--expires-in must be above zero and at most ten years".into(),
                ));
            }
        }
        let now = self.clock.now_unix();
        let expires_at = expires_in.map(|d| now + d.as_secs() as i64);
        // Build metadata is not compared: one exception per version.
        let vers = berth_protocol::canonical_version(&parsed);
        let by = who();
        let mut entry = AuditEntry::done(
            AuditAction::PolicyAllow,
            format!(
                "reason={reason:?} expires_at={}",
                expires_at.map_or("never".to_string(), |t| t.to_string())
            ),
        );
        entry.registry = Some(reg.name.clone());
        entry.crate_name = Some(name.to_string());
        entry.version = Some(vers.clone());
        let new = NewPolicyException {
            registry_id: reg.id,
            name,
            canon_name: &canon,
            vers: &vers,
            reason,
            expires_at,
            created_by: &by,
            created_at: now,
        };
        let id = self.meta.add_policy_exception(&new, &entry).await?;
        self.load_lists(reg.id).await?;
        Ok(PolicyExceptionRow {
            id,
            name: name.to_string(),
            vers,
            reason: reason.to_string(),
            expires_at,
            created_by: by,
            created_at: now,
        })
    }

    /// Removes the exceptions for `name@version` in `registry`; how many.
    pub async fn policy_disallow(
        &self,
        registry: &str,
        name: &str,
        version: &str,
    ) -> Result<u64, ServiceError> {
        let reg = self.registry(registry)?;
        let canon = crate_name(name)?;
        let vers = Version::parse(version)
            .map(|v| berth_protocol::canonical_version(&v))
            .map_err(|e| ServiceError::BadRequest(format!("`{version}` is not a version: {e}")))?;
        let mut entry = AuditEntry::done(AuditAction::PolicyDisallow, String::new());
        entry.registry = Some(reg.name.clone());
        entry.crate_name = Some(name.to_string());
        entry.version = Some(vers.clone());
        let removed = self
            .meta
            .remove_policy_entries(reg.id, &canon, Some(&vers), &entry)
            .await?;
        self.load_lists(reg.id).await?;
        Ok(removed)
    }

    /// Puts `name` (the versions matching `req`, else every version) on
    /// `registry`'s approved list.
    pub async fn policy_approve(
        &self,
        registry: &str,
        name: &str,
        req: Option<&str>,
    ) -> Result<PolicyApprovalRow, ServiceError> {
        let reg = self.policed_registry(registry)?;
        let canon = crate_name(name)?;
        let req = req
            .map(|r| {
                VersionReq::parse(r).map(|q| q.to_string()).map_err(|e| {
                    ServiceError::BadRequest(format!("`{r}` is not a version requirement: {e}"))
                })
            })
            .transpose()?;
        let now = self.clock.now_unix();
        let by = who();
        let mut entry = AuditEntry::done(
            AuditAction::PolicyApprove,
            format!("req={}", req.as_deref().unwrap_or("*")),
        );
        entry.registry = Some(reg.name.clone());
        entry.crate_name = Some(name.to_string());
        let new = NewPolicyApproval {
            registry_id: reg.id,
            name,
            canon_name: &canon,
            req: req.as_deref(),
            created_by: &by,
            created_at: now,
        };
        let id = self.meta.add_policy_approval(&new, &entry).await?;
        self.load_lists(reg.id).await?;
        Ok(PolicyApprovalRow {
            id,
            name: name.to_string(),
            req,
            created_by: by,
            created_at: now,
        })
    }

    /// Takes `name` off `registry`'s approved list; how many entries went.
    pub async fn policy_unapprove(&self, registry: &str, name: &str) -> Result<u64, ServiceError> {
        let reg = self.registry(registry)?;
        let canon = crate_name(name)?;
        let mut entry = AuditEntry::done(AuditAction::PolicyUnapprove, String::new());
        entry.registry = Some(reg.name.clone());
        entry.crate_name = Some(name.to_string());
        let removed = self
            .meta
            .remove_policy_entries(reg.id, &canon, None, &entry)
            .await?;
        self.load_lists(reg.id).await?;
        Ok(removed)
    }

    /// A registry's policy, exceptions and approvals, as this node holds them.
    pub fn policy_lists(&self, registry: &str) -> Result<PolicyLists, ServiceError> {
        let reg = self.registry(registry)?;
        let loaded = self.supply.lists(reg.id);
        Ok(PolicyLists {
            registry: reg.name.clone(),
            policy: reg
                .policy
                .as_ref()
                .map_or_else(|| "no rules".to_string(), |p| p.to_string()),
            exceptions: loaded.rows.exceptions.clone(),
            approvals: loaded.rows.approvals.clone(),
        })
    }

    /// The advisory set in force and every registry's policy and lists (a
    /// read of what this node holds; the admin page's one question, which
    /// it asks for server administrators only).
    pub fn supply_overview(&self) -> Result<SupplyOverview, ServiceError> {
        let mut policed = Vec::new();
        let mut unpoliced = Vec::new();
        let mut blocked = Vec::new();
        for reg in self.registries() {
            if reg.policy.is_some() {
                policed.push(self.policy_lists(&reg.name)?);
                blocked.push(
                    self.supply
                        .filtered
                        .blocked_in(
                            reg.id,
                            self.supply.generation(),
                            self.clock.now_unix(),
                            MAX_BLOCKED_SHOWN,
                        )
                        .into_iter()
                        .map(|(krate, version, b)| BlockedVersion {
                            krate,
                            version,
                            rule: b.rule.as_str(),
                            reason: b.reason,
                        })
                        .collect(),
                );
            } else {
                unpoliced.push(reg.name.clone());
            }
        }
        Ok(SupplyOverview {
            set: self
                .supply
                .set()
                .info
                .as_ref()
                .map(super::advisories::SetView::from),
            policed,
            unpoliced,
            blocked,
            now: self.clock.now_unix(),
        })
    }

    /// Every rule's answer for `name@version` as `registry` serves it.
    pub async fn policy_explain(
        &self,
        registry: &str,
        name: &str,
        version: &str,
    ) -> Result<Explanation, ServiceError> {
        let reg = self.registry(registry)?;
        crate_name(name)?;
        let wanted = Version::parse(version)
            .map_err(|e| ServiceError::BadRequest(format!("`{version}` is not a version: {e}")))?;
        let missing = || {
            ServiceError::NotFound(format!(
                "registry `{registry}` has no version `{version}` of `{name}`"
            ))
        };
        let lname = name.to_ascii_lowercase();
        let (owner, file) = self
            .owned_file(self.at(reg), &lname)
            .await?
            .ok_or_else(missing)?;
        let (vers, published_at) = line_of(&file.body, &wanted).ok_or_else(missing)?;
        let license = self
            .known_licenses(owner, name)
            .await?
            .map(|mut all| all.remove(&vers).flatten());
        let candidate = Candidate {
            name,
            version: &wanted,
            published_at,
            license: match &license {
                Some(l) => License::of(l.as_deref()),
                None => License::Unknown,
            },
        };
        let now = self.clock.now_unix();
        let set = self.supply.set();
        let mut policies = Vec::new();
        for (r, policy) in super::filter::chain(reg, owner) {
            let lists = self.supply.lists(r.id);
            let verdict = berth_policy::evaluate(policy, &set.set, &lists.lists, &candidate, now);
            let checks = berth_policy::explain(policy, &set.set, &lists.lists, &candidate, now);
            policies.push(PolicyAnswer {
                registry: r.name.clone(),
                allowed: matches!(verdict, Verdict::Allowed),
                checks: checks
                    .into_iter()
                    .map(|c| RuleAnswer {
                        rule: c.rule.as_str(),
                        outcome: outcome_word(c.outcome),
                        why: c.why,
                    })
                    .collect(),
            });
        }
        Ok(Explanation {
            registry: reg.name.clone(),
            krate: name.to_string(),
            version: vers,
            found_in: owner.name.clone(),
            published_at,
            license: license.flatten(),
            served: policies.iter().all(|p| p.allowed),
            policies,
        })
    }
}

/// The line of `version` in an index file: its `vers` as written and its
/// publish time.
pub(crate) fn line_of(body: &[u8], version: &Version) -> Option<(String, Option<i64>)> {
    #[derive(serde::Deserialize)]
    struct Line {
        vers: String,
        #[serde(default)]
        pubtime: Option<String>,
    }
    body.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice::<Line>(l).ok())
        .find(|l| Version::parse(&l.vers).is_ok_and(|v| v.cmp_precedence(version).is_eq()))
        .map(|l| {
            let at = l.pubtime.as_deref().and_then(pubtime);
            (l.vers, at)
        })
}
