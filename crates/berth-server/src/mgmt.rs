//! Berth's own JSON management API under `/api/`: what the web UI and
//! scripts read beyond cargo's protocol, and a user's own tokens. Same
//! authentication as cargo's API. Handlers parse and call one service; what
//! a token may create or revoke is berth-core's decision.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_core::audit::{audit_json, AuditQuery};
use berth_core::tokens::TokenRequest;
use berth_core::ServiceError;

use crate::caller::Caller;
use crate::error::ApiError;
use crate::AppState;

/// `GET /api/v1/registries/{registry}/crates/{name}`: the crate, its owners
/// and every version.
pub(crate) async fn crate_detail(
    State(state): State<AppState>,
    Path((registry, name)): Path<(String, String)>,
    who: Caller,
) -> Result<Response, ApiError> {
    let detail = state
        .berth
        .crate_detail(&registry, who.get(), &name)
        .await?;
    Ok(Json(detail).into_response())
}

/// `GET /api/v1/registries/{registry}/crates/{name}/{version}/readme`: the
/// README as published (Markdown source, not rendered).
pub(crate) async fn readme(
    State(state): State<AppState>,
    Path((registry, name, version)): Path<(String, String, String)>,
    who: Caller,
) -> Result<Response, ApiError> {
    let text = state
        .berth
        .readme(&registry, who.get(), &name, &version)
        .await?;
    Ok((
        [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
        text,
    )
        .into_response())
}

/// `GET /api/v1/audit?since=&since_secs=&actor=&crate=&action=&after=&limit=`:
/// the audit log as JSON lines, oldest first, for server administrators
/// (401 without a token, 403 for others). At most
/// [`berth_core::audit::API_LIMIT`] rows; page on with `after=LAST_ID`.
pub(crate) async fn audit(
    State(state): State<AppState>,
    who: Caller,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) =
        query.map_err(|e| ServiceError::BadRequest(format!("invalid audit filters: {e}")))?;
    let rows = state.berth.audit_log_for(who.get(), &query).await?;
    let mut body = String::new();
    for row in &rows {
        body.push_str(&audit_json(row).to_string());
        body.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

/// `GET /api/v1/advisories[?crate=NAME]`: the advisory set in force and
/// its advisories (of one crate), withdrawn ones included. Advisories are
/// public knowledge: anyone who reaches the server may read them.
pub(crate) async fn advisories(
    State(state): State<AppState>,
    query: Result<Query<AdvisoryQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) =
        query.map_err(|e| ServiceError::BadRequest(format!("invalid advisory query: {e}")))?;
    let body = state.berth.advisories_json(query.krate.as_deref());
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[derive(serde::Deserialize)]
pub(crate) struct AdvisoryQuery {
    #[serde(rename = "crate")]
    krate: Option<String>,
}

/// `POST /api/v1/registries/{registry}/check` with a `Cargo.lock` as the
/// body: every locked package the registry's policy blocks, or that an
/// advisory affects (`ok: false` when there is any).
pub(crate) async fn check(
    State(state): State<AppState>,
    Path(registry): Path<String>,
    who: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if who.get().is_none() {
        // Refused before a byte of the body is read.
        return Err(ServiceError::Unauthorized(
            "checking a lockfile needs a token (Authorization header)".into(),
        )
        .into());
    }
    let limit = berth_core::supply::check::MAX_LOCKFILE_BYTES as u64;
    let bytes = crate::api::read_body(&headers, body, limit, None).await?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ServiceError::BadRequest("the lockfile is not UTF-8 text".into()))?;
    let report = state
        .berth
        .check_lockfile(&registry, who.get(), text)
        .await?;
    Ok(Json(report).into_response())
}

/// Largest body `POST /api/v1/me/tokens` reads.
const TOKEN_REQUEST_BYTES: u64 = 16 * 1024;

/// `GET /api/v1/me/tokens`: the caller's own tokens (never their secrets).
pub(crate) async fn my_tokens(
    State(state): State<AppState>,
    who: Caller,
) -> Result<Response, ApiError> {
    let tokens = state.berth.own_tokens(who.get()).await?;
    Ok(Json(serde_json::json!({ "tokens": tokens })).into_response())
}

/// `POST /api/v1/me/tokens`: a new token for the caller, no wider than the
/// caller's own; 201 with its secret, shown this once.
pub(crate) async fn create_my_token(
    State(state): State<AppState>,
    who: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = crate::api::read_body(&headers, body, TOKEN_REQUEST_BYTES, None).await?;
    let request: TokenRequest = serde_json::from_slice(&bytes)
        .map_err(|e| ServiceError::BadRequest(format!("invalid token request: {e}")))?;
    let created = state.berth.create_own_token(who.get(), &request).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// `DELETE /api/v1/me/tokens/{id}`: revokes one of the caller's own tokens
/// (404 for anyone else's).
pub(crate) async fn revoke_my_token(
    State(state): State<AppState>,
    Path(id): Path<String>,
    who: Caller,
) -> Result<Response, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ServiceError::NotFound(format!("no token with id `{id}`")))?;
    state.berth.revoke_own_token(who.get(), id).await?;
    Ok(Json(serde_json::json!({ "ok": true })).into_response())
}
