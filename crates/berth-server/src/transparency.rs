//! `/r/{registry}/log/...`: the transparency log's key, checkpoints,
//! records and proofs (`berth_core::transparency` answers; this maps them
//! to HTTP). Reads are authorized as index reads are. Cache headers let a
//! CDN serve them: what never changes for its URL (a consistency proof) is
//! immutable; a lookup stays valid however the log grows (its proof is
//! against the checkpoint it carries), so it may be kept a minute; the
//! checkpoint is revalidated every use. A private registry's answers are
//! `private`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use berth_core::ServiceError;
use bytes::Bytes;

use crate::caller::Caller;
use crate::error::ApiError;
use crate::index::conditional;
use crate::AppState;

fn cached(
    private: bool,
    policy: &'static str,
    content_type: &'static str,
    body: Bytes,
) -> Response {
    let mut response = Response::new(axum::body::Body::from(body));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let control = if private {
        HeaderValue::from_static("private, no-cache")
    } else {
        HeaderValue::from_static(policy)
    };
    h.insert(header::CACHE_CONTROL, control);
    response
}

fn is_private(state: &AppState, registry: &str) -> bool {
    state.berth.registry(registry).map_or(true, |r| r.private)
}

/// `value` as a JSON answer, kept as `policy` says (private registries:
/// never shared).
fn json_answer(
    state: &AppState,
    registry: &str,
    policy: &'static str,
    value: &impl serde::Serialize,
) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(value)
        .map_err(|e| ServiceError::Internal(format!("a log answer as JSON: {e}")))?;
    Ok(cached(
        is_private(state, registry),
        policy,
        "application/json",
        Bytes::from(body),
    ))
}

/// `GET /r/{registry}/log/key`: the verifier key of new checkpoints.
pub(crate) async fn key(
    State(state): State<AppState>,
    Path(registry): Path<String>,
    who: Caller,
) -> Result<Response, ApiError> {
    let reg = state.berth.registry(&registry)?;
    state.berth.authorize_read(reg, who.get())?;
    let key = state.berth.log_verifier().ok_or_else(|| {
        ServiceError::Unavailable("this server has no transparency key yet".into())
    })?;
    Ok(cached(
        reg.private,
        "public, max-age=300",
        "text/plain; charset=utf-8",
        Bytes::from(format!("{key}\n")),
    ))
}

/// `GET /r/{registry}/log/keys`: every key, with until when retired ones
/// signed.
pub(crate) async fn keys(
    State(state): State<AppState>,
    Path(registry): Path<String>,
    who: Caller,
) -> Result<Response, ApiError> {
    let reg = state.berth.registry(&registry)?;
    state.berth.authorize_read(reg, who.get())?;
    let body = serde_json::json!({ "keys": state.berth.log_keys() });
    Ok(cached(
        reg.private,
        "public, max-age=300",
        "application/json",
        Bytes::from(body.to_string()),
    ))
}

/// `GET /r/{registry}/log/checkpoint`: the newest signed checkpoint.
pub(crate) async fn checkpoint(
    State(state): State<AppState>,
    Path(registry): Path<String>,
    who: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let head = state.berth.log_checkpoint(&registry, who.get()).await?;
    let etag = format!("\"{}-{}\"", head.size, &head.root.to_hex()[..16]);
    let mut response = conditional(
        &headers,
        Bytes::from(head.note.to_string()),
        &etag,
        state.started_at,
        "text/plain; charset=utf-8",
    );
    let control = if is_private(&state, &registry) {
        "private, no-cache"
    } else {
        "public, no-cache"
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(control));
    Ok(response)
}

/// `GET /r/{registry}/log/lookup/{name}/{version}`: the record, its index
/// and its inclusion proof against the checkpoint it carries.
pub(crate) async fn lookup(
    State(state): State<AppState>,
    Path((registry, name, version)): Path<(String, String, String)>,
    who: Caller,
) -> Result<Response, ApiError> {
    let found = state
        .berth
        .log_lookup(&registry, who.get(), &name, &version)
        .await?;
    json_answer(&state, &registry, "public, max-age=60", &found)
}

#[derive(serde::Deserialize)]
pub(crate) struct Range {
    from: u64,
    to: u64,
}

/// `GET /r/{registry}/log/consistency?from=N&to=M`.
pub(crate) async fn consistency(
    State(state): State<AppState>,
    Path(registry): Path<String>,
    who: Caller,
    query: Result<Query<Range>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(range) = query.map_err(|e| {
        ServiceError::BadRequest(format!(
            "a consistency proof is asked as ?from=N&to=M (tree sizes): {e}"
        ))
    })?;
    let proof = state
        .berth
        .log_consistency(&registry, who.get(), range.from, range.to)
        .await?;
    json_answer(
        &state,
        &registry,
        "public, max-age=31536000, immutable",
        &proof,
    )
}

#[derive(serde::Deserialize)]
pub(crate) struct Page {
    #[serde(default)]
    start: u64,
    #[serde(default = "default_limit")]
    limit: u64,
}

fn default_limit() -> u64 {
    berth_core::transparency::MAX_RECORDS_PAGE
}

/// `GET /r/{registry}/log/records?start=S&limit=L`: records as their
/// canonical lines, in index order.
pub(crate) async fn records(
    State(state): State<AppState>,
    Path(registry): Path<String>,
    who: Caller,
    query: Result<Query<Page>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(page) = query.map_err(|e| {
        ServiceError::BadRequest(format!("records are asked as ?start=S&limit=L: {e}"))
    })?;
    let text = state
        .berth
        .log_records(&registry, who.get(), page.start, page.limit)
        .await?;
    Ok(cached(
        is_private(&state, &registry),
        "public, max-age=60",
        "text/plain; charset=utf-8",
        Bytes::from(text),
    ))
}
