//! Berth's own JSON management API under `/api/`: what the web UI and
//! scripts read beyond cargo's protocol. Same authentication as cargo's API.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::api::{caller, with_login_url};
use crate::error::ApiError;
use crate::AppState;

/// `GET /api/v1/registries/{registry}/crates/{name}`: the crate, its owners
/// and every version.
pub(crate) async fn crate_detail(
    State(state): State<AppState>,
    Path((registry, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = caller(&state, &registry, &headers).await?;
    let detail = state
        .berth
        .crate_detail(&registry, who.as_ref(), &name)
        .await
        .map_err(|e| with_login_url(&state, &registry, e))?;
    Ok(Json(detail).into_response())
}

/// `GET /api/v1/registries/{registry}/crates/{name}/{version}/readme`: the
/// README as published (Markdown source, not rendered).
pub(crate) async fn readme(
    State(state): State<AppState>,
    Path((registry, name, version)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = caller(&state, &registry, &headers).await?;
    let text = state
        .berth
        .readme(&registry, who.as_ref(), &name, &version)
        .await
        .map_err(|e| with_login_url(&state, &registry, e))?;
    Ok((
        [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
        text,
    )
        .into_response())
}
