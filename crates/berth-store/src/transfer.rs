//! Whole-table export and import, for moving a registry between backends
//! (`berth migrate`). Rows keep their ids, imports are upserts keyed by the
//! primary key, so a copy can be interrupted and re-run without duplicating
//! anything, and a second pass picks up rows that changed since the first.
//! This module never interprets the rows: it moves cells.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::{Backend, MetaStore};
use crate::tables::{remove_owner, Holder};
use crate::StoreError;

/// The type of one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
}

/// One cell of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Int(Option<i64>),
    Text(Option<String>),
}

/// A table and how to copy it.
struct TableSpec {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    /// Primary-key columns (the conflict target).
    key: &'static [&'static str],
    /// Append-only tables are never updated by a re-run.
    append_only: bool,
}

use Kind::{Int, Text};

/// Tables in an order that satisfies their foreign keys.
const TABLES: &[TableSpec] = &[
    TableSpec {
        name: "users",
        columns: &[
            ("id", Int),
            ("login", Text),
            ("name", Text),
            ("password_hash", Text),
            ("is_admin", Int),
            ("created_at", Int),
            ("disabled", Int),
        ],
        key: &["id"],
        append_only: false,
    },
    TableSpec {
        name: "tokens",
        columns: &[
            ("id", Int),
            ("user_id", Int),
            ("name", Text),
            ("token_hash", Text),
            ("scopes", Text),
            ("created_at", Int),
            ("expires_at", Int),
            ("last_used_at", Int),
            ("revoked", Int),
            ("crate_patterns", Text),
            ("registry", Text),
            ("allowed_cidrs", Text),
            ("parent_id", Int),
            ("trust_claims", Text),
        ],
        key: &["id"],
        append_only: false,
    },
    TableSpec {
        name: "registries",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("kind", Text),
            ("created_at", Int),
            ("private", Int),
            ("policy_revision", Int),
            ("log_backfilled", Int),
        ],
        key: &["id"],
        append_only: false,
    },
    TableSpec {
        name: "crates",
        columns: &[
            ("id", Int),
            ("registry_id", Int),
            ("name", Text),
            ("canon_name", Text),
            ("description", Text),
            ("max_version", Text),
            ("downloads", Int),
            ("revision", Int),
            ("created_at", Int),
            ("updated_at", Int),
            ("trusted_only", Int),
        ],
        key: &["id"],
        append_only: false,
    },
    TableSpec {
        name: "versions",
        columns: &[
            ("id", Int),
            ("crate_id", Int),
            ("vers", Text),
            ("canon_vers", Text),
            ("index_line", Text),
            ("cksum", Text),
            ("size", Int),
            ("yanked", Int),
            ("metadata", Text),
            ("readme", Text),
            ("published_by", Int),
            ("created_at", Int),
            ("downloads", Int),
            ("trust_claims", Text),
        ],
        key: &["id"],
        append_only: false,
    },
    TableSpec {
        name: "dependencies",
        columns: &[
            ("id", Int),
            ("version_id", Int),
            ("registry_id", Int),
            ("dep_canon_name", Text),
            ("kind", Text),
            ("dep_registry", Text),
        ],
        key: &["id"],
        append_only: false,
    },
    TableSpec {
        name: "version_downloads",
        columns: &[("version_id", Int), ("day", Int), ("count", Int)],
        key: &["version_id", "day"],
        append_only: false,
    },
    TableSpec {
        name: "crate_owners",
        columns: &[
            ("crate_id", Int),
            ("user_id", Int),
            ("added_by", Int),
            ("created_at", Int),
        ],
        key: &["crate_id", "user_id"],
        append_only: false,
    },
    TableSpec {
        name: "registry_roles",
        columns: &[
            ("registry_id", Int),
            ("user_id", Int),
            ("role", Text),
            ("created_at", Int),
        ],
        key: &["registry_id", "user_id"],
        append_only: false,
    },
    TableSpec {
        name: "teams",
        columns: &[("id", Int), ("name", Text), ("created_at", Int)],
        key: &["id"],
        append_only: false,
    },
    TableSpec {
        name: "team_members",
        columns: &[("team_id", Int), ("user_id", Int), ("created_at", Int)],
        key: &["team_id", "user_id"],
        append_only: false,
    },
    TableSpec {
        name: "team_roles",
        columns: &[
            ("registry_id", Int),
            ("team_id", Int),
            ("role", Text),
            ("created_at", Int),
        ],
        key: &["registry_id", "team_id"],
        append_only: false,
    },
    TableSpec {
        name: "crate_owner_teams",
        columns: &[
            ("crate_id", Int),
            ("team_id", Int),
            ("added_by", Int),
            ("created_at", Int),
        ],
        key: &["crate_id", "team_id"],
        append_only: false,
    },
    TableSpec {
        name: "advisory_sets",
        columns: &[
            ("id", Int),
            ("digest", Text),
            ("source", Text),
            ("advisories", Int),
            ("crates", Int),
            ("imported_at", Int),
            ("body", Text),
        ],
        key: &["id"],
        append_only: false,
    },
    TableSpec {
        name: "policy_exceptions",
        columns: &[
            ("id", Int),
            ("registry_id", Int),
            ("name", Text),
            ("canon_name", Text),
            ("vers", Text),
            ("reason", Text),
            ("expires_at", Int),
            ("created_by", Text),
            ("created_at", Int),
        ],
        key: &["id"],
        append_only: false,
    },
    TableSpec {
        name: "policy_approvals",
        columns: &[
            ("id", Int),
            ("registry_id", Int),
            ("name", Text),
            ("canon_name", Text),
            ("req", Text),
            ("created_by", Text),
            ("created_at", Int),
        ],
        key: &["id"],
        append_only: false,
    },
    TableSpec {
        name: "audit_log",
        columns: &[
            ("id", Int),
            ("at", Int),
            ("actor", Text),
            ("action", Text),
            ("registry", Text),
            ("crate", Text),
            ("version", Text),
            ("outcome", Text),
            ("detail", Text),
            ("token_id", Int),
            ("client_addr", Text),
            ("user_agent", Text),
            ("prev_hash", Text),
            ("hash", Text),
        ],
        key: &["id"],
        append_only: true,
    },
    TableSpec {
        name: "trust_configs",
        columns: &[
            ("id", Int),
            ("registry_id", Int),
            ("crate_name", Text),
            ("canon_name", Text),
            ("issuer", Text),
            ("repository", Text),
            ("workflow", Text),
            ("environment", Text),
            ("created_by", Int),
            ("created_at", Int),
        ],
        key: &["id"],
        append_only: false,
    },
    TableSpec {
        name: "external_identities",
        columns: &[
            ("source", Text),
            ("subject", Text),
            ("user_id", Int),
            ("created_at", Int),
            ("last_seen_at", Int),
        ],
        key: &["source", "subject"],
        append_only: false,
    },
    TableSpec {
        name: "webhooks",
        columns: &[
            ("id", Int),
            ("url", Text),
            ("events", Text),
            ("registry", Text),
            ("secret_env", Text),
            ("created_by", Text),
            ("created_at", Int),
        ],
        key: &["id"],
        append_only: false,
    },
    TableSpec {
        name: "webhook_deliveries",
        columns: &[
            ("id", Int),
            ("webhook_id", Int),
            ("event", Text),
            ("subject", Text),
            ("payload", Text),
            ("state", Text),
            ("attempts", Int),
            ("next_at", Int),
            ("lease_until", Int),
            ("last_status", Int),
            ("last_error", Text),
            ("created_at", Int),
            ("delivered_at", Int),
        ],
        key: &["id"],
        append_only: false,
    },
    TableSpec {
        name: "replica_state",
        columns: &[
            ("registry_id", Int),
            ("applied_seq", Int),
            ("primary_head", Int),
            ("caught_up_at", Int),
            ("lease_owner", Text),
            ("lease_until", Int),
            ("last_error", Text),
            ("updated_at", Int),
            ("log_size", Int),
            ("log_root", Text),
        ],
        key: &["registry_id"],
        append_only: false,
    },
    TableSpec {
        name: "trust_jtis",
        columns: &[("issuer", Text), ("jti", Text), ("expires_at", Int)],
        key: &["issuer", "jti"],
        append_only: false,
    },
    TableSpec {
        name: "log_records",
        columns: &[
            ("registry_id", Int),
            ("idx", Int),
            ("name", Text),
            ("canon_name", Text),
            ("vers", Text),
            ("canon_vers", Text),
            ("sha256", Text),
            ("pubtime", Text),
            ("logged_at", Int),
        ],
        key: &["registry_id", "idx"],
        append_only: true,
    },
    TableSpec {
        name: "log_nodes",
        columns: &[
            ("registry_id", Int),
            ("level", Int),
            ("idx", Int),
            ("hash", Text),
        ],
        key: &["registry_id", "level", "idx"],
        append_only: true,
    },
    TableSpec {
        name: "log_heads",
        columns: &[("registry_id", Int), ("size", Int), ("frontier", Text)],
        key: &["registry_id"],
        append_only: false,
    },
    TableSpec {
        name: "log_checkpoints",
        columns: &[
            ("registry_id", Int),
            ("size", Int),
            ("root", Text),
            ("note", Text),
            ("signed_at", Int),
        ],
        key: &["registry_id", "size"],
        append_only: true,
    },
    TableSpec {
        name: "audit_chain",
        columns: &[("one", Int), ("pre_chain_until", Int)],
        key: &["one"],
        append_only: false,
    },
];

/// The names of the tables a migration copies, in order.
pub fn table_names() -> Vec<&'static str> {
    TABLES.iter().map(|t| t.name).collect()
}

fn spec(table: &str) -> Result<&'static TableSpec, StoreError> {
    TABLES
        .iter()
        .find(|t| t.name == table)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown table `{table}`")))
}

fn read_row(spec: &TableSpec, row: &AnyRow) -> Result<Vec<Cell>, sqlx::Error> {
    spec.columns
        .iter()
        .map(|(col, kind)| {
            Ok(match kind {
                Int => Cell::Int(row.try_get::<Option<i64>, _>(*col)?),
                Text => Cell::Text(row.try_get::<Option<String>, _>(*col)?),
            })
        })
        .collect()
}

impl MetaStore {
    /// Number of rows in a table.
    pub async fn count_rows(&self, table: &str) -> Result<i64, StoreError> {
        let spec = spec(table)?;
        Ok(
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", spec.name))
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// A page of rows in primary-key order, after `after` (the key of the
    /// last row of the previous page; empty for the first page).
    pub async fn export_rows(
        &self,
        table: &str,
        after: &[i64],
        limit: i64,
    ) -> Result<Vec<Vec<Cell>>, StoreError> {
        let spec = spec(table)?;
        let cols: Vec<&str> = spec.columns.iter().map(|(c, _)| *c).collect();
        let key = spec.key.join(", ");
        let mut sql = format!("SELECT {} FROM {}", cols.join(", "), spec.name);
        if !after.is_empty() {
            // Row-value comparison works in both dialects.
            let params: Vec<String> = (1..=after.len()).map(|i| format!("${i}")).collect();
            sql.push_str(&format!(" WHERE ({key}) > ({})", params.join(", ")));
        }
        sql.push_str(&format!(" ORDER BY {key} LIMIT ${}", after.len() + 1));
        let mut q = sqlx::query(&sql);
        for k in after {
            q = q.bind(*k);
        }
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| read_row(spec, r))
            .collect::<Result<_, _>>()?)
    }

    /// The value of a text column of an exported row.
    pub fn text_cell<'a>(
        table: &str,
        row: &'a [Cell],
        column: &str,
    ) -> Result<Option<&'a str>, StoreError> {
        let spec = spec(table)?;
        let idx = spec
            .columns
            .iter()
            .position(|(c, _)| *c == column)
            .ok_or_else(|| StoreError::Corrupt(format!("no column `{column}` in `{table}`")))?;
        Ok(match row.get(idx) {
            Some(Cell::Text(v)) => v.as_deref(),
            _ => None,
        })
    }

    /// The key of a row as exported (for paging).
    pub fn row_key(table: &str, row: &[Cell]) -> Result<Vec<i64>, StoreError> {
        let spec = spec(table)?;
        spec.key
            .iter()
            .map(|k| {
                let idx = spec.columns.iter().position(|(c, _)| c == k).unwrap_or(0);
                match row.get(idx) {
                    Some(Cell::Int(Some(v))) => Ok(*v),
                    _ => Err(StoreError::Corrupt(format!(
                        "row of `{table}` without its key"
                    ))),
                }
            })
            .collect()
    }

    /// Upserts rows (keyed by the primary key) in one transaction. Returns
    /// how many rows were inserted or changed.
    pub async fn import_rows(&self, table: &str, rows: &[Vec<Cell>]) -> Result<u64, StoreError> {
        let spec = spec(table)?;
        let cols: Vec<&str> = spec.columns.iter().map(|(c, _)| *c).collect();
        let params: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
        let updates: Vec<String> = cols
            .iter()
            .filter(|c| !spec.key.contains(c))
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        let changed: Vec<String> = cols
            .iter()
            .filter(|c| !spec.key.contains(c))
            .map(|c| format!("{t}.{c} IS DISTINCT FROM excluded.{c}", t = spec.name))
            .collect();
        // Rows that are already identical are left alone (and not counted).
        let on_conflict = if spec.append_only || updates.is_empty() {
            "DO NOTHING".to_string()
        } else {
            format!(
                "DO UPDATE SET {} WHERE {}",
                updates.join(", "),
                changed.join(" OR ")
            )
        };
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) {on_conflict}",
            spec.name,
            cols.join(", "),
            params.join(", "),
            spec.key.join(", ")
        );
        let mut w = self.begin_write().await?;
        let mut changed_rows = 0;
        for row in rows {
            let mut q = sqlx::query(&sql);
            for cell in row {
                q = match cell {
                    Cell::Int(v) => q.bind(*v),
                    Cell::Text(v) => q.bind(v.clone()),
                };
            }
            changed_rows += q.execute(&mut *w.tx).await?.rows_affected();
        }
        w.tx.commit().await?;
        Ok(changed_rows)
    }

    /// Deletes owner rows whose key is not in `keep` (an owner removed in the
    /// source since a previous pass).
    pub async fn retain_owners(
        &self,
        keep: &std::collections::HashSet<(i64, i64)>,
    ) -> Result<u64, StoreError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT crate_id, user_id FROM crate_owners")
            .fetch_all(&self.pool)
            .await?;
        let mut w = self.begin_write().await?;
        let mut removed = 0;
        for key in rows {
            if !keep.contains(&key) {
                remove_owner(&mut w.tx, key.0, Holder::User, key.1).await?;
                removed += 1;
            }
        }
        w.tx.commit().await?;
        Ok(removed)
    }

    /// After importing rows with explicit ids, moves PostgreSQL's identity
    /// sequences past them (SQLite needs nothing).
    pub async fn reset_id_sequences(&self) -> Result<(), StoreError> {
        if self.backend() != Backend::Postgres {
            return Ok(());
        }
        for spec in TABLES.iter().filter(|t| t.key == ["id"]) {
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT COALESCE(MAX(id), 0) + 1 FROM {t}), false)",
                t = spec.name
            ))
            .fetch_one(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// `(name, id)` of every row of a table with a unique name column
    /// (`registries` by name, `users` by login), to check that a destination
    /// agrees with the source before rows are copied into it.
    pub async fn name_ids(&self, table: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let col = match table {
            "registries" => "name",
            "users" => "login",
            _ => return Err(StoreError::Corrupt(format!("no name column in `{table}`"))),
        };
        Ok(sqlx::query_as(&format!("SELECT {col}, id FROM {table}"))
            .fetch_all(&self.pool)
            .await?)
    }
}

/// A row as JSON, for backups: integers as numbers, text as strings, NULL as
/// null, in the table's column order.
pub fn row_to_json(row: &[Cell]) -> serde_json::Value {
    serde_json::Value::Array(
        row.iter()
            .map(|c| match c {
                Cell::Int(Some(v)) => serde_json::Value::from(*v),
                Cell::Text(Some(v)) => serde_json::Value::from(v.as_str()),
                Cell::Int(None) | Cell::Text(None) => serde_json::Value::Null,
            })
            .collect(),
    )
}

/// Columns added to a table after backups of it were first made, with the
/// value a row of an older backup gets for them (what the migration that
/// added the column gave the rows it found). Such a row lacks exactly
/// these, at its end: a new column is added last.
const LATER_COLUMNS: &[(&str, &str, Option<i64>)] = &[
    ("users", "disabled", Some(0)),
    ("tokens", "trust_claims", None),
    ("registries", "policy_revision", Some(0)),
    ("registries", "log_backfilled", Some(0)),
    ("crates", "trusted_only", Some(0)),
    ("versions", "trust_claims", None),
    ("replica_state", "log_size", Some(0)),
    ("replica_state", "log_root", None),
];

/// The value an older backup's row gets for `table.column`, when that
/// column came later.
fn later_default(table: &str, column: &str, kind: Kind) -> Option<Cell> {
    LATER_COLUMNS
        .iter()
        .find(|(t, c, _)| *t == table && *c == column)
        .map(|(_, _, v)| match kind {
            Int => Cell::Int(*v),
            Text => Cell::Text(None),
        })
}

/// A row of `table` read back from [`row_to_json`]; `Err` on any cell that
/// is not of its column's type. A row of an older backup, without columns
/// added since ([`LATER_COLUMNS`]), gets their defaults.
pub fn row_from_json(table: &str, value: &serde_json::Value) -> Result<Vec<Cell>, StoreError> {
    let spec = spec(table)?;
    let wrong_width = || {
        StoreError::Corrupt(format!(
            "a row of `{table}` is not an array of {} cells",
            spec.columns.len()
        ))
    };
    let cells = value
        .as_array()
        .filter(|a| a.len() <= spec.columns.len())
        .ok_or_else(wrong_width)?;
    // The cells it lacks, if it may lack them: checked before its cells, so
    // that a row of another shape is named as one.
    let padding = spec.columns[cells.len()..]
        .iter()
        .map(|(col, kind)| later_default(table, col, *kind))
        .collect::<Option<Vec<Cell>>>()
        .ok_or_else(wrong_width)?;
    let mut row: Vec<Cell> = spec
        .columns
        .iter()
        .zip(cells)
        .map(|((col, kind), v)| match (kind, v) {
            (Int, serde_json::Value::Null) => Ok(Cell::Int(None)),
            (Text, serde_json::Value::Null) => Ok(Cell::Text(None)),
            (Int, serde_json::Value::Number(n)) if n.is_i64() => Ok(Cell::Int(n.as_i64())),
            (Text, serde_json::Value::String(s)) => Ok(Cell::Text(Some(s.clone()))),
            _ => Err(StoreError::Corrupt(format!(
                "`{table}.{col}` holds {v}, not of its column's type"
            ))),
        })
        .collect::<Result<_, _>>()?;
    row.extend(padding);
    Ok(row)
}

impl MetaStore {
    /// Every row of every table [`table_names`] lists, read in one read
    /// transaction (a snapshot: REPEATABLE READ on PostgreSQL, one WAL read
    /// transaction on SQLite), so that what it returns is one committed
    /// state while writers go on. `each` gets each table's rows in chunks of
    /// at most [`SNAPSHOT_CHUNK`] rows, tables in foreign-key order, rows
    /// streamed from the database (memory holds one chunk, whatever the
    /// registry's size); an empty table gets one empty chunk.
    pub async fn snapshot_tables(
        &self,
        mut each: impl FnMut(&str, Vec<Vec<Cell>>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        use futures::TryStreamExt;
        let mut tx = self.pool.begin().await?;
        if self.backend() == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        for spec in TABLES {
            let cols: Vec<&str> = spec.columns.iter().map(|(c, _)| *c).collect();
            let sql = format!(
                "SELECT {} FROM {} ORDER BY {}",
                cols.join(", "),
                spec.name,
                spec.key.join(", ")
            );
            let mut rows = sqlx::query(&sql).fetch(&mut *tx);
            let mut chunk = Vec::new();
            let mut sent = false;
            while let Some(row) = rows.try_next().await? {
                chunk.push(read_row(spec, &row)?);
                if chunk.len() == SNAPSHOT_CHUNK {
                    each(spec.name, std::mem::take(&mut chunk))?;
                    sent = true;
                }
            }
            drop(rows);
            if !chunk.is_empty() || !sent {
                each(spec.name, chunk)?;
            }
        }
        tx.rollback().await?;
        Ok(())
    }
}

/// Rows per chunk of [`MetaStore::snapshot_tables`].
pub const SNAPSHOT_CHUNK: usize = 5_000;

#[cfg(test)]
mod tests;
