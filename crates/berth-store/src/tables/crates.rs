//! `crates`: one row per crate per registry, keyed by its canonical name,
//! with what every change bumps (`revision`, `updated_at`) and what is
//! derived from its versions (`max_version`, `description`, `downloads`).
//!
//! Rows are created only by a publish (or a bulk load) and never deleted.
//! Every change to a crate's versions goes through [`bump_revision`] in the
//! same transaction, so that caches validated by the revision never serve a
//! stale index file; on PostgreSQL it also notifies every node (see
//! `watch.rs`). The spelling of `name` is the first one published and
//! is never rewritten here.

use sqlx::{Any, AnyConnection, Executor};

use crate::db::MetaStore;
use crate::model::{CrateRow, NewVersion};
use crate::StoreError;

/// The columns of a [`CrateRow`].
const CRATE_COLUMNS: &str =
    "id, name, description, max_version, downloads, revision, created_at, updated_at, \
     trusted_only";

/// The crate's new `updated_at` (bound as `$2` = now) on a change: strictly
/// greater than the previous one, so that Last-Modified (whole seconds)
/// differs after every change even when two land in the same second. A new
/// crate (revision 0) simply takes now.
const NEXT_UPDATED_AT: &str =
    "CASE WHEN $2 > updated_at OR revision = 0 THEN $2 ELSE updated_at + 1 END";

/// A crate by canonical name. `lock` is [`MetaStore::lock_rows`] inside a
/// write transaction that must hold the row, or `""`.
pub(crate) async fn crate_by_name<'c>(
    e: impl Executor<'c, Database = Any>,
    registry_id: i64,
    canon_name: &str,
    lock: &str,
) -> Result<Option<CrateRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {CRATE_COLUMNS} FROM crates WHERE registry_id = $1 AND canon_name = $2{lock}"
    ))
    .bind(registry_id)
    .bind(canon_name)
    .fetch_optional(e)
    .await
}

/// Holds a crate's row until the transaction ends (`lock` as in
/// [`crate_by_name`]), so that changes of one crate happen one at a time.
pub(crate) async fn lock_crate(
    conn: &mut AnyConnection,
    crate_id: i64,
    lock: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("SELECT id FROM crates WHERE id = $1{lock}"))
        .bind(crate_id)
        .fetch_optional(conn)
        .await?;
    Ok(())
}

/// Creates the crate row of a first publish (revision 0); returns its id.
/// A unique violation means another request created it first.
pub(crate) async fn insert_crate(
    conn: &mut AnyConnection,
    v: &NewVersion,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO crates (registry_id, name, canon_name, description, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(v.registry_id)
    .bind(&v.name)
    .bind(&v.canon_name)
    .bind(v.description.clone())
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Records a change of a crate's versions: bumps `revision` and
/// `updated_at`, sets `max_version`, and replaces the description when
/// `description` is `Some` (the newest version's). Returns the new revision.
pub(crate) async fn bump_revision(
    conn: &mut AnyConnection,
    crate_id: i64,
    now: i64,
    max_version: Option<String>,
    description: Option<Option<String>>,
) -> Result<i64, sqlx::Error> {
    let revision = sqlx::query_scalar(&format!(
        "UPDATE crates SET revision = revision + 1, updated_at = {NEXT_UPDATED_AT}, \
                max_version = $3, description = CASE WHEN $4 = 1 THEN $5 ELSE description END \
         WHERE id = $1 RETURNING revision"
    ))
    .bind(crate_id)
    .bind(now)
    .bind(max_version)
    .bind(i64::from(description.is_some()))
    .bind(description.flatten())
    .fetch_one(&mut *conn)
    .await?;
    // Every node forgets its cached file when this commits.
    crate::watch::notify_changed(conn, &[crate_id]).await?;
    Ok(revision)
}

impl MetaStore {
    /// A crate by canonical name.
    pub async fn find_crate(
        &self,
        registry_id: i64,
        canon_name: &str,
    ) -> Result<Option<CrateRow>, StoreError> {
        Ok(crate_by_name(&self.pool, registry_id, canon_name, "").await?)
    }

    /// Whether a crate exists in a registry (dependency checks).
    pub async fn crate_exists(
        &self,
        registry_id: i64,
        canon_name: &str,
    ) -> Result<bool, StoreError> {
        Ok(self.index_state(registry_id, canon_name).await?.is_some())
    }
}
