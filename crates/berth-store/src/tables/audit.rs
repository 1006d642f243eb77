//! `audit_log`: the append-only, hash-chained record of changes and refused
//! attempts.
//!
//! Every change writes its row with [`insert_audit`] inside the transaction
//! that makes the change, so the row exists exactly when the change does;
//! refused attempts append theirs on their own. Rows are only ever inserted:
//! nothing here (or anywhere) updates or deletes them.
//!
//! Each row carries `hash`, the sha256 of its canonical encoding
//! ([`entry_hash`]: every field, its id and `prev_hash`), and `prev_hash`,
//! the hash of the row before it; ids of chained rows are consecutive. So
//! editing a stored row, or deleting one from the middle, breaks the chain
//! at that row, which [`MetaStore::verify_audit`] reports. Only the rows
//! written before the chain existed may lack a hash: `audit_chain` (one
//! row, written by the migration that added it) records the last of them,
//! so rows stripped of their hashes, or forged without one, are found too. Appends are
//! serialized so the chain stays a line with many writers: on SQLite by the
//! database write lock every write transaction takes, on PostgreSQL by a
//! transaction-level advisory lock taken right before the append (held to
//! commit, so the next writer reads this row as the head).

use futures::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

use crate::db::{MetaStore, WriteTx};
use crate::domain::AuditOutcome;
use crate::model::{AuditCheck, AuditEntry, AuditFilter, AuditRow};
use crate::tables::refusals::{Admit, Principal};
use crate::{now_unix, StoreError};

/// The key of the PostgreSQL advisory lock that serializes appends.
const CHAIN_LOCK: i64 = 0x6265_7274_6861_7564; // "berthaud"

const COLUMNS: &str = "id, at, actor, action, registry, crate, version, outcome, detail, \
                       token_id, client_addr, user_agent, prev_hash, hash";

/// The hash of a row: sha256 (hex) over a JSON array of a version tag and
/// every field in a fixed order, `prev_hash` last.
fn entry_hash(id: i64, at: i64, e: &AuditEntry, prev_hash: Option<&str>) -> String {
    let canonical = serde_json::json!([
        "berth-audit-v1",
        id,
        at,
        e.actor,
        e.action.as_str(),
        e.registry,
        e.crate_name,
        e.version,
        e.outcome.as_str(),
        e.detail,
        e.token_id,
        e.client_addr,
        e.user_agent,
        prev_hash,
    ]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// Who acts when a change has no request behind it: set once by the CLI
/// (`cli:` and the operating-system user), so that `berth user add`,
/// `berth role grant` and the like are attributed in the audit log.
static OPERATOR: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Names the operator of this process for audit rows without an actor
/// (first call wins).
pub fn set_operator(name: String) {
    let _ = OPERATOR.set(name);
}

/// The operator named by [`set_operator`], if any.
pub fn operator() -> Option<&'static str> {
    OPERATOR.get().map(String::as_str)
}

/// Appends one audit row on `conn` (inside the caller's transaction),
/// chained to the newest row.
pub(crate) async fn insert_audit(
    conn: &mut AnyConnection,
    e: &AuditEntry,
) -> Result<(), sqlx::Error> {
    // A change without a request behind it (the CLI) names the operator.
    let with_operator;
    let e = match (&e.actor, OPERATOR.get()) {
        (None, Some(operator)) => {
            with_operator = AuditEntry {
                actor: Some(operator.clone()),
                ..e.clone()
            };
            &with_operator
        }
        _ => e,
    };
    if conn.backend_name() == "PostgreSQL" {
        // The lock's own result is `void`, which the Any driver cannot
        // decode: count it instead.
        sqlx::query("SELECT count(*) FROM (SELECT pg_advisory_xact_lock($1)) AS l")
            .bind(CHAIN_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    let head: Option<(i64, Option<String>)> =
        sqlx::query_as("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    let (id, prev_hash) = match head {
        Some((id, hash)) => (id + 1, hash),
        None => (1, None),
    };
    let at = now_unix();
    let hash = entry_hash(id, at, e, prev_hash.as_deref());
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor, action, registry, crate, version, outcome, \
         detail, token_id, client_addr, user_agent, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(id)
    .bind(at)
    .bind(e.actor.clone())
    .bind(e.action.as_str())
    .bind(e.registry.clone())
    .bind(e.crate_name.clone())
    .bind(e.version.clone())
    .bind(e.outcome.as_str())
    .bind(e.detail.clone())
    .bind(e.token_id)
    .bind(e.client_addr.clone())
    .bind(e.user_agent.clone())
    .bind(prev_hash)
    .bind(hash)
    .execute(&mut *conn)
    .await?;
    // A change's webhook deliveries are queued with its audit row.
    crate::tables::webhooks::enqueue(conn, e, id).await?;
    Ok(())
}

impl WriteTx<'_> {
    /// Appends the audit row of the change this transaction made and
    /// commits both.
    pub(crate) async fn commit_audited(mut self, entry: &AuditEntry) -> Result<(), sqlx::Error> {
        insert_audit(&mut self.tx, entry).await?;
        self.tx.commit().await
    }
}

impl MetaStore {
    /// Appends one audit row (refused attempts, and a node's start; changes
    /// write their own). A refusal is written within the per-minute budget
    /// of its principal (user, else client address) and of everyone, and
    /// always when it is the principal's first of its kind in the minute
    /// ([`crate::tables::refusals`]); past them, it is not recorded.
    pub async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.append_audit_at(entry, now_unix()).await
    }

    /// As [`MetaStore::append_audit`], with `now` (Unix seconds) deciding
    /// which minute of the refusal budget the entry counts in (the row's
    /// own time is the system's, as every row's).
    pub async fn append_audit_at(&self, entry: &AuditEntry, now: i64) -> Result<(), StoreError> {
        let last;
        let entry = if entry.outcome == AuditOutcome::Ok {
            entry
        } else {
            let principal = Principal::of(entry);
            match self.refusals.admit(&principal, entry.action, now) {
                Admit::Skip => return Ok(()),
                Admit::Write => entry,
                Admit::WriteLast => {
                    last = AuditEntry {
                        detail: Some(format!(
                            "{} (further refusals of {principal} in this minute are not \
                             recorded, but for the first of each kind)",
                            entry.detail.as_deref().unwrap_or("")
                        )),
                        ..entry.clone()
                    };
                    &last
                }
            }
        };
        self.begin_write().await?.commit_audited(entry).await?;
        Ok(())
    }

    /// The newest audit rows, newest first.
    pub async fn recent_audit(&self, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM audit_log ORDER BY id DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The audit rows `filter` selects, oldest first.
    pub async fn audit_rows(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>, StoreError> {
        let mut conds: Vec<String> = Vec::new();
        let mut cond = |test: &str| conds.push(format!("{test} ${}", conds.len() + 1));
        if filter.since.is_some() {
            cond("at >=");
        }
        if filter.actor.is_some() {
            cond("actor =");
        }
        if filter.crate_name.is_some() {
            cond("crate =");
        }
        if filter.action.is_some() {
            cond("action =");
        }
        if filter.after_id.is_some() {
            cond("id >");
        }
        let mut sql = format!("SELECT {COLUMNS} FROM audit_log");
        if !conds.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conds.join(" AND "));
        }
        let limit = filter.limit.unwrap_or(i64::MAX);
        let sql = format!("{sql} ORDER BY id LIMIT {limit}");
        let mut q = sqlx::query_as(&sql);
        if let Some(since) = filter.since {
            q = q.bind(since);
        }
        if let Some(actor) = &filter.actor {
            q = q.bind(actor.clone());
        }
        if let Some(name) = &filter.crate_name {
            q = q.bind(name.clone());
        }
        if let Some(action) = filter.action {
            q = q.bind(action.as_str());
        }
        if let Some(after) = filter.after_id {
            q = q.bind(after);
        }
        Ok(q.fetch_all(&self.pool).await?)
    }

    /// Walks the whole audit log in id order and checks the chain: ids are
    /// positive; only the pre-chain prefix (ids up to the boundary that
    /// `audit_chain` recorded when the chain was introduced) may lack a
    /// hash; the first chained row comes right after that prefix, and every
    /// row after it has a hash that matches its content, the previous
    /// row's hash as `prev_hash`, and the id after the previous row's.
    /// Stops at the first bad row.
    pub async fn verify_audit(&self) -> Result<AuditCheck, StoreError> {
        // A missing boundary row (deleted) allows no unchained row at all.
        let pre_chain_until: i64 =
            sqlx::query_scalar("SELECT pre_chain_until FROM audit_chain WHERE one = 1")
                .fetch_optional(&self.pool)
                .await?
                .unwrap_or(0);
        let sql = format!("SELECT {COLUMNS} FROM audit_log ORDER BY id");
        let mut rows = sqlx::query_as::<_, AuditRow>(&sql).fetch(&self.pool);
        let mut check = AuditCheck::default();
        // The previous row: its id and hash, once the chain has begun.
        let mut prev: Option<(i64, String)> = None;
        while let Some(row) = rows.try_next().await? {
            check.entries += 1;
            if let Some(problem) = chain_problem(&row, prev.as_ref(), pre_chain_until) {
                check.first_bad = Some((row.id, problem));
                break;
            }
            match &row.hash {
                Some(hash) => prev = Some((row.id, hash.clone())),
                None => check.pre_chain += 1,
            }
        }
        check.head = prev.map(|(_, h)| h);
        Ok(check)
    }

    /// Records where the chain begins from the rows as they stand (what the
    /// migration that added `audit_chain` does): for a restore from a
    /// backup taken before that table existed.
    pub async fn record_audit_chain_start(&self) -> Result<(), StoreError> {
        self.write_one(sqlx::query(
            "UPDATE audit_chain SET pre_chain_until = (SELECT COALESCE(MAX(id), 0) \
             FROM audit_log WHERE hash IS NULL AND id > 0 AND id < COALESCE((SELECT MIN(id) \
             FROM audit_log WHERE hash IS NOT NULL), 9223372036854775807)) WHERE one = 1",
        ))
        .await
    }
}

/// What is wrong with `row` given the chained row before it, if anything;
/// rows with ids up to `pre_chain_until` were written before the chain.
fn chain_problem(
    row: &AuditRow,
    prev: Option<&(i64, String)>,
    pre_chain_until: i64,
) -> Option<String> {
    if row.id <= 0 {
        return Some(format!(
            "has id {}, but audit ids start at 1 (a forged entry)",
            row.id
        ));
    }
    let Some(hash) = &row.hash else {
        if let Some((id, _)) = prev {
            return Some(format!("has no hash, but entry {id} before it is chained"));
        }
        if row.id > pre_chain_until {
            return Some(if pre_chain_until == 0 {
                "has no hash, but every entry of this log is chained".to_string()
            } else {
                format!(
                    "has no hash, but only entries 1 to {pre_chain_until}, written before the \
                     chain began, may have none"
                )
            });
        }
        return None;
    };
    if let Some((prev_id, prev_hash)) = prev {
        if row.id != prev_id + 1 {
            let missing = if row.id == prev_id + 2 {
                format!("entry {} is missing", prev_id + 1)
            } else {
                format!("entries {} to {} are missing", prev_id + 1, row.id - 1)
            };
            return Some(format!("follows entry {prev_id}: {missing}"));
        }
        if row.prev_hash.as_deref() != Some(prev_hash.as_str()) {
            return Some(format!(
                "does not chain to entry {prev_id} (prev_hash differs: an entry was removed \
                 or replaced)"
            ));
        }
    } else {
        let first = pre_chain_until + 1;
        if row.id != first {
            return Some(if row.id > first {
                format!(
                    "is the first chained entry, but the chain begins at entry {first}: entries \
                     {first} to {} are missing or lost their hashes",
                    row.id - 1
                )
            } else {
                format!(
                    "is chained, but entries up to {pre_chain_until} were written before the \
                     chain began"
                )
            });
        }
        if row.prev_hash.is_some() {
            return Some("is the first chained entry but names a previous hash".into());
        }
    }
    if entry_hash(row.id, row.at, &row.entry, row.prev_hash.as_deref()) != *hash {
        return Some("was changed after it was written (its hash does not match)".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::domain::{AuditAction, AuditOutcome};
    use crate::model::AuditEntry;
    use crate::{test_db, MetaStore};

    /// Rows from before the chain (NULL hash) are a prefix verify counts;
    /// the chain starts after them; an unchained row after it is a finding.
    async fn pre_chain_prefix(store: &MetaStore) {
        // As the migration that introduced the chain records it.
        sqlx::query("UPDATE audit_chain SET pre_chain_until = 2")
            .execute(&store.pool)
            .await
            .unwrap();
        for id in [1, 2] {
            sqlx::query(
                "INSERT INTO audit_log (id, at, action, outcome) VALUES ($1, 0, 'yank', 'ok')",
            )
            .bind(id)
            .execute(&store.pool)
            .await
            .unwrap();
        }
        let entry = AuditEntry::new(AuditAction::Publish, AuditOutcome::Ok);
        store.append_audit(&entry).await.unwrap();
        store.append_audit(&entry).await.unwrap();
        let check = store.verify_audit().await.unwrap();
        assert_eq!((check.entries, check.pre_chain), (4, 2));
        assert_eq!(check.first_bad, None);
        assert!(check.head.is_some());
        sqlx::query("INSERT INTO audit_log (id, at, action, outcome) VALUES (5, 0, 'yank', 'ok')")
            .execute(&store.pool)
            .await
            .unwrap();
        let check = store.verify_audit().await.unwrap();
        let (id, why) = check.first_bad.unwrap();
        assert_eq!(id, 5);
        assert!(why.contains("has no hash"), "{why}");
    }

    test_db::on_both_backends!(
        pre_chain_prefix_on_sqlite,
        pre_chain_prefix_on_postgres,
        pre_chain_prefix
    );
}
