//! Yanking and unyanking a version: scope and ownership checked, the
//! change made by the store in one transaction, the hosted index told.

use berth_store::{AuditAction, StoreError};

use crate::accounts::auth::Scope;
use crate::crates::checks::{need_token, Change};
use crate::error::ServiceError;
use crate::{Berth, Identity};

impl Berth {
    /// Yanks (`yanked = true`) or unyanks a version.
    pub async fn set_yanked(
        &self,
        registry: &str,
        who: Option<&Identity>,
        name: &str,
        vers: &str,
        yanked: bool,
    ) -> Result<(), ServiceError> {
        let reg = self.writable_for(registry, who, name).await?;
        let who = need_token(who, reg)?;
        self.authorize_read(reg, Some(who))?;
        let action = AuditAction::yank(yanked);
        let change = Change::of(action, reg, name, Some(vers));
        self.require_scope(who, Scope::Yank, change).await?;
        let version = berth_protocol::validate_version(vers).map_err(|_| {
            ServiceError::NotFound(format!("crate `{name}` has no version `{vers}`"))
        })?;
        let canon_vers = berth_protocol::canonical_version(&version);
        let canon_name = berth_protocol::canonical_name(name);
        match self
            .meta
            .set_yanked(
                reg.id,
                &reg.name,
                &canon_name,
                &canon_vers,
                yanked,
                &who.actor(reg.id),
            )
            .await
        {
            Err(e @ StoreError::NotOwner(_)) => Err(self.refused_by_store(who, change, e).await),
            Err(StoreError::CrateNotFound(_)) => Err(ServiceError::NotFound(format!(
                "crate `{name}` does not exist"
            ))),
            Err(e) => Err(e.into()),
            Ok(changed) => {
                if let Some(revision) = changed {
                    reg.source.changed(reg, &canon_name, revision, false);
                }
                tracing::info!(registry = %reg.name, krate = %name, version = %vers, user = %who.user.login, changed, "{action}");
                Ok(())
            }
        }
    }
}
