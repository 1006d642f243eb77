//! Who may do what in a registry: the caller behind an `Authorization`
//! header, reading (public registries: anyone; private ones: a role or an
//! administrator, with an `access.denied` row for a user refused) and the
//! role a change needs.

use crate::accounts::auth;
use crate::error::ServiceError;
use crate::{Berth, Identity, Registry, Role};

impl Berth {
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
}
