//! cargo's web API: publish, yank and unyank, owners, search, download.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_core::{Identity, ServiceError};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;

use crate::error::ApiError;
use crate::AppState;

/// Attaches the login URL cargo shows on a 401.
pub(crate) fn with_login_url(state: &AppState, registry: &str, e: ServiceError) -> ApiError {
    let login_url = matches!(e, ServiceError::Unauthorized(_))
        .then(|| format!("{}/r/{registry}/me", state.berth.config.public_url));
    ApiError {
        error: e,
        login_url,
    }
}

/// The caller behind the `Authorization` header, if any.
pub(crate) async fn caller(
    state: &AppState,
    registry: &str,
    headers: &HeaderMap,
) -> Result<Option<Identity>, ApiError> {
    let header = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            with_login_url(
                state,
                registry,
                ServiceError::Unauthorized("the Authorization header is not valid text".into()),
            )
        })?),
    };
    state
        .berth
        .identify(header)
        .await
        .map_err(|e| with_login_url(state, registry, e))
}

fn ok_json(value: serde_json::Value) -> Response {
    Json(value).into_response()
}

/// Reads a request body, refusing more than `limit` bytes with a 413.
async fn read_body(headers: &HeaderMap, body: Body, limit: u64) -> Result<Bytes, ServiceError> {
    let too_large = |n: Option<u64>| {
        ServiceError::TooLarge(match n {
            Some(n) => {
                format!("the request body is {n} bytes, more than the {limit} bytes allowed")
            }
            None => format!("the request body is larger than the {limit} bytes allowed"),
        })
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit {
            return Err(too_large(Some(len)));
        }
    }
    match Limited::new(body, limit as usize).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large(None)),
        Err(e) => Err(ServiceError::BadRequest(format!(
            "failed to read the request body: {e}"
        ))),
    }
}

pub(crate) async fn publish(
    State(state): State<AppState>,
    Path(registry): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let who = caller(&state, &registry, &headers).await?;
    // Refuse callers who could never publish before buffering their upload,
    // and bound how many uploads are buffered at once.
    state
        .berth
        .precheck_publish(&registry, who.as_ref())
        .map_err(|e| with_login_url(&state, &registry, e))?;
    let _slot = state.berth.publish_slot().await;
    let limits = &state.berth.config.limits;
    let limit = limits
        .max_crate_size
        .saturating_add(limits.max_metadata_size)
        .saturating_add(8);
    let body = read_body(&headers, body, limit).await?;
    let warnings = state
        .berth
        .publish(&registry, who.as_ref(), body)
        .await
        .map_err(|e| with_login_url(&state, &registry, e))?;
    metrics::counter!("berth_publishes_total").increment(1);
    Ok(ok_json(serde_json::json!({ "warnings": warnings })))
}

pub(crate) async fn yank(
    State(state): State<AppState>,
    Path((registry, name, version)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    set_yanked(state, registry, name, version, headers, true).await
}

pub(crate) async fn unyank(
    State(state): State<AppState>,
    Path((registry, name, version)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    set_yanked(state, registry, name, version, headers, false).await
}

async fn set_yanked(
    state: AppState,
    registry: String,
    name: String,
    version: String,
    headers: HeaderMap,
    yanked: bool,
) -> Result<Response, ApiError> {
    let who = caller(&state, &registry, &headers).await?;
    state
        .berth
        .set_yanked(&registry, who.as_ref(), &name, &version, yanked)
        .await
        .map_err(|e| with_login_url(&state, &registry, e))?;
    Ok(ok_json(serde_json::json!({ "ok": true })))
}

pub(crate) async fn list_owners(
    State(state): State<AppState>,
    Path((registry, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = caller(&state, &registry, &headers).await?;
    let owners = state
        .berth
        .owners(&registry, who.as_ref(), &name)
        .await
        .map_err(|e| with_login_url(&state, &registry, e))?;
    Ok(Json(owners).into_response())
}

#[derive(Deserialize)]
struct OwnersBody {
    users: Vec<String>,
}

async fn change_owners(
    state: AppState,
    registry: String,
    name: String,
    headers: HeaderMap,
    body: Body,
    add: bool,
) -> Result<Response, ApiError> {
    let who = caller(&state, &registry, &headers).await?;
    let bytes = read_body(&headers, body, 64 * 1024).await?;
    let parsed: OwnersBody = serde_json::from_slice(&bytes).map_err(|e| {
        ServiceError::BadRequest(format!(
            "invalid owners request: expected {{\"users\":[...]}}: {e}"
        ))
    })?;
    let msg = state
        .berth
        .change_owners(&registry, who.as_ref(), &name, &parsed.users, add)
        .await
        .map_err(|e| with_login_url(&state, &registry, e))?;
    Ok(ok_json(serde_json::json!({ "ok": true, "msg": msg })))
}

pub(crate) async fn add_owners(
    State(state): State<AppState>,
    Path((registry, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    change_owners(state, registry, name, headers, body, true).await
}

pub(crate) async fn remove_owners(
    State(state): State<AppState>,
    Path((registry, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    change_owners(state, registry, name, headers, body, false).await
}

#[derive(Deserialize)]
pub(crate) struct SearchParams {
    #[serde(default)]
    q: String,
    per_page: Option<i64>,
    page: Option<i64>,
}

pub(crate) async fn search(
    State(state): State<AppState>,
    Path(registry): Path<String>,
    headers: HeaderMap,
    params: Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) =
        params.map_err(|e| ServiceError::BadRequest(format!("invalid search parameters: {e}")))?;
    let who = caller(&state, &registry, &headers).await?;
    let results = state
        .berth
        .search(
            &registry,
            who.as_ref(),
            &params.q,
            params.per_page,
            params.page,
        )
        .await
        .map_err(|e| with_login_url(&state, &registry, e))?;
    let crates: Vec<serde_json::Value> = results
        .hits
        .iter()
        .map(|h| {
            serde_json::json!({
                "name": h.name,
                "max_version": h.max_version,
                "description": h.description,
                "downloads": h.downloads,
            })
        })
        .collect();
    Ok(ok_json(
        serde_json::json!({ "crates": crates, "meta": { "total": results.total } }),
    ))
}

pub(crate) async fn download(
    State(state): State<AppState>,
    Path((registry, name, version)): Path<(String, String, String)>,
    method: axum::http::Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = caller(&state, &registry, &headers).await?;
    let count = method != axum::http::Method::HEAD;
    let dl = state
        .berth
        .download(&registry, who.as_ref(), &name, &version, count)
        .await
        .map_err(|e| with_login_url(&state, &registry, e))?;
    let private = state
        .berth
        .registry(&registry)
        .map(|r| r.private)
        .unwrap_or(true);
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/gzip"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(dl.size));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if private {
            "private, max-age=31536000, immutable"
        } else {
            "public, max-age=31536000, immutable"
        }),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", dl.cksum)) {
        h.insert(header::ETAG, v);
    }
    metrics::counter!("berth_downloads_total").increment(1);
    Ok((StatusCode::OK, h, Body::from_stream(dl.body)).into_response())
}
