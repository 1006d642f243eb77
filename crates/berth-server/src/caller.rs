//! The one way a handler learns who is asking: the [`Caller`] extractor
//! reads the `Authorization` header (cargo's raw token, or `Bearer TOKEN`)
//! and resolves it once, for the client's address (a token's CIDR ranges),
//! and refuses a token restricted to another registry than the one the
//! URL names (decoded, `guard::registry_of`). A 401 anywhere under `/r/{registry}/` gets
//! cargo's login hint from [`add_login_hint`], so no handler deals with either. Failed
//! authentications are counted and audited here, and a throttled address or
//! token prefix is refused here (`guard.rs` keeps the counts); this module
//! never records a presented secret, only its first characters.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_core::audit::{AuditAction, AuditEntry, AuditOutcome};
use berth_core::{Identity, ServiceError};

use crate::client::{clip, user_agent};
use crate::error::ApiError;
use crate::guard::{self, ClientAddr};
use crate::AppState;

/// The authenticated caller, or `None` for an anonymous request. A header
/// that is present but not a valid token is refused with 401 here.
pub(crate) struct Caller(pub Option<Identity>);

impl Caller {
    pub(crate) fn get(&self) -> Option<&Identity> {
        self.0.as_ref()
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // The registry named in the URL, decoded as the router decodes
        // `{registry}`: the value the address allow-list was checked on.
        let parts = &*parts;
        let registry = match guard::registry_of(parts.uri.path()) {
            Some(Ok(name)) => Some(name),
            Some(Err(())) => {
                return Err(ApiError(ServiceError::BadRequest(
                    "the registry name in the URL is not valid UTF-8 once percent-decoded".into(),
                ))
                .into_response())
            }
            None => None,
        };
        Self::identify(parts, state, registry.as_deref()).await
    }
}

impl Caller {
    /// The caller of a request for `registry` (the one its URL names, if
    /// any): what the extractor gives, for a handler called without the
    /// router too.
    pub(crate) async fn identify(
        parts: &Parts,
        state: &AppState,
        registry: Option<&str>,
    ) -> Result<Self, Response> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            // Anonymous requests are never throttled, even from a throttled
            // address: they present no credential to guess, so refusing
            // them would stop no attack, while an attacker behind a NAT or
            // a shared proxy would shut every user of that address out of
            // public reads. Only requests with credentials wait out a
            // cooling period.
            return Ok(Caller(None));
        };
        let client = parts
            .extensions
            .get::<ClientAddr>()
            .map(|ClientAddr(ip)| *ip);
        let text = value.to_str().ok();
        let secret = text.map(berth_core::accounts::auth::token_from_header);
        let prefix = secret.map(guard::prefix_of);
        // A throttled address or prefix is refused here: no lookup, no
        // database work, and nothing learned about the token.
        if let Some(t) = state.guard.throttled(client, prefix) {
            return Err(guard::throttled_response(&t));
        }
        let user_agent = user_agent(&parts.headers);
        let identified = match text {
            // Boxed, as the other database work below: an anonymous
            // request's future stays small.
            Some(_) => Box::pin(state.berth.identify(text, client)).await,
            None => Err(ServiceError::Unauthorized(
                "the Authorization header is not valid text".into(),
            )),
        };
        match identified {
            Ok(mut identity) => {
                if let Some(who) = &mut identity {
                    who.origin.client_addr = client.map(|ip| ip.to_string());
                    who.origin.user_agent = user_agent;
                    // A token restricted to another registry than the
                    // URL's is refused whatever the route does.
                    if let Some(registry) = registry {
                        Box::pin(state.berth.require_token_registry(who, registry))
                            .await
                            .map_err(|e| ApiError(e).into_response())?;
                    }
                }
                Ok(Caller(identity))
            }
            Err(ServiceError::Unauthorized(why)) => {
                Box::pin(failed(state, client, prefix, user_agent, &why)).await;
                Err(ApiError(ServiceError::Unauthorized(why)).into_response())
            }
            Err(e) => Err(ApiError(e).into_response()),
        }
    }
}

/// Counts and audits one failed authentication: an `auth.failure` row each
/// time, and one `auth.throttled` row when it begins a cooling period (after
/// which the address or prefix is refused before it gets here, so the log
/// stays bounded under attack).
async fn failed(
    state: &AppState,
    client: Option<IpAddr>,
    prefix: Option<&str>,
    user_agent: Option<String>,
    why: &str,
) {
    metrics::counter!("berth_auth_failures_total").increment(1);
    let began = state.guard.failed(client, prefix);
    let entry = |action, detail| AuditEntry {
        detail: Some(detail),
        client_addr: client.map(|ip| ip.to_string()),
        user_agent: user_agent.clone(),
        ..AuditEntry::new(action, AuditOutcome::Denied)
    };
    let prefix = match prefix {
        Some(p) => format!("token prefix `{p}`"),
        None => "a malformed Authorization header".to_string(),
    };
    let failure = entry(
        AuditAction::AuthFailure,
        clip(&format!("{prefix}: {why}"), 800),
    );
    state.berth.audit_refusal(&failure).await;
    if let guard::Failure::Throttles(detail) = began {
        state
            .berth
            .audit_refusal(&entry(AuditAction::AuthThrottled, detail))
            .await;
    }
}

/// A 401 for a registry's URL (`path`) gets
/// `WWW-Authenticate: Cargo login_url="..."`, which cargo shows the user
/// (called by the outermost middleware, [`crate::transport::request_id`]).
pub(crate) fn add_login_hint(state: &AppState, path: &str, response: &mut Response) {
    if response.status() != StatusCode::UNAUTHORIZED {
        return;
    }
    if !path.starts_with("/r/") {
        return;
    }
    let Some(Ok(name)) = guard::registry_of(path) else {
        return;
    };
    if state.berth.registry(&name).is_err() {
        return;
    }
    let url = format!("{}/r/{name}/me", state.berth.config.public_url);
    if let Ok(v) = HeaderValue::from_str(&format!("Cargo login_url=\"{url}\"")) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
}
