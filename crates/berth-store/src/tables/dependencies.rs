//! The `dependencies` table: one row per (version, dependency) as the
//! version's index line names it, and the reverse-dependency listing the
//! crate page shows.
//!
//! Rows are written in the transaction that writes their version (publish)
//! or its batch (bulk load), from the index line, never from anything else
//! the client sent; nothing here decides who may read a registry (berth-core
//! checks that before it asks). Every listing is bounded.

use std::collections::BTreeSet;

use berth_protocol::index::DependencyKind;
use berth_protocol::{canonical_name, IndexEntry};
use sqlx::AnyConnection;

use crate::db::{Backend, MetaStore};
use crate::model::CrateSummary;
use crate::StoreError;

/// Most dependents one listing returns.
const MAX_DEPENDENTS: i64 = 100;

/// The dependency rows an index line implies: (canonical name, kind, other
/// registry), without duplicates (a dependency named once per target).
pub(crate) fn dependency_rows(
    entry: &IndexEntry,
) -> BTreeSet<(String, &'static str, Option<String>)> {
    entry
        .deps
        .iter()
        .map(|d| {
            let kind = match d.kind {
                DependencyKind::Normal => "normal",
                DependencyKind::Build => "build",
                DependencyKind::Dev => "dev",
            };
            let name = d.package.as_deref().unwrap_or(&d.name);
            (canonical_name(name), kind, d.registry.clone())
        })
        .collect()
}

/// Records a new version's dependencies.
pub(crate) async fn insert_dependencies(
    conn: &mut AnyConnection,
    version_id: i64,
    registry_id: i64,
    entry: &IndexEntry,
) -> Result<(), sqlx::Error> {
    for (name, kind, registry) in dependency_rows(entry) {
        sqlx::query(
            "INSERT INTO dependencies (version_id, registry_id, dep_canon_name, kind, dep_registry) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(version_id)
        .bind(registry_id)
        .bind(name)
        .bind(kind)
        .bind(registry)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Fills the dependency rows of every version of the given crates from
/// their stored index lines, in SQL (bulk loads; the migration
/// `20261125000010_dependencies.sql` holds the same statement).
pub(crate) async fn fill_dependencies_of_crates(
    conn: &mut AnyConnection,
    backend: Backend,
    crate_ids: &[i64],
) -> Result<(), sqlx::Error> {
    if crate_ids.is_empty() {
        return Ok(());
    }
    let list = (1..=crate_ids.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = match backend {
        Backend::Sqlite => format!(
            "INSERT INTO dependencies (version_id, registry_id, dep_canon_name, kind, dep_registry) \
             SELECT DISTINCT v.id, c.registry_id, \
               lower(replace(coalesce(json_extract(d.value, '$.package'), json_extract(d.value, '$.name')), '-', '_')), \
               coalesce(json_extract(d.value, '$.kind'), 'normal'), \
               json_extract(d.value, '$.registry') \
             FROM versions v JOIN crates c ON c.id = v.crate_id, \
               json_each(CASE WHEN json_valid(v.index_line) THEN v.index_line ELSE '{{}}' END, '$.deps') d \
             WHERE json_extract(d.value, '$.name') IS NOT NULL AND v.crate_id IN ({list}) \
             ORDER BY v.id"
        ),
        Backend::Postgres => format!(
            "INSERT INTO dependencies (version_id, registry_id, dep_canon_name, kind, dep_registry) \
             SELECT DISTINCT v.id, c.registry_id, \
               lower(replace(coalesce(d->>'package', d->>'name'), '-', '_')), \
               coalesce(d->>'kind', 'normal'), d->>'registry' \
             FROM versions v JOIN crates c ON c.id = v.crate_id \
             CROSS JOIN LATERAL jsonb_array_elements( \
               CASE WHEN jsonb_typeof(v.index_line::jsonb -> 'deps') = 'array' \
                    THEN v.index_line::jsonb -> 'deps' ELSE '[]'::jsonb END) d \
             WHERE d->>'name' IS NOT NULL AND v.crate_id IN ({list}) \
             ORDER BY v.id"
        ),
    };
    let mut q = sqlx::query(&sql);
    for id in crate_ids {
        q = q.bind(*id);
    }
    q.execute(conn).await?;
    Ok(())
}

/// Crates whose newest live version depends on a crate of the same
/// registry: joins the dependency rows naming it to the dependents' newest
/// version (`crates.max_version`, the newest non-yanked one when there is
/// one) and keeps those not yanked.
const DEPENDENTS_FROM: &str = "FROM dependencies d \
     JOIN versions v ON v.id = d.version_id \
     JOIN crates c ON c.id = v.crate_id \
     WHERE d.registry_id = $1 AND d.dep_canon_name = $2 AND d.dep_registry IS NULL \
       AND v.yanked = 0 AND v.vers = c.max_version AND c.revision > 0";

impl MetaStore {
    /// The crates of a registry whose newest live version depends on
    /// `canon_name` (of the same registry), most downloaded first, at most
    /// `limit`; and how many there are.
    pub async fn dependents(
        &self,
        registry_id: i64,
        canon_name: &str,
        limit: i64,
    ) -> Result<(Vec<CrateSummary>, i64), StoreError> {
        let rows = sqlx::query_as(&format!(
            "SELECT c.name, c.max_version, c.description, c.downloads, c.updated_at \
             FROM crates c WHERE c.id IN (SELECT c.id {DEPENDENTS_FROM}) \
             ORDER BY c.downloads DESC, c.canon_name LIMIT $3"
        ))
        .bind(registry_id)
        .bind(canon_name)
        .bind(limit.clamp(0, MAX_DEPENDENTS))
        .fetch_all(&self.pool)
        .await?;
        let total: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(DISTINCT c.id) {DEPENDENTS_FROM}"))
                .bind(registry_id)
                .bind(canon_name)
                .fetch_one(&self.pool)
                .await?;
        Ok((rows, total))
    }
}
