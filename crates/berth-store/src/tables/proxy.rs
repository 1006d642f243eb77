//! Tables of proxy registries: `proxy_index` (upstream index files, with the
//! upstream's validators) and `proxy_crates` (which `.crate` blobs a proxy
//! holds, and when each was last used, for eviction). Also the registry
//! settings kept with the data (`registries.private`).
//!
//! This module stores what the proxy service decided to keep; it never
//! talks to an upstream and never checks a checksum (the service verified
//! the bytes before calling [`MetaStore::proxy_crate_put`]).

use std::collections::HashSet;

use sqlx::Row;

use crate::db::MetaStore;
use crate::domain::{AuditAction, RegistryKind};
use crate::model::AuditEntry;
use crate::StoreError;

pub(super) const PROXY_CRATE_INSERT: &str =
    "INSERT INTO proxy_crates (registry_id, name, vers, cksum, size, fetched_at, last_used_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (registry_id, name, vers) DO NOTHING";

/// A cached upstream index file.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ProxyIndexRow {
    /// `None`: the upstream said the crate does not exist.
    pub body: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// When the upstream last confirmed this answer (Unix seconds).
    pub fetched_at: i64,
    /// When the body last changed (Unix seconds).
    pub changed_at: i64,
}

impl ProxyIndexRow {
    /// An answer received now, without upstream validators.
    pub fn received(body: Option<String>, now: i64) -> Self {
        Self {
            body,
            etag: None,
            last_modified: None,
            fetched_at: now,
            changed_at: now,
        }
    }
}

/// What [`MetaStore::proxy_index_write`] stores, borrowed: an upstream
/// index file may be tens of MiB, and is not copied to be stored.
#[derive(Debug, Clone, Copy)]
pub struct ProxyIndexWrite<'a> {
    pub body: Option<&'a str>,
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
    pub fetched_at: i64,
    pub changed_at: i64,
}

impl<'a> From<&'a ProxyIndexRow> for ProxyIndexWrite<'a> {
    fn from(row: &'a ProxyIndexRow) -> Self {
        Self {
            body: row.body.as_deref(),
            etag: row.etag.as_deref(),
            last_modified: row.last_modified.as_deref(),
            fetched_at: row.fetched_at,
            changed_at: row.changed_at,
        }
    }
}

/// A `.crate` a proxy holds.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ProxyCrateRow {
    pub cksum: String,
    pub size: i64,
    pub last_used_at: i64,
}

/// A proxy cache entry removed by eviction.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EvictedCrate {
    pub name: String,
    pub vers: String,
    pub cksum: String,
    pub size: i64,
}

/// A registry as recorded in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRegistry {
    pub id: i64,
    pub name: String,
    pub kind: RegistryKind,
    /// `None` until a node records it.
    pub private: Option<bool>,
}

impl MetaStore {
    /// Every registry the database holds.
    pub async fn stored_registries(&self) -> Result<Vec<StoredRegistry>, StoreError> {
        let rows = sqlx::query("SELECT id, name, kind, private FROM registries ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get("kind")?;
                Ok(StoredRegistry {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    kind: kind.parse().map_err(StoreError::Corrupt)?,
                    private: r.try_get::<Option<i64>, _>("private")?.map(|p| p != 0),
                })
            })
            .collect()
    }

    /// Records a registry's visibility (at its first start, or when an
    /// operator changes it deliberately).
    pub async fn set_registry_private(&self, id: i64, private: bool) -> Result<(), StoreError> {
        self.write_one(
            sqlx::query("UPDATE registries SET private = $1 WHERE id = $2")
                .bind(i64::from(private))
                .bind(id),
        )
        .await
    }

    /// A proxy's cached index file, by the lowercased name cargo asks for.
    pub async fn proxy_index_get(
        &self,
        registry_id: i64,
        name: &str,
    ) -> Result<Option<ProxyIndexRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT body, etag, last_modified, fetched_at, changed_at FROM proxy_index \
             WHERE registry_id = $1 AND name = $2",
        )
        .bind(registry_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The size in bytes of a proxy's cached index file body, without
    /// reading it: `None` when nothing (or "no such crate") is stored. What
    /// the service reserves memory for before [`MetaStore::proxy_index_get`].
    pub async fn proxy_index_body_len(
        &self,
        registry_id: i64,
        name: &str,
    ) -> Result<Option<u64>, StoreError> {
        let len: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT octet_length(body) FROM proxy_index WHERE registry_id = $1 AND name = $2",
        )
        .bind(registry_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(len.flatten().map(|n| n.max(0) as u64))
    }

    /// Stores what the upstream answered for an index file (a body, or
    /// `None` for "no such crate").
    pub async fn proxy_index_put(
        &self,
        registry_id: i64,
        name: &str,
        row: &ProxyIndexRow,
    ) -> Result<(), StoreError> {
        self.proxy_index_write(registry_id, name, row.into()).await
    }

    /// [`MetaStore::proxy_index_put`] from borrowed parts.
    pub async fn proxy_index_write(
        &self,
        registry_id: i64,
        name: &str,
        row: ProxyIndexWrite<'_>,
    ) -> Result<(), StoreError> {
        self.write_one(
            sqlx::query(
                "INSERT INTO proxy_index (registry_id, name, body, etag, last_modified, fetched_at, changed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (registry_id, name) DO UPDATE SET body = excluded.body, etag = excluded.etag, \
                 last_modified = excluded.last_modified, fetched_at = excluded.fetched_at, \
                 changed_at = excluded.changed_at",
            )
            .bind(registry_id)
            .bind(name)
            .bind(row.body)
            .bind(row.etag)
            .bind(row.last_modified)
            .bind(row.fetched_at)
            .bind(row.changed_at),
        )
        .await
    }

    /// Forgets what a proxy cached, in one audited transaction: the index
    /// answers (files and "no such crate") of one crate in every spelling
    /// (`-` and `_` alike; `name` lowercased with `-`), or of every crate
    /// when `name` is None; with `crates`, also which `.crate` blobs it
    /// holds (the blobs stay until `berth gc` finds nothing refers to
    /// them). Returns (index answers, crate rows) removed.
    pub async fn proxy_purge(
        &self,
        registry: (i64, &str),
        name: Option<&str>,
        crates: bool,
    ) -> Result<(u64, u64), StoreError> {
        let (registry_id, registry_name) = registry;
        let which = match name {
            Some(_) => " AND REPLACE(name, '_', '-') = $2",
            None => "",
        };
        let mut w = self.begin_write().await?;
        let mut removed = [0u64; 2];
        let tables: &[&str] = if crates {
            &["proxy_index", "proxy_crates"]
        } else {
            &["proxy_index"]
        };
        for (i, table) in tables.iter().enumerate() {
            let sql = format!("DELETE FROM {table} WHERE registry_id = $1{which}");
            let mut q = sqlx::query(&sql).bind(registry_id);
            if let Some(n) = name {
                q = q.bind(n);
            }
            removed[i] = q.execute(&mut *w.tx).await?.rows_affected();
        }
        let mut entry = AuditEntry::done(
            AuditAction::ProxyPurge,
            format!(
                "index_answers={} crates={}{}",
                removed[0],
                removed[1],
                if crates { "" } else { " (crates kept)" }
            ),
        );
        entry.registry = Some(registry_name.to_string());
        entry.crate_name = name.map(str::to_string);
        w.commit_audited(&entry).await?;
        Ok((removed[0], removed[1]))
    }

    /// Makes a cached index answer of `name` (as cargo asks for it) stale:
    /// a "no such crate" is removed, a file is kept with its validators but
    /// counted as never confirmed, so that the next look-up asks the
    /// upstream (conditionally).
    pub async fn proxy_index_expire(&self, registry_id: i64, name: &str) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "DELETE FROM proxy_index WHERE registry_id = $1 AND name = $2 AND body IS NULL",
        )
        .bind(registry_id)
        .bind(name)
        .execute(&mut *w.tx)
        .await?;
        sqlx::query("UPDATE proxy_index SET fetched_at = 0 WHERE registry_id = $1 AND name = $2")
            .bind(registry_id)
            .bind(name)
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Records that the upstream confirmed a cached index file (a 304).
    pub async fn proxy_index_confirm(
        &self,
        registry_id: i64,
        name: &str,
        fetched_at: i64,
    ) -> Result<(), StoreError> {
        self.write_one(
            sqlx::query(
                "UPDATE proxy_index SET fetched_at = $1 WHERE registry_id = $2 AND name = $3 \
                 AND fetched_at < $1",
            )
            .bind(fetched_at)
            .bind(registry_id)
            .bind(name),
        )
        .await
    }

    /// Names of every index file a proxy holds with a body.
    pub async fn proxy_index_names(&self, registry_id: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT name FROM proxy_index WHERE registry_id = $1 AND body IS NOT NULL ORDER BY name",
        )
        .bind(registry_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get("name").map_err(StoreError::from))
            .collect()
    }

    /// The `.crate` a proxy holds for `name@vers`, if any.
    pub async fn proxy_crate_get(
        &self,
        registry_id: i64,
        name: &str,
        vers: &str,
    ) -> Result<Option<ProxyCrateRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT cksum, size, last_used_at FROM proxy_crates \
             WHERE registry_id = $1 AND name = $2 AND vers = $3",
        )
        .bind(registry_id)
        .bind(name)
        .bind(vers)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Whether any version this proxy holds has the blob `cksum`: only then
    /// were these bytes fetched and verified by this proxy (another
    /// registry's blob with the same checksum is not this proxy's to serve).
    pub async fn proxy_holds_blob(
        &self,
        registry_id: i64,
        cksum: &str,
    ) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM proxy_crates WHERE registry_id = $1 AND cksum = $2 LIMIT 1",
        )
        .bind(registry_id)
        .bind(cksum)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Records a verified `.crate` whose blob is stored (a second record of
    /// the same version changes nothing), and logs it in the proxy's
    /// transparency log when first seen, in one transaction. `name` is the
    /// upstream's spelling (stored lowercase). A
    /// version logged before with another checksum is refused
    /// ([`StoreError::LogConflict`]) and nothing is recorded: the upstream
    /// changed a published version's bytes.
    #[allow(clippy::too_many_arguments)]
    pub async fn proxy_crate_put(
        &self,
        registry_id: i64,
        registry: &str,
        name: &str,
        vers: &str,
        cksum: &str,
        size: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        let pubtime = crate::tables::log::pubtime_of(now);
        crate::tables::log::append_record(
            &mut w.tx,
            &crate::tables::log::LogEntry {
                registry_id,
                registry,
                name,
                vers,
                sha256: cksum,
                pubtime: &pubtime,
            },
        )
        .await?;
        sqlx::query(PROXY_CRATE_INSERT)
            .bind(registry_id)
            .bind(name.to_ascii_lowercase())
            .bind(vers)
            .bind(cksum)
            .bind(size)
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Marks a cached `.crate` as used now (for least-recently-used
    /// eviction; callers do it at most once in a while per crate).
    pub async fn proxy_crate_touch(
        &self,
        registry_id: i64,
        name: &str,
        vers: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE proxy_crates SET last_used_at = $1 WHERE registry_id = $2 AND name = $3 AND vers = $4",
        )
        .bind(now)
        .bind(registry_id)
        .bind(name)
        .bind(vers)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Bytes of `.crate` files a proxy holds.
    pub async fn proxy_cache_bytes(&self, registry_id: i64) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS n FROM proxy_crates WHERE registry_id = $1",
        )
        .bind(registry_id)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        Ok(n.max(0) as u64)
    }

    /// Forgets the least recently used cached crates of a proxy until at
    /// least `bytes` are freed; returns what was forgotten (the caller
    /// deletes blobs no registry refers to any more).
    pub async fn proxy_evict(
        &self,
        registry_id: i64,
        bytes: u64,
    ) -> Result<Vec<EvictedCrate>, StoreError> {
        let mut w = self.begin_write().await?;
        let candidates: Vec<EvictedCrate> = sqlx::query_as(
            "SELECT name, vers, cksum, size FROM proxy_crates WHERE registry_id = $1 \
             ORDER BY last_used_at, name, vers LIMIT 1000",
        )
        .bind(registry_id)
        .fetch_all(&mut *w.tx)
        .await?;
        let mut freed = 0u64;
        let mut evicted = Vec::new();
        for c in candidates {
            if freed >= bytes {
                break;
            }
            sqlx::query(
                "DELETE FROM proxy_crates WHERE registry_id = $1 AND name = $2 AND vers = $3",
            )
            .bind(registry_id)
            .bind(&c.name)
            .bind(&c.vers)
            .execute(&mut *w.tx)
            .await?;
            freed += c.size.max(0) as u64;
            evicted.push(c);
        }
        w.tx.commit().await?;
        Ok(evicted)
    }

    /// Every blob a proxy registry holds (garbage collection).
    pub async fn proxy_blobs(&self, registry_id: i64) -> Result<HashSet<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT cksum FROM proxy_crates WHERE registry_id = $1")
            .bind(registry_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("cksum").map_err(StoreError::from))
            .collect()
    }
}
