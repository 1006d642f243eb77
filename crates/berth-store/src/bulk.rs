//! Bulk loading: many crates with all their versions in few, large
//! transactions, for building big registries (benchmarks, imports of a
//! known-good index). It trusts its input as `migrate` trusts a source
//! database: names, versions and index lines are taken as given (the only
//! checks are that versions parse as semver and that every crate has at
//! least one). Every row it writes is one a publish would have written:
//! `crates.revision` is the number of versions, `max_version` follows the
//! same rule as a publish, each crate is owned by one user, each version is
//! in the transparency log (in load order), and one audit row records the
//! load.

use std::collections::HashMap;

use crate::db::{Backend, MetaStore};
use crate::domain::AuditAction;
use crate::model::AuditEntry;
use crate::tables::dependencies::fill_dependencies_of_crates;
use crate::StoreError;

/// Rows per multi-row INSERT. The widest statement (versions, 10 bound
/// columns) binds 5,000 parameters, far below SQLite's 32,766 and
/// PostgreSQL's 65,535.
const ROWS_PER_STATEMENT: usize = 500;

/// One version to load.
#[derive(Debug, Clone)]
pub struct BulkVersion {
    /// As published (may carry build metadata).
    pub vers: String,
    /// The exact index line (no trailing newline); its `yanked` must agree
    /// with [`BulkVersion::yanked`].
    pub index_line: String,
    /// sha256 of a blob that is already in the blob store.
    pub cksum: String,
    /// Size of that blob in bytes.
    pub size: i64,
    pub yanked: bool,
    /// Unix seconds.
    pub created_at: i64,
    pub downloads: i64,
}

/// One crate to load, with its versions in publish order.
#[derive(Debug, Clone)]
pub struct BulkCrate {
    pub name: String,
    pub description: Option<String>,
    /// At least one, oldest first.
    pub versions: Vec<BulkVersion>,
}

/// The crate row derived from a [`BulkCrate`].
struct CratePlan<'a> {
    krate: &'a BulkCrate,
    canon_name: String,
    canon_vers: Vec<String>,
    max_version: Option<String>,
    created_at: i64,
    updated_at: i64,
    downloads: i64,
}

fn plan(krate: &BulkCrate) -> Result<CratePlan<'_>, StoreError> {
    if krate.versions.is_empty() {
        return Err(StoreError::Corrupt(format!(
            "bulk load: crate `{}` has no versions",
            krate.name
        )));
    }
    let mut canon_vers = Vec::with_capacity(krate.versions.len());
    // Same rule as a publish: the highest version not yanked, or the highest
    // of all when every version is yanked.
    let mut best: Option<(bool, semver::Version, &str)> = None;
    for v in &krate.versions {
        let parsed = semver::Version::parse(&v.vers).map_err(|e| {
            StoreError::Corrupt(format!(
                "bulk load: version `{}` of `{}`: {e}",
                v.vers, krate.name
            ))
        })?;
        canon_vers.push(berth_protocol::canonical_version(&parsed));
        let live = !v.yanked;
        let better = match &best {
            None => true,
            Some((blive, bv, _)) => (live, &parsed) > (*blive, bv),
        };
        if better {
            best = Some((live, parsed, &v.vers));
        }
    }
    Ok(CratePlan {
        krate,
        canon_name: berth_protocol::canonical_name(&krate.name),
        canon_vers,
        max_version: best.map(|(_, _, v)| v.to_string()),
        created_at: krate
            .versions
            .iter()
            .map(|v| v.created_at)
            .min()
            .unwrap_or(0),
        updated_at: krate
            .versions
            .iter()
            .map(|v| v.created_at)
            .max()
            .unwrap_or(0),
        downloads: krate.versions.iter().map(|v| v.downloads).sum(),
    })
}

/// `($1, $2, ..), ($k+1, ..)`: `rows` groups of `cols` placeholders, with
/// `literal` (SQL text, may be empty) appended inside each group.
fn values(rows: usize, cols: usize, literal: &str) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            s.push('$');
            s.push_str(&(r * cols + c + 1).to_string());
        }
        s.push_str(literal);
        s.push(')');
    }
    s
}

impl MetaStore {
    /// Inserts `crates` (none may exist yet in the registry: a name taken
    /// fails the whole batch with the database's unique violation) with all their
    /// versions, each owned by `owner_user_id` and published by that user,
    /// in one transaction: either every row is written or none is. Call it
    /// with batches of a few thousand crates to load millions of versions.
    ///
    /// Versions of the whole batch are inserted in `created_at` order, so
    /// that version ids (and with them the rows' places in the table) follow
    /// publication time as in a registry that grew by publishes; a crate's
    /// own versions keep the order given. Returns the number of versions.
    pub async fn bulk_load(
        &self,
        registry_id: i64,
        owner_user_id: i64,
        crates: &[BulkCrate],
    ) -> Result<u64, StoreError> {
        if crates.is_empty() {
            return Ok(0);
        }
        let plans = crates.iter().map(plan).collect::<Result<Vec<_>, _>>()?;
        let mut w = self.begin_write().await?;

        // Crates, learning their ids.
        let mut ids: HashMap<String, i64> = HashMap::with_capacity(plans.len());
        for chunk in plans.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO crates (registry_id, name, canon_name, description, max_version, \
                 downloads, revision, created_at, updated_at) VALUES {} RETURNING id, canon_name",
                values(chunk.len(), 9, "")
            );
            let mut q = sqlx::query_as::<_, (i64, String)>(&sql);
            for p in chunk {
                q = q
                    .bind(registry_id)
                    .bind(&p.krate.name)
                    .bind(&p.canon_name)
                    .bind(p.krate.description.clone())
                    .bind(p.max_version.clone())
                    .bind(p.downloads)
                    .bind(p.krate.versions.len() as i64)
                    .bind(p.created_at)
                    .bind(p.updated_at);
            }
            for (id, canon_name) in q.fetch_all(&mut *w.tx).await? {
                ids.insert(canon_name, id);
            }
        }
        let crate_ids = plans
            .iter()
            .map(|p| {
                ids.get(&p.canon_name).copied().ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "bulk load: crate `{}` appears twice in one batch",
                        p.krate.name
                    ))
                })
            })
            .collect::<Result<Vec<i64>, _>>()?;

        // Every node learns of the new crates at commit (PostgreSQL).
        crate::watch::notify_changed(&mut w.tx, &crate_ids).await?;

        // Owners.
        for chunk in plans
            .iter()
            .zip(&crate_ids)
            .collect::<Vec<_>>()
            .chunks(ROWS_PER_STATEMENT)
        {
            let sql = format!(
                "INSERT INTO crate_owners (crate_id, user_id, added_by, created_at) VALUES {}",
                values(chunk.len(), 4, "")
            );
            let mut q = sqlx::query(&sql);
            for (p, id) in chunk {
                q = q
                    .bind(**id)
                    .bind(owner_user_id)
                    .bind(owner_user_id)
                    .bind(p.created_at);
            }
            q.execute(&mut *w.tx).await?;
        }

        // Versions, in publication order across the batch. A crate's own
        // order is kept even if its times go backwards (running maximum).
        let mut order: Vec<(i64, usize, usize)> = Vec::new();
        for (ci, p) in plans.iter().enumerate() {
            let mut t = i64::MIN;
            for (vi, v) in p.krate.versions.iter().enumerate() {
                t = t.max(v.created_at);
                order.push((t, ci, vi));
            }
        }
        order.sort_unstable();
        for chunk in order.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO versions (crate_id, vers, canon_vers, index_line, cksum, size, yanked, \
                 published_by, created_at, downloads, metadata) VALUES {}",
                values(chunk.len(), 10, ", '{}'")
            );
            let mut q = sqlx::query(&sql);
            for &(_, ci, vi) in chunk {
                let p = &plans[ci];
                let v = &p.krate.versions[vi];
                q = q
                    .bind(crate_ids[ci])
                    .bind(&v.vers)
                    .bind(&p.canon_vers[vi])
                    .bind(&v.index_line)
                    .bind(&v.cksum)
                    .bind(v.size)
                    .bind(i64::from(v.yanked))
                    .bind(owner_user_id)
                    .bind(v.created_at)
                    .bind(v.downloads);
            }
            q.execute(&mut *w.tx).await?;
        }

        // Each version's transparency-log record, in the same order.
        let logged: Vec<(String, String, String, String)> = order
            .iter()
            .map(|&(_, ci, vi)| {
                let v = &plans[ci].krate.versions[vi];
                let pubtime = crate::tables::log::line_pubtime(&v.index_line).map_or_else(
                    || crate::tables::log::pubtime_of(v.created_at),
                    str::to_string,
                );
                (
                    plans[ci].krate.name.clone(),
                    v.vers.clone(),
                    v.cksum.clone(),
                    pubtime,
                )
            })
            .collect();
        crate::tables::log::append_records_bulk(&mut w.tx, registry_id, &logged).await?;

        // Dependency rows, from the index lines just stored.
        let backend = self.backend();
        for chunk in crate_ids.chunks(ROWS_PER_STATEMENT) {
            fill_dependencies_of_crates(&mut w.tx, backend, chunk).await?;
        }

        w.commit_audited(&AuditEntry::done(
            AuditAction::BulkLoad,
            format!(
                "registry_id={registry_id} owner_id={owner_user_id} crates={} versions={}",
                plans.len(),
                order.len()
            ),
        ))
        .await?;
        Ok(order.len() as u64)
    }

    /// What a database does after a bulk load before serving: on PostgreSQL
    /// `VACUUM ANALYZE` of the loaded tables (what autovacuum would
    /// eventually do: planner statistics and the visibility map); on SQLite
    /// a WAL checkpoint that truncates the log (SQLite keeps no statistics
    /// unless asked, and a registry grown by publishes has none).
    pub async fn finish_bulk_load(&self) -> Result<(), StoreError> {
        match self.backend() {
            Backend::Postgres => {
                for table in [
                    "crates",
                    "versions",
                    "crate_owners",
                    "dependencies",
                    "log_records",
                    "log_nodes",
                ] {
                    sqlx::query(&format!("VACUUM ANALYZE {table}"))
                        .execute(&self.pool)
                        .await?;
                }
            }
            Backend::Sqlite => {
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_across_rows() {
        assert_eq!(values(2, 2, ""), "($1, $2), ($3, $4)");
        assert_eq!(values(1, 1, ", 'x'"), "($1, 'x')");
    }

    fn version(vers: &str, yanked: bool, at: i64) -> BulkVersion {
        BulkVersion {
            vers: vers.into(),
            index_line: "{}".into(),
            cksum: "00".into(),
            size: 1,
            yanked,
            created_at: at,
            downloads: 2,
        }
    }

    #[test]
    fn plans_follow_publish_rules() {
        let k = BulkCrate {
            name: "Foo-Bar".into(),
            description: None,
            versions: vec![
                version("0.1.0", false, 10),
                version("1.0.0+build", false, 20),
                version("2.0.0", true, 30),
            ],
        };
        let p = plan(&k).unwrap();
        assert_eq!(p.canon_name, "foo_bar");
        assert_eq!(p.canon_vers, ["0.1.0", "1.0.0", "2.0.0"]);
        assert_eq!(p.max_version.as_deref(), Some("1.0.0+build"));
        assert_eq!((p.created_at, p.updated_at, p.downloads), (10, 30, 6));
        let empty = BulkCrate {
            versions: vec![],
            ..k
        };
        assert!(plan(&empty).is_err());
    }
}
