//! The pages anyone may open: home, search (and its JSON for results as
//! you type), a registry's listing and a crate's page. Each asks berth-core
//! with the viewer's identity, which decides what may be read; anything a
//! viewer may not read is the one [`UiError::not_found`] page.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_core::web::CratePage;
use berth_core::web::CrateSummary;
use berth_core::{Registry, ServiceError};
use serde::Deserialize;

use super::session::Viewer;
use super::{human_date, human_size, markdown, render, Chrome, UiError};
use crate::AppState;

/// Crates per list on the home page.
const FRONT_LIMIT: i64 = 8;
/// Results per search or listing page.
pub(crate) const PER_PAGE: i64 = 20;

/// A crate in a list.
pub(crate) struct CrateItem {
    name: String,
    url: String,
    version: String,
    description: String,
    downloads: i64,
    updated: String,
}

impl CrateItem {
    fn new(registry: &str, c: CrateSummary) -> CrateItem {
        CrateItem {
            url: format!("/r/{registry}/crates/{}", c.name),
            name: c.name,
            version: c.max_version.unwrap_or_default(),
            description: c.description.unwrap_or_default(),
            downloads: c.downloads,
            updated: human_date(c.updated_at),
        }
    }
}

/// A registry on the home page.
struct RegistryItem {
    name: String,
    kind: String,
    private: bool,
    snippet: String,
    recent: Vec<CrateItem>,
    top: Vec<CrateItem>,
}

#[derive(askama::Template)]
#[template(path = "home.html")]
struct HomePage {
    c: Chrome,
    registries: Vec<RegistryItem>,
}

/// `GET /`: the registries the viewer may read, their newest and most
/// downloaded crates, and the cargo configuration to copy.
pub(crate) async fn home(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Response, UiError> {
    let berth = &state.berth;
    let mut registries = Vec::new();
    for reg in visible_registries(&state, &viewer) {
        let front = berth.registry_front(reg, viewer.who(), FRONT_LIMIT).await?;
        registries.push(RegistryItem {
            name: reg.name.clone(),
            kind: reg.kind.to_string(),
            private: reg.private,
            snippet: berth.cargo_config_snippet(reg),
            recent: front
                .recent
                .into_iter()
                .map(|c| CrateItem::new(&reg.name, c))
                .collect(),
            top: front
                .top
                .into_iter()
                .map(|c| CrateItem::new(&reg.name, c))
                .collect(),
        });
    }
    Ok(render(&HomePage {
        c: Chrome::new("Berth", Some(&viewer)),
        registries,
    }))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SearchParams {
    #[serde(default)]
    q: String,
    r: Option<String>,
    page: Option<i64>,
}

/// The registry a search or listing means: the one named, else the default
/// (a registry the viewer's address may not reach is not found).
fn chosen<'a>(
    state: &'a AppState,
    viewer: &Viewer,
    name: Option<&str>,
) -> Result<&'a Registry, UiError> {
    let reg = match name.filter(|n| !n.is_empty()) {
        Some(n) => state.berth.registry(n).map_err(|_| UiError::not_found())?,
        None => state
            .berth
            .default_registry()
            .ok_or_else(UiError::not_found)?,
    };
    if !state.guard.reaches(&reg.name, viewer.addr) {
        return Err(UiError::not_found());
    }
    Ok(reg)
}

/// The registries the viewer may read from where it is (its roles, and
/// each registry's `allowed_cidrs`).
pub(crate) fn visible_registries<'a>(
    state: &'a AppState,
    viewer: &'a Viewer,
) -> impl Iterator<Item = &'a Registry> + 'a {
    state
        .berth
        .readable_registries(viewer.who())
        .filter(|r| state.guard.reaches(&r.name, viewer.addr))
}

fn params(q: Result<Query<SearchParams>, QueryRejection>) -> Result<SearchParams, UiError> {
    q.map(|Query(p)| p)
        .map_err(|e| UiError::new(StatusCode::BAD_REQUEST, format!("invalid search: {e}")))
}

struct SearchOutcome {
    hits: Vec<CrateItem>,
    total: i64,
    page: i64,
    pages: i64,
}

async fn run_search(
    state: &AppState,
    viewer: &Viewer,
    reg: &Registry,
    p: &SearchParams,
) -> Result<SearchOutcome, UiError> {
    let page = p.page.unwrap_or(1).clamp(1, 1_000 / PER_PAGE);
    let results = state
        .berth
        .search(&reg.name, viewer.who(), &p.q, Some(PER_PAGE), Some(page))
        .await
        .map_err(|e| match e {
            ServiceError::Unauthorized(_) | ServiceError::Forbidden(_) => UiError::not_found(),
            other => other.into(),
        })?;
    let hits = results
        .hits
        .into_iter()
        .map(|h| {
            CrateItem::new(
                &reg.name,
                CrateSummary {
                    name: h.name,
                    max_version: h.max_version,
                    description: h.description,
                    downloads: h.downloads,
                    updated_at: 0,
                },
            )
        })
        .collect();
    let pages = ((results.total + PER_PAGE - 1) / PER_PAGE).clamp(1, 1_000 / PER_PAGE);
    Ok(SearchOutcome {
        hits,
        total: results.total,
        page,
        pages,
    })
}

#[derive(askama::Template)]
#[template(path = "search.html")]
struct SearchPage {
    c: Chrome,
    registries: Vec<String>,
    registry: String,
    q: String,
    hits: Vec<CrateItem>,
    total: i64,
    page: i64,
    pages: i64,
}

/// `GET /search?q=&r=&page=`: results from one registry, a page at a time.
pub(crate) async fn search(
    State(state): State<AppState>,
    viewer: Viewer,
    q: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Response, UiError> {
    let p = params(q)?;
    let reg = chosen(&state, &viewer, p.r.as_deref())?;
    let outcome = run_search(&state, &viewer, reg, &p).await?;
    let mut c = Chrome::new(format!("Search {}", reg.name), Some(&viewer));
    c.q = p.q.clone();
    Ok(render(&SearchPage {
        c,
        registries: visible_registries(&state, &viewer)
            .map(|r| r.name.clone())
            .collect(),
        registry: reg.name.clone(),
        q: p.q,
        hits: outcome.hits,
        total: outcome.total,
        page: outcome.page,
        pages: outcome.pages,
    }))
}

/// `GET /search.json?q=&r=&page=`: the same results as JSON, for the
/// search page's results as you type (the session decides what is read).
pub(crate) async fn search_json(
    State(state): State<AppState>,
    viewer: Viewer,
    q: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Response, UiError> {
    let p = params(q)?;
    let reg = chosen(&state, &viewer, p.r.as_deref())?;
    let outcome = run_search(&state, &viewer, reg, &p).await?;
    let hits: Vec<_> = outcome
        .hits
        .iter()
        .map(|h| {
            serde_json::json!({
                "name": h.name, "version": h.version, "description": h.description,
                "downloads": h.downloads, "url": h.url,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({
        "registry": reg.name, "q": p.q, "total": outcome.total,
        "page": outcome.page, "pages": outcome.pages, "hits": hits,
    }))
    .into_response())
}

#[derive(askama::Template)]
#[template(path = "registry.html")]
struct RegistryPage {
    c: Chrome,
    name: String,
    kind: String,
    private: bool,
    snippet: String,
    crates: Vec<CrateItem>,
    total: i64,
    page: i64,
    pages: i64,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PageParam {
    page: Option<i64>,
}

/// `GET /r/{registry}`: a registry's crates by name, a page at a time.
pub(crate) async fn registry(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    page: Result<Query<PageParam>, QueryRejection>,
) -> Result<Response, UiError> {
    let page = page
        .map(|Query(p)| p.page)
        .unwrap_or(None)
        .unwrap_or(1)
        .clamp(1, 100_000);
    let reg = state
        .berth
        .registry(&name)
        .map_err(|_| UiError::not_found())?;
    let (rows, total) = state
        .berth
        .list_crates(&reg.name, viewer.who(), PER_PAGE, (page - 1) * PER_PAGE)
        .await
        .map_err(|_| UiError::not_found())?;
    Ok(render(&RegistryPage {
        c: Chrome::new(format!("Registry {}", reg.name), Some(&viewer)),
        name: reg.name.clone(),
        kind: reg.kind.to_string(),
        private: reg.private,
        snippet: state.berth.cargo_config_snippet(reg),
        crates: rows
            .into_iter()
            .map(|c| CrateItem::new(&reg.name, c))
            .collect(),
        total,
        page,
        pages: ((total + PER_PAGE - 1) / PER_PAGE).max(1),
    }))
}

/// A version in the crate page's list.
struct VersionItem {
    vers: String,
    url: String,
    yanked: bool,
    date: String,
    size: String,
    downloads: i64,
    current: bool,
}

/// One day's bar of the downloads chart (SVG user units).
struct Bar {
    x: i64,
    y: i64,
    height: i64,
    zero: bool,
    label: String,
}

/// The crate page's downloads chart: one bar per day, drawn server-side as
/// inline SVG (no script), with its numbers as text beside it.
struct Chart {
    bars: Vec<Bar>,
    width: i64,
    height: i64,
    summary: String,
}

/// Width of a day's bar and the gap after it, and the chart's height.
const BAR_WIDTH: i64 = 3;
const BAR_GAP: i64 = 1;
const CHART_HEIGHT: i64 = 60;

/// A Unix day number as `YYYY-MM-DD`.
fn day_date(day: i64) -> String {
    human_date(day.saturating_mul(86_400))
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_string()
}

fn chart(daily: &[(i64, i64)]) -> Chart {
    let peak = daily.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let total: i64 = daily.iter().map(|(_, n)| *n).sum();
    let today = daily.last().map_or(0, |(_, n)| *n);
    let bars = daily
        .iter()
        .enumerate()
        .map(|(i, (day, n))| {
            // At least one unit high, so that a quiet day still shows.
            let height = if peak > 0 {
                (n * CHART_HEIGHT / peak).max(1)
            } else {
                1
            };
            let noun = if *n == 1 { "download" } else { "downloads" };
            Bar {
                x: i as i64 * (BAR_WIDTH + BAR_GAP),
                y: CHART_HEIGHT - height,
                height,
                zero: *n == 0,
                label: format!("{}: {n} {noun}", day_date(*day)),
            }
        })
        .collect::<Vec<_>>();
    let mut summary = format!(
        "{total} downloads in the last {} days, {today} today",
        daily.len()
    );
    if let Some((day, n)) = daily.iter().filter(|(_, n)| *n > 0).max_by_key(|(_, n)| *n) {
        summary.push_str(&format!("; busiest day {} ({n})", day_date(*day)));
    }
    Chart {
        width: (bars.len() as i64 * (BAR_WIDTH + BAR_GAP) - BAR_GAP).max(1),
        height: CHART_HEIGHT,
        bars,
        summary,
    }
}

/// An owner of a crate: a user's login, or a team's name.
struct OwnerItem {
    name: String,
    team: bool,
}

/// A dependency, linked when it lives on this server.
struct DepItem {
    name: String,
    req: String,
    kind: String,
    optional: bool,
    url: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "crate.html")]
struct CratePageView {
    c: Chrome,
    registry: String,
    name: String,
    version: String,
    yanked: bool,
    description: String,
    readme: String,
    versions: Vec<VersionItem>,
    features: Vec<(String, String)>,
    deps: Vec<DepItem>,
    owners: Vec<OwnerItem>,
    dependents: Vec<CrateItem>,
    dependents_total: i64,
    /// Says how many are shown when not all are.
    dependents_note: String,
    chart: Chart,
    downloads: i64,
    size: String,
    publisher: String,
    published: String,
    created: String,
    license: String,
    repository: Option<String>,
    documentation: Option<String>,
    homepage: Option<String>,
    rust_version: String,
    keywords: Vec<String>,
    add_cmd: String,
    snippet: String,
}

/// A metadata string field, or "".
fn text(m: &serde_json::Value, key: &str) -> String {
    m.get(key)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

/// A metadata URL field when it is http(s): anything else is not a link.
fn link(m: &serde_json::Value, key: &str) -> Option<String> {
    m.get(key)
        .and_then(|v| v.as_str())
        .map(str::trim)
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .map(str::to_string)
}

fn crate_view(state: &AppState, viewer: &Viewer, registry: &str, page: CratePage) -> CratePageView {
    let berth = &state.berth;
    let m = &page.metadata;
    let shown = page.version.vers.clone();
    let current = page.detail.versions.iter().find(|v| v.vers == shown);
    let mut features: Vec<(String, String)> = m
        .get("features")
        .and_then(|f| f.as_object())
        .map(|f| {
            f.iter()
                .map(|(k, v)| {
                    let list = v
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .unwrap_or_default();
                    (k.clone(), list)
                })
                .collect()
        })
        .unwrap_or_default();
    features.sort();
    // Which of this server's registries a dependency's `registry` names.
    let ours = |url: &str| {
        berth
            .registries()
            .find(|r| {
                let index = berth.index_url(r);
                url == index || url == format!("sparse+{index}")
            })
            .map(|r| r.name.clone())
    };
    let deps = m
        .get("deps")
        .and_then(|d| d.as_array())
        .map(|deps| {
            deps.iter()
                .map(|d| {
                    let name = text(d, "name");
                    let target = match d.get("registry").and_then(|r| r.as_str()) {
                        None => Some(registry.to_string()),
                        Some(url) => ours(url),
                    };
                    DepItem {
                        url: target.map(|r| format!("/r/{r}/crates/{name}")),
                        req: text(d, "version_req"),
                        kind: match text(d, "kind").as_str() {
                            "" => "normal".to_string(),
                            k => k.to_string(),
                        },
                        optional: d.get("optional").and_then(|o| o.as_bool()).unwrap_or(false),
                        name,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let repository = link(m, "repository");
    let readme = page
        .version
        .readme
        .as_deref()
        .map(|md| markdown::render(md, repository.as_deref()))
        .unwrap_or_default();
    let detail = &page.detail;
    CratePageView {
        c: Chrome::new(format!("{} {}", detail.name, shown), Some(viewer)),
        registry: registry.to_string(),
        name: detail.name.clone(),
        yanked: current.is_some_and(|v| v.yanked),
        description: detail.description.clone().unwrap_or_default(),
        readme,
        versions: detail
            .versions
            .iter()
            .rev()
            .map(|v| VersionItem {
                url: format!("/r/{registry}/crates/{}/{}", detail.name, v.vers),
                yanked: v.yanked,
                date: human_date(v.published_at),
                size: human_size(v.size),
                downloads: v.downloads,
                current: v.vers == shown,
                vers: v.vers.clone(),
            })
            .collect(),
        features,
        deps,
        owners: detail
            .owners
            .iter()
            .map(|o| OwnerItem {
                name: o.login.clone(),
                team: o.kind == "team",
            })
            .collect(),
        dependents: page
            .dependents
            .iter()
            .cloned()
            .map(|c| CrateItem::new(registry, c))
            .collect(),
        dependents_total: page.dependents_total,
        dependents_note: if page.dependents_total > page.dependents.len() as i64 {
            format!(
                "Showing the {} most downloaded of {}.",
                page.dependents.len(),
                page.dependents_total
            )
        } else {
            String::new()
        },
        chart: chart(&page.daily_downloads),
        downloads: detail.downloads,
        size: current.map(|v| human_size(v.size)).unwrap_or_default(),
        publisher: current
            .and_then(|v| v.published_by.clone())
            .unwrap_or_default(),
        published: current
            .map(|v| human_date(v.published_at))
            .unwrap_or_default(),
        created: human_date(detail.created_at),
        license: text(m, "license"),
        repository,
        documentation: link(m, "documentation"),
        homepage: link(m, "homepage"),
        rust_version: text(m, "rust_version"),
        keywords: m
            .get("keywords")
            .and_then(|k| k.as_array())
            .map(|k| {
                k.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        add_cmd: format!("cargo add {} --registry {registry}", detail.name),
        snippet: berth
            .registry(registry)
            .map(|r| berth.cargo_config_snippet(r))
            .unwrap_or_default(),
        version: shown,
    }
}

async fn show_crate(
    state: &AppState,
    viewer: &Viewer,
    registry: &str,
    name: &str,
    version: Option<&str>,
) -> Result<Response, UiError> {
    if name.len() > 64 || registry.len() > 64 || version.is_some_and(|v| v.len() > 128) {
        return Err(UiError::not_found());
    }
    let page = state
        .berth
        .crate_page(registry, viewer.who(), name, version)
        .await
        .map_err(|e| match e {
            ServiceError::Unavailable(_) | ServiceError::Internal(_) | ServiceError::Busy(_) => {
                UiError::from(e)
            }
            // Missing, private or not a hosted crate: one answer.
            _ => UiError::not_found(),
        })?;
    Ok(render(&crate_view(state, viewer, registry, page)))
}

/// `GET /r/{registry}/crates/{name}`
pub(crate) async fn crate_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((registry, name)): Path<(String, String)>,
) -> Result<Response, UiError> {
    show_crate(&state, &viewer, &registry, &name, None).await
}

/// `GET /r/{registry}/crates/{name}/{version}`
pub(crate) async fn crate_version(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((registry, name, version)): Path<(String, String, String)>,
) -> Result<Response, UiError> {
    show_crate(&state, &viewer, &registry, &name, Some(&version)).await
}

/// `GET /crates/{name}`: the crate in the default registry.
pub(crate) async fn default_crate(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> Result<Response, UiError> {
    let Some(reg) = state.berth.default_registry() else {
        return Err(UiError::not_found());
    };
    if !state.guard.reaches(&reg.name, viewer.addr) {
        return Err(UiError::not_found());
    }
    let registry = reg.name.clone();
    show_crate(&state, &viewer, &registry, &name, None).await
}
