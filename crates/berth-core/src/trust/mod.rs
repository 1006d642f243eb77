//! Trusted publishing (issue 30): a CI job exchanges its own OIDC token for
//! a publish token valid 30 minutes (`POST /r/REG/api/v1/trusted_publishing/
//! tokens`, the public registry's API, so its CI actions work when pointed
//! here), and crates say which CI identities may publish them (`berth trust
//! add|list|remove`).
//!
//! The exchanged token is an ordinary token of the user who made the
//! matching configuration (an owner, or an admin for a crate that does not
//! exist yet), limited to the matched crates, the registry, the publish
//! scopes and 30 minutes, and carrying the CI claims, which the versions it
//! publishes record. So it can do no more than that user, and stops
//! working when they may no longer publish the crate or are disabled.
//!
//! This file holds the types and the matching rule; `configs.rs` who may
//! configure what, `exchange.rs` the exchange, `verify.rs` the token's
//! signature and times.

mod configs;
mod exchange;
pub(crate) mod verify;

use berth_store::TrustConfigRow;
use serde::Serialize;

use crate::error::ServiceError;
use crate::Berth;
pub use verify::CiClaims;

/// How long an exchanged token is valid, in seconds.
pub const TOKEN_TTL: i64 = 30 * 60;

/// A trust configuration to add (`berth trust add`).
#[derive(Debug, Clone)]
pub struct TrustRequest {
    pub registry: String,
    pub krate: String,
    /// A configured issuer's name.
    pub issuer: String,
    /// `OWNER/REPO`.
    pub repository: String,
    /// The workflow's file name.
    pub workflow: String,
    pub environment: Option<String>,
    /// The user the configuration acts for; the crate's first owner when
    /// left out (required for a crate that does not exist yet).
    pub user: Option<String>,
}

/// How recent a sign-in must be to change a crate's `trusted_only`, in
/// seconds.
pub const FRESH_SIGN_IN: i64 = 10 * 60;

/// What the crate page shows an owner about trusted publishing.
#[derive(Debug, Clone, Serialize)]
pub struct TrustPanel {
    pub configs: Vec<TrustView>,
    pub trusted_only: bool,
    /// The configured issuers' names, to choose from.
    pub issuers: Vec<String>,
}

/// A trust configuration as listed.
#[derive(Debug, Clone, Serialize)]
pub struct TrustView {
    pub id: i64,
    #[serde(rename = "crate")]
    pub krate: String,
    pub issuer: String,
    pub repository: String,
    pub workflow: String,
    pub environment: Option<String>,
    /// The login the exchanged tokens belong to.
    pub acts_for: String,
    pub created_at: String,
}

/// What an exchange answers (the public registry's shape).
#[derive(Debug, Clone, Serialize)]
pub struct ExchangedToken {
    pub token: String,
}

/// `OWNER/REPO` (GitHub), or `GROUP[/SUBGROUP...]/PROJECT` (GitLab).
fn valid_repository(r: &str) -> bool {
    let parts: Vec<&str> = r.split('/').collect();
    (2..=20).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 100
                && *p != "."
                && *p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

/// A workflow file under `.github/workflows` (`release.yml`), or a GitLab
/// pipeline file's path in its project (`.gitlab-ci.yml`,
/// `ci/release.yml`).
fn valid_workflow(w: &str) -> bool {
    (w.ends_with(".yml") || w.ends_with(".yaml"))
        && w.len() <= 255
        && w.split('/').all(|p| !p.is_empty() && p != "." && p != "..")
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

/// Whether a configuration admits a verified job's claims (the issuer and
/// repository were matched by the query).
pub(crate) fn admits(config: &TrustConfigRow, claims: &CiClaims) -> bool {
    config.workflow == claims.workflow
        && match &config.environment {
            None => true,
            Some(env) => claims
                .environment
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(env)),
        }
}

impl Berth {
    fn trusted_issuer(&self, name: &str) -> Result<&crate::config::TrustedIssuer, ServiceError> {
        self.config.trusted_publishing.issuer(name).ok_or_else(|| {
            let known: Vec<&str> = self
                .config
                .trusted_publishing
                .issuers
                .iter()
                .map(|i| i.name.as_str())
                .collect();
            ServiceError::BadRequest(if known.is_empty() {
                format!(
                    "no OIDC issuer `{name}` is configured: add one under \
                     [[trusted_publishing.issuers]]"
                )
            } else {
                format!(
                    "no OIDC issuer `{name}` is configured; the configured ones are {}",
                    known.join(", ")
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(workflow: &str, environment: Option<&str>) -> TrustConfigRow {
        TrustConfigRow {
            id: 1,
            registry_id: 1,
            crate_name: "tool".into(),
            canon_name: "tool".into(),
            issuer: "ci".into(),
            repository: "acme/tool".into(),
            workflow: workflow.into(),
            environment: environment.map(str::to_string),
            created_by: 1,
            created_at: 0,
        }
    }

    fn claims(workflow: &str, environment: Option<&str>) -> CiClaims {
        CiClaims {
            repository: "acme/tool".into(),
            workflow: workflow.into(),
            environment: environment.map(str::to_string),
            git_ref: None,
            sha: None,
            run_id: None,
            issuer: "ci".into(),
        }
    }

    #[test]
    fn a_configuration_admits_its_workflow_and_environment_only() {
        assert!(admits(
            &config("release.yml", None),
            &claims("release.yml", None)
        ));
        assert!(admits(
            &config("release.yml", None),
            &claims("release.yml", Some("prod"))
        ));
        assert!(!admits(
            &config("release.yml", None),
            &claims("ci.yml", None)
        ));
        assert!(admits(
            &config("release.yml", Some("prod")),
            &claims("release.yml", Some("PROD"))
        ));
        assert!(!admits(
            &config("release.yml", Some("prod")),
            &claims("release.yml", None)
        ));
        assert!(!admits(
            &config("release.yml", Some("prod")),
            &claims("release.yml", Some("staging"))
        ));
    }

    #[test]
    fn repositories_and_workflows_are_checked() {
        assert!(valid_repository("acme/tool"));
        assert!(valid_repository("Acme-Org/tool.rs"));
        assert!(!valid_repository("acme"));
        assert!(valid_repository("acme/platform/tool"), "a GitLab subgroup");
        assert!(!valid_repository("acme/"));
        assert!(!valid_repository("acme/../tool"));
        assert!(!valid_repository("ac me/tool"));
        assert!(valid_workflow("release.yml"));
        assert!(valid_workflow("publish.yaml"));
        assert!(valid_workflow(".gitlab-ci.yml"));
        assert!(valid_workflow("ci/release.yml"));
        assert!(!valid_workflow("release"));
        assert!(!valid_workflow("../release.yml"));
        assert!(!valid_workflow("/release.yml"));
        assert!(!valid_workflow("ci//release.yml"));
    }
}
