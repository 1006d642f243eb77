//! The pages anyone may open (search is [`super::search`], a crate's page
//! [`super::crate_page`]): home and a registry's listing, for every kind of
//! registry (a proxy's from what it has cached), and the crate lists they
//! share. Each asks berth-core with the viewer's identity, which decides
//! what may be read; anything a viewer may not read is the one
//! [`UiError::not_found`] page.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use berth_core::crates::CrateSummary;
use berth_core::{KindTraits, Registry};
use serde::Deserialize;

use super::session::Viewer;
use super::{plural, render, Chrome, UiError, When};
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
