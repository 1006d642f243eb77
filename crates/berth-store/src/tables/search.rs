//! Search over `crates` by name and description, from indexes in both
//! dialects: SQLite's FTS5 trigram table `crates_search` (kept in step by
//! triggers) and PostgreSQL's pg_trgm GIN indexes; one- and two-character
//! queries use the unique name index as a prefix range; every query may
//! instead walk the `(registry_id, downloads)` index when its matches are
//! dense enough that the first page is near the top of that walk.
//!
//! Read-only; the search is the one place where the dialects' SQL differs.
//! It binds the query, never splices it into SQL, and it never scans every
//! crate's text to answer a selective query.
//!
//! How one search runs (each step bounded):
//! 1. the exact name, by the unique `(registry_id, canon_name)` index;
//! 2. the total, counted from the selective index and stopping at
//!    [`SEARCH_COUNT_CAP`], or a little further when that is needed to
//!    choose the path below (FTS5 streams its matches into the count; the
//!    old `id IN (SELECT rowid ...)` form built every match first);
//! 3. the rest of the page (downloads desc, then name), by whichever path
//!    costs less given that count: the *walk* down the downloads index with
//!    the substring test on each row, which stops once the page is full and
//!    reads about `page end × crates / matches` rows; or the *indexed* path,
//!    which reads every match from the trigram (or prefix) index and keeps
//!    the top of them, about `matches` rows.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::QueryAs;
use sqlx::{Any, FromRow};

use crate::db::{Backend, MetaStore};
use crate::model::SearchHit;
use crate::StoreError;

/// Matches are counted up to this many; `meta.total` says "at least". As
/// deep as pages go (`MAX_SEARCH_DEPTH` in berth-core): a larger count would
/// cost every dense search a longer count and show nothing more.
pub const SEARCH_COUNT_CAP: i64 = 1_000;

/// A bound parameter.
#[derive(Clone)]
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

const COLUMNS: &str = "c.name, c.max_version, c.description, c.downloads, c.updated_at";

/// The SQL of one query's matches. Each fragment reads its own parameters
/// from `$2` on (`$1` is the registry), and binds exactly those.
struct Matches {
    /// `FROM ... WHERE ...` over the matches through the selective index
    /// (rows as `c`), or `None` when there is none (the empty query).
    indexed: Option<(String, Vec<P>)>,
    /// A test on one `crates` row (as `c`) for the walk, with the same
    /// answer as `indexed`, or `None` when only the index path is exact.
    walk: Option<(String, Vec<P>)>,
}

impl Matches {
    fn new(backend: Backend, query: &str, canon: &str) -> Matches {
        let lower = query.to_lowercase();
        let chars = canon.chars().count();
        if canon.is_empty() {
            return Matches {
                indexed: None,
                walk: Some(("1 = 1".into(), vec![])),
            };
        }
        if chars < 3 {
            // Too short for trigrams: a name prefix, through the unique index.
            let mut upper = canon.to_string();
            upper.push(char::MAX);
            return Matches {
                indexed: Some((
                    "FROM crates AS c WHERE c.registry_id = $1 \
                     AND c.canon_name >= $2 AND c.canon_name < $3"
                        .into(),
                    vec![P::S(canon.to_string()), P::S(upper)],
                )),
                // `chars` is ours, not the client's: at most 2.
                walk: Some((
                    format!("substr(c.canon_name, 1, {chars}) = $2"),
                    vec![P::S(canon.to_string())],
                )),
            };
        }
        match backend {
            Backend::Sqlite => {
                let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
                Matches {
                    // CROSS JOIN keeps the FTS table outermost, so its
                    // matches stream (and a LIMIT stops them).
                    indexed: Some((
                        "FROM crates_search CROSS JOIN crates AS c \
                         ON c.id = crates_search.rowid \
                         WHERE crates_search MATCH $2 AND c.registry_id = $1"
                            .into(),
                        vec![P::S(format!(
                            "canon_name : {} OR description : {}",
                            quote(canon),
                            quote(&lower)
                        ))],
                    )),
                    // FTS5 folds case by Unicode, lower() by ASCII only: the
                    // same answer for ASCII queries, which are all that walk.
                    walk: query.is_ascii().then(|| {
                        (
                            "(instr(c.canon_name, $2) > 0 \
                             OR instr(lower(c.description), $3) > 0)"
                                .into(),
                            vec![P::S(canon.to_string()), P::S(lower.clone())],
                        )
                    }),
                }
            }
            Backend::Postgres => {
                let escape = |s: &str| {
                    s.replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_")
                };
                Matches {
                    indexed: Some((
                        "FROM crates AS c WHERE c.registry_id = $1 \
                         AND (c.canon_name LIKE $2 ESCAPE '\\' \
                         OR lower(c.description) LIKE $3 ESCAPE '\\')"
                            .into(),
                        vec![
                            P::S(format!("%{}%", escape(canon))),
                            P::S(format!("%{}%", escape(&lower))),
                        ],
                    )),
                    // The same test as LIKE '%...%', which no index serves.
                    walk: Some((
                        "(strpos(c.canon_name, $2) > 0 \
                         OR strpos(lower(c.description), $3) > 0)"
                            .into(),
                        vec![P::S(canon.to_string()), P::S(lower)],
                    )),
                }
            }
        }
    }
}

/// `$1`, a fragment's parameters, then `extra`; and the number of the first
/// of `extra`.
fn with(registry_id: i64, own: &[P], extra: &[P]) -> (Vec<P>, usize) {
    let mut all = vec![P::I(registry_id)];
    all.extend(own.iter().cloned());
    let next = all.len() + 1;
    all.extend(extra.iter().cloned());
    (all, next)
}

/// Which rows of the page come after the exact match: `(skip, take)` over
/// the other matches in order.
fn rest_window(limit: i64, offset: i64, has_exact: bool) -> (i64, i64) {
    match (has_exact, offset) {
        (false, _) => (offset, limit),
        (true, 0) => (0, limit - 1),
        (true, _) => (offset - 1, limit),
    }
}

/// The number of matches at which both paths read as many rows:
/// `need × crates / m = m`, so `m = √(need × crates)` (1,415 for a first
/// page of 200,000 crates, 14,143 for the thousandth result).
fn balance(need: i64, crates: i64) -> i64 {
    (need.max(0).saturating_mul(crates.max(0)) as f64)
        .sqrt()
        .ceil() as i64
}

/// Whether walking the downloads index is expected to read fewer rows than
/// the index path: the walk reads about `need × crates / matches` rows,
/// the index path every match. `matches` is counted at least to
/// [`balance`], so a count that stopped there means "walk".
fn walk_pays(need: i64, crates: i64, matches: i64) -> bool {
    matches > 0 && matches.saturating_mul(matches) >= need.saturating_mul(crates.max(1))
}

impl MetaStore {
    /// Crates whose name or description contains `query` (queries of one or
    /// two characters match name prefixes; an empty one matches every
    /// crate), the exact name first, then by downloads (most first), then by
    /// name. Returns the page and the number of matches, counted up to
    /// [`SEARCH_COUNT_CAP`] (a total at the cap means "at least").
    pub async fn search(
        &self,
        registry_id: i64,
        query: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<SearchHit>, i64), StoreError> {
        let (limit, offset) = (limit.max(0), offset.max(0));
        let canon = berth_protocol::canonical_name(query);
        let matches = Matches::new(self.backend(), query, &canon);

        let exact: Option<SearchHit> = if canon.is_empty() {
            None
        } else {
            bind(
                &format!(
                    "SELECT {COLUMNS} FROM crates AS c \
                     WHERE c.registry_id = $1 AND c.canon_name = $2"
                ),
                &[P::I(registry_id), P::S(canon.clone())],
            )
            .fetch_optional(&self.pool)
            .await?
        };

        let (skip, take) = rest_window(limit, offset, exact.is_some());
        let need = skip.saturating_add(take.max(0));
        // The size of the registry (at most; one index probe), when there
        // is a choice of paths to make.
        let crates = if matches.walk.is_some() && matches.indexed.is_some() && need > 0 {
            let (n,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(id), 0) FROM crates")
                .fetch_one(&self.pool)
                .await?;
            n
        } else {
            0
        };
        // Counted far enough to choose the path too (see `walk_pays`), and
        // reported up to the cap.
        let probe = SEARCH_COUNT_CAP.max(balance(need, crates) + 1);
        let count = {
            let (from, own) = match &matches.indexed {
                Some((from, own)) => (from.as_str(), own.as_slice()),
                None => ("FROM crates AS c WHERE c.registry_id = $1", &[][..]),
            };
            let sql = format!("SELECT COUNT(*) FROM (SELECT 1 {from} LIMIT {probe}) AS m");
            let (params, _) = with(registry_id, own, &[]);
            let (n,): (i64,) = bind(&sql, &params).fetch_one(&self.pool).await?;
            n
        };
        let total = count.min(SEARCH_COUNT_CAP);

        let others = count - i64::from(exact.is_some());
        let mut rest: Vec<SearchHit> = Vec::new();
        if need > 0 && others > 0 {
            let extra = [P::S(canon.clone()), P::I(need)];
            let walk = match (&matches.walk, &matches.indexed) {
                (Some(w), None) => Some(w),
                (Some(w), Some(_)) => walk_pays(need, crates, count).then_some(w),
                (None, _) => None,
            };
            rest = match (walk, &matches.indexed) {
                (Some((test, own)), _) => {
                    let (params, n) = with(registry_id, own, &extra);
                    let sql = format!(
                        "SELECT {COLUMNS} FROM crates AS c \
                         WHERE c.registry_id = $1 AND c.canon_name <> ${n} AND {test} \
                         ORDER BY c.downloads DESC, c.canon_name LIMIT ${}",
                        n + 1
                    );
                    bind(&sql, &params).fetch_all(&self.pool).await?
                }
                (None, Some((from, own))) => {
                    // `downloads + 0`: sort the matches, never walk the
                    // downloads index (that choice was made above).
                    let (params, n) = with(registry_id, own, &extra);
                    let sql = format!(
                        "SELECT {COLUMNS} {from} AND c.canon_name <> ${n} \
                         ORDER BY c.downloads + 0 DESC, c.canon_name LIMIT ${}",
                        n + 1
                    );
                    bind(&sql, &params).fetch_all(&self.pool).await?
                }
                (None, None) => Vec::new(),
            };
        }
        let skip = usize::try_from(skip).unwrap_or(usize::MAX).min(rest.len());
        rest.drain(..skip);
        rest.truncate(usize::try_from(take.max(0)).unwrap_or(0));
        let mut page = Vec::with_capacity(rest.len() + 1);
        if let Some(hit) = exact.filter(|_| offset == 0 && limit > 0) {
            page.push(hit);
        }
        page.extend(rest);
        Ok((page, total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{test_db, BulkCrate, BulkVersion};

    #[test]
    fn the_exact_match_takes_the_first_place_only() {
        assert_eq!(rest_window(10, 0, false), (0, 10));
        assert_eq!(rest_window(10, 0, true), (0, 9));
        assert_eq!(rest_window(10, 10, true), (9, 10));
        assert_eq!(rest_window(10, 20, false), (20, 10));
    }

    #[test]
    fn dense_matches_walk_and_sparse_ones_use_the_index() {
        assert_eq!(balance(10, 200_000), 1_415);
        assert!(walk_pays(10, 200_000, balance(10, 200_000)));
        assert!(!walk_pays(10, 200_000, 1_000));
        assert!(walk_pays(10, 200_000, 3_000));
        assert!(!walk_pays(1_000, 200_000, 3_000));
        assert!(!walk_pays(10, 200_000, 40));
        assert!(!walk_pays(10, 200_000, 0));
    }

    /// `(name, description, downloads)` of the test registry: 400 crates,
    /// half of them described as "common" (dense), one in fifty as "rare"
    /// (sparse), downloads with many ties (so the name order shows), and
    /// crates named exactly as the queries with few downloads.
    fn crates() -> Vec<(String, Option<String>, i64)> {
        let mut out: Vec<(String, Option<String>, i64)> = (0..400)
            .map(|i| {
                let description = match i {
                    i if i % 50 == 0 => Some(format!("A Rare thing number {i}")),
                    i if i % 2 == 0 => Some(format!("A common crate number {i}")),
                    i if i % 7 == 0 => None,
                    i => Some(format!("Number {i}")),
                };
                let name = if i % 3 == 0 {
                    format!("pkg_{i:03}")
                } else {
                    format!("pkg-{i:03}")
                };
                (name, description, (i * 37) % 23)
            })
            .collect();
        out.push(("Common".into(), Some("the exact one".into()), 0));
        out.push(("rare".into(), None, 1));
        out.push(("pk".into(), None, 0));
        out
    }

    /// What the search must answer, computed the slow way.
    fn expected(query: &str, limit: usize, offset: usize) -> (Vec<String>, i64) {
        let canon = berth_protocol::canonical_name(query);
        let lower = query.to_lowercase();
        let mut found: Vec<(bool, i64, String, String)> = crates()
            .into_iter()
            .filter(|(name, description, _)| {
                let c = berth_protocol::canonical_name(name);
                match canon.chars().count() {
                    0 => true,
                    1 | 2 => c.starts_with(&canon),
                    _ => {
                        c.contains(&canon)
                            || description
                                .as_deref()
                                .is_some_and(|d| d.to_lowercase().contains(&lower))
                    }
                }
            })
            .map(|(name, _, downloads)| {
                let c = berth_protocol::canonical_name(&name);
                (c != canon, -downloads, c, name)
            })
            .collect();
        found.sort();
        let total = (found.len() as i64).min(SEARCH_COUNT_CAP);
        let page = found
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|f| f.3)
            .collect();
        (page, total)
    }

    async fn load(store: &MetaStore) -> i64 {
        let (reg, other) = test_db::main_and_other(store).await;
        let owner = store.create_user("owner", None, None, false).await.unwrap();
        let bulk = |list: Vec<(String, Option<String>, i64)>| -> Vec<BulkCrate> {
            list.into_iter()
                .map(|(name, description, downloads)| BulkCrate {
                    name,
                    description,
                    versions: vec![BulkVersion {
                        vers: "1.0.0".into(),
                        index_line: "{}".into(),
                        cksum: "0".repeat(64),
                        size: 1,
                        yanked: false,
                        created_at: 1,
                        downloads,
                    }],
                })
                .collect()
        };
        store
            .bulk_load(reg, owner.id, &bulk(crates()))
            .await
            .unwrap();
        // Another registry's matches are never shown nor counted.
        let others = (0..300)
            .map(|i| (format!("pkg-x{i}"), Some("common rare".into()), 1_000))
            .collect();
        store
            .bulk_load(other, owner.id, &bulk(others))
            .await
            .unwrap();
        store.finish_bulk_load().await.unwrap();
        reg
    }

    async fn ranks_and_counts(store: &MetaStore) {
        let reg = load(store).await;
        let queries = [
            "common", // dense, with an exact match (walks for the first pages)
            "COMMON",
            "rare", // sparse, exact match (the trigram index)
            "Rare thing",
            "number 1",
            "pkg-00",
            "pkg_1",
            "pk", // short: a prefix
            "p",
            "c",
            "",
            "zzz",
            "qq",
            "the exact",
            "pkg-399",
        ];
        for query in queries {
            for (limit, offset) in [
                (10, 0),
                (10, 10),
                (1, 0),
                (1, 1),
                (100, 0),
                (100, 100),
                (50, 950),
            ] {
                let got = store.search(reg, query, limit, offset).await.unwrap();
                let names: Vec<String> = got.0.into_iter().map(|h| h.name).collect();
                let want = expected(query, limit as usize, offset as usize);
                assert_eq!(
                    (names, got.1),
                    want,
                    "{query:?} limit {limit} offset {offset}"
                );
            }
        }
        // The exact match is first whatever its downloads.
        let (hits, total) = store.search(reg, "common", 3, 0).await.unwrap();
        assert_eq!(hits[0].name, "Common");
        assert_eq!(hits[0].downloads, 0);
        assert_eq!(total, 193);
        assert_eq!(store.search(reg, "rare", 10, 0).await.unwrap().1, 9);
    }

    test_db::on_both_backends!(
        ranks_and_counts_on_sqlite,
        ranks_and_counts_on_postgres,
        ranks_and_counts
    );
}
