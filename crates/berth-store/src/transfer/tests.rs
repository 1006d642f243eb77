//! `TABLES` against the schema the migrations build, in both dialects:
//! every table `berth migrate` must copy is listed, with every column, each
//! of the right kind, keyed by the table's primary key, and in an order
//! that satisfies the foreign keys. A migration that adds a table or a
//! column fails here until `TABLES` copies it, so a migration can never
//! silently drop data.

use std::collections::BTreeMap;

use super::{Kind, TABLES};
use crate::db::MetaStore;
use crate::test_db;

/// Tables of a fresh SQLite database that `migrate` does not copy, and why.
/// Names starting with `sqlite_` are SQLite's own and never listed here.
const SQLITE_NOT_COPIED: &[&str] = &[
    // sqlx's record of applied migrations: the destination runs its own.
    "_sqlx_migrations",
    // The FTS5 search index over `crates` and its shadow tables: rebuilt
    // from `crates` by triggers as rows are imported.
    "crates_search",
    "crates_search_config",
    "crates_search_data",
    "crates_search_docsize",
    "crates_search_idx",
    // Proxy registries' caches (keyed by name, not by id): refetched from
    // the upstream, or moved with `berth mirror export|import`.
    "proxy_index",
    "proxy_crates",
    // Web UI login sessions: short-lived, and bound to the server that
    // issued them; after a migration people log in again.
    "sessions",
    // Documentation (derived data, its files in the blob store outside
    // `crates/`): built again or uploaded again after a migration.
    "docs_sets",
    "docs_builds",
    "docs_retired",
    // Docs passes: bound to a session, which is not copied either.
    "docs_passes",
];

/// Tables of a fresh PostgreSQL database that `migrate` does not copy.
const POSTGRES_NOT_COPIED: &[&str] = &[
    // sqlx's record of applied migrations: the destination runs its own.
    "_sqlx_migrations",
    // Proxy registries' caches (keyed by name, not by id): refetched from
    // the upstream, or moved with `berth mirror export|import`.
    "proxy_index",
    "proxy_crates",
    // Web UI login sessions: short-lived, and bound to the server that
    // issued them; after a migration people log in again.
    "sessions",
    // Documentation (derived data, its files in the blob store outside
    // `crates/`): built again or uploaded again after a migration.
    "docs_sets",
    "docs_builds",
    "docs_retired",
    // Docs passes: bound to a session, which is not copied either.
    "docs_passes",
];

/// One table as the database describes it.
#[derive(Debug, Default)]
struct Table {
    /// `(name, declared type)`.
    columns: Vec<(String, String)>,
    /// Primary-key columns in key order.
    key: Vec<String>,
    /// Tables its foreign keys refer to.
    refers_to: Vec<String>,
}

fn kind_of(declared: &str) -> Option<Kind> {
    match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" => Some(Kind::Int),
        "text" => Some(Kind::Text),
        _ => None,
    }
}

/// Everything `TABLES` gets wrong about `schema`; empty when it is right.
fn problems(schema: &BTreeMap<String, Table>, not_copied: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for name in not_copied {
        if !schema.contains_key(*name) {
            out.push(format!(
                "`{name}` is listed as not copied but does not exist: drop it from the list"
            ));
        }
    }
    for (name, table) in schema {
        if not_copied.contains(&name.as_str()) {
            continue;
        }
        let Some(spec) = TABLES.iter().find(|t| t.name == name) else {
            out.push(format!("table `{name}` is not in transfer.rs's TABLES"));
            continue;
        };
        for (col, declared) in &table.columns {
            match spec.columns.iter().find(|(c, _)| c == col) {
                None => out.push(format!("column `{name}.{col}` is not copied")),
                Some((_, kind)) if kind_of(declared) != Some(*kind) => out.push(format!(
                    "column `{name}.{col}` is `{declared}` but copied as {kind:?}"
                )),
                Some(_) => {}
            }
        }
        for (col, _) in spec.columns {
            if !table.columns.iter().any(|(c, _)| c == col) {
                out.push(format!(
                    "column `{name}.{col}` is copied but does not exist"
                ));
            }
        }
        if spec.key != table.key.as_slice() {
            out.push(format!(
                "`{name}` is keyed by {:?} in TABLES but its primary key is {:?}",
                spec.key, table.key
            ));
        }
        let position = |t: &str| TABLES.iter().position(|s| s.name == t);
        for target in &table.refers_to {
            if target != name && position(target) >= position(name) {
                out.push(format!(
                    "`{name}` refers to `{target}` but is copied before it"
                ));
            }
        }
    }
    for spec in TABLES {
        if !schema.contains_key(spec.name) {
            out.push(format!(
                "table `{}` is copied but does not exist",
                spec.name
            ));
        }
    }
    out
}

async fn sqlite_schema(store: &MetaStore) -> Result<BTreeMap<String, Table>, sqlx::Error> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    )
    .fetch_all(&store.pool)
    .await?;
    let mut schema = BTreeMap::new();
    for name in names {
        let columns: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT name, type, pk FROM pragma_table_info($1) ORDER BY cid")
                .bind(&name)
                .fetch_all(&store.pool)
                .await?;
        let mut key: Vec<(i64, String)> = columns
            .iter()
            .filter(|(_, _, pk)| *pk > 0)
            .map(|(c, _, pk)| (*pk, c.clone()))
            .collect();
        key.sort();
        let refers_to: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list($1)")
                .bind(&name)
                .fetch_all(&store.pool)
                .await?;
        let table = Table {
            columns: columns.into_iter().map(|(c, t, _)| (c, t)).collect(),
            key: key.into_iter().map(|(_, c)| c).collect(),
            refers_to,
        };
        schema.insert(name, table);
    }
    Ok(schema)
}

async fn postgres_schema(store: &MetaStore) -> Result<BTreeMap<String, Table>, sqlx::Error> {
    let mut schema: BTreeMap<String, Table> = BTreeMap::new();
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text \
         FROM information_schema.columns c JOIN information_schema.tables t \
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
         ORDER BY c.table_name, c.ordinal_position",
    )
    .fetch_all(&store.pool)
    .await?;
    for (table, column, declared) in columns {
        schema
            .entry(table)
            .or_default()
            .columns
            .push((column, declared));
    }
    let keys: Vec<(String, String)> = sqlx::query_as(
        "SELECT k.table_name::text, k.column_name::text \
         FROM information_schema.table_constraints tc \
         JOIN information_schema.key_column_usage k \
           ON k.constraint_schema = tc.constraint_schema AND k.constraint_name = tc.constraint_name \
         WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = current_schema() \
         ORDER BY k.table_name, k.ordinal_position",
    )
    .fetch_all(&store.pool)
    .await?;
    for (table, column) in keys {
        schema.entry(table).or_default().key.push(column);
    }
    let refs: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT tc.table_name::text, u.table_name::text \
         FROM information_schema.table_constraints tc \
         JOIN information_schema.constraint_column_usage u \
           ON u.constraint_schema = tc.constraint_schema AND u.constraint_name = tc.constraint_name \
         WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema()",
    )
    .fetch_all(&store.pool)
    .await?;
    for (table, target) in refs {
        schema.entry(table).or_default().refers_to.push(target);
    }
    Ok(schema)
}

fn assert_no_problems(dialect: &str, problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "transfer.rs's TABLES disagrees with the {dialect} migrations \
         (`berth migrate` would not copy everything):\n  {}",
        problems.join("\n  ")
    );
}

/// `TABLES` against the migrations of `store`'s backend.
async fn tables_match_migrations(store: &MetaStore) {
    let (dialect, schema, not_copied) = match store.backend() {
        crate::Backend::Sqlite => ("SQLite", sqlite_schema(store).await, SQLITE_NOT_COPIED),
        _ => (
            "PostgreSQL",
            postgres_schema(store).await,
            POSTGRES_NOT_COPIED,
        ),
    };
    let schema = schema.unwrap();
    assert!(schema.contains_key("crates"), "read no tables: {schema:?}");
    assert_no_problems(dialect, problems(&schema, not_copied));
}

test_db::on_both_backends!(
    tables_match_sqlite_migrations,
    tables_match_postgres_migrations,
    tables_match_migrations
);

/// The check itself notices what it must: a column, a table and a key that
/// `TABLES` does not know.
#[test]
fn problems_are_found() {
    let table = |cols: &[(&str, &str)], key: &[&str]| Table {
        columns: cols
            .iter()
            .map(|(c, t)| (c.to_string(), t.to_string()))
            .collect(),
        key: key.iter().map(|k| k.to_string()).collect(),
        refers_to: Vec::new(),
    };
    let mut schema: BTreeMap<String, Table> = TABLES
        .iter()
        .map(|t| {
            let cols: Vec<(&str, &str)> = t
                .columns
                .iter()
                .map(|(c, k)| (*c, if *k == Kind::Int { "INTEGER" } else { "TEXT" }))
                .collect();
            (t.name.to_string(), table(&cols, t.key))
        })
        .collect();
    assert_eq!(problems(&schema, &[]), Vec::<String>::new());
    schema
        .get_mut("users")
        .unwrap()
        .columns
        .push(("email".into(), "TEXT".into()));
    schema.insert("mirrors".into(), table(&[("id", "INTEGER")], &["id"]));
    schema.get_mut("tokens").unwrap().key = vec!["token_hash".into()];
    schema.get_mut("crates").unwrap().refers_to = vec!["versions".into()];
    let found = problems(&schema, &[]);
    assert_eq!(
        found,
        [
            "`crates` refers to `versions` but is copied before it",
            "table `mirrors` is not in transfer.rs's TABLES",
            "`tokens` is keyed by [\"id\"] in TABLES but its primary key is [\"token_hash\"]",
            "column `users.email` is not copied",
        ]
    );
}

#[test]
fn rows_of_older_backups_get_the_later_columns_defaults() {
    use super::{row_from_json, Cell, LATER_COLUMNS};
    // Every later column is one of its table's, among its last ones.
    for (table, column, _) in LATER_COLUMNS {
        let spec = TABLES.iter().find(|t| t.name == *table).unwrap();
        let at = spec
            .columns
            .iter()
            .position(|(c, _)| c == column)
            .unwrap_or_else(|| panic!("{table}.{column} is not a column"));
        assert!(
            spec.columns[at..]
                .iter()
                .all(|(c, _)| LATER_COLUMNS.iter().any(|(t, l, _)| t == table && l == c)),
            "{table}.{column}: every column after a later one came later too"
        );
    }
    // A crate row of a backup made before `trusted_only`.
    let old = serde_json::json!([1, 1, "tool", "tool", null, "1.0.0", 3, 2, 10, 11]);
    let row = row_from_json("crates", &old).unwrap();
    assert_eq!(row.len(), 11);
    assert_eq!(row[10], Cell::Int(Some(0)));
    // A version row before `trust_claims`: NULL.
    let old = serde_json::json!([1, 1, "1.0.0", "1.0.0", "{}", "ab", 5, 0, "{}", null, 1, 10, 0]);
    let row = row_from_json("versions", &old).unwrap();
    assert_eq!(row[13], Cell::Text(None));
    // A row short of a column that was always there is refused.
    let short = serde_json::json!([1, 1, "tool", "tool", null, "1.0.0", 3, 2, 10]);
    let e = row_from_json("crates", &short).unwrap_err().to_string();
    assert!(e.contains("not an array of 11 cells"), "{e}");
    let long = serde_json::json!([1, 1, "t", "t", null, "1", 3, 2, 10, 11, 0, 0]);
    assert!(row_from_json("crates", &long).is_err());
}
