//! `registries`: one row per configured registry, created on start.
//!
//! A registry row is only ever created here, never renamed or deleted:
//! crates and roles refer to its id. Which registries exist is the
//! configuration's decision; this file only records it.

use crate::db::MetaStore;
use crate::domain::RegistryKind;
use crate::{now_unix, StoreError};

impl MetaStore {
    /// Creates the registry if it does not exist; returns its id.
    pub async fn ensure_registry(&self, name: &str, kind: RegistryKind) -> Result<i64, StoreError> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO registries (name, kind, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(kind.as_str())
        .bind(now_unix())
        .execute(&mut *w.tx)
        .await?;
        let id = sqlx::query_scalar("SELECT id FROM registries WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(id)
    }
}
