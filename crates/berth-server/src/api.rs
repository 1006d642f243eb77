//! cargo's web API: publish, yank and unyank, owners, search, download.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_core::{DownloadBody, ServiceError};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::caller::Caller;
use crate::error::ApiError;
use crate::AppState;

fn ok_json(value: serde_json::Value) -> Response {
    Json(value).into_response()
}

/// The body's declared length, refused with a 413 past `limit`.
pub(crate) fn declared_length(
    headers: &HeaderMap,
    limit: u64,
) -> Result<Option<u64>, ServiceError> {
    let len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match len {
        Some(n) if n > limit => Err(ServiceError::TooLarge(format!(
            "the request body is {n} bytes, more than the {limit} bytes allowed"
        ))),
        _ => Ok(len),
    }
}

fn too_large(limit: u64) -> ServiceError {
    ServiceError::TooLarge(format!(
        "the request body is larger than the {limit} bytes allowed"
    ))
}

/// How fast a body must arrive: after `grace`, at least `bytes_per_sec` on
/// average since the first byte was awaited.
#[derive(Clone, Copy)]
pub(crate) struct MinRate {
    pub(crate) bytes_per_sec: u64,
    pub(crate) grace: Duration,
}

/// Reads a request body of at most `limit` bytes (413 beyond), cutting off
/// a client that sends it slower than `rate` (408). Memory grows with what
/// arrives, never with what is declared.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
    rate: Option<MinRate>,
) -> Result<Bytes, ServiceError> {
    let declared = declared_length(headers, limit)?;
    let mut body = body;
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(0).min(64 * 1024) as usize);
    let start = Instant::now();
    loop {
        let next = body.frame();
        let frame = match rate {
            Some(r) if r.bytes_per_sec > 0 => {
                // The next bytes are due when the average would fall below
                // the minimum rate.
                let due = Duration::from_secs_f64(buf.len() as f64 / r.bytes_per_sec as f64);
                let deadline = tokio::time::Instant::from_std(start + due.max(r.grace));
                tokio::time::timeout_at(deadline, next).await.map_err(|_| {
                    metrics::counter!("berth_refused_total", "reason" => "slow_upload")
                        .increment(1);
                    ServiceError::TooSlow(format!(
                        "the upload arrived slower than the server's minimum of {} bytes per \
                         second (limits.min_upload_bytes_per_sec); {} bytes came in {:.0} s",
                        r.bytes_per_sec,
                        buf.len(),
                        start.elapsed().as_secs_f64()
                    ))
                })?
            }
            _ => next.await,
        };
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|e| {
            ServiceError::BadRequest(format!("failed to read the request body: {e}"))
        })?;
        if let Ok(data) = frame.into_data() {
            if (buf.len() + data.len()) as u64 > limit {
                return Err(too_large(limit));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

pub(crate) async fn publish(
    State(state): State<AppState>,
    Path(registry): Path<String>,
    who: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // Refuse callers who could never publish before reading their upload;
    // bound the memory uploads take, in all and per user; read the body
    // under a minimum rate; only then wait for a publish slot, so slow
    // clients never hold one.
    state.berth.precheck_publish(&registry, who.get()).await?;
    let limits = &state.berth.config.limits;
    let limit = limits
        .max_crate_size
        .saturating_add(limits.max_metadata_size)
        .saturating_add(8);
    let declared = declared_length(&headers, limit)?.unwrap_or(limit);
    let _upload = state.berth.admit_upload(who.get(), declared).await?;
    let rate = MinRate {
        bytes_per_sec: limits.min_upload_bytes_per_sec,
        grace: Duration::from_secs(limits.upload_grace_secs),
    };
    let body = read_body(&headers, body, limit, Some(rate)).await?;
    let _slot = state.berth.publish_slot().await;
    let warnings = state.berth.publish(&registry, who.get(), body).await?;
    metrics::counter!("berth_publishes_total").increment(1);
    Ok(ok_json(serde_json::json!({ "warnings": warnings })))
}

/// The path parameters of a request and who sends it.
pub(crate) struct Asked<P> {
    path: P,
    who: Caller,
}

impl<P: DeserializeOwned + Send> FromRequestParts<AppState> for Asked<P> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Path(path) = Path::<P>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let who = Caller::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self { path, who })
    }
}

type VersionPath = (String, String, String);

#[derive(Deserialize)]
struct PromoteBody {
    to: String,
    #[serde(default)]
    with_deps: bool,
}

/// `POST /r/{registry}/api/v1/crates/{name}/{version}/promote` with
/// `{"to": "prod", "with_deps": false}`: the version copied into `to`;
/// answers the versions promoted (dependencies first).
pub(crate) async fn promote(
    State(state): State<AppState>,
    req: Asked<VersionPath>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let who = req.who.get().ok_or_else(|| {
        ServiceError::Unauthorized(
            "promoting needs a token of an admin of the target registry".into(),
        )
    })?;
    let bytes = read_body(&headers, body, 4 * 1024, None).await?;
    let asked: PromoteBody = serde_json::from_slice(&bytes).map_err(|e| {
        ServiceError::BadRequest(format!(
            "invalid promotion: expected {{\"to\":\"REGISTRY\",\"with_deps\":false}}: {e}"
        ))
    })?;
    let (registry, name, version) = &req.path;
    let promoted = state
        .berth
        .promote(
            Some(who),
            &berth_core::crates::promote::PromoteRequest {
                krate: name.clone(),
                version: version.clone(),
                from: registry.clone(),
                to: asked.to,
                with_deps: asked.with_deps,
            },
        )
        .await?;
    Ok(ok_json(serde_json::json!({ "promoted": promoted })))
}

pub(crate) async fn yank(
    State(state): State<AppState>,
    req: Asked<VersionPath>,
) -> Result<Response, ApiError> {
    set_yanked(state, req, true).await
}

pub(crate) async fn unyank(
    State(state): State<AppState>,
    req: Asked<VersionPath>,
) -> Result<Response, ApiError> {
    set_yanked(state, req, false).await
}

async fn set_yanked(
    state: AppState,
    req: Asked<VersionPath>,
    yanked: bool,
) -> Result<Response, ApiError> {
    let (registry, name, version) = &req.path;
    state
        .berth
        .set_yanked(registry, req.who.get(), name, version, yanked)
        .await?;
    Ok(ok_json(serde_json::json!({ "ok": true })))
}

pub(crate) async fn list_owners(
    State(state): State<AppState>,
    Path((registry, name)): Path<(String, String)>,
    who: Caller,
) -> Result<Response, ApiError> {
    let owners = state.berth.owners(&registry, who.get(), &name).await?;
    Ok(Json(owners).into_response())
}

#[derive(Deserialize)]
struct OwnersBody {
    users: Vec<String>,
}

/// An owners change as sent: the crate in the path, the caller, and the
/// logins in the (bounded) JSON body.
pub(crate) struct OwnersRequest {
    asked: Asked<(String, String)>,
    users: Vec<String>,
}

impl FromRequest<AppState> for OwnersRequest {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let asked = Asked::from_request_parts(&mut parts, state).await?;
        let parse = async {
            let bytes = read_body(&parts.headers, body, 64 * 1024, None).await?;
            serde_json::from_slice::<OwnersBody>(&bytes).map_err(|e| {
                ServiceError::BadRequest(format!(
                    "invalid owners request: expected {{\"users\":[...]}}: {e}"
                ))
            })
        };
        let users = parse
            .await
            .map_err(|e| ApiError::from(e).into_response())?
            .users;
        Ok(Self { asked, users })
    }
}

async fn change_owners(
    state: AppState,
    req: OwnersRequest,
    add: bool,
) -> Result<Response, ApiError> {
    let (registry, name) = &req.asked.path;
    let who = req.asked.who.get();
    let msg = state
        .berth
        .change_owners(registry, who, name, &req.users, add)
        .await?;
    Ok(ok_json(serde_json::json!({ "ok": true, "msg": msg })))
}

pub(crate) async fn add_owners(
    State(state): State<AppState>,
    req: OwnersRequest,
) -> Result<Response, ApiError> {
    change_owners(state, req, true).await
}

pub(crate) async fn remove_owners(
    State(state): State<AppState>,
    req: OwnersRequest,
) -> Result<Response, ApiError> {
    change_owners(state, req, false).await
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
    who: Caller,
    params: Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) =
        params.map_err(|e| ServiceError::BadRequest(format!("invalid search parameters: {e}")))?;
    let results = state
        .berth
        .search(
            &registry,
            who.get(),
            &params.q,
            params.per_page,
            params.page,
        )
        .await?;
    let crates: Vec<serde_json::Value> = results
        .hits
        .iter()
        .map(|h| {
            let mut hit = serde_json::json!({
                "name": h.name,
                "max_version": h.max_version,
                "description": h.description,
                "downloads": h.downloads,
            });
            if let Some(member) = &h.member {
                hit["registry"] = serde_json::Value::String(member.clone());
            }
            hit
        })
        .collect();
    Ok(ok_json(
        serde_json::json!({ "crates": crates, "meta": { "total": results.total } }),
    ))
}

#[derive(Deserialize)]
pub(crate) struct ChangesParams {
    #[serde(default)]
    since: i64,
    limit: Option<i64>,
    /// Seconds to wait for a change when there is none (a long poll).
    #[serde(default)]
    wait: u64,
}

/// A registry's change feed: `{"changes": [{"seq", "at", "action",
/// "crate", "version"}], "head": SEQ}`.
pub(crate) async fn changes(
    State(state): State<AppState>,
    Path(registry): Path<String>,
    who: Caller,
    params: Result<Query<ChangesParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params
        .map_err(|e| ServiceError::BadRequest(format!("invalid change feed parameters: {e}")))?;
    let page = state
        .berth
        .changes(
            &registry,
            who.get(),
            params.since,
            params.limit,
            params.wait,
        )
        .await?;
    Ok(ok_json(serde_json::to_value(page).map_err(|e| {
        ServiceError::Internal(format!("change feed page: {e}"))
    })?))
}

pub(crate) async fn download(
    State(state): State<AppState>,
    Path((registry, name, version)): Path<(String, String, String)>,
    method: axum::http::Method,
    who: Caller,
) -> Result<Response, ApiError> {
    let count = method != axum::http::Method::HEAD;
    serve_download(&state, &registry, &name, &version, &who, count).await
}

/// Whether `req` is a download that [`download_direct`] answers: `GET
/// /r/{registry}/api/v1/crates/{name}/{version}/download` with nothing to
/// percent-decode. [`crate::App`] serves these without the router.
pub(crate) fn is_direct_download(req: &Request) -> bool {
    let plain = |s: &str| !s.is_empty() && !s.contains('%');
    req.method() == axum::http::Method::GET
        && split_download_uri(req.uri().path())
            .is_some_and(|(r, n, v)| plain(r) && plain(n) && plain(v))
}

/// `/r/{registry}/api/v1/crates/{name}/{version}/download` into its three
/// parameters.
fn split_download_uri(uri_path: &str) -> Option<(&str, &str, &str)> {
    let rest = uri_path.strip_prefix("/r/")?;
    let (registry, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("api/v1/crates/")?;
    let (name, rest) = rest.split_once('/')?;
    let (version, rest) = rest.split_once('/')?;
    (rest == "download").then_some((registry, name, version))
}

/// [`download`] for a request that [`is_direct_download`] accepted: the
/// same extraction and answer, without the router's dispatch, parameter
/// decoding and per-route layers.
pub(crate) async fn download_direct(state: AppState, req: Request) -> Response {
    let (parts, _body) = req.into_parts();
    let Some((registry, name, version)) = split_download_uri(parts.uri.path()) else {
        return crate::ops::not_found().await.into_response();
    };
    let who = match Caller::identify(&parts, &state, Some(registry)).await {
        Ok(who) => who,
        Err(refusal) => return refusal,
    };
    crate::unwound(
        "download",
        serve_download(&state, registry, name, version, &who, true),
    )
    .await
}

async fn serve_download(
    state: &AppState,
    registry: &str,
    name: &str,
    version: &str,
    who: &Caller,
    count: bool,
) -> Result<Response, ApiError> {
    let dl = state
        .berth
        .download(registry, who.get(), name, version, count)
        .await?;
    crate::count_download();
    let cache_control = match dl.cache_control {
        std::borrow::Cow::Borrowed(s) => HeaderValue::from_static(s),
        std::borrow::Cow::Owned(s) => HeaderValue::try_from(s)
            .map_err(|e| ServiceError::Internal(format!("Cache-Control: {e}")))?,
    };
    let mut h = HeaderMap::with_capacity(4);
    let body = match dl.body {
        // A whole body's length is exact: hyper writes `Content-Length`.
        DownloadBody::Whole(bytes) => Body::from(bytes),
        DownloadBody::Stream(stream) => {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(dl.size));
            Body::from_stream(stream)
        }
        DownloadBody::Redirect(url) => return redirect(url, cache_control),
    };
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/gzip"),
    );
    h.insert(header::CACHE_CONTROL, cache_control);
    let mut etag = String::with_capacity(dl.cksum.len() + 2);
    etag.push('"');
    etag.push_str(&dl.cksum);
    etag.push('"');
    if let Ok(v) = HeaderValue::try_from(etag) {
        h.insert(header::ETAG, v);
    }
    let mut response = Response::new(body);
    *response.headers_mut() = h;
    Ok(response)
}

/// A download answered `302 Found` to a presigned URL of its blob.
fn redirect(url: impl Into<String>, cache_control: HeaderValue) -> Result<Response, ApiError> {
    let location = HeaderValue::try_from(url.into())
        .map_err(|e| ServiceError::Internal(format!("presigned URL: {e}")))?;
    let mut response = Response::new(Body::empty());
    *response.status_mut() = axum::http::StatusCode::FOUND;
    let h = response.headers_mut();
    h.insert(header::LOCATION, location);
    h.insert(header::CACHE_CONTROL, cache_control);
    Ok(response)
}
