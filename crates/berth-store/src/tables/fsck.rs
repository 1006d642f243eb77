//! What `berth fsck` reads from the metadata: every version row with its
//! registry and crate, a page at a time, the rows that refer to users
//! (owners, roles, tokens) or crates that do not exist, and the rows and
//! transparency-log records that disagree (each side joined to the other,
//! so only the disagreements are read).
//!
//! Read-only. It never judges what it reads (parsing index lines, comparing
//! them with their rows, reading blobs): that is berth-core's `fsck`.

use crate::db::MetaStore;
use crate::StoreError;

/// One version row as `fsck` checks it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FsckVersion {
    pub id: i64,
    pub registry: String,
    pub crate_name: String,
    pub vers: String,
    pub cksum: String,
    pub size: i64,
    #[sqlx(try_from = "super::Flag")]
    pub yanked: bool,
    pub index_line: String,
}

/// A stored version (a hosted version row, a proxy's cached `.crate`)
/// whose log record is missing or has another sha256, or a record whose
/// version row is missing (then `logged_*` describe the record and `cksum`
/// is empty).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LogDisagreement {
    pub crate_name: String,
    pub vers: String,
    /// The row's sha256; empty when there is no row.
    pub cksum: String,
    /// The record's index and sha256, when there is one.
    pub logged_idx: Option<i64>,
    pub logged_sha256: Option<String>,
}

/// A row that refers to something missing: which table, and what.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DanglingRef {
    pub table_name: String,
    pub detail: String,
}

impl MetaStore {
    /// Up to `limit` version rows with ids above `after`, in id order.
    pub async fn fsck_versions(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<FsckVersion>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT v.id, r.name AS registry, c.name AS crate_name, v.vers, v.cksum, v.size, \
                    v.yanked, v.index_line \
             FROM versions v JOIN crates c ON c.id = v.crate_id \
             JOIN registries r ON r.id = c.registry_id \
             WHERE v.id > $1 ORDER BY v.id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Owners (users and teams), roles, team members, tokens and versions
    /// that refer to a user, crate or
    /// registry that does not exist (possible where foreign keys are not
    /// enforced, or after hand edits).
    pub async fn fsck_dangling(&self) -> Result<Vec<DanglingRef>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT 'crate_owners' AS table_name, \
                    'crate id ' || CAST(o.crate_id AS TEXT) || ' owner user id ' || \
                    CAST(o.user_id AS TEXT) || ' does not exist' AS detail \
             FROM crate_owners o LEFT JOIN users u ON u.id = o.user_id WHERE u.id IS NULL \
             UNION ALL \
             SELECT 'crate_owners', 'owner row of crate id ' || CAST(o.crate_id AS TEXT) || \
                    ', which does not exist' \
             FROM crate_owners o LEFT JOIN crates c ON c.id = o.crate_id WHERE c.id IS NULL \
             UNION ALL \
             SELECT 'registry_roles', 'role of user id ' || CAST(g.user_id AS TEXT) || \
                    ', which does not exist, in registry id ' || CAST(g.registry_id AS TEXT) \
             FROM registry_roles g LEFT JOIN users u ON u.id = g.user_id WHERE u.id IS NULL \
             UNION ALL \
             SELECT 'registry_roles', 'role in registry id ' || CAST(g.registry_id AS TEXT) || \
                    ', which does not exist' \
             FROM registry_roles g LEFT JOIN registries r ON r.id = g.registry_id \
             WHERE r.id IS NULL \
             UNION ALL \
             SELECT 'team_members', 'member user id ' || CAST(m.user_id AS TEXT) || \
                    ' of team id ' || CAST(m.team_id AS TEXT) || ': user or team does not exist' \
             FROM team_members m LEFT JOIN users u ON u.id = m.user_id \
             LEFT JOIN teams t ON t.id = m.team_id WHERE u.id IS NULL OR t.id IS NULL \
             UNION ALL \
             SELECT 'team_roles', 'role of team id ' || CAST(g.team_id AS TEXT) || \
                    ' in registry id ' || CAST(g.registry_id AS TEXT) || \
                    ': team or registry does not exist' \
             FROM team_roles g LEFT JOIN teams t ON t.id = g.team_id \
             LEFT JOIN registries r ON r.id = g.registry_id WHERE t.id IS NULL OR r.id IS NULL \
             UNION ALL \
             SELECT 'crate_owner_teams', 'crate id ' || CAST(o.crate_id AS TEXT) || \
                    ' owner team id ' || CAST(o.team_id AS TEXT) || \
                    ': crate or team does not exist' \
             FROM crate_owner_teams o LEFT JOIN teams t ON t.id = o.team_id \
             LEFT JOIN crates c ON c.id = o.crate_id WHERE t.id IS NULL OR c.id IS NULL \
             UNION ALL \
             SELECT 'tokens', 'token id ' || CAST(t.id AS TEXT) || ' of user id ' || \
                    CAST(t.user_id AS TEXT) || ', which does not exist' \
             FROM tokens t LEFT JOIN users u ON u.id = t.user_id WHERE u.id IS NULL \
             UNION ALL \
             SELECT 'versions', 'version id ' || CAST(v.id AS TEXT) || ' of crate id ' || \
                    CAST(v.crate_id AS TEXT) || ', which does not exist' \
             FROM versions v LEFT JOIN crates c ON c.id = v.crate_id WHERE c.id IS NULL \
             UNION ALL \
             SELECT 'dependencies', 'dependency row id ' || CAST(d.id AS TEXT) || \
                    ' of version id ' || CAST(d.version_id AS TEXT) || ', which does not exist' \
             FROM dependencies d LEFT JOIN versions v ON v.id = d.version_id WHERE v.id IS NULL \
             UNION ALL \
             SELECT 'version_downloads', 'daily downloads of version id ' || \
                    CAST(g.version_id AS TEXT) || ', which does not exist' \
             FROM version_downloads g LEFT JOIN versions v ON v.id = g.version_id \
             WHERE v.id IS NULL \
             UNION ALL \
             SELECT 'crates', 'crate `' || c.name || '` has no owner' \
             FROM crates c LEFT JOIN crate_owners o ON o.crate_id = c.id \
             JOIN registries r ON r.id = c.registry_id \
             WHERE o.crate_id IS NULL AND r.kind = 'hosted'",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// A hosted registry's version rows with no log record, or whose record
    /// has another sha256 (name folded, version without build metadata).
    pub async fn fsck_versions_unlogged(
        &self,
        registry_id: i64,
    ) -> Result<Vec<LogDisagreement>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT c.name AS crate_name, v.vers, v.cksum, l.idx AS logged_idx, \
                    l.sha256 AS logged_sha256 \
             FROM versions v JOIN crates c ON c.id = v.crate_id \
             LEFT JOIN log_records l ON l.registry_id = c.registry_id \
                  AND l.canon_name = c.canon_name AND l.canon_vers = v.canon_vers \
             WHERE c.registry_id = $1 AND (l.idx IS NULL OR l.sha256 <> v.cksum) \
             ORDER BY c.canon_name, v.canon_vers",
        )
        .bind(registry_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A hosted registry's log records whose version row is gone.
    pub async fn fsck_records_without_version(
        &self,
        registry_id: i64,
    ) -> Result<Vec<LogDisagreement>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT l.name AS crate_name, l.vers, '' AS cksum, l.idx AS logged_idx, \
                    l.sha256 AS logged_sha256 \
             FROM log_records l \
             LEFT JOIN crates c ON c.registry_id = l.registry_id AND c.canon_name = l.canon_name \
             LEFT JOIN versions v ON v.crate_id = c.id AND v.canon_vers = l.canon_vers \
             WHERE l.registry_id = $1 AND v.id IS NULL ORDER BY l.idx",
        )
        .bind(registry_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A proxy's cached `.crate` rows with no log record of that exact
    /// version (the caller looks the version up again without its build
    /// metadata), or whose record has another sha256.
    pub async fn fsck_proxy_crates_unlogged(
        &self,
        registry_id: i64,
    ) -> Result<Vec<LogDisagreement>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT p.name AS crate_name, p.vers, p.cksum, l.idx AS logged_idx, \
                    l.sha256 AS logged_sha256 \
             FROM proxy_crates p \
             LEFT JOIN log_records l ON l.registry_id = p.registry_id \
                  AND l.canon_name = REPLACE(p.name, '-', '_') AND l.canon_vers = p.vers \
             WHERE p.registry_id = $1 AND (l.idx IS NULL OR l.sha256 <> p.cksum) \
             ORDER BY p.name, p.vers",
        )
        .bind(registry_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
