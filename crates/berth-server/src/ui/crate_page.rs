//! A crate's page, for every kind of registry (a proxy's from what it has
//! cached, a virtual registry's from the member that owns the name): its
//! README, versions, features, dependencies, dependents, owners, links and
//! downloads chart ([`super::chart`]), and what imported advisories and the
//! registry's policy say of its versions and dependencies (banners, tags,
//! an Advisories section; the advisory text is untrusted, escaped as all
//! text is), each version's index in the transparency log and the `berth
//! verify` command for the version shown, at `/r/{registry}/crates/…` and, for
//! the default registry, `/crates/…`. berth-core decides what the viewer may
//! read; anything it may not is the one [`UiError::not_found`] page.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use berth_core::crates::{BlockedView, CratePage, VersionJson};
use berth_core::supply::advisories::AdvisoryView;
use berth_core::ServiceError;
use bytes::Bytes;

use super::chart::{chart, Chart};
use super::pages::{keyword_link, CrateItem};
use super::session::Viewer;
use super::{human_size, markdown, render, Chrome, UiError, When};
use crate::AppState;

/// A version in the crate page's table.
struct VersionItem {
    vers: String,
    url: String,
    yanked: bool,
    date: When,
    size: String,
    downloads: i64,
    current: bool,
    /// The advisories that affect it: `(id, anchor)` of their entries in
    /// the Advisories section.
    advisories: Vec<(String, String)>,
    /// The rule of the policy that keeps it from cargo.
    blocked: Option<String>,
    /// Its index in the transparency log.
    log_index: Option<u64>,
}

/// An advisory as the crate page shows it. Its text comes from the
/// imported database: untrusted, and escaped like every other text.
struct AdvisoryItem {
    id: String,
    /// The entry's `id` in the Advisories section.
    anchor: String,
    title: String,
    kind: String,
    /// The requirements that carry the fix, or empty.
    patched: String,
    url: Option<String>,
    /// The versions in the table that it affects, newest first.
    affects: String,
}

/// A version the registry's policy keeps from cargo, and why.
struct BlockedItem {
    vers: String,
    rule: String,
    registry: String,
    reason: String,
}

/// A dependency whose newest matching version an advisory affects.
struct AffectedDepItem {
    name: String,
    version: String,
    url: String,
    advisories: Vec<AdvisoryItem>,
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
    /// `VERSION (ID, ...)` when its newest matching version is affected.
    affected: String,
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
    /// Vulnerabilities of the version shown (not yanked).
    vulnerable: Vec<AdvisoryItem>,
    /// The newest version and its URL, when it is not the one shown and a
    /// vulnerability affects it.
    newest_vulnerable: Option<(String, String, Vec<AdvisoryItem>)>,
    /// `unmaintained` advisories of the crate.
    unmaintained: Vec<AdvisoryItem>,
    /// Why the version shown is kept from cargo.
    shown_blocked: Option<BlockedItem>,
    /// Dependencies whose newest matching version is affected.
    affected_deps: Vec<AffectedDepItem>,
    /// Every advisory that affects a version in the table.
    advisories: Vec<AdvisoryItem>,
    /// The versions the policy keeps from cargo, newest first.
    blocked: Vec<BlockedItem>,
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
    /// "CI from OWNER/REPO, workflow X, commit Y" for a trusted publish.
    trusted_publisher: String,
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
    /// The version shown's index in the transparency log, and the command
    /// that checks a downloaded `.crate` against it (when it is logged and
    /// the server has a key).
    log_index: Option<u64>,
    verify_cmd: String,
    /// Trusted publishing, for a viewer who owns the crate or administers
    /// its registry.
    trust: Option<TrustPanelView>,
    /// Where an owner's "rebuild the docs" form posts (the same viewers
    /// as `trust`), and the version it rebuilds.
    docs_rebuild: Option<String>,
}

/// The trusted-publishing section of an owner's crate page.
struct TrustPanelView {
    /// Where its forms post.
    action: String,
    panel: berth_core::trust::TrustPanel,
}

/// A metadata URL when it is http(s): anything else is not a link.
fn link(url: Option<&str>) -> Option<String> {
    url.map(str::trim)
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .map(str::to_string)
}

/// An element id for an advisory id (from an imported database: any
/// character but the safe ones becomes `-`).
fn anchor(id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("advisory-{safe}")
}

fn advisory_item(a: &AdvisoryView, affects: String) -> AdvisoryItem {
    AdvisoryItem {
        id: a.id.clone(),
        anchor: anchor(&a.id),
        title: a.title.clone(),
        kind: a.kind.clone(),
        patched: a.patched.join(", "),
        url: link(a.url.as_deref()),
        affects,
    }
}

fn advisory_items(list: &[AdvisoryView]) -> Vec<AdvisoryItem> {
    list.iter()
        .map(|a| advisory_item(a, String::new()))
        .collect()
}

/// Every advisory that affects a version of `versions` (newest first),
/// once, with the versions it affects.
fn advisories_of(versions: &[&VersionJson]) -> Vec<AdvisoryItem> {
    let mut out: Vec<(AdvisoryView, Vec<&str>)> = Vec::new();
    for v in versions {
        for a in &v.advisories {
            match out.iter_mut().find(|(known, _)| known.id == a.id) {
                Some((_, affects)) => affects.push(&v.vers),
                None => out.push((a.clone(), vec![&v.vers])),
            }
        }
    }
    out.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    out.into_iter()
        .map(|(a, affects)| advisory_item(&a, affects.join(", ")))
        .collect()
}

fn blocked_item(vers: &str, b: &BlockedView) -> BlockedItem {
    BlockedItem {
        vers: vers.to_string(),
        rule: b.rule.to_string(),
        registry: b.registry.clone(),
        // The sentence a refused download shows; the page says the rest.
        reason: b
            .reason
            .strip_prefix("blocked by policy: ")
            .unwrap_or(&b.reason)
            .to_string(),
    }
}

fn crate_view(
    state: &AppState,
    viewer: &Viewer,
    registry: &str,
    page: CratePage,
    trust: Option<berth_core::trust::TrustPanel>,
    docs: &[berth_core::docs::DocsSet],
    build: Option<berth_core::docs::DocsBuild>,
) -> CratePageView {
    let berth = &state.berth;
    let m = &page.metadata;
    let shown = page.version.vers.clone();
    let current = page.detail.versions.iter().find(|v| v.vers == shown);
    let mut features: Vec<(String, String)> = m
        .features
        .iter()
        .map(|(k, v)| (k.clone(), v.join(", ")))
        .collect();
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
        .deps
        .iter()
        .map(|d| {
            let target = match &d.registry {
                None => Some(registry.to_string()),
                Some(url) => ours(url),
            };
            let affected = page
                .supply
                .affected_deps
                .iter()
                .find(|a| a.name == d.name && a.req == d.version_req)
                .map(|a| {
                    let ids: Vec<&str> = a.advisories.iter().map(|x| x.id.as_str()).collect();
                    format!("{} ({})", a.version, ids.join(", "))
                })
                .unwrap_or_default();
            DepItem {
                affected,
                url: target.map(|r| format!("/r/{r}/crates/{}", d.name)),
                req: d.version_req.clone(),
                kind: d.kind.as_str().to_string(),
                optional: d.optional,
                name: d.name.clone(),
            }
        })
        .collect();
    let repository = link(m.repository.as_deref());
    let readme = page
        .version
        .readme
        .as_deref()
        .map(|md| markdown::render(md, repository.as_deref()))
        .unwrap_or_default();
    let links = [
        ("Repository", repository),
        // The crate's own `documentation` wins; else the docs this
        // registry serves for the version shown.
        (
            "Documentation",
            link(m.documentation.as_deref()).or_else(|| {
                docs.iter().find(|d| d.vers == shown).map(|d| {
                    // A private registry's docs are read with a pass
                    // that the signed-in reader gets on the way.
                    let pass = berth.docs_read_with_pass(&page.holder);
                    let (holder, name) = (&page.holder, &page.detail.name);
                    match pass && viewer.who().is_some() {
                        true => format!("/r/{holder}/crates/{name}/{}/docs", d.vers),
                        false => format!("/r/{holder}/docs/{name}/{}/", d.vers),
                    }
                })
            }),
        ),
        ("Homepage", link(m.homepage.as_deref())),
    ]
    .into_iter()
    .filter_map(|(label, url)| {
        url.map(|url| LinkItem {
            label,
            short: short_url(&url),
            url,
        })
    })
    // A queued build says nothing yet (and stays queued where no node
    // builds docs).
    .chain(build.filter(|b| b.state != "queued").map(|b| LinkItem {
        // How the docs build of the version shown stands; its log is in
        // the link.
        label: "Docs build",
        short: match b.state.as_str() {
            "failed" => "failed (see the log)".to_string(),
            "ok" => "built".to_string(),
            other => other.to_string(),
        },
        url: format!(
            "/api/v1/registries/{}/crates/{}/{}/docs-build",
            page.holder, page.detail.name, shown
        ),
    }))
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
    let newest_first: Vec<&VersionJson> = detail.versions.iter().rev().collect();
    let supply = &page.supply;
    let version_url = |v: &str| format!("/r/{registry}/crates/{}/{v}", detail.name);
    CratePageView {
        vulnerable: advisory_items(&supply.vulnerable),
        newest_vulnerable: supply
            .newest_vulnerable
            .as_ref()
            .map(|(v, list)| (v.clone(), version_url(v), advisory_items(list))),
        unmaintained: advisory_items(&supply.unmaintained),
        shown_blocked: current.and_then(|v| v.blocked.as_ref().map(|b| blocked_item(&v.vers, b))),
        affected_deps: supply
            .affected_deps
            .iter()
            .map(|d| AffectedDepItem {
                name: d.name.clone(),
                version: d.version.clone(),
                url: format!("/r/{}/crates/{}/{}", d.registry, d.name, d.version),
                advisories: advisory_items(&d.advisories),
            })
            .collect(),
        advisories: advisories_of(&newest_first),
        blocked: newest_first
            .iter()
            .filter_map(|v| v.blocked.as_ref().map(|b| blocked_item(&v.vers, b)))
            .collect(),
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
                advisories: v
                    .advisories
                    .iter()
                    .map(|a| (a.id.clone(), anchor(&a.id)))
                    .collect(),
                blocked: v.blocked.as_ref().map(|b| b.rule.to_string()),
                log_index: v.log_index,
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
        trusted_publisher: current
            .and_then(|v| v.trusted_publisher.as_ref())
            .map(|c| {
                let mut text = format!("CI from {}, workflow {}", c.repository, c.workflow);
                if let Some(sha) = &c.sha {
                    text.push_str(&format!(", commit {}", &sha[..sha.len().min(12)]));
                }
                if let Some(run) = &c.run_id {
                    text.push_str(&format!(", run {run}"));
                }
                text
            })
            .unwrap_or_default(),
        published: current
            .map(|v| When::of(v.published_at))
            .unwrap_or_default(),
        created: When::of(detail.created_at),
        license: m.license.clone().unwrap_or_default(),
        links,
        rust_version: m.rust_version.clone().unwrap_or_default(),
        keywords: m.keywords.iter().map(search_link).collect(),
        categories: m.categories.iter().map(search_link).collect(),
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
        log_index: current.and_then(|v| v.log_index),
        verify_cmd: match (&page.log, current.and_then(|v| v.log_index)) {
            (Some(log), Some(_)) => format!(
                "berth verify --index sparse+{} --key {} {}-{shown}.crate",
                log.index_url, log.key, detail.name
            ),
            _ => String::new(),
        },
        docs_rebuild: trust
            .as_ref()
            .map(|_| format!("/r/{}/crates/{}/docs-rebuild", page.holder, detail.name)),
        trust: trust.map(|panel| TrustPanelView {
            action: format!("/r/{}/crates/{}/trust", page.holder, detail.name),
            panel,
        }),
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
    // Only owners and registry admins see (and may change) who else may
    // publish the crate.
    let trust = state
        .berth
        .trust_panel(viewer.who(), &page.holder, &page.detail.name)
        .await?;
    // What documentation the registry holds, else how the shown
    // version's build stands; nothing when it cannot say.
    let docs = state
        .berth
        .docs_of(&page.holder, viewer.who(), &page.detail.name)
        .await
        .unwrap_or_default();
    let build = if docs.iter().any(|d| d.vers == page.version.vers) {
        None
    } else {
        state
            .berth
            .docs_build_of(
                &page.holder,
                viewer.who(),
                &page.detail.name,
                &page.version.vers,
            )
            .await
            .ok()
            .flatten()
    };
    Ok(render(&crate_view(
        state, viewer, registry, page, trust, &docs, build,
    )))
}

/// `POST /r/{registry}/crates/{name}/trust`: an owner's or registry
/// admin's change to the crate's trusted publishing (`op` = `add`,
/// `remove`, `only` or `any`), then back to the crate page.
pub(crate) async fn trust_action(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((registry, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, UiError> {
    let (who, form) = viewer.posted(&body)?;
    let field = |k: &str| form.get(k).map(str::trim).filter(|v| !v.is_empty());
    let berth = &state.berth;
    match field("op") {
        Some("add") => {
            let req = berth_core::trust::TrustRequest {
                registry: registry.clone(),
                krate: name.clone(),
                issuer: field("issuer").unwrap_or_default().to_string(),
                repository: field("repository").unwrap_or_default().to_string(),
                workflow: field("workflow").unwrap_or_default().to_string(),
                environment: field("environment").map(str::to_string),
                user: None,
            };
            berth.trust_add(Some(who), &req).await?;
        }
        Some("remove") => {
            let id = field("id")
                .and_then(|i| i.parse::<i64>().ok())
                .ok_or_else(|| {
                    UiError::new(StatusCode::BAD_REQUEST, "no configuration id given")
                })?;
            berth.trust_remove(Some(who), &registry, &name, id).await?;
        }
        Some(op @ ("only" | "any")) => {
            berth
                .set_trusted_only(Some(who), &registry, &name, op == "only")
                .await?;
        }
        _ => {
            return Err(UiError::new(
                StatusCode::BAD_REQUEST,
                "unknown trusted-publishing change",
            ))
        }
    }
    Ok(Redirect::to(&format!("/r/{registry}/crates/{name}#trust")).into_response())
}

/// `POST /r/{registry}/crates/{name}/docs-rebuild`: an owner queues the
/// docs build of `version` again; back to that version's page.
pub(crate) async fn docs_rebuild(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((registry, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, UiError> {
    let (who, form) = viewer.posted(&body)?;
    let version = form
        .get("version")
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| UiError::new(StatusCode::BAD_REQUEST, "no version given"))?
        .to_string();
    state
        .berth
        .rebuild_docs_as_owner(who, &registry, &name, &version)
        .await?;
    Ok(Redirect::to(&format!("/r/{registry}/crates/{name}/{version}#docs-build")).into_response())
}

/// `GET /r/{registry}/crates/{name}/{version}/docs`: to the version's
/// docs; for a private (or virtual) registry, with a pass opened for
/// the signed-in reader (a browser sends no token, and the docs path no
/// cookie).
pub(crate) async fn open_docs(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((registry, name, version)): Path<(String, String, String)>,
) -> Result<Response, UiError> {
    state.berth.registry(&registry)?;
    let pass = match (&viewer.secret, viewer.who()) {
        (Some(secret), Some(_)) if state.berth.docs_read_with_pass(&registry) => {
            let pass = state.berth.open_docs_pass(secret, &registry, &name).await?;
            format!("~{pass}/")
        }
        _ => String::new(),
    };
    Ok(Redirect::to(&format!("/r/{registry}/docs/{pass}{name}/{version}/")).into_response())
}

/// `GET /r/{registry}/crates/{name}`
pub(crate) async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((registry, name)): Path<(String, String)>,
) -> Result<Response, UiError> {
    show_crate(&state, &viewer, &registry, &name, None).await
}

/// `GET /r/{registry}/crates/{name}/{version}` (`…/versions` is the
/// crate page's version table).
pub(crate) async fn version(
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
pub(crate) async fn default_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> Result<Response, UiError> {
    let registry = default_registry(&state, &viewer)?;
    show_crate(&state, &viewer, &registry, &name, None).await
}

/// `GET /crates/{name}/{version}`: a version in the default registry.
pub(crate) async fn default_version(
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

    #[test]
    fn advisory_anchors_keep_only_safe_characters() {
        assert_eq!(anchor("RUSTSEC-2026-0001"), "advisory-RUSTSEC-2026-0001");
        assert_eq!(
            anchor("GHSA-x\" onmouseover=\"1 é"),
            "advisory-GHSA-x--onmouseover--1--"
        );
    }
}
