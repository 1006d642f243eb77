//! `/t/{registry}/...`: a toolchains registry's files in rustup's
//! distribution layout (`RUSTUP_DIST_SERVER` names `/t/{registry}`).
//! rustup sends no token: a private toolchains registry is for callers
//! its `allowed_cidrs` admit and that the guard lets through, as for any
//! registry; a token in `Authorization` counts as for any other request.
//! Thin: the caller, one `Berth` call, the headers.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use berth_core::{ServiceError, ToolchainBody};

use crate::caller::Caller;
use crate::error::ApiError;
use crate::AppState;

/// One file: a manifest, its `.sha256`, or an archive.
pub(crate) async fn file(
    State(state): State<AppState>,
    Path((registry, path)): Path<(String, String)>,
    who: Caller,
) -> Result<Response, ApiError> {
    let file = state
        .berth
        .toolchain_file(&registry, who.get(), &path)
        .await?;
    let mut h = HeaderMap::with_capacity(4);
    let body = match file.body {
        ToolchainBody::Whole(bytes) => Body::from(bytes),
        ToolchainBody::Stream(stream) => {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(file.size));
            Body::from_stream(stream)
        }
    };
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::try_from(file.cache_control.as_ref())
            .map_err(|e| ServiceError::Internal(format!("Cache-Control: {e}")))?,
    );
    if let Some(etag) = file.etag {
        if let Ok(v) = HeaderValue::try_from(format!("\"{etag}\"")) {
            h.insert(header::ETAG, v);
        }
    }
    Ok((h, body).into_response())
}
