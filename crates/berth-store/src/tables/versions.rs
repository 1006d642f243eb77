//! `versions`: one row per published version, with its exact index line,
//! its blob's checksum and size, its metadata and README.
//!
//! A version row is inserted by a publish and afterwards changed only by a
//! yank or unyank (the `yanked` flag and the line together) and by download
//! counts; it is never deleted, and its blob is never replaced. Versions
//! are unique per crate ignoring build metadata (`canon_vers`).

use sqlx::{Any, AnyConnection, Executor, FromRow};

use crate::db::MetaStore;
use crate::model::{NewVersion, VersionRow};
use crate::tables::Flag;
use crate::StoreError;

/// What a yank reads of a version before rewriting it.
#[derive(FromRow)]
pub(crate) struct YankTarget {
    pub id: i64,
    pub vers: String,
    #[sqlx(try_from = "Flag")]
    pub yanked: bool,
    pub index_line: String,
}

/// The stored spelling of a version (ignoring build metadata), if any.
pub(crate) async fn stored_version<'c>(
    e: impl Executor<'c, Database = Any>,
    crate_id: i64,
    canon_vers: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT vers FROM versions WHERE crate_id = $1 AND canon_vers = $2")
        .bind(crate_id)
        .bind(canon_vers)
        .fetch_optional(e)
        .await
}

/// Inserts a published version; returns its id. A unique violation means
/// the version (ignoring build metadata) exists.
pub(crate) async fn insert_version(
    conn: &mut AnyConnection,
    crate_id: i64,
    v: &NewVersion,
    published_by: i64,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO versions (crate_id, vers, canon_vers, index_line, cksum, size, metadata, \
                               readme, published_by, created_at, trust_claims) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(crate_id)
    .bind(&v.vers)
    .bind(&v.canon_vers)
    .bind(&v.index_line)
    .bind(&v.cksum)
    .bind(v.size)
    .bind(&v.metadata_json)
    .bind(v.readme.clone())
    .bind(published_by)
    .bind(now)
    .bind(v.trust_claims.as_deref())
    .fetch_one(conn)
    .await
}

/// A version as a yank needs it.
pub(crate) async fn yank_target(
    conn: &mut AnyConnection,
    crate_id: i64,
    canon_vers: &str,
) -> Result<Option<YankTarget>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, vers, yanked, index_line FROM versions \
         WHERE crate_id = $1 AND canon_vers = $2",
    )
    .bind(crate_id)
    .bind(canon_vers)
    .fetch_optional(conn)
    .await
}

/// Sets a version's `yanked` flag together with its rewritten index line.
pub(crate) async fn set_version_yanked(
    conn: &mut AnyConnection,
    version_id: i64,
    yanked: bool,
    index_line: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE versions SET yanked = $2, index_line = $3 WHERE id = $1")
        .bind(version_id)
        .bind(i64::from(yanked))
        .bind(index_line)
        .execute(conn)
        .await?;
    Ok(())
}

/// The highest version not yanked (or the highest of all when every version
/// is yanked), by semver order.
pub(crate) async fn max_version(
    conn: &mut AnyConnection,
    crate_id: i64,
) -> Result<Option<String>, sqlx::Error> {
    #[derive(FromRow)]
    struct Live {
        vers: String,
        #[sqlx(try_from = "Flag")]
        yanked: bool,
    }
    let rows: Vec<Live> = sqlx::query_as("SELECT vers, yanked FROM versions WHERE crate_id = $1")
        .bind(crate_id)
        .fetch_all(conn)
        .await?;
    let mut best: Option<(bool, semver::Version, String)> = None;
    for row in rows {
        let Ok(parsed) = semver::Version::parse(&row.vers) else {
            continue;
        };
        let live = !row.yanked;
        let better = match &best {
            None => true,
            Some((blive, bv, _)) => (live, &parsed) > (*blive, bv),
        };
        if better {
            best = Some((live, parsed, row.vers));
        }
    }
    Ok(best.map(|(_, _, v)| v))
}

impl MetaStore {
    /// The stored spelling of a version of a crate, if it exists (ignoring
    /// build metadata).
    pub async fn existing_version(
        &self,
        crate_id: i64,
        canon_vers: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(stored_version(&self.pool, crate_id, canon_vers).await?)
    }

    /// Every version of a crate, in publish order.
    pub async fn crate_versions(&self, crate_id: i64) -> Result<Vec<VersionRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT v.vers, v.yanked, v.cksum, v.size, v.created_at, v.downloads, \
                    u.login AS published_by, \
                    CASE WHEN v.readme IS NULL THEN 0 ELSE 1 END AS has_readme, \
                    v.trust_claims \
             FROM versions v LEFT JOIN users u ON u.id = v.published_by \
             WHERE v.crate_id = $1 ORDER BY v.id",
        )
        .bind(crate_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// What a promotion copies of a version: its stored index line,
    /// metadata, README, checksum, size, CI claims and whether it is
    /// yanked; with the crate's description.
    pub async fn version_copy(
        &self,
        crate_id: i64,
        canon_vers: &str,
    ) -> Result<Option<crate::model::VersionCopy>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT v.vers, v.canon_vers, v.index_line, v.cksum, v.size, v.yanked, v.metadata, \
                    v.readme, v.trust_claims, c.description \
             FROM versions v JOIN crates c ON c.id = v.crate_id \
             WHERE v.crate_id = $1 AND v.canon_vers = $2",
        )
        .bind(crate_id)
        .bind(canon_vers)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The README extracted at publish, if any.
    pub async fn version_readme(
        &self,
        crate_id: i64,
        canon_vers: &str,
    ) -> Result<Option<String>, StoreError> {
        let readme: Option<Option<String>> = sqlx::query_scalar(
            "SELECT readme FROM versions WHERE crate_id = $1 AND canon_vers = $2",
        )
        .bind(crate_id)
        .bind(canon_vers)
        .fetch_optional(&self.pool)
        .await?;
        Ok(readme.flatten())
    }
}
