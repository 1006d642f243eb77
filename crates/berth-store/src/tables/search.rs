//! Search over `crates` by name and description, from indexes in both
//! dialects: SQLite's FTS5 trigram table `crates_search` (kept in step by
//! triggers) and PostgreSQL's pg_trgm GIN indexes; one- and two-character
//! queries walk the unique name index as a prefix range.
//!
//! Read-only; the search is the one place where the dialects' SQL differs.
//! It never scans every crate's text, and it binds the query, never
//! splices it into SQL.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::QueryAs;
use sqlx::{Any, FromRow};

use crate::db::{Backend, MetaStore};
use crate::model::SearchHit;
use crate::StoreError;

/// Matches are counted up to this many; `meta.total` says "at least".
pub const SEARCH_COUNT_CAP: i64 = 10_000;

/// A bound parameter.
enum P {
    I(i64),
    S(String),
}

fn bind<'q, O>(sql: &'q str, params: &[P]) -> QueryAs<'q, Any, O, AnyArguments<'q>>
where
    O: for<'r> FromRow<'r, AnyRow>,
{
    let mut q = sqlx::query_as(sql);
    for p in params {
        q = match p {
            P::I(v) => q.bind(*v),
            P::S(v) => q.bind(v.clone()),
        };
    }
    q
}

impl MetaStore {
    /// Crates whose name or description contains `query` (queries of one or
    /// two characters match name prefixes), exact name first, then by
    /// downloads. Returns the page and the number of matches (counted up to [`SEARCH_COUNT_CAP`]). Both dialects
    /// answer from indexes (SQLite: an FTS5 trigram table; PostgreSQL:
    /// pg_trgm), never by scanning every crate's text.
    pub async fn search(
        &self,
        registry_id: i64,
        query: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<SearchHit>, i64), StoreError> {
        let canon = berth_protocol::canonical_name(query);
        let mut params = vec![P::I(registry_id)];
        let filter = if canon.is_empty() {
            "registry_id = $1"
        } else if canon.chars().count() < 3 {
            // Too short for trigrams: name prefix, through the unique index.
            let mut upper = canon.clone();
            upper.push(char::MAX);
            params.push(P::S(canon.clone()));
            params.push(P::S(upper));
            "registry_id = $1 AND canon_name >= $2 AND canon_name < $3"
        } else {
            match self.backend() {
                Backend::Sqlite => {
                    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
                    params.push(P::S(format!(
                        "canon_name : {} OR description : {}",
                        quote(&canon),
                        quote(&query.to_lowercase())
                    )));
                    "registry_id = $1 AND id IN \
                     (SELECT rowid FROM crates_search WHERE crates_search MATCH $2)"
                }
                Backend::Postgres => {
                    let escape = |s: &str| {
                        s.replace('\\', "\\\\")
                            .replace('%', "\\%")
                            .replace('_', "\\_")
                    };
                    params.push(P::S(format!("%{}%", escape(&canon))));
                    params.push(P::S(format!("%{}%", escape(&query.to_lowercase()))));
                    "registry_id = $1 AND (canon_name LIKE $2 ESCAPE '\\' \
                     OR lower(description) LIKE $3 ESCAPE '\\')"
                }
            }
        };
        // The page is a top-k over the matches (no full sort, no window over
        // every row); the count stops at `SEARCH_COUNT_CAP`, so a query that
        // matches everything costs no more than one that matches a few.
        let n = params.len();
        let page_sql = format!(
            "SELECT name, max_version, description, downloads \
             FROM crates WHERE {filter} \
             ORDER BY CASE WHEN canon_name = ${} THEN 0 ELSE 1 END, downloads DESC, canon_name \
             LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2,
            n + 3
        );
        let filter_params = params.len();
        params.push(P::S(canon.clone()));
        params.push(P::I(limit));
        params.push(P::I(offset));
        let rows: Vec<SearchHit> = bind(&page_sql, &params).fetch_all(&self.pool).await?;
        let shown = offset + rows.len() as i64;
        let total = if (rows.len() as i64) < limit && (offset == 0 || !rows.is_empty()) {
            // The last page: the count is known without counting.
            shown
        } else {
            let count_sql = format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM crates WHERE {filter} LIMIT {SEARCH_COUNT_CAP}) AS m"
            );
            let (n,): (i64,) = bind(&count_sql, &params[..filter_params])
                .fetch_one(&self.pool)
                .await?;
            n
        };
        Ok((rows, total))
    }
}
