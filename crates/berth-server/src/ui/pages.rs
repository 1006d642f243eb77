//! The pages anyone may open (search is [`super::search`]): home, a
//! registry's listing and a crate's page, for every kind of registry (a
//! proxy's from what it has cached, a virtual registry's from the member
//! that owns a name), and the crate lists they share. Each asks berth-core
//! with the viewer's identity, which decides what may be read; anything a
//! viewer may not read is the one [`UiError::not_found`] page.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use berth_core::crates::CratePage;
use berth_core::crates::CrateSummary;
use berth_core::{KindTraits, Registry, ServiceError};
use serde::Deserialize;

use super::session::Viewer;
use super::{human_date, human_size, markdown, plural, render, Chrome, UiError, When};
use crate::AppState;

/// Crates per list on the home page.
const FRONT_LIMIT: i64 = 8;
/// Results per search or listing page.
pub(crate) const PER_PAGE: i64 = 20;

/// A crate in a list.
pub(crate) struct CrateItem {
    pub(crate) name: String,
    pub(crate) url: String,
    pub(crate) version: String,
    pub(crate) description: String,
    pub(crate) downloads: i64,
    pub(crate) updated: When,
    /// The registry it is in, shown when a list mixes registries.
    pub(crate) registry: String,
    /// Downloads are counted (not for a proxy's crates).
    pub(crate) counted: bool,
    /// Its newest version's keywords (search results), each with the
    /// search for it.
    pub(crate) keywords: Vec<(String, String)>,
}

impl CrateItem {
    pub(crate) fn new(registry: &str, c: CrateSummary) -> CrateItem {
        CrateItem {
            url: format!("/r/{registry}/crates/{}", c.name),
            name: c.name,
            version: c.max_version.unwrap_or_default(),
            description: c.description.unwrap_or_default(),
            downloads: c.downloads,
            updated: When::of(c.updated_at),
            registry: registry.to_string(),
            counted: true,
            keywords: Vec::new(),
        }
    }

    pub(crate) fn uncounted(mut self, reg: &Registry) -> CrateItem {
        self.counted = !reg.traits().caches_upstream;
        self
    }
}

/// A registry on the home page.
struct RegistryItem {
    name: String,
    kind: String,
    private: bool,
    snippet: String,
    /// How cargo is pointed at it, in words.
    how: &'static str,
    recent_title: &'static str,
    recent: Vec<CrateItem>,
    top: Vec<CrateItem>,
    total: i64,
    empty: &'static str,
}

/// What an empty list of a registry's crates says.
fn empty_list(kind: KindTraits) -> &'static str {
    if kind.caches_upstream {
        "Nothing cached yet: crates appear here once cargo fetches them through this proxy."
    } else {
        "No crates yet."
    }
}

/// What a registry's snippet is for.
fn how_to_use(kind: KindTraits) -> &'static str {
    if kind.caches_upstream {
        "To fetch every crates-io dependency through this proxy, add to <code>.cargo/config.toml</code>:"
    } else {
        "Add to <code>.cargo/config.toml</code>:"
    }
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
            kind: reg.kind().to_string(),
            private: reg.private,
            snippet: berth.cargo_config_snippet(reg),
            how: how_to_use(reg.traits()),
            recent_title: if reg.traits().caches_upstream {
                "Recently fetched"
            } else {
                "Recently updated"
            },
            recent: front
                .recent
                .into_iter()
                .map(|c| CrateItem::new(&reg.name, c).uncounted(reg))
                .collect(),
            top: front
                .top
                .into_iter()
                .map(|c| CrateItem::new(&reg.name, c))
                .collect(),
            total: front.total,
            empty: empty_list(reg.traits()),
        });
    }
    Ok(render(&HomePage {
        c: Chrome::new("Berth", Some(&viewer)),
        registries,
    }))
}

/// The registry a listing means: the one named, else the default (a
/// registry the viewer's address may not reach is not found).
pub(crate) fn chosen<'a>(
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

/// A search for a keyword, as a link.
pub(crate) fn keyword_link(word: &str) -> (String, String) {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("q", word);
    (word.to_string(), format!("/search?{}", q.finish()))
}

#[derive(askama::Template)]
#[template(path = "registry.html")]
struct RegistryPage {
    c: Chrome,
    name: String,
    kind: String,
    private: bool,
    snippet: String,
    how: &'static str,
    /// What the count counts, in words ("3 crates", "152 crates cached").
    count: String,
    /// For a virtual registry, its members the viewer may read.
    members: Vec<String>,
    empty: &'static str,
    crates: Vec<CrateItem>,
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
    if !state.guard.reaches(&reg.name, viewer.addr) {
        return Err(UiError::not_found());
    }
    let (rows, total) = state
        .berth
        .list_crates(&reg.name, viewer.who(), PER_PAGE, (page - 1) * PER_PAGE)
        .await
        .map_err(|_| UiError::not_found())?;
    let count = if reg.traits().caches_upstream {
        format!("{} cached", plural(total, "crate"))
    } else {
        plural(total, "crate")
    };
    Ok(render(&RegistryPage {
        c: Chrome::new(format!("Registry {}", reg.name), Some(&viewer)),
        name: reg.name.clone(),
        kind: reg.kind().to_string(),
        private: reg.private,
        snippet: state.berth.cargo_config_snippet(reg),
        how: how_to_use(reg.traits()),
        empty: empty_list(reg.traits()),
        count,
        members: state
            .berth
            .members_of(reg)
            .into_iter()
            .filter(|m| visible_registries(&state, &viewer).any(|r| r.name == *m))
            .collect(),
        crates: rows
            .into_iter()
            .map(|c| CrateItem::new(&reg.name, c).uncounted(reg))
            .collect(),
        page,
        pages: ((total + PER_PAGE - 1) / PER_PAGE).max(1),
    }))
}

/// A version in the crate page's table.
struct VersionItem {
    vers: String,
    url: String,
    yanked: bool,
    date: When,
    size: String,
    downloads: i64,
    current: bool,
}

/// One day's bar of the downloads chart (SVG user units).
struct Bar {
    x: String,
    y: i64,
    width: String,
    height: i64,
    zero: bool,
    label: String,
}

/// A label on the chart's axes.
struct Tick {
    x: String,
    y: i64,
    text: String,
    anchor: &'static str,
}

/// The crate page's downloads chart: one bar per day, drawn server-side as
/// inline SVG (no script), with a y axis (zero, the peak), dates under the
/// first and last day, and its numbers as text beside it. A young crate's
/// chart starts at its first day (at least a fortnight is drawn), so a
/// single day of data is a readable bar, not a sliver at the edge.
struct Chart {
    bars: Vec<Bar>,
    ticks: Vec<Tick>,
    /// The plot area: left edge, top, right edge, bottom (the x axis).
    left: i64,
    top: i64,
    right: i64,
    bottom: i64,
    width: i64,
    height: i64,
    summary: String,
}

/// The chart's size in SVG units (it scales to its box, keeping its
/// proportions, so its text stays undistorted).
const CHART_WIDTH: i64 = 400;
const CHART_HEIGHT: i64 = 120;
const CHART_LEFT: i64 = 34;
const CHART_TOP: i64 = 8;
const CHART_BOTTOM: i64 = 100;
/// Fewest days a chart draws.
const CHART_MIN_DAYS: usize = 14;

/// A Unix day number as `YYYY-MM-DD`.
fn day_date(day: i64) -> String {
    human_date(day.saturating_mul(86_400))
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_string()
}

fn chart(daily: &[(i64, i64)], created_at: i64) -> Chart {
    // From the crate's first day on (or at least the last fortnight).
    let first_day = created_at.div_euclid(86_400);
    let skip = daily
        .iter()
        .take_while(|(d, _)| *d < first_day)
        .count()
        .min(daily.len().saturating_sub(CHART_MIN_DAYS));
    let daily = &daily[skip..];
    let peak = daily.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let total: i64 = daily.iter().map(|(_, n)| *n).sum();
    let today = daily.last().map_or(0, |(_, n)| *n);
    let plot_w = (CHART_WIDTH - CHART_LEFT - 4) as f64;
    let plot_h = CHART_BOTTOM - CHART_TOP;
    let step = plot_w / daily.len().max(1) as f64;
    let bar_w = (step * 0.8).max(1.0);
    let bars = daily
        .iter()
        .enumerate()
        .map(|(i, (day, n))| {
            // At least one unit high, so that a quiet day still shows.
            let height = if peak > 0 {
                (n * plot_h / peak).max(1)
            } else {
                1
            };
            Bar {
                x: format!(
                    "{:.1}",
                    CHART_LEFT as f64 + i as f64 * step + (step - bar_w) / 2.0
                ),
                y: CHART_BOTTOM - height,
                width: format!("{bar_w:.1}"),
                height,
                zero: *n == 0,
                label: format!("{}: {}", day_date(*day), plural(*n, "download")),
            }
        })
        .collect::<Vec<_>>();
    let mut ticks = vec![
        Tick {
            x: format!("{}", CHART_LEFT - 4),
            y: CHART_BOTTOM,
            text: "0".into(),
            anchor: "end",
        },
        Tick {
            x: format!("{}", CHART_LEFT - 4),
            y: CHART_TOP + 8,
            text: peak.to_string(),
            anchor: "end",
        },
    ];
    if let (Some((first, _)), Some((last, _))) = (daily.first(), daily.last()) {
        ticks.push(Tick {
            x: format!("{CHART_LEFT}"),
            y: CHART_HEIGHT - 4,
            text: day_date(*first),
            anchor: "start",
        });
        ticks.push(Tick {
            x: format!("{}", CHART_WIDTH - 4),
            y: CHART_HEIGHT - 4,
            text: if first == last {
                "today".into()
            } else {
                format!("{} (today)", day_date(*last))
            },
            anchor: "end",
        });
    }
    let mut summary = format!(
        "{} in the last {}, {today} today",
        plural(total, "download"),
        plural(daily.len() as i64, "day")
    );
    if let Some((day, n)) = daily.iter().filter(|(_, n)| *n > 0).max_by_key(|(_, n)| *n) {
        summary.push_str(&format!("; busiest day {} ({n})", day_date(*day)));
    }
    Chart {
        bars,
        ticks,
        left: CHART_LEFT,
        top: CHART_TOP,
        right: CHART_WIDTH - 4,
        bottom: CHART_BOTTOM,
        width: CHART_WIDTH,
        height: CHART_HEIGHT,
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

/// A link of the About list: its URL, and the short form shown.
struct LinkItem {
    label: &'static str,
    url: String,
    short: String,
}

/// A URL as a short label: no scheme, no `www.`, no trailing slash or `.git`.
fn short_url(url: &str) -> String {
    let rest = url
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_start_matches("www.")
        .trim_end_matches('/');
    rest.strip_suffix(".git").unwrap_or(rest).to_string()
}

#[derive(askama::Template)]
#[template(path = "crate.html")]
struct CratePageView {
    c: Chrome,
    registry: String,
    name: String,
    version: String,
    yanked: bool,
    /// The newest version that is not yanked, when the page shows another.
    latest: Option<(String, String)>,
    proxied: bool,
    /// The registry whose rows the page shows (a virtual registry's member).
    holder: String,
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
    published: When,
    created: When,
    license: String,
    links: Vec<LinkItem>,
    rust_version: String,
    keywords: Vec<(String, String)>,
    categories: Vec<(String, String)>,
    add_cmd: String,
    toml_line: String,
    snippet: String,
}

/// A metadata string field, or "".
fn text(m: &serde_json::Value, key: &str) -> String {
    m.get(key)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

/// A metadata list of strings.
fn words(m: &serde_json::Value, key: &str) -> Vec<String> {
    m.get(key)
        .and_then(|k| k.as_array())
        .map(|k| {
            k.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
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
    let links = [
        ("Repository", repository),
        ("Documentation", link(m, "documentation")),
        ("Homepage", link(m, "homepage")),
    ]
    .into_iter()
    .filter_map(|(label, url)| {
        url.map(|url| LinkItem {
            label,
            short: short_url(&url),
            url,
        })
    })
    .collect();
    let detail = &page.detail;
    let reg = berth.registry(registry).ok();
    let is_proxy = reg.is_some_and(|r| r.traits().caches_upstream);
    // A keyword or category, linked to a search for it.
    let search_link = |word: &String| keyword_link(word);
    let yanked = current.is_some_and(|v| v.yanked);
    let latest = detail
        .max_version
        .as_ref()
        .filter(|v| **v != shown)
        .map(|v| {
            (
                v.clone(),
                format!("/r/{registry}/crates/{}/{v}", detail.name),
            )
        });
    CratePageView {
        c: Chrome::new(format!("{} {}", detail.name, shown), Some(viewer)),
        registry: registry.to_string(),
        name: detail.name.clone(),
        yanked,
        latest,
        proxied: page.proxied,
        holder: page.holder.clone(),
        description: detail.description.clone().unwrap_or_default(),
        readme,
        versions: detail
            .versions
            .iter()
            .rev()
            .map(|v| VersionItem {
                url: format!("/r/{registry}/crates/{}/{}", detail.name, v.vers),
                yanked: v.yanked,
                date: When::of(v.published_at),
                size: if v.size > 0 {
                    human_size(v.size)
                } else {
                    String::new()
                },
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
        chart: chart(&page.daily_downloads, detail.created_at),
        downloads: detail.downloads,
        size: current
            .filter(|v| v.size > 0)
            .map(|v| human_size(v.size))
            .unwrap_or_default(),
        publisher: current
            .and_then(|v| v.published_by.clone())
            .unwrap_or_default(),
        published: current
            .map(|v| When::of(v.published_at))
            .unwrap_or_default(),
        created: When::of(detail.created_at),
        license: text(m, "license"),
        links,
        rust_version: text(m, "rust_version"),
        keywords: words(m, "keywords").iter().map(search_link).collect(),
        categories: words(m, "categories").iter().map(search_link).collect(),
        add_cmd: if is_proxy {
            format!("cargo add {}", detail.name)
        } else {
            format!("cargo add {} --registry {registry}", detail.name)
        },
        toml_line: if is_proxy {
            format!("{} = \"{shown}\"", detail.name)
        } else {
            format!(
                "{} = {{ version = \"{shown}\", registry = \"{registry}\" }}",
                detail.name
            )
        },
        snippet: reg
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
    if !state.guard.reaches(registry, viewer.addr) {
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

/// `GET /r/{registry}/crates/{name}/{version}` (`…/versions` is the
/// crate page's version table).
pub(crate) async fn crate_version(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((registry, name, version)): Path<(String, String, String)>,
) -> Result<Response, UiError> {
    if version == "versions" {
        return Ok(Redirect::to(&format!("/r/{registry}/crates/{name}#versions")).into_response());
    }
    show_crate(&state, &viewer, &registry, &name, Some(&version)).await
}

/// The default registry, when the viewer's address may reach it.
fn default_registry(state: &AppState, viewer: &Viewer) -> Result<String, UiError> {
    let Some(reg) = state.berth.default_registry() else {
        return Err(UiError::not_found());
    };
    if !state.guard.reaches(&reg.name, viewer.addr) {
        return Err(UiError::not_found());
    }
    Ok(reg.name.clone())
}

/// `GET /crates/{name}`: the crate in the default registry.
pub(crate) async fn default_crate(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> Result<Response, UiError> {
    let registry = default_registry(&state, &viewer)?;
    show_crate(&state, &viewer, &registry, &name, None).await
}

/// `GET /crates/{name}/{version}`: a version in the default registry.
pub(crate) async fn default_crate_version(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let registry = default_registry(&state, &viewer)?;
    if version == "versions" {
        return Ok(Redirect::to(&format!("/crates/{name}#versions")).into_response());
    }
    show_crate(&state, &viewer, &registry, &name, Some(&version)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_day_of_downloads_is_a_readable_chart() {
        let today = 20_000;
        let daily: Vec<(i64, i64)> = (today - 89..=today)
            .map(|d| (d, if d == today { 3 } else { 0 }))
            .collect();
        let c = chart(&daily, today * 86_400 + 3_600);
        assert_eq!(c.bars.len(), CHART_MIN_DAYS);
        let last = c.bars.last().unwrap();
        assert_eq!(last.height, CHART_BOTTOM - CHART_TOP);
        assert!(last.width.parse::<f64>().unwrap() > 15.0, "{}", last.width);
        let texts: Vec<&str> = c.ticks.iter().map(|t| t.text.as_str()).collect();
        assert!(texts.contains(&"3") && texts.contains(&"0"), "{texts:?}");
        assert!(
            c.summary
                .starts_with("3 downloads in the last 14 days, 3 today"),
            "{}",
            c.summary
        );
    }

    #[test]
    fn short_urls_and_ages() {
        assert_eq!(
            short_url("https://www.example.org/o/r.git/"),
            "example.org/o/r"
        );
        assert_eq!(super::super::ago(30), "just now");
        assert_eq!(super::super::ago(3 * 86_400 + 5), "3 days ago");
        assert_eq!(super::super::ago(86_400), "yesterday");
        assert_eq!(super::super::ago(3_600), "1 hour ago");
    }
}
