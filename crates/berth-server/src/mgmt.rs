//! Berth's own JSON management API under `/api/`: what the web UI and
//! scripts read beyond cargo's protocol. Same authentication as cargo's API.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_core::audit::{audit_json, AuditQuery};
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
