//! The search page and its JSON (for results as you type): one registry,
//! or every registry the viewer may read when none is chosen (a virtual
//! registry whose members are all searched anyway is left out, so that no
//! crate shows twice), ordered by relevance (each registry's own order),
//! downloads, last update or name (numbers in names compared as numbers),
//! a page at a time with numbered pages, each hit with its registry, date
//! and keywords. A reordered or merged search gathers every match up to the
//! depth search serves (1,000 per registry) and orders them here. Each
//! registry is asked through `Berth::search`, which decides what the
//! viewer may read.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_core::crates::SearchHit;
use berth_core::{Registry, ServiceError};
use serde::Deserialize;

use super::pages::{chosen, keyword_link, visible_registries, CrateItem, PER_PAGE};
use super::session::Viewer;
use super::{render, Chrome, UiError};
use crate::AppState;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SearchParams {
    #[serde(default)]
    q: String,
    r: Option<String>,
    sort: Option<String>,
    page: Option<i64>,
}

fn params(q: Result<Query<SearchParams>, QueryRejection>) -> Result<SearchParams, UiError> {
    q.map(|Query(p)| p)
        .map_err(|e| UiError::new(StatusCode::BAD_REQUEST, format!("invalid search: {e}")))
}

/// How search results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    /// The store's order: the exact name, then downloads.
    Relevance,
    Downloads,
    Recent,
    Name,
}

impl Sort {
    const ALL: [Sort; 4] = [Sort::Relevance, Sort::Downloads, Sort::Recent, Sort::Name];

    fn parse(s: Option<&str>) -> Result<Sort, UiError> {
        Ok(match s.unwrap_or("") {
            "" | "relevance" => Sort::Relevance,
            "downloads" => Sort::Downloads,
            "recent" => Sort::Recent,
            "name" => Sort::Name,
            other => {
                return Err(UiError::new(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "invalid search: unknown order `{other}` (relevance, downloads, recent or name)"
                    ),
                ))
            }
        })
    }

    fn word(self) -> &'static str {
        match self {
            Sort::Relevance => "relevance",
            Sort::Downloads => "downloads",
            Sort::Recent => "recent",
            Sort::Name => "name",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Sort::Relevance => "Relevance",
            Sort::Downloads => "Most downloaded",
            Sort::Recent => "Recently updated",
            Sort::Name => "Name",
        }
    }
}

/// Compares crate names as people read them: runs of digits by their
/// value (`foo2` before `foo10`), the rest by lowercase text.
pub(crate) fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (&a[..da], &b[..db]);
                let strip = |n: &[u8]| -> usize { n.iter().take_while(|c| **c == b'0').count() };
                let (ta, tb) = (&na[strip(na)..], &nb[strip(nb)..]);
                let by_value = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb));
                if by_value != Ordering::Equal {
                    return by_value;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                let (x, y) = (x.to_ascii_lowercase(), y.to_ascii_lowercase());
                // `-` and `_` are one separator in crate names.
                let fold = |c: u8| if c == b'_' { b'-' } else { c };
                match fold(x).cmp(&fold(y)) {
                    Ordering::Equal => {
                        a = &a[1..];
                        b = &b[1..];
                    }
                    other => return other,
                }
            }
        }
    }
}

struct SearchOutcome {
    hits: Vec<CrateItem>,
    total: i64,
    page: i64,
    pages: i64,
    /// The registry searched, or "" for all of them.
    registry: String,
    sort: Sort,
}

/// Matches of one registry gathered for a reordered or merged page: at
/// most this many (the depth search serves), read a hundred at a time.
const GATHER_MAX: i64 = 1_000;
const GATHER_STEP: i64 = 100;

/// The search a request asks for and a page of its results, with each
/// hit's keywords.
async fn run_search(
    state: &AppState,
    viewer: &Viewer,
    q: Result<Query<SearchParams>, QueryRejection>,
) -> Result<(SearchParams, SearchOutcome), UiError> {
    let p = params(q)?;
    let mut outcome = gather(state, viewer, &p).await?;
    let mut registries: Vec<String> = outcome.hits.iter().map(|h| h.registry.clone()).collect();
    registries.sort();
    registries.dedup();
    for reg in registries {
        let names: Vec<String> = outcome
            .hits
            .iter()
            .filter(|h| h.registry == reg)
            .map(|h| h.name.clone())
            .collect();
        let words = state.berth.keywords_of(&reg, viewer.who(), &names).await?;
        for h in outcome.hits.iter_mut().filter(|h| h.registry == reg) {
            if let Some(w) = words.get(&h.name) {
                h.keywords = w.iter().map(|k| keyword_link(k)).collect();
            }
        }
    }
    Ok((p, outcome))
}

/// A page of results: one registry's in its own order, or every match (up
/// to the depth search serves) of the registries asked, merged and sorted.
async fn gather(
    state: &AppState,
    viewer: &Viewer,
    p: &SearchParams,
) -> Result<SearchOutcome, UiError> {
    let sort = Sort::parse(p.sort.as_deref())?;
    let page = p.page.unwrap_or(1).clamp(1, GATHER_MAX / PER_PAGE);
    let one = match p.r.as_deref().filter(|r| !r.is_empty()) {
        Some(name) => Some(chosen(state, viewer, Some(name))?),
        None => None,
    };
    let refuse = |e: ServiceError| match e {
        ServiceError::Unauthorized(_) | ServiceError::Forbidden(_) => UiError::not_found(),
        other => other.into(),
    };
    let item = |reg: &Registry, h: SearchHit| CrateItem::new(&reg.name, h).uncounted(reg);
    // One registry in its own order: just the page asked for.
    if let (Some(reg), Sort::Relevance) = (one, sort) {
        let results = state
            .berth
            .search(&reg.name, viewer.who(), &p.q, Some(PER_PAGE), Some(page))
            .await
            .map_err(refuse)?;
        let pages = ((results.total + PER_PAGE - 1) / PER_PAGE).clamp(1, GATHER_MAX / PER_PAGE);
        return Ok(SearchOutcome {
            hits: results.hits.into_iter().map(|h| item(reg, h)).collect(),
            total: results.total,
            page,
            pages,
            registry: reg.name.clone(),
            sort,
        });
    }
    // Otherwise every match up to the depth search serves, from each
    // registry asked, merged and ordered here.
    let regs: Vec<&Registry> = match one {
        Some(reg) => vec![reg],
        None => {
            // A virtual registry whose members are all searched anyway
            // would show each of their crates twice.
            let all: Vec<&Registry> = visible_registries(state, viewer).collect();
            all.iter()
                .copied()
                .filter(|r| {
                    let members = state.berth.members_of(r);
                    members.is_empty() || !members.iter().all(|m| all.iter().any(|a| a.name == *m))
                })
                .collect()
        }
    };
    let mut all = Vec::new();
    let mut total = 0;
    for reg in regs {
        // Relevance across registries needs only as many as this page.
        let want = if sort == Sort::Relevance {
            page * PER_PAGE
        } else {
            GATHER_MAX
        };
        let mut n = 1;
        loop {
            let results = state
                .berth
                .search(&reg.name, viewer.who(), &p.q, Some(GATHER_STEP), Some(n))
                .await
                .map_err(refuse)?;
            if n == 1 {
                total += results.total;
            }
            let got = results.hits.len() as i64;
            all.extend(results.hits.into_iter().map(|h| item(reg, h)));
            if got < GATHER_STEP || n * GATHER_STEP >= want.min(results.total) {
                break;
            }
            n += 1;
        }
    }
    let exact = |c: &CrateItem| {
        berth_protocol::canonical_name(&c.name) == berth_protocol::canonical_name(p.q.trim())
    };
    match sort {
        // Exact names first, then downloads, as each registry orders them.
        Sort::Relevance | Sort::Downloads => all.sort_by(|a, b| {
            let first = if sort == Sort::Relevance {
                exact(b).cmp(&exact(a))
            } else {
                std::cmp::Ordering::Equal
            };
            first
                .then_with(|| b.downloads.cmp(&a.downloads))
                .then_with(|| natural_cmp(&a.name, &b.name))
        }),
        Sort::Recent => all.sort_by(|a, b| {
            b.updated
                .iso
                .cmp(&a.updated.iso)
                .then_with(|| natural_cmp(&a.name, &b.name))
        }),
        Sort::Name => all.sort_by(|a, b| {
            natural_cmp(&a.name, &b.name).then_with(|| a.registry.cmp(&b.registry))
        }),
    }
    let pages =
        ((total.min(all.len() as i64) + PER_PAGE - 1) / PER_PAGE).clamp(1, GATHER_MAX / PER_PAGE);
    let hits = all
        .into_iter()
        .skip(((page - 1) * PER_PAGE) as usize)
        .take(PER_PAGE as usize)
        .collect();
    Ok(SearchOutcome {
        hits,
        total,
        page,
        pages,
        registry: one.map(|r| r.name.clone()).unwrap_or_default(),
        sort,
    })
}

/// A link in the search page's pager.
struct PageLink {
    n: i64,
    url: String,
    current: bool,
}

/// The pager's numbered links: the first, the last, and two either side
/// of the current page (`None` stands for a gap).
fn page_links(o: &SearchOutcome, q: &str) -> Vec<Option<PageLink>> {
    let mut out = Vec::new();
    let mut last = 0;
    for n in 1..=o.pages {
        if n == 1 || n == o.pages || (n - o.page).abs() <= 2 {
            if n > last + 1 {
                out.push(None);
            }
            out.push(Some(PageLink {
                n,
                url: search_url(q, &o.registry, o.sort, n),
                current: n == o.page,
            }));
            last = n;
        }
    }
    out
}

fn search_url(q: &str, registry: &str, sort: Sort, page: i64) -> String {
    let mut url = form_urlencoded::Serializer::new(String::new());
    url.append_pair("q", q);
    if !registry.is_empty() {
        url.append_pair("r", registry);
    }
    if sort != Sort::Relevance {
        url.append_pair("sort", sort.word());
    }
    if page > 1 {
        url.append_pair("page", &page.to_string());
    }
    format!("/search?{}", url.finish())
}

#[derive(askama::Template)]
#[template(path = "search.html")]
struct SearchPage {
    c: Chrome,
    registries: Vec<String>,
    registry: String,
    sorts: Vec<(&'static str, &'static str, bool)>,
    q: String,
    hits: Vec<CrateItem>,
    total: i64,
    page: i64,
    pages: i64,
    links: Vec<Option<PageLink>>,
    prev: Option<String>,
    next: Option<String>,
}

/// `GET /search?q=&r=&sort=&page=`: results from one registry, or from
/// every registry the viewer may read, a page at a time.
pub(crate) async fn search(
    State(state): State<AppState>,
    viewer: Viewer,
    q: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Response, UiError> {
    let (p, outcome) = run_search(&state, &viewer, q).await?;
    let title = if outcome.registry.is_empty() {
        "Search".to_string()
    } else {
        format!("Search {}", outcome.registry)
    };
    let mut c = Chrome::new(title, Some(&viewer));
    c.q = p.q.clone();
    let links = page_links(&outcome, &p.q);
    let at = |n: i64| search_url(&p.q, &outcome.registry, outcome.sort, n);
    Ok(render(&SearchPage {
        c,
        registries: visible_registries(&state, &viewer)
            .map(|r| r.name.clone())
            .collect(),
        sorts: Sort::ALL
            .iter()
            .map(|s| (s.word(), s.label(), *s == outcome.sort))
            .collect(),
        prev: (outcome.page > 1).then(|| at(outcome.page - 1)),
        next: (outcome.page < outcome.pages).then(|| at(outcome.page + 1)),
        links,
        registry: outcome.registry,
        q: p.q,
        hits: outcome.hits,
        total: outcome.total,
        page: outcome.page,
        pages: outcome.pages,
    }))
}

/// `GET /search.json?q=&r=&sort=&page=`: the same results as JSON, for the
/// search page's results as you type (the session decides what is read).
pub(crate) async fn search_json(
    State(state): State<AppState>,
    viewer: Viewer,
    q: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Response, UiError> {
    let (p, outcome) = run_search(&state, &viewer, q).await?;
    let hits: Vec<_> = outcome
        .hits
        .iter()
        .map(|h| {
            serde_json::json!({
                "name": h.name, "version": h.version, "description": h.description,
                "downloads": h.counted.then_some(h.downloads), "url": h.url, "registry": h.registry,
                "updated": h.updated.ago, "updated_at": h.updated.abs,
                "keywords": h.keywords.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({
        "registry": outcome.registry, "q": p.q, "sort": outcome.sort.word(),
        "total": outcome.total, "page": outcome.page, "pages": outcome.pages, "hits": hits,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_with_their_numbers_as_numbers() {
        let mut names = vec![
            "foo10", "foo2", "Foo1", "foo", "foo-bar", "foo_a", "foo02x", "bar9",
        ];
        names.sort_by(|a, b| natural_cmp(a, b));
        // `-` and `_` are one separator, which sorts before digits and letters.
        assert_eq!(
            names,
            ["bar9", "foo", "foo_a", "foo-bar", "Foo1", "foo2", "foo02x", "foo10"]
        );
    }
}
