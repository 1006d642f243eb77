//! Single sign-on's two pages: `GET /login/oidc` sends the browser to the
//! identity provider with a fresh state, nonce and PKCE challenge (kept in
//! a short-lived cookie, so that any node finishes what another began);
//! `GET /login/oidc/callback` is where the provider sends it back. Failed
//! callbacks count against the client's address like failed passwords.
//! The flow's checks are berth-core's (`accounts::oidc`).

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use berth_core::accounts::oidc::PendingSignIn;
use berth_core::ServiceError;
use serde::Deserialize;

use super::account::{login_error, signed_in};
use super::session::{cookie, set_cookie, Viewer, SSO_COOKIE};
use super::UiError;
use crate::AppState;

/// The cookie that keeps a sign-in's state, nonce and verifier while the
/// browser is at the provider.
const PENDING_COOKIE: &str = "berth_oidc";
/// How long the browser may stay at the provider, in seconds.
const PENDING_SECS: i64 = 600;

/// `GET /login/oidc`
pub(crate) async fn begin(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Response, UiError> {
    if viewer.who().is_some() {
        return Ok(Redirect::to("/account").into_response());
    }
    let (url, pending) = match state.berth.oidc_begin().await {
        Ok(found) => found,
        Err(e @ ServiceError::BadGateway(_)) => {
            tracing::warn!(error = %e, "single sign-on could not start");
            return Ok(login_error(
                &state,
                &viewer,
                StatusCode::BAD_GATEWAY,
                &e.to_string(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let mut response = Redirect::to(&url).into_response();
    // Lax: the provider's redirect back is a top-level navigation.
    let c = set_cookie(
        &state,
        PENDING_COOKIE,
        &pending.to_cookie(),
        "/login/oidc",
        "Lax",
        Some(PENDING_SECS),
    );
    if let Ok(v) = c.parse() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// The callback's query: a code and the state, or the provider's error.
#[derive(Deserialize)]
pub(crate) struct Callback {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /login/oidc/callback`
pub(crate) async fn callback(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Result<Response, UiError> {
    let origin = super::session::origin(&headers, viewer.addr);
    let limiter = &state.ui.logins;
    // Counted by address only: the state is new at every attempt.
    let keys = limiter.keys(&q.state, viewer.addr);
    let now = state.berth.clock().instant();
    if let Err(wait) = limiter.check(&keys, now) {
        let entry = state
            .berth
            .login_refusal("", false, &origin, "too many failed sign-ins");
        state.berth.audit_refusal(&entry).await;
        return Err(UiError {
            retry_after: Some(wait.as_secs().max(1)),
            ..UiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many failed sign-ins from this address; try again in {} minute(s).",
                    wait.as_secs().div_ceil(60)
                ),
            )
        });
    }
    let clear = set_cookie(&state, PENDING_COOKIE, "", "/login/oidc", "Lax", Some(0));
    // Failures the provider's answer caused count; the refusal of a
    // person it vouched for (a disabled account, a taken login) does not.
    let fail = |status: StatusCode, message: &str| {
        if status != StatusCode::FORBIDDEN {
            limiter.fail(&keys, now);
        }
        let mut response = login_error(&state, &viewer, status, message);
        if let Ok(v) = clear.parse() {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
        response
    };
    if let Some(error) = &q.error {
        let why = format!(
            "single sign-on failed: the identity provider answered `{}`{}",
            clip(error, 64),
            q.error_description
                .as_deref()
                .map(|d| format!(" ({})", clip(d, 200)))
                .unwrap_or_default()
        );
        let entry = state.berth.login_refusal("", false, &origin, &why);
        state.berth.audit_refusal(&entry).await;
        return Ok(fail(StatusCode::UNAUTHORIZED, &why));
    }
    let pending = cookie(&headers, PENDING_COOKIE).and_then(|c| PendingSignIn::from_cookie(&c));
    match state
        .berth
        .oidc_finish(&q.state, &q.code, pending.as_ref(), &origin)
        .await
    {
        Ok(done) => {
            limiter.forget(&keys);
            let max_age = Some(berth_core::accounts::SESSION_SECS);
            let sso = set_cookie(&state, SSO_COOKIE, "1", "/", "Lax", max_age);
            Ok(signed_in(&state, &done.secret, "/account", &[clear, sso]))
        }
        Err(e) => {
            let status = match &e {
                ServiceError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
                ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
                ServiceError::BadGateway(_) => StatusCode::BAD_GATEWAY,
                _ => return Err(e.into()),
            };
            tracing::warn!(error = %e, "single sign-on refused");
            Ok(fail(status, &e.to_string()))
        }
    }
}

/// At most `max` characters of `s`.
fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}
