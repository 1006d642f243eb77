//! Server administrators' pages: users and teams (members and roles per
//! registry), one user's page with its actions (administrator, disable,
//! password reset, removal, roles, revoking tokens: CSRF-checked, the
//! destructive ones confirmed, each audited by berth-core), registries
//! (settings and members, teams included), advisories and policies (the set
//! in force, each policy with its exceptions and approvals, read-only) and
//! the audit log with filters. Anyone else gets the login page
//! (anonymous) or a 403 page; the audit log's own check is berth-core's
//! `audit_log_for`.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use berth_core::audit::AuditQuery;
use serde::Deserialize;

use super::account::{token_items, TokenItem};
use super::session::Viewer;
use super::{human_date, render, Chrome, UiError};
use crate::AppState;

/// `Ok(None)` when the viewer is an administrator; else the answer.
fn gate(viewer: &Viewer) -> Result<Option<Response>, UiError> {
    match viewer.who() {
        None => Ok(Some(Redirect::to("/login").into_response())),
        Some(w) if w.user.is_admin => Ok(None),
        Some(_) => Err(UiError::new(
            StatusCode::FORBIDDEN,
            "Only server administrators may open the admin pages.",
        )),
    }
}

/// The viewer of an admin page that takes nothing else from the request
/// that could be refused first: a server administrator. Anyone else gets
/// [`gate`]'s answer.
pub(crate) struct Admin(Viewer);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let viewer = Viewer::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match gate(&viewer) {
            Ok(None) => Ok(Admin(viewer)),
            Ok(Some(answer)) => Err(answer),
            Err(refused) => Err(refused.into_response()),
        }
    }
}

struct UserItem {
    login: String,
    is_admin: bool,
    disabled: bool,
    roles: String,
}

struct TeamItem {
    name: String,
    members: String,
    roles: String,
}

#[derive(askama::Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    c: Chrome,
    users: Vec<UserItem>,
    teams: Vec<TeamItem>,
}

/// `GET /admin`: every user, with their roles.
pub(crate) async fn users(
    State(state): State<AppState>,
    Admin(viewer): Admin,
) -> Result<Response, UiError> {
    let berth = &state.berth;
    let mut roles: Vec<(String, String)> = Vec::new();
    let mut team_roles: Vec<(String, String)> = Vec::new();
    for reg in berth.registries() {
        for (login, role) in berth.registry_members(&reg.name).await? {
            roles.push((login, format!("{}: {}", reg.name, role.as_str())));
        }
        for (team, role) in berth.registry_team_roles(&reg.name).await? {
            team_roles.push((team, format!("{}: {}", reg.name, role.as_str())));
        }
    }
    let teams = berth
        .list_teams()
        .await?
        .into_iter()
        .map(|t| TeamItem {
            roles: team_roles
                .iter()
                .filter(|(n, _)| *n == t.team.name)
                .map(|(_, r)| r.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            members: t.members.join(", "),
            name: t.team.name,
        })
        .collect();
    let users = berth
        .list_users()
        .await?
        .into_iter()
        .map(|u| UserItem {
            roles: roles
                .iter()
                .filter(|(l, _)| *l == u.login)
                .map(|(_, r)| r.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            login: u.login,
            is_admin: u.is_admin,
            disabled: u.disabled,
        })
        .collect();
    Ok(render(&UsersPage {
        c: Chrome::new("Admin: users", Some(&viewer)),
        users,
        teams,
    }))
}

#[derive(askama::Template)]
#[template(path = "admin_user.html")]
struct UserPage {
    c: Chrome,
    login: String,
    is_admin: bool,
    disabled: bool,
    /// Where the page's forms post.
    action: String,
    roles: Vec<(String, String)>,
    registries: Vec<String>,
    tokens: Vec<TokenItem>,
    notice: String,
    error: String,
}

async fn user_page(
    state: &AppState,
    viewer: &Viewer,
    login: &str,
    status: StatusCode,
    notice: &str,
    error: &str,
) -> Result<Response, UiError> {
    let berth = &state.berth;
    let Some(user) = berth
        .list_users()
        .await?
        .into_iter()
        .find(|u| u.login == login)
    else {
        return Err(UiError::new(
            StatusCode::NOT_FOUND,
            format!("No user `{login}`."),
        ));
    };
    let mut roles = Vec::new();
    for reg in berth.registries() {
        for (l, role) in berth.registry_members(&reg.name).await? {
            if l == user.login {
                roles.push((reg.name.clone(), role.as_str().to_string()));
            }
        }
    }
    let tokens = token_items(state, &user.login).await?;
    let mut response = render(&UserPage {
        c: Chrome::new(format!("Admin: user {}", user.login), Some(viewer)),
        action: format!("/admin/users/{}", user.login),
        login: user.login,
        is_admin: user.is_admin,
        disabled: user.disabled,
        roles,
        registries: berth.registries().map(|r| r.name.clone()).collect(),
        tokens,
        notice: notice.to_string(),
        error: error.to_string(),
    });
    *response.status_mut() = status;
    Ok(response)
}

/// `GET /admin/users/{login}`: one user, with the actions on it.
pub(crate) async fn user(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(login): Path<String>,
) -> Result<Response, UiError> {
    if let Some(r) = gate(&viewer)? {
        return Ok(r);
    }
    user_page(&state, &viewer, &login, StatusCode::OK, "", "").await
}

/// `POST /admin/users/{login}`: one action (field `action`) on a user.
/// Destructive ones need their confirmation field; a refusal is shown on
/// the page.
pub(crate) async fn user_action(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(login): Path<String>,
    body: Bytes,
) -> Result<Response, UiError> {
    let (by, form) = viewer.posted(&body)?;
    if let Some(r) = gate(&viewer)? {
        return Ok(r);
    }
    let berth = &state.berth;
    let confirmed = form.get("confirm") == Some("yes");
    let unconfirmed = || {
        Err(berth_core::ServiceError::BadRequest(
            "Tick the confirmation to do that; nothing was changed.".into(),
        ))
    };
    let role = |r: Option<&str>| {
        r.unwrap_or("")
            .parse::<berth_core::Role>()
            .map_err(|e| berth_core::ServiceError::BadRequest(e.to_string()))
    };
    let registry = form.get("registry").unwrap_or("");
    let result: Result<String, berth_core::ServiceError> = match form.get("action").unwrap_or("") {
        "admin" => berth
            .set_user_admin(Some(by), &login, true)
            .await
            .map(|()| format!("{login} is a server administrator.")),
        "unadmin" if !confirmed => unconfirmed(),
        "unadmin" => berth
            .set_user_admin(Some(by), &login, false)
            .await
            .map(|()| format!("{login} is no longer a server administrator.")),
        "disable" if !confirmed => unconfirmed(),
        "disable" => berth
            .set_user_disabled(Some(by), &login, true)
            .await
            .map(|()| format!("{login} is disabled: sessions ended, tokens refused.")),
        "enable" => berth
            .set_user_disabled(Some(by), &login, false)
            .await
            .map(|()| format!("{login} is enabled.")),
        "reset-password" => berth
            .reset_password(Some(by), &login, form.get("password").unwrap_or(""))
            .await
            .map(|()| format!("The password of {login} was reset; their sessions ended.")),
        "remove" if form.get("confirm") != Some(login.as_str()) => {
            Err(berth_core::ServiceError::BadRequest(format!(
                "Type the login `{login}` to confirm its removal; nothing was changed."
            )))
        }
        "remove" => match berth.remove_user(Some(by), &login).await {
            Ok(()) => return Ok(Redirect::to("/admin").into_response()),
            Err(e) => Err(e),
        },
        "grant" => match role(form.get("role")) {
            Ok(r) => berth
                .set_role_by(by, registry, &login, Some(r))
                .await
                .map(|()| format!("{login} holds {} in {registry}.", r.as_str())),
            Err(e) => Err(e),
        },
        "revoke-role" => berth
            .set_role_by(by, registry, &login, None)
            .await
            .map(|()| format!("{login} holds no role of its own in {registry}.")),
        "revoke-token" if !confirmed => unconfirmed(),
        "revoke-token" => match form.get("id").and_then(|i| i.parse::<i64>().ok()) {
            Some(id) => berth
                .revoke_token_by(Some(by), &login, &berth_core::tokens::TokenRef::Id(id))
                .await
                .map(|id| format!("Token {id} of {login} revoked.")),
            None => Err(berth_core::ServiceError::BadRequest(
                "no token id given".into(),
            )),
        },
        other => Err(berth_core::ServiceError::BadRequest(format!(
            "unknown action `{other}`"
        ))),
    };
    match result {
        Ok(notice) => user_page(&state, &viewer, &login, StatusCode::OK, &notice, "").await,
        Err(
            berth_core::ServiceError::BadRequest(m)
            | berth_core::ServiceError::Conflict(m)
            | berth_core::ServiceError::NotFound(m),
        ) => user_page(&state, &viewer, &login, StatusCode::BAD_REQUEST, "", &m).await,
        Err(e) => Err(e.into()),
    }
}

struct RegistryItem {
    name: String,
    kind: String,
    private: bool,
    index_url: String,
    members: Vec<(String, String)>,
    /// A proxy's cached crate files.
    cached: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "admin_registries.html")]
struct RegistriesPage {
    c: Chrome,
    registries: Vec<RegistryItem>,
    config: String,
}

/// `GET /admin/registries`: each registry, its members, and the
/// configuration in force (secrets masked).
pub(crate) async fn registries(
    State(state): State<AppState>,
    Admin(viewer): Admin,
) -> Result<Response, UiError> {
    let berth = &state.berth;
    let mut registries = Vec::new();
    for reg in berth.registries() {
        registries.push(RegistryItem {
            name: reg.name.clone(),
            kind: reg.kind().to_string(),
            private: reg.private,
            index_url: format!("sparse+{}", berth.index_url(reg)),
            cached: berth
                .proxy_cache_bytes(reg)
                .await?
                .map(|b| super::human_size(i64::try_from(b).unwrap_or(i64::MAX))),
            members: berth
                .registry_members(&reg.name)
                .await?
                .into_iter()
                .map(|(l, r)| (l, r.as_str().to_string()))
                .chain(
                    berth
                        .registry_team_roles(&reg.name)
                        .await?
                        .into_iter()
                        .map(|(t, r)| (format!("team:{t}"), r.as_str().to_string())),
                )
                .collect(),
        });
    }
    Ok(render(&RegistriesPage {
        c: Chrome::new("Admin: registries", Some(&viewer)),
        registries,
        config: berth.config.masked_toml().unwrap_or_default(),
    }))
}

/// An exception as the policies page shows it.
struct ExceptionItem {
    /// `crate@version`.
    target: String,
    reason: String,
    /// When it lapses, or `never`.
    expires: String,
    lapsed: bool,
    by: String,
    at: String,
}

/// An approved-list entry as the policies page shows it.
struct ApprovalItem {
    name: String,
    /// The requirement, or `every version`.
    req: String,
    by: String,
    at: String,
}

/// A registry with a policy, as the policies page shows it.
struct PolicedItem {
    name: String,
    policy: String,
    exceptions: Vec<ExceptionItem>,
    approvals: Vec<ApprovalItem>,
    /// Versions this node lately kept from cargo, with the rule and why.
    blocked: Vec<berth_core::supply::lists::BlockedVersion>,
}

/// The advisory set in force, as the policies page shows it.
struct SetItem {
    digest: String,
    source: String,
    advisories: i64,
    crates: i64,
    imported: String,
}

#[derive(askama::Template)]
#[template(path = "admin_policies.html")]
struct PoliciesPage {
    c: Chrome,
    set: Option<SetItem>,
    registries: Vec<PolicedItem>,
    unpoliced: String,
}

/// `GET /admin/policies`: the advisory set in force and each registry's
/// policy, exceptions and approved list (read-only: changes are made with
/// `berth advisories` and `berth policy`, audited).
pub(crate) async fn policies(
    State(state): State<AppState>,
    Admin(viewer): Admin,
) -> Result<Response, UiError> {
    let overview = state.berth.supply_overview()?;
    let now = overview.now;
    let registries = overview
        .policed
        .into_iter()
        .zip(overview.blocked)
        .map(|(p, blocked)| PolicedItem {
            blocked,
            name: p.registry,
            policy: p.policy,
            exceptions: p
                .exceptions
                .into_iter()
                .map(|e| ExceptionItem {
                    target: format!("{}@{}", e.name, e.vers),
                    reason: e.reason,
                    expires: e.expires_at.map_or_else(|| "never".into(), human_date),
                    lapsed: e.expires_at.is_some_and(|t| t <= now),
                    by: e.created_by,
                    at: human_date(e.created_at),
                })
                .collect(),
            approvals: p
                .approvals
                .into_iter()
                .map(|a| ApprovalItem {
                    name: a.name,
                    req: a.req.unwrap_or_else(|| "every version".into()),
                    by: a.created_by,
                    at: human_date(a.created_at),
                })
                .collect(),
        })
        .collect();
    Ok(render(&PoliciesPage {
        c: Chrome::new("Admin: advisories and policies", Some(&viewer)),
        set: overview.set.map(|s| SetItem {
            digest: s.digest,
            source: s.source,
            advisories: s.advisories,
            crates: s.crates,
            imported: human_date(s.imported_at),
        }),
        registries,
        unpoliced: overview.unpoliced.join(", "),
    }))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditParams {
    #[serde(default)]
    since: String,
    #[serde(default)]
    actor: String,
    #[serde(default, rename = "crate")]
    crate_name: String,
    #[serde(default)]
    action: String,
    after: Option<i64>,
}

struct AuditItem {
    id: i64,
    at: String,
    actor: String,
    action: String,
    registry: String,
    krate: String,
    version: String,
    outcome: String,
    detail: String,
    client: String,
}

#[derive(askama::Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    c: Chrome,
    since: String,
    actor: String,
    krate: String,
    action: String,
    actions: Vec<&'static str>,
    rows: Vec<AuditItem>,
    next: Option<String>,
}

/// Rows per audit page.
const AUDIT_PAGE: i64 = 100;

/// `GET /admin/audit?since=&actor=&crate=&action=&after=`
pub(crate) async fn audit(
    State(state): State<AppState>,
    Admin(viewer): Admin,
    q: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Response, UiError> {
    let Query(p) =
        q.map_err(|e| UiError::new(StatusCode::BAD_REQUEST, format!("invalid filters: {e}")))?;
    let some = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let query = AuditQuery {
        since: some(&p.since),
        actor: some(&p.actor),
        crate_name: some(&p.crate_name),
        action: some(&p.action),
        after: p.after,
        limit: Some(AUDIT_PAGE),
        since_secs: None,
    };
    let rows = state.berth.audit_log_for(viewer.who(), &query).await?;
    let next = (rows.len() as i64 == AUDIT_PAGE)
        .then(|| rows.last().map(|r| r.id))
        .flatten()
        .map(|last| {
            let mut s = form_urlencoded::Serializer::new(String::new());
            s.append_pair("since", &p.since)
                .append_pair("actor", &p.actor)
                .append_pair("crate", &p.crate_name)
                .append_pair("action", &p.action)
                .append_pair("after", &last.to_string());
            format!("/admin/audit?{}", s.finish())
        });
    let rows = rows
        .into_iter()
        .map(|r| AuditItem {
            id: r.id,
            at: human_date(r.at),
            actor: r.entry.actor.unwrap_or_default(),
            action: r.entry.action.as_str().to_string(),
            registry: r.entry.registry.unwrap_or_default(),
            krate: r.entry.crate_name.unwrap_or_default(),
            version: r.entry.version.unwrap_or_default(),
            outcome: r.entry.outcome.as_str().to_string(),
            detail: r
                .entry
                .detail
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect(),
            client: r.entry.client_addr.unwrap_or_default(),
        })
        .collect();
    Ok(render(&AuditPage {
        c: Chrome::new("Admin: audit log", Some(&viewer)),
        since: p.since,
        actor: p.actor,
        krate: p.crate_name,
        action: p.action,
        actions: berth_core::audit::audit_actions(),
        rows,
        next,
    }))
}

struct HookItem {
    id: i64,
    url: String,
    events: String,
    registry: String,
    signed: &'static str,
}

struct DeliveryItem {
    id: i64,
    webhook_id: i64,
    event: String,
    subject: String,
    state: String,
    attempts: i64,
    error: String,
    queued: String,
}

#[derive(askama::Template)]
#[template(path = "admin_webhooks.html")]
struct WebhooksPage {
    c: Chrome,
    hooks: Vec<HookItem>,
    deliveries: Vec<DeliveryItem>,
    message: String,
    error: String,
}

async fn webhooks_page(
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    message: &str,
    error: &str,
) -> Result<Response, UiError> {
    let hooks = state
        .berth
        .list_webhooks()
        .await?
        .into_iter()
        .map(|h| HookItem {
            id: h.id,
            url: h.url,
            events: h.events,
            registry: h.registry.unwrap_or_else(|| "every registry".into()),
            signed: if h.secret_env.is_some() { "yes" } else { "no" },
        })
        .collect();
    let deliveries = state
        .berth
        .webhook_deliveries(false, 100)
        .await?
        .into_iter()
        .map(|d| DeliveryItem {
            id: d.id,
            webhook_id: d.webhook_id,
            event: d.event,
            subject: d.subject,
            state: d.state,
            attempts: d.attempts,
            error: d.last_error.unwrap_or_default(),
            queued: human_date(d.created_at),
        })
        .collect();
    let mut response = render(&WebhooksPage {
        c: Chrome::new("Webhooks", Some(viewer)),
        hooks,
        deliveries,
        message: message.into(),
        error: error.into(),
    });
    *response.status_mut() = status;
    Ok(response)
}

/// `GET /admin/webhooks`: the receivers and the latest deliveries.
pub(crate) async fn webhooks(
    State(state): State<AppState>,
    Admin(viewer): Admin,
) -> Result<Response, UiError> {
    webhooks_page(&state, &viewer, StatusCode::OK, "", "").await
}

/// `POST /admin/webhooks`: sends a delivery (field `delivery`) again.
pub(crate) async fn webhook_action(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> Result<Response, UiError> {
    let (_, form) = viewer.posted(&body)?;
    if let Some(r) = gate(&viewer)? {
        return Ok(r);
    }
    let id = form.get("delivery").and_then(|d| d.parse::<i64>().ok());
    match id {
        Some(id) => match state.berth.redeliver(id).await {
            Ok(()) => {
                let m = format!("Delivery {id} is queued again.");
                webhooks_page(&state, &viewer, StatusCode::OK, &m, "").await
            }
            Err(e @ berth_core::ServiceError::NotFound(_)) => {
                webhooks_page(&state, &viewer, StatusCode::NOT_FOUND, "", &e.to_string()).await
            }
            Err(e) => Err(e.into()),
        },
        None => {
            webhooks_page(
                &state,
                &viewer,
                StatusCode::BAD_REQUEST,
                "",
                "Name a delivery to send again.",
            )
            .await
        }
    }
}
