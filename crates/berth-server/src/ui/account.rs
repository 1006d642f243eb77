//! Login, logout and the account page (the viewer's own API tokens:
//! create, shown once, revoke, last use; how cargo logs in to each registry
//! the viewer reads; changing one's own password). Every form carries a CSRF token: the
//! session's, or before login a double-submit cookie; logins are rate
//! limited per client address and per login.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use berth_core::ServiceError;
use rand::distr::{Alphanumeric, SampleString};
use subtle::ConstantTimeEq;

use super::session::{
    cookie, set_cookie, Form, Viewer, LOGIN_CSRF_COOKIE, SESSION_COOKIE, SSO_COOKIE,
};
use super::{human_date, render, Chrome, UiError};
use crate::AppState;

#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginPage {
    c: Chrome,
    login_csrf: String,
    login: String,
    error: String,
    /// The single sign-on button's words, when it is configured.
    sso: Option<String>,
    /// Whether the form asks for a password (Berth's or the directory's).
    password_form: bool,
}

fn login_page(
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    login: &str,
    error: &str,
) -> Response {
    let token = Alphanumeric.sample_string(&mut rand::rng(), 32);
    let mut response = render(&LoginPage {
        c: Chrome::new("Log in", Some(viewer)),
        login_csrf: token.clone(),
        login: login.to_string(),
        error: error.to_string(),
        sso: state.berth.oidc_label().map(str::to_string),
        password_form: state.berth.config.auth.password_form(),
    });
    *response.status_mut() = status;
    if let Ok(v) = set_cookie(state, LOGIN_CSRF_COOKIE, &token, "/login", "Strict", None).parse() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `GET /login`
pub(crate) async fn login_form(State(state): State<AppState>, viewer: Viewer) -> Response {
    if viewer.who().is_some() {
        return Redirect::to("/account").into_response();
    }
    // Single sign-on is the only way in: go straight there.
    if state.berth.oidc_label().is_some() && !state.berth.config.auth.password_form() {
        return Redirect::to("/login/oidc").into_response();
    }
    login_page(&state, &viewer, StatusCode::OK, "", "")
}

/// `POST /login`: checks the double-submit token, the rate limits, then
/// the password; a session cookie on success.
pub(crate) async fn login(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, UiError> {
    let form = Form::parse(&body);
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    let given = form.get("csrf").unwrap_or("");
    if expected.is_empty() || !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(super::session::csrf_refused());
    }
    let login = form.get("login").unwrap_or("").trim().to_string();
    let password = form.get("password").unwrap_or("");
    let addr = viewer
        .addr
        .map(|a| a.to_string())
        .unwrap_or_else(|| "unknown".into());
    let origin = super::session::origin(&headers, viewer.addr);
    let limiter = &state.ui.logins;
    let keys = limiter.keys(&login, viewer.addr);
    if let Err(wait) = limiter.check(&keys, state.berth.clock().instant()) {
        tracing::warn!(login = %login, addr = %addr, "login refused: too many failed attempts");
        let known = matches!(state.berth.user_exists(&login).await, Ok(true));
        let entry = state
            .berth
            .login_refusal(&login, known, &origin, "too many failed logins");
        state.berth.audit_refusal(&entry).await;
        let minutes = wait.as_secs().div_ceil(60);
        return Err(UiError {
            retry_after: Some(wait.as_secs().max(1)),
            ..UiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many failed logins for this account or from this address; try again in {minutes} minute(s)."
                ),
            )
        });
    }
    match state.berth.login_password(&login, password, &origin).await {
        Ok((secret, _csrf)) => {
            limiter.forget(&keys);
            let clear = set_cookie(&state, LOGIN_CSRF_COOKIE, "", "/login", "Strict", Some(0));
            Ok(signed_in(&state, &secret, "/account", &[clear]))
        }
        Err(berth_core::ServiceError::Forbidden(m)) => Ok(login_page(
            &state,
            &viewer,
            StatusCode::FORBIDDEN,
            &login,
            &m,
        )),
        Err(berth_core::ServiceError::Unauthorized(m)) => {
            limiter.fail(&keys, state.berth.clock().instant());
            Ok(login_page(
                &state,
                &viewer,
                StatusCode::UNAUTHORIZED,
                &login,
                &m,
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /logout`: ends the session; one signed in through single sign-on
/// goes on to the provider's logout, when it offers one, from a page that
/// says so.
pub(crate) async fn logout(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, UiError> {
    viewer.posted(&body)?;
    if let Some(secret) = &viewer.secret {
        state.berth.logout(secret).await?;
    }
    let next = match cookie(&headers, SSO_COOKIE) {
        Some(_) => state.berth.oidc_logout_url().await,
        None => None,
    };
    // The provider's logout is reached from a page of this site: a
    // redirect answering the form would be another origin's form action,
    // which the pages' CSP (`form-action 'self'`) blocks.
    let mut response = match next {
        Some(provider) => render(&SignedOut {
            c: Chrome::new("Signed out", None),
            provider,
        }),
        None => Redirect::to("/").into_response(),
    };
    for name in [SESSION_COOKIE, SSO_COOKIE] {
        if let Ok(v) = set_cookie(&state, name, "", "/", "Lax", Some(0)).parse() {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(response)
}

#[derive(askama::Template)]
#[template(path = "signed_out.html")]
struct SignedOut {
    c: Chrome,
    /// The provider's logout URL.
    provider: String,
}

/// A redirect to `to` that sets the session cookie of `secret` (and
/// `extra` cookies).
pub(crate) fn signed_in(state: &AppState, secret: &str, to: &str, extra: &[String]) -> Response {
    let mut response = Redirect::to(to).into_response();
    let h = response.headers_mut();
    let max_age = Some(berth_core::accounts::SESSION_SECS);
    let session = set_cookie(state, SESSION_COOKIE, secret, "/", "Lax", max_age);
    for c in std::iter::once(&session).chain(extra) {
        if let Ok(v) = c.parse() {
            h.append(header::SET_COOKIE, v);
        }
    }
    response
}

/// The login page with an error, for other sign-in routes.
pub(crate) fn login_error(
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    error: &str,
) -> Response {
    login_page(state, viewer, status, "", error)
}

/// A token as the account page and an administrator's page of its user
/// list it.
pub(crate) struct TokenItem {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) scopes: String,
    /// Crate patterns and registry, or empty when the token has neither.
    pub(crate) limits: String,
    pub(crate) created: String,
    pub(crate) expires: String,
    /// When it last authenticated a request, or "never".
    pub(crate) last_used: String,
    pub(crate) revoked: bool,
}

/// A user's tokens, newest first.
pub(crate) async fn token_items(state: &AppState, login: &str) -> Result<Vec<TokenItem>, UiError> {
    Ok(state
        .berth
        .list_tokens(login)
        .await?
        .into_iter()
        .rev()
        .map(|t| TokenItem {
            id: t.id,
            name: t.name,
            limits: [
                t.crate_patterns.0.join(", "),
                t.registry
                    .clone()
                    .map(|r| format!("registry {r}"))
                    .unwrap_or_default(),
            ]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; "),
            scopes: t.scopes,
            created: human_date(t.created_at),
            expires: t.expires_at.map_or_else(|| "never".into(), human_date),
            last_used: t.last_used_at.map_or_else(|| "never".into(), human_date),
            revoked: t.revoked,
        })
        .collect())
}

/// How cargo reaches one registry the viewer may read: its kind and index
/// URL, for the lines of `.cargo/config.toml` and `cargo login`.
struct CargoRegistry {
    name: String,
    index: String,
    /// A proxy is used in place of the public source (`replace-with`).
    proxy: bool,
}

#[derive(askama::Template)]
#[template(path = "account.html")]
struct AccountPage {
    c: Chrome,
    login: String,
    is_admin: bool,
    tokens: Vec<TokenItem>,
    scopes: Vec<&'static str>,
    /// Registries the viewer may read, for the registry restriction.
    registries: Vec<String>,
    /// The same, with what cargo needs to use them.
    cargo: Vec<CargoRegistry>,
    /// A token just created: its secret and the registries to log in to
    /// with it.
    created: Option<String>,
    created_for: Vec<String>,
    /// A notice after a change (the password).
    notice: String,
    error: String,
}

/// What the account page shows beside its tokens.
#[derive(Default)]
struct Shown {
    created: Option<String>,
    /// The registry a new token is restricted to.
    created_registry: Option<String>,
    notice: &'static str,
    error: String,
}

async fn account_page(
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    created: Option<String>,
    error: &str,
) -> Result<Response, UiError> {
    let shown = Shown {
        created,
        error: error.to_string(),
        ..Shown::default()
    };
    account_page_with(state, viewer, status, shown).await
}

async fn account_page_with(
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    shown: Shown,
) -> Result<Response, UiError> {
    let Some(who) = viewer.who() else {
        return Ok(Redirect::to("/login").into_response());
    };
    let tokens = token_items(state, &who.user.login).await?;
    let cargo: Vec<CargoRegistry> = super::pages::visible_registries(state, viewer)
        .map(|r| CargoRegistry {
            name: r.name.clone(),
            index: format!("sparse+{}", state.berth.index_url(r)),
            proxy: r.traits().caches_upstream,
        })
        .collect();
    let created_for = match &shown.created_registry {
        Some(r) => vec![r.clone()],
        None => cargo.iter().map(|r| r.name.clone()).collect(),
    };
    let mut response = render(&AccountPage {
        c: Chrome::new("Account", Some(viewer)),
        login: who.user.login.clone(),
        is_admin: who.user.is_admin,
        tokens,
        scopes: berth_core::Scope::ALL.iter().map(|s| s.as_str()).collect(),
        registries: cargo.iter().map(|r| r.name.clone()).collect(),
        cargo,
        created: shown.created,
        created_for,
        notice: shown.notice.to_string(),
        error: shown.error,
    });
    *response.status_mut() = status;
    Ok(response)
}

/// `GET /account`: the viewer's tokens, and the form for a new one.
pub(crate) async fn account(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Response, UiError> {
    account_page(&state, &viewer, StatusCode::OK, None, "").await
}

/// `POST /account/tokens`: creates a token and shows its secret once.
pub(crate) async fn create_token(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> Result<Response, UiError> {
    let (who, form) = viewer.posted(&body)?;
    let name = form.get("name").unwrap_or("").trim();
    let checked = (|| {
        // The one rule every token name meets (spaces, commas and
        // backquotes refused here as by the API and the command line).
        berth_core::tokens::check_token_name(name).map_err(|e| e.to_string())?;
        let days = match form.get("expires_days").map(str::trim).unwrap_or("") {
            "" | "0" => None,
            d => match d.parse::<u32>() {
                Ok(n) if n <= 3650 => Some(n),
                _ => {
                    return Err(
                        "Expiry is a number of days between 1 and 3650, or empty for none."
                            .to_string(),
                    )
                }
            },
        };
        // Crate patterns, one per line or separated by commas or spaces.
        let crates: Vec<String> = form
            .get("crates")
            .unwrap_or("")
            .split([',', ' ', '\n', '\r'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        let registry = form
            .get("registry")
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_string);
        let mut scopes: Vec<String> = form.all("scope").map(str::to_string).collect();
        scopes.push("read".into());
        Ok(berth_core::tokens::TokenRequest {
            name: Some(name.to_string()),
            scopes: Some(scopes),
            crates,
            registry,
            expires_in: days.map(|d| format!("{d}d")),
            ..Default::default()
        })
    })();
    let request = match checked {
        Ok(v) => v,
        Err(m) => return account_page(&state, &viewer, StatusCode::BAD_REQUEST, None, &m).await,
    };
    let secret = match state.berth.create_token_on_page(who, &request).await {
        Ok(created) => created.secret,
        // What the user typed is wrong: say so on the page.
        Err(
            ServiceError::BadRequest(m) | ServiceError::Conflict(m) | ServiceError::NotFound(m),
        ) => return account_page(&state, &viewer, StatusCode::BAD_REQUEST, None, &m).await,
        Err(e) => return Err(e.into()),
    };
    let shown = Shown {
        created: Some(secret),
        created_registry: request.registry.clone(),
        ..Shown::default()
    };
    account_page_with(&state, &viewer, StatusCode::OK, shown).await
}

/// `POST /account/password`: the viewer changes their own password (the
/// current one required, failures counted as failed logins); their other
/// sessions end, this one stays.
pub(crate) async fn change_password(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> Result<Response, UiError> {
    let (who, form) = viewer.posted(&body)?;
    let Some(secret) = viewer.secret.as_deref() else {
        return Ok(Redirect::to("/login").into_response());
    };
    let refused = |status, m: String| {
        let shown = Shown {
            error: m,
            ..Shown::default()
        };
        account_page_with(&state, &viewer, status, shown)
    };
    let (current, new) = (
        form.get("current").unwrap_or(""),
        form.get("new").unwrap_or(""),
    );
    if new != form.get("repeat").unwrap_or("") {
        let m = "The new password and its repetition differ; nothing was changed.";
        return refused(StatusCode::BAD_REQUEST, m.into()).await;
    }
    let limiter = &state.ui.logins;
    let keys = limiter.keys(&who.user.login, viewer.addr);
    if let Err(wait) = limiter.check(&keys, state.berth.clock().instant()) {
        let minutes = wait.as_secs().div_ceil(60);
        let m = format!("Too many wrong passwords; try again in {minutes} minute(s).");
        return refused(StatusCode::TOO_MANY_REQUESTS, m).await;
    }
    match state
        .berth
        .change_own_password(who, secret, current, new)
        .await
    {
        Ok(()) => {
            let shown = Shown {
                notice: "Your password was changed; your other sessions were ended.",
                ..Shown::default()
            };
            account_page_with(&state, &viewer, StatusCode::OK, shown).await
        }
        Err(ServiceError::Forbidden(m)) => {
            limiter.fail(&keys, state.berth.clock().instant());
            refused(StatusCode::FORBIDDEN, m).await
        }
        Err(ServiceError::BadRequest(m)) => refused(StatusCode::BAD_REQUEST, m).await,
        Err(e) => Err(e.into()),
    }
}

/// `POST /account/tokens/revoke`: revokes one of the viewer's tokens.
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> Result<Response, UiError> {
    let (who, form) = viewer.posted(&body)?;
    let id = form
        .get("id")
        .and_then(|i| i.parse::<i64>().ok())
        .ok_or_else(|| UiError::new(StatusCode::BAD_REQUEST, "no token id given"))?;
    state
        .berth
        .revoke_token_by(
            Some(who),
            &who.user.login,
            &berth_core::tokens::TokenRef::Id(id),
        )
        .await?;
    Ok(Redirect::to("/account").into_response())
}
