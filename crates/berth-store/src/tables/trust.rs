//! `trust_configs`, `trust_jtis` and the `trust_claims` of tokens and
//! versions: what trusted publishing keeps (issue 30).
//!
//! A trust configuration names a CI identity (an issuer's name, a
//! repository, a workflow file, optionally an environment) that may
//! publish a crate of a registry; the crate need not exist yet. An OIDC
//! token's `jti` is recorded when it is exchanged so that it is accepted
//! once. Nothing here checks a token's signature or decides who may add a
//! configuration: callers pass those decisions in.

use crate::db::MetaStore;
use crate::error::OrTaken;
use crate::model::{AuditEntry, NewTrustConfig, TrustConfigRow};
use crate::{now_unix, StoreError};

const CONFIG_COLUMNS: &str = "id, registry_id, crate_name, canon_name, issuer, repository, \
     workflow, environment, created_by, created_at";

impl MetaStore {
    /// Adds a trust configuration with its audit row; the same identity
    /// twice for one crate is [`StoreError::TrustConfigExists`].
    pub async fn trust_config_add(
        &self,
        c: &NewTrustConfig,
        audit: &AuditEntry,
    ) -> Result<i64, StoreError> {
        let mut w = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO trust_configs (registry_id, crate_name, canon_name, issuer, repository, \
                                        workflow, environment, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(c.registry_id)
        .bind(&c.crate_name)
        .bind(&c.canon_name)
        .bind(&c.issuer)
        .bind(&c.repository)
        .bind(&c.workflow)
        .bind(c.environment.as_deref())
        .bind(c.created_by)
        .bind(now_unix())
        .fetch_one(&mut *w.tx)
        .await
        .or_taken(|| StoreError::TrustConfigExists(c.crate_name.clone()))?;
        w.commit_audited(audit).await?;
        Ok(id)
    }

    /// A crate's trust configurations (by its folded name), oldest first.
    pub async fn trust_configs_of(
        &self,
        registry_id: i64,
        canon_name: &str,
    ) -> Result<Vec<TrustConfigRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {CONFIG_COLUMNS} FROM trust_configs \
             WHERE registry_id = $1 AND canon_name = $2 ORDER BY id"
        ))
        .bind(registry_id)
        .bind(canon_name)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The configurations of a registry that name a repository of an
    /// issuer (what an exchange matches against), oldest first.
    pub async fn trust_configs_for(
        &self,
        registry_id: i64,
        issuer: &str,
        repository: &str,
    ) -> Result<Vec<TrustConfigRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {CONFIG_COLUMNS} FROM trust_configs \
             WHERE registry_id = $1 AND issuer = $2 AND repository = $3 ORDER BY id"
        ))
        .bind(registry_id)
        .bind(issuer)
        .bind(repository)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Removes one of a crate's configurations with its audit row; whether
    /// it existed.
    pub async fn trust_config_remove(
        &self,
        registry_id: i64,
        canon_name: &str,
        id: i64,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        let removed = sqlx::query(
            "DELETE FROM trust_configs WHERE id = $1 AND registry_id = $2 AND canon_name = $3",
        )
        .bind(id)
        .bind(registry_id)
        .bind(canon_name)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        if removed == 0 {
            return Ok(false);
        }
        w.commit_audited(audit).await?;
        Ok(true)
    }

    /// Records an OIDC token's `jti` as exchanged, until `expires_at`;
    /// false when it was exchanged before (a replay). Forgets the ids of
    /// tokens expired by `now` on the way.
    pub async fn trust_jti_once(
        &self,
        issuer: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        sqlx::query("DELETE FROM trust_jtis WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO trust_jtis (issuer, jti, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(issuer)
        .bind(jti)
        .bind(expires_at)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.tx.commit().await?;
        Ok(inserted == 1)
    }

    /// Sets whether only trusted publishing may publish a crate, with its
    /// audit row; whether the crate exists.
    pub async fn set_trusted_only(
        &self,
        crate_id: i64,
        on: bool,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        let changed = sqlx::query("UPDATE crates SET trusted_only = $2 WHERE id = $1")
            .bind(crate_id)
            .bind(i64::from(on))
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        w.commit_audited(audit).await?;
        Ok(true)
    }
}
