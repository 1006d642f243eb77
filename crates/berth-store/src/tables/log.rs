//! The transparency log's tables: `log_records` (one leaf per version),
//! `log_nodes` (every complete subtree's hash), `log_heads` (each tree's
//! size and frontier) and `log_checkpoints` (every checkpoint signed and
//! handed out).
//!
//! A record is appended with [`append_record`] inside the transaction that
//! makes the version exist (a publish, a proxy's first verified copy), so a
//! version is logged exactly when it is committed. Appends to one registry's
//! log are serialized: on SQLite by the database write lock every write
//! transaction takes, on PostgreSQL by the lock on the registry's
//! `log_heads` row (`SELECT ... FOR UPDATE`) held to commit, taken before
//! the audit chain's (always in that order, so the two never deadlock).
//! Under it the next index is the head's size, so indices have no gap and
//! no two nodes fork the tree. The head, the leaf and each subtree it
//! completes are written at once (on PostgreSQL in one statement), so an
//! append costs two statements; nodes are never changed, so any earlier
//! tree size's root and proofs stay answerable from `log_nodes` in one
//! query of at most `2⌈log2 n⌉` rows.

use berth_log::merkle::{self, NodeId};
use berth_log::{Hash, Record};
use sqlx::{AnyConnection, Row};

use crate::db::MetaStore;
use crate::model::{LogCheckpointRow, LogRecordRow};
use crate::{now_unix, StoreError};

/// The class of the PostgreSQL advisory locks (one per registry, the
/// registry's id the second key) that serialize the making of a registry's
/// `log_heads` row (its appends are serialized by that row's lock).
const LOG_LOCK_CLASS: i32 = 0x6265_6c67; // "belg"

const RECORD_COLUMNS: &str =
    "registry_id, idx, name, canon_name, vers, canon_vers, sha256, pubtime, logged_at";

/// One version to log.
#[derive(Debug, Clone)]
pub struct LogEntry<'a> {
    pub registry_id: i64,
    /// The registry's name (part of the record).
    pub registry: &'a str,
    pub name: &'a str,
    pub vers: &'a str,
    /// The `.crate` file's sha256, lowercase hex.
    pub sha256: &'a str,
    /// RFC 3339 UTC to the second.
    pub pubtime: &'a str,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// A new leaf at this index.
    New(u64),
    /// The version was logged before, with the same checksum, at this index.
    Existing(u64),
}

/// The version without build metadata, as versions are unique.
pub fn canon_vers(vers: &str) -> &str {
    vers.split('+').next().unwrap_or(vers)
}

/// A name folded as crate names are unique: lowercase, `-` as `_`.
pub fn canon_name(name: &str) -> String {
    name.to_ascii_lowercase().replace('-', "_")
}

/// Unix seconds as a record's `pubtime`.
pub fn pubtime_of(unix: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The `pubtime` of an index line as Berth writes it (compact JSON), if
/// it has one.
pub(crate) fn line_pubtime(line: &str) -> Option<&str> {
    let (_, rest) = line.split_once("\"pubtime\":\"")?;
    rest.split_once('"').map(|(t, _)| t)
}

fn hash_of(text: &str) -> Result<Hash, StoreError> {
    Hash::from_hex(text).map_err(|e| StoreError::Corrupt(format!("a stored log hash: {e}")))
}

fn is_postgres(conn: &AnyConnection) -> bool {
    conn.backend_name() == "PostgreSQL"
}

/// Takes the registry's log lock (PostgreSQL; SQLite's write lock is
/// already held) until the transaction ends.
async fn lock_log(conn: &mut AnyConnection, registry_id: i64) -> Result<(), sqlx::Error> {
    if is_postgres(conn) {
        // The lock's own result is `void`, which the Any driver cannot
        // decode: count it instead.
        sqlx::query("SELECT count(*) FROM (SELECT pg_advisory_xact_lock($1, $2)) AS l")
            .bind(LOG_LOCK_CLASS)
            .bind(registry_id as i32)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A tree's head: its size and its frontier's hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub size: u64,
    pub frontier: Vec<Hash>,
}

impl Head {
    fn encode_frontier(&self) -> String {
        self.frontier.iter().map(Hash::to_hex).collect()
    }

    fn decode(registry_id: i64, size: i64, frontier: &str) -> Result<Self, StoreError> {
        let corrupt = |what: String| {
            StoreError::Corrupt(format!("log head of registry {registry_id}: {what}"))
        };
        let size = u64::try_from(size).map_err(|_| corrupt(format!("size {size}")))?;
        if !frontier.len().is_multiple_of(64) || !frontier.is_ascii() {
            return Err(corrupt("the frontier is not a list of hashes".into()));
        }
        let frontier = (0..frontier.len() / 64)
            .map(|i| hash_of(&frontier[i * 64..i * 64 + 64]))
            .collect::<Result<Vec<_>, _>>()?;
        if frontier.len() != merkle::frontier(size).len() {
            return Err(corrupt(format!(
                "{} frontier hashes for a tree of {size}",
                frontier.len()
            )));
        }
        Ok(Head { size, frontier })
    }

    /// The head after a leaf that made `made` (what [`merkle::append_leaf`]
    /// returned) is appended: the subtrees the leaf merged with leave the
    /// frontier; the largest one it completed joins it.
    fn advance(&mut self, made: &[(NodeId, Hash)]) {
        self.frontier.truncate(self.frontier.len() + 1 - made.len());
        self.frontier.push(made[made.len() - 1].1);
        self.size += 1;
    }
}

/// The head of a registry's tree as committed, if it has a row.
async fn read_head(
    conn: &mut AnyConnection,
    registry_id: i64,
    for_update: bool,
) -> Result<Option<Head>, StoreError> {
    let lock = if for_update && is_postgres(conn) {
        " FOR UPDATE"
    } else {
        ""
    };
    let row: Option<(i64, String)> = sqlx::query_as(&format!(
        "SELECT size, frontier FROM log_heads WHERE registry_id = $1{lock}"
    ))
    .bind(registry_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|(size, frontier)| Head::decode(registry_id, size, &frontier))
        .transpose()
}

/// The head made from the records and nodes (a registry without a
/// `log_heads` row, and fsck's check of the row).
async fn computed_head(conn: &mut AnyConnection, registry_id: i64) -> Result<Head, StoreError> {
    let size = tree_size(conn, registry_id).await?;
    let frontier = node_hashes(conn, registry_id, &merkle::frontier(size)).await?;
    Ok(Head { size, frontier })
}

/// Locks a registry's head until the transaction ends and returns it:
/// one statement, the row's lock, in the common case. A registry without
/// a row gets one, made from its records under the advisory lock (which
/// only ever serializes that making).
async fn lock_head(conn: &mut AnyConnection, registry_id: i64) -> Result<Head, StoreError> {
    if let Some(head) = read_head(conn, registry_id, true).await? {
        return Ok(head);
    }
    lock_log(conn, registry_id).await?;
    let head = computed_head(conn, registry_id).await?;
    sqlx::query(
        "INSERT INTO log_heads (registry_id, size, frontier) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(registry_id)
    .bind(head.size as i64)
    .bind(head.encode_frontier())
    .execute(&mut *conn)
    .await?;
    read_head(conn, registry_id, true)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("log head of registry {registry_id} vanished")))
}

/// The number of leaves of a registry's tree.
async fn tree_size(conn: &mut AnyConnection, registry_id: i64) -> Result<u64, sqlx::Error> {
    let top: Option<i64> =
        sqlx::query_scalar("SELECT MAX(idx) FROM log_records WHERE registry_id = $1")
            .bind(registry_id)
            .fetch_one(&mut *conn)
            .await?;
    Ok(top.map_or(0, |i| i as u64 + 1))
}

/// The hashes of `ids`, in that order; a missing one is corruption.
async fn node_hashes(
    conn: &mut AnyConnection,
    registry_id: i64,
    ids: &[NodeId],
) -> Result<Vec<Hash>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // One point look-up on the primary key per node, as a UNION ALL. (An
    // OR of the pairs was measured: SQLite's planner scanned every node of
    // the registry for a proof's twenty pairs, 1.1 s at 2M records.)
    let mut sql = String::with_capacity(ids.len() * 100);
    for i in 0..ids.len() {
        if i > 0 {
            sql.push_str(" UNION ALL ");
        }
        sql.push_str(&format!(
            "SELECT level, idx, hash FROM log_nodes \
             WHERE registry_id = $1 AND level = ${} AND idx = ${}",
            2 * i + 2,
            2 * i + 3
        ));
    }
    let mut q = sqlx::query(&sql).bind(registry_id);
    for id in ids {
        q = q.bind(id.level as i64).bind(id.index as i64);
    }
    let rows = q.fetch_all(&mut *conn).await?;
    let mut found = std::collections::HashMap::with_capacity(rows.len());
    for row in rows {
        let level: i64 = row.try_get("level")?;
        let idx: i64 = row.try_get("idx")?;
        let hash: String = row.try_get("hash")?;
        found.insert((level, idx), hash);
    }
    ids.iter()
        .map(|id| {
            let text = found
                .get(&(id.level as i64, id.index as i64))
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "log of registry {registry_id}: node (level {}, index {}) is missing",
                        id.level, id.index
                    ))
                })?;
            hash_of(text)
        })
        .collect()
}

/// Appends `e` to its registry's log inside the caller's transaction (see
/// the module's header). A version logged before with the same checksum is
/// not logged again; with another checksum it is refused
/// ([`StoreError::LogConflict`]): a version's bytes never change.
pub(crate) async fn append_record(
    conn: &mut AnyConnection,
    e: &LogEntry<'_>,
) -> Result<Appended, StoreError> {
    let mut head = lock_head(conn, e.registry_id).await?;
    let canon_name = canon_name(e.name);
    let canon_vers = canon_vers(e.vers);
    let record = Record {
        registry: e.registry.to_string(),
        name: e.name.to_string(),
        version: e.vers.to_string(),
        sha256: hash_of(e.sha256)?,
        pubtime: e.pubtime.to_string(),
    };
    let leaf = record
        .leaf_hash()
        .map_err(|err| StoreError::Corrupt(format!("cannot log {}@{}: {err}", e.name, e.vers)))?;
    let size = head.size;
    let nodes = merkle::append_leaf(size, &head.frontier, leaf)
        .map_err(|err| StoreError::Corrupt(format!("log of registry {}: {err}", e.registry_id)))?;
    head.advance(&nodes);
    // A version logged before (its other index) is found by the unique
    // index rather than a look-up first: one statement fewer under the lock
    // in the common case, a new version.
    let inserted = if is_postgres(conn) {
        write_append_pg(conn, e, &canon_name, canon_vers, size, &nodes, &head).await?
    } else {
        write_append_sqlite(conn, e, &canon_name, canon_vers, size, &nodes, &head).await?
    };
    if inserted {
        return Ok(Appended::New(size));
    }
    let logged: Option<(i64, String)> = sqlx::query_as(
        "SELECT idx, sha256 FROM log_records \
         WHERE registry_id = $1 AND canon_name = $2 AND canon_vers = $3",
    )
    .bind(e.registry_id)
    .bind(&canon_name)
    .bind(canon_vers)
    .fetch_optional(&mut *conn)
    .await?;
    match logged {
        Some((idx, sha256)) if sha256 == e.sha256 => Ok(Appended::Existing(idx as u64)),
        Some((_, sha256)) => Err(StoreError::LogConflict {
            name: e.name.to_string(),
            vers: e.vers.to_string(),
            logged: sha256,
            offered: e.sha256.to_string(),
        }),
        None => Err(StoreError::Corrupt(format!(
            "log of registry {}: index {size} is taken but the head says it is next",
            e.registry_id
        ))),
    }
}

/// `sql` (an INSERT of the record whose values are `$1`..`$9`, answering
/// the new row's index when it was inserted) with the record's values
/// bound; callers bind what their statement adds after them.
fn record_insert<'q>(
    sql: &'q str,
    e: &'q LogEntry<'q>,
    canon_name: &'q str,
    canon_vers: &'q str,
    size: u64,
) -> sqlx::query::QueryScalar<'q, sqlx::Any, i64, sqlx::any::AnyArguments<'q>> {
    sqlx::query_scalar(sql)
        .bind(e.registry_id)
        .bind(size as i64)
        .bind(e.name)
        .bind(canon_name)
        .bind(e.vers)
        .bind(canon_vers)
        .bind(e.sha256)
        .bind(e.pubtime)
        .bind(now_unix())
}

/// The record's row, then (if it was new) its nodes and the head: on
/// PostgreSQL in one statement, whose parts only write when the record
/// did. Returns whether the record was new.
async fn write_append_pg(
    conn: &mut AnyConnection,
    e: &LogEntry<'_>,
    canon_name: &str,
    canon_vers: &str,
    size: u64,
    nodes: &[(NodeId, Hash)],
    head: &Head,
) -> Result<bool, StoreError> {
    let mut values = String::with_capacity(nodes.len() * 24);
    for i in 0..nodes.len() {
        if i > 0 {
            values.push_str(", ");
        }
        values.push_str(&format!(
            "($1, ${}, ${}, ${})",
            3 * i + 12,
            3 * i + 13,
            3 * i + 14
        ));
    }
    let sql = format!(
        "WITH r AS (INSERT INTO log_records ({RECORD_COLUMNS}) \
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING idx), \
         n AS (INSERT INTO log_nodes (registry_id, level, idx, hash) \
           SELECT v.* FROM (VALUES {values}) AS v WHERE EXISTS (SELECT 1 FROM r)), \
         h AS (UPDATE log_heads SET size = $10, frontier = $11 \
           WHERE registry_id = $1 AND EXISTS (SELECT 1 FROM r)) \
         SELECT count(*) FROM r"
    );
    let mut q = record_insert(&sql, e, canon_name, canon_vers, size)
        .bind(head.size as i64)
        .bind(head.encode_frontier());
    for (id, hash) in nodes {
        q = q
            .bind(id.level as i64)
            .bind(id.index as i64)
            .bind(hash.to_hex());
    }
    Ok(q.fetch_one(&mut *conn).await? > 0)
}

/// [`write_append_pg`] on SQLite, which has no data-modifying CTEs: three
/// statements, all in-process.
async fn write_append_sqlite(
    conn: &mut AnyConnection,
    e: &LogEntry<'_>,
    canon_name: &str,
    canon_vers: &str,
    size: u64,
    nodes: &[(NodeId, Hash)],
    head: &Head,
) -> Result<bool, StoreError> {
    let sql = format!(
        "INSERT INTO log_records ({RECORD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT DO NOTHING RETURNING idx"
    );
    let inserted = record_insert(&sql, e, canon_name, canon_vers, size)
        .fetch_optional(&mut *conn)
        .await?;
    if inserted.is_none() {
        return Ok(false);
    }
    insert_nodes(conn, e.registry_id, nodes).await?;
    write_head(conn, e.registry_id, head).await?;
    Ok(true)
}

/// Writes `nodes` of a registry's tree in multi-row INSERTs.
async fn insert_nodes(
    conn: &mut AnyConnection,
    registry_id: i64,
    nodes: &[(NodeId, Hash)],
) -> Result<(), StoreError> {
    const ROWS: usize = 500;
    for chunk in nodes.chunks(ROWS) {
        let mut sql = String::from("INSERT INTO log_nodes (registry_id, level, idx, hash) VALUES ");
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "($1, ${}, ${}, ${})",
                3 * i + 2,
                3 * i + 3,
                3 * i + 4
            ));
        }
        let mut q = sqlx::query(&sql).bind(registry_id);
        for (id, hash) in chunk {
            q = q
                .bind(id.level as i64)
                .bind(id.index as i64)
                .bind(hash.to_hex());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Stores a registry's head (whose row [`lock_head`] made and locked).
async fn write_head(
    conn: &mut AnyConnection,
    registry_id: i64,
    head: &Head,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE log_heads SET size = $1, frontier = $2 WHERE registry_id = $3")
        .bind(head.size as i64)
        .bind(head.encode_frontier())
        .bind(registry_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Appends many versions of one registry at once, in the given order, in
/// the caller's transaction (a bulk load, whose rows a publish would have
/// written): one read of the frontier, then records and nodes in
/// multi-row INSERTs. The versions must not be logged yet (the unique
/// index fails the batch otherwise).
pub(crate) async fn append_records_bulk(
    conn: &mut AnyConnection,
    registry_id: i64,
    entries: &[(String, String, String, String)],
) -> Result<(), StoreError> {
    const ROWS: usize = 500;
    if entries.is_empty() {
        return Ok(());
    }
    let mut head = lock_head(conn, registry_id).await?;
    let registry: String = sqlx::query_scalar("SELECT name FROM registries WHERE id = $1")
        .bind(registry_id)
        .fetch_one(&mut *conn)
        .await?;
    let now = now_unix();
    let mut nodes: Vec<(NodeId, Hash)> = Vec::with_capacity(entries.len() * 2);
    let first = head.size;
    for (name, vers, sha256, pubtime) in entries {
        let leaf = Record {
            registry: registry.clone(),
            name: name.clone(),
            version: vers.clone(),
            sha256: hash_of(sha256)?,
            pubtime: pubtime.clone(),
        }
        .leaf_hash()
        .map_err(|err| StoreError::Corrupt(format!("cannot log {name}@{vers}: {err}")))?;
        let made = merkle::append_leaf(head.size, &head.frontier, leaf)
            .map_err(|err| StoreError::Corrupt(format!("log of registry {registry_id}: {err}")))?;
        head.advance(&made);
        nodes.extend(made);
    }
    for (chunk_no, chunk) in entries.chunks(ROWS).enumerate() {
        let mut sql = format!("INSERT INTO log_records ({RECORD_COLUMNS}) VALUES ");
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            let b = i * 9;
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                b + 9
            ));
        }
        let mut q = sqlx::query(&sql);
        for (i, (name, vers, sha256, pubtime)) in chunk.iter().enumerate() {
            q = q
                .bind(registry_id)
                .bind((first + (chunk_no * ROWS + i) as u64) as i64)
                .bind(name)
                .bind(canon_name(name))
                .bind(vers)
                .bind(canon_vers(vers))
                .bind(sha256)
                .bind(pubtime)
                .bind(now);
        }
        q.execute(&mut *conn).await?;
    }
    insert_nodes(conn, registry_id, &nodes).await?;
    write_head(conn, registry_id, &head).await
}

/// A registry's tree: its size and the hashes a proof or root needs.
pub struct LogTree {
    pub size: u64,
    pub root: Hash,
}

impl MetaStore {
    /// The size and root of a registry's tree now.
    pub async fn log_tree(&self, registry_id: i64) -> Result<LogTree, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let head = match read_head(&mut conn, registry_id, false).await? {
            Some(head) => head,
            None => computed_head(&mut conn, registry_id).await?,
        };
        Ok(LogTree {
            size: head.size,
            root: merkle::root_from_frontier(&head.frontier),
        })
    }

    /// The head a registry's `log_heads` row holds, if it has one (fsck
    /// checks it against the nodes).
    pub async fn log_head(&self, registry_id: i64) -> Result<Option<Head>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        read_head(&mut conn, registry_id, false).await
    }

    /// The root of a registry's tree when it had `size` leaves (which it
    /// must have reached).
    pub async fn log_root_at(&self, registry_id: i64, size: u64) -> Result<Hash, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let frontier = node_hashes(&mut conn, registry_id, &merkle::frontier(size)).await?;
        Ok(merkle::root_from_frontier(&frontier))
    }

    /// The hashes of `ids` in a registry's tree, in that order (what a
    /// [`merkle::ProofPlan`] asks for).
    pub async fn log_nodes(
        &self,
        registry_id: i64,
        ids: &[NodeId],
    ) -> Result<Vec<Hash>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        node_hashes(&mut conn, registry_id, ids).await
    }

    /// The stored hashes (hex, unchecked) of level `level` with indices in
    /// `start..end`, in index order (what a full check of the tree reads, a range at a time).
    pub async fn log_node_range(
        &self,
        registry_id: i64,
        level: u8,
        start: u64,
        end: u64,
    ) -> Result<Vec<(u64, String)>, StoreError> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT idx, hash FROM log_nodes \
             WHERE registry_id = $1 AND level = $2 AND idx >= $3 AND idx < $4 ORDER BY idx",
        )
        .bind(registry_id)
        .bind(i64::from(level))
        .bind(start as i64)
        .bind(end as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(idx, hash)| (idx as u64, hash))
            .collect())
    }

    /// How many nodes a registry's tree keeps (a tree of `n` leaves keeps
    /// `2n - popcount(n)`).
    pub async fn log_node_count(&self, registry_id: i64) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM log_nodes WHERE registry_id = $1")
            .bind(registry_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    /// Every registry whose log holds records: its id, its name and how
    /// many records it holds, by id (`restore --force` compares a target's
    /// logs with a backup's).
    pub async fn log_sizes(&self) -> Result<Vec<(i64, String, u64)>, StoreError> {
        let rows: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT r.id, r.name, COUNT(*) FROM log_records l \
             JOIN registries r ON r.id = l.registry_id GROUP BY r.id, r.name ORDER BY r.id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, n)| (id, name, n as u64))
            .collect())
    }

    /// The number of records a registry's log holds (its size when the
    /// indices have no gap).
    pub async fn log_record_count(&self, registry_id: i64) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM log_records WHERE registry_id = $1")
            .bind(registry_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    /// The record of a version (name folded, version without build
    /// metadata), if logged.
    pub async fn log_record(
        &self,
        registry_id: i64,
        name: &str,
        vers: &str,
    ) -> Result<Option<LogRecordRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {RECORD_COLUMNS} FROM log_records \
             WHERE registry_id = $1 AND canon_name = $2 AND canon_vers = $3"
        ))
        .bind(registry_id)
        .bind(canon_name(name))
        .bind(canon_vers(vers))
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The records of every version of a crate (name folded), in index
    /// order.
    pub async fn log_records_of(
        &self,
        registry_id: i64,
        name: &str,
    ) -> Result<Vec<LogRecordRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {RECORD_COLUMNS} FROM log_records \
             WHERE registry_id = $1 AND canon_name = $2 ORDER BY idx"
        ))
        .bind(registry_id)
        .bind(canon_name(name))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records from index `start` on, at most `limit`, in index order.
    pub async fn log_records(
        &self,
        registry_id: i64,
        start: u64,
        limit: u64,
    ) -> Result<Vec<LogRecordRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {RECORD_COLUMNS} FROM log_records \
             WHERE registry_id = $1 AND idx >= $2 ORDER BY idx LIMIT $3"
        ))
        .bind(registry_id)
        .bind(start as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The newest checkpoint signed for a registry.
    pub async fn log_checkpoint_latest(
        &self,
        registry_id: i64,
    ) -> Result<Option<LogCheckpointRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT registry_id, size, root, note, signed_at FROM log_checkpoints \
             WHERE registry_id = $1 ORDER BY size DESC LIMIT 1",
        )
        .bind(registry_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Every checkpoint signed for a registry, oldest first.
    pub async fn log_checkpoints(
        &self,
        registry_id: i64,
    ) -> Result<Vec<LogCheckpointRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT registry_id, size, root, note, signed_at FROM log_checkpoints \
             WHERE registry_id = $1 ORDER BY size",
        )
        .bind(registry_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Checkpoints signed for a registry of sizes above `after`, at most
    /// `limit`, smallest first (a check reads them a page at a time).
    pub async fn log_checkpoints_after(
        &self,
        registry_id: i64,
        after: i64,
        limit: u64,
    ) -> Result<Vec<LogCheckpointRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT registry_id, size, root, note, signed_at FROM log_checkpoints \
             WHERE registry_id = $1 AND size > $2 ORDER BY size LIMIT $3",
        )
        .bind(registry_id)
        .bind(after)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Keeps a checkpoint that was signed. The first one kept for a size
    /// stays (a second node signing the same size signs the same body).
    pub async fn log_checkpoint_put(
        &self,
        registry_id: i64,
        size: u64,
        root: &Hash,
        note: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.write_one(
            sqlx::query(
                "INSERT INTO log_checkpoints (registry_id, size, root, note, signed_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (registry_id, size) DO NOTHING",
            )
            .bind(registry_id)
            .bind(size as i64)
            .bind(root.to_hex())
            .bind(note)
            .bind(now),
        )
        .await
    }

    /// Appends one version to its registry's log in a transaction of its
    /// own (a mirror import, a repair).
    pub async fn log_append(&self, e: &LogEntry<'_>) -> Result<Appended, StoreError> {
        let mut w = self.begin_write().await?;
        let appended = append_record(&mut w.tx, e).await?;
        w.tx.commit().await?;
        Ok(appended)
    }

    /// Logs, once per registry, the versions it held before its log
    /// existed: hosted versions in publish order (`pubtime` from their
    /// index line, else when they were stored), then the `.crate` files a
    /// proxy had cached, in the order it fetched them. Returns how many
    /// records were written. Safe on many nodes at once: the log's lock is
    /// taken before the registry's flag is read.
    pub async fn log_backfill(&self) -> Result<u64, StoreError> {
        let pending: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, name FROM registries WHERE log_backfilled = 0 ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        let mut written = 0;
        for (registry_id, registry) in pending {
            let mut w = self.begin_write().await?;
            lock_log(&mut w.tx, registry_id).await?;
            let done: i64 =
                sqlx::query_scalar("SELECT log_backfilled FROM registries WHERE id = $1")
                    .bind(registry_id)
                    .fetch_one(&mut *w.tx)
                    .await?;
            if done != 0 {
                continue;
            }
            let hosted: Vec<(String, String, String, String, i64)> = sqlx::query_as(
                "SELECT c.name, v.vers, v.cksum, v.index_line, v.created_at \
                 FROM versions v JOIN crates c ON c.id = v.crate_id \
                 WHERE c.registry_id = $1 ORDER BY v.id",
            )
            .bind(registry_id)
            .fetch_all(&mut *w.tx)
            .await?;
            let proxied: Vec<(String, String, String, i64)> = sqlx::query_as(
                "SELECT name, vers, cksum, fetched_at FROM proxy_crates \
                 WHERE registry_id = $1 ORDER BY fetched_at, name, vers",
            )
            .bind(registry_id)
            .fetch_all(&mut *w.tx)
            .await?;
            let hosted = hosted.into_iter().map(|(name, vers, cksum, line, at)| {
                let pubtime = line_pubtime(&line).map_or_else(|| pubtime_of(at), str::to_string);
                (name, vers, cksum, pubtime)
            });
            let proxied = proxied
                .into_iter()
                .map(|(name, vers, cksum, at)| (name, vers, cksum, pubtime_of(at)));
            for (name, vers, cksum, pubtime) in hosted.chain(proxied) {
                let entry = LogEntry {
                    registry_id,
                    registry: &registry,
                    name: &name,
                    vers: &vers,
                    sha256: &cksum,
                    pubtime: &pubtime,
                };
                match append_record(&mut w.tx, &entry).await {
                    Ok(Appended::New(_)) => written += 1,
                    Ok(Appended::Existing(_)) => {}
                    // Two proxied spellings of one version, or bytes that
                    // changed under one version before logging existed: the
                    // first stays logged; fsck reports the other.
                    Err(StoreError::LogConflict { .. }) => {
                        tracing::warn!(
                            registry = %registry, krate = %name, version = %vers,
                            "not logged: another checksum is logged for this version"
                        );
                    }
                    Err(e) => return Err(e),
                }
            }
            sqlx::query("UPDATE registries SET log_backfilled = 1 WHERE id = $1")
                .bind(registry_id)
                .execute(&mut *w.tx)
                .await?;
            w.tx.commit().await?;
        }
        Ok(written)
    }
}
