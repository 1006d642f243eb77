//! Berth's own JSON management API under `/api/`: what the web UI and
//! scripts read beyond cargo's protocol. Same authentication as cargo's API.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;

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
