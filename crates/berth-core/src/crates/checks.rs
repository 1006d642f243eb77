//! The checks every change to a crate makes before it touches the store:
//! a token is present, it has the scope and its crate patterns allow the
//! name (a refusal leaves an audit row, clipped), and the crate exists.

use berth_store::{AuditAction, AuditEntry, AuditOutcome, StoreError};

use crate::accounts::auth::Scope;
use crate::error::ServiceError;
use crate::text::clip;
use crate::{Berth, Identity, Registry};

/// Longest name or version an audit row records as given.
const AUDIT_FIELD_CHARS: usize = 128;

/// A change to a crate that a caller asks for, as its refusals record it:
/// what, in which registry, of which crate (and version).
#[derive(Clone, Copy)]
pub(crate) struct Change<'a> {
    pub action: AuditAction,
    pub reg: &'a Registry,
    pub krate: &'a str,
    pub vers: Option<&'a str>,
}

impl<'a> Change<'a> {
    pub(crate) fn of(
        action: AuditAction,
        reg: &'a Registry,
        krate: &'a str,
        vers: Option<&'a str>,
    ) -> Self {
        Change {
            action,
            reg,
            krate,
            vers,
        }
    }
}

/// The caller of an operation that needs a token, or the one 401 for its
/// absence.
pub(crate) fn need_token<'a>(
    who: Option<&'a Identity>,
    reg: &Registry,
) -> Result<&'a Identity, ServiceError> {
    who.ok_or_else(|| {
        ServiceError::Unauthorized(format!(
            "this operation requires a token: run `cargo login --registry {}`",
            reg.name
        ))
    })
}

impl Berth {
    /// A crate of a registry by any spelling of its name, or 404.
    pub(crate) async fn existing_crate(
        &self,
        reg: &Registry,
        name: &str,
    ) -> Result<berth_store::CrateRow, ServiceError> {
        self.meta
            .find_crate(reg.id, &berth_protocol::canonical_name(name))
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("crate `{name}` does not exist")))
    }

    /// Fails with 403 (and an audit row) unless the caller's token has
    /// `scope` and, when it is limited to crate patterns, `krate` matches
    /// one.
    pub(crate) async fn require_scope(
        &self,
        who: &Identity,
        scope: Scope,
        change: Change<'_>,
    ) -> Result<(), ServiceError> {
        if !who.scopes.has(scope) {
            let why = format!("token lacks {scope}");
            self.audit_denied(who, change, &why).await;
        }
        who.require(scope)?;
        self.require_crate_pattern(who, change).await
    }

    /// The error of a change the store refused; a caller who is not an
    /// owner of the crate (as the store names it) is recorded as refused.
    pub(crate) async fn refused_by_store(
        &self,
        who: &Identity,
        change: Change<'_>,
        e: StoreError,
    ) -> ServiceError {
        if let StoreError::NotOwner(n) = &e {
            let change = Change { krate: n, ..change };
            self.audit_denied(who, change, "not an owner").await;
        }
        e.into()
    }

    /// Records a refused change (within the refusal budget).
    pub(crate) async fn audit_denied(&self, who: &Identity, change: Change<'_>, why: &str) {
        let Change {
            action,
            reg,
            krate,
            vers,
        } = change;
        // Names and versions here may come straight from a request path:
        // what is not a valid name or version is recorded clipped, so the
        // append-only log never holds attacker-sized rows.
        let name = match berth_protocol::validate_crate_name(krate) {
            Ok(()) => krate.to_string(),
            Err(_) => clip(krate, AUDIT_FIELD_CHARS),
        };
        let version = vers.map(|v| match berth_protocol::validate_version(v) {
            Ok(_) if v.len() <= AUDIT_FIELD_CHARS => v.to_string(),
            _ => clip(v, AUDIT_FIELD_CHARS),
        });
        let entry = AuditEntry {
            actor: Some(who.user.login.clone()),
            action,
            registry: Some(reg.name.clone()),
            crate_name: Some(name),
            version,
            detail: Some(clip(why, 4 * AUDIT_FIELD_CHARS)),
            token_id: Some(who.token_id),
            client_addr: who.origin.client_addr.clone(),
            user_agent: who.origin.user_agent.clone(),
            ..AuditEntry::new(action, AuditOutcome::Denied)
        };
        if let Err(e) = self
            .meta
            .append_audit_at(&entry, self.clock.now_unix())
            .await
        {
            tracing::warn!(error = %e, "could not write audit entry for a refused {action}");
        }
    }
}
