//! The one way a handler learns who is asking: the [`Caller`] extractor
//! reads the `Authorization` header (cargo's raw token, or `Bearer TOKEN`)
//! and resolves it once, for the client's address (a token's CIDR ranges),
//! and refuses a token restricted to another registry than the one the
//! route's `{registry}` names. A 401 anywhere under `/r/{registry}/` gets
//! cargo's login hint from [`login_hint`], so no handler deals with either.

use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use berth_core::{Identity, ServiceError};

use crate::conn::PeerAddr;
use crate::error::ApiError;
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
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = match parts.headers.get(header::AUTHORIZATION) {
            None => None,
            Some(v) => Some(v.to_str().map_err(|_| {
                ServiceError::Unauthorized("the Authorization header is not valid text".into())
            })?),
        };
        // The client's address: the one parameter a token's CIDR ranges are
        // checked against.
        let client = parts
            .extensions
            .get::<PeerAddr>()
            .map(|PeerAddr(addr)| addr.ip());
        let mut identity = state.berth.identify(header, client).await?;
        if let Some(who) = &mut identity {
            who.origin.user_agent = parts
                .headers
                .get(header::USER_AGENT)
                .map(|v| clip(&String::from_utf8_lossy(v.as_bytes()), USER_AGENT_CHARS));
            // The registry named in the URL, as routed; a token restricted to
            // another one is refused whatever the route does.
            if let Ok(params) = RawPathParams::from_request_parts(parts, state).await {
                if let Some((_, registry)) = params.iter().find(|(k, _)| *k == "registry") {
                    state.berth.require_token_registry(who, registry).await?;
                }
            }
        }
        Ok(Caller(identity))
    }
}

/// How much of a `User-Agent` an audit row keeps.
const USER_AGENT_CHARS: usize = 200;

fn clip(s: &str, chars: usize) -> String {
    s.chars().take(chars).collect()
}

/// Middleware: a 401 for a registry's URL carries
/// `WWW-Authenticate: Cargo login_url="..."`, which cargo shows the user.
pub(crate) async fn login_hint(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let registry = req
        .uri()
        .path()
        .strip_prefix("/r/")
        .and_then(|rest| rest.split('/').next())
        .filter(|name| state.berth.registry(name).is_ok())
        .map(str::to_string);
    let mut response = next.run(req).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        if let Some(name) = registry {
            let url = format!("{}/r/{name}/me", state.berth.config.public_url);
            if let Ok(v) = HeaderValue::from_str(&format!("Cargo login_url=\"{url}\"")) {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
    }
    response
}
