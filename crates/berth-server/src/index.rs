//! The sparse index: `config.json` and one file per crate, with ETag and
//! Last-Modified validators and 304 answers to conditional requests.

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::caller::Caller;
use crate::error::ApiError;
use crate::{ops, AppState};

fn not_modified_by_etag(headers: &HeaderMap, etag: &str) -> bool {
    headers.contains_key(header::IF_NONE_MATCH) && not_modified(headers, etag, i64::MAX)
}

/// Whether a conditional request is satisfied by the current validators.
/// `If-None-Match` wins over `If-Modified-Since` when both are sent.
pub(crate) fn not_modified(headers: &HeaderMap, etag: &str, last_modified: i64) -> bool {
    if let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        return inm.split(',').map(str::trim).any(|tag| {
            tag == "*" || tag == etag || tag.strip_prefix("W/").is_some_and(|t| t == etag)
        });
    }
    if let Some(ims) = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
    {
        let ims = ims
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        return last_modified <= ims;
    }
    false
}

fn http_date(unix: i64) -> String {
    httpdate::fmt_http_date(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64),
    )
}

/// A 200 or 304 response for a body with validators.
pub(crate) fn conditional(
    headers: &HeaderMap,
    body: Bytes,
    etag: &str,
    last_modified: i64,
    content_type: &'static str,
) -> Response {
    conditional_any(
        headers,
        body,
        etag,
        &[],
        last_modified,
        &http_date(last_modified),
        content_type,
    )
}

/// Like [`conditional`], where the ETags of other representations of the
/// same content also validate.
pub(crate) fn conditional_any(
    headers: &HeaderMap,
    body: Bytes,
    etag: &str,
    also: &[&str],
    last_modified: i64,
    last_modified_http: &str,
    content_type: &'static str,
) -> Response {
    // The response's own header map, filled in place (not a second map
    // merged into it).
    let unchanged = not_modified(headers, etag, last_modified)
        || also.iter().any(|e| not_modified_by_etag(headers, e));
    let mut response = if unchanged {
        let mut r = Response::new(axum::body::Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        Response::new(axum::body::Body::from(body))
    };
    let h = response.headers_mut();
    h.reserve(5);
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(last_modified_http) {
        h.insert(header::LAST_MODIFIED, v);
    }
    // Clients and proxies may keep the file but must revalidate each use, so
    // that a publish is visible at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if !unchanged {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    response
}

pub(crate) async fn config_json(
    State(state): State<AppState>,
    Path(registry): Path<String>,
    who: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let berth = &state.berth;
    let reg = berth.registry(&registry)?;
    berth.authorize_read(reg, who.get())?;
    let body = Bytes::from(berth.index_config(reg).to_string());
    let etag = format!("\"{:x}\"", fxhash(&body));
    Ok(conditional(
        &headers,
        body,
        &etag,
        state.started_at,
        "application/json",
    ))
}

pub(crate) async fn index_file(
    State(state): State<AppState>,
    Path((registry, path)): Path<(String, String)>,
    who: Caller,
    // The request itself rather than a `HeaderMap`, which axum would clone.
    req: Request,
) -> Result<Response, ApiError> {
    serve_file(&state, &registry, &path, &who, req.headers()).await
}

/// An index file request as the router would route it to [`index_file`],
/// told from its URI alone: `GET /r/{registry}/index/{path}` with nothing
/// to percent-decode, and not `config.json`. [`crate::App`] serves these
/// without the router.
pub(crate) fn is_direct(req: &Request) -> bool {
    let plain = |s: &str| !s.is_empty() && !s.contains('%');
    req.method() == axum::http::Method::GET
        && split_index_uri(req.uri().path())
            .is_some_and(|(registry, path)| plain(registry) && plain(path) && path != "config.json")
}

/// `/r/{registry}/index/{path}` into its two parts.
fn split_index_uri(uri_path: &str) -> Option<(&str, &str)> {
    let rest = uri_path.strip_prefix("/r/")?;
    let (registry, rest) = rest.split_once('/')?;
    Some((registry, rest.strip_prefix("index/")?))
}

/// [`index_file`] for a request that [`is_direct`] accepted: the same
/// extraction and the same answer, without the router's dispatch, its
/// parameter decoding and its per-route layers.
pub(crate) async fn index_file_direct(state: AppState, req: Request) -> Response {
    let (parts, _body) = req.into_parts();
    let Some((registry, path)) = split_index_uri(parts.uri.path()) else {
        return ops::not_found().await.into_response();
    };
    let who = match Caller::identify(&parts, &state, Some(registry)).await {
        Ok(who) => who,
        Err(refusal) => return refusal,
    };
    crate::unwound(
        "index file",
        serve_file(&state, registry, path, &who, &parts.headers),
    )
    .await
}

async fn serve_file(
    state: &AppState,
    registry: &str,
    path: &str,
    who: &Caller,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let file = state.berth.index_file(registry, who.get(), path).await?;
    // Precompressed body for clients that take gzip; each representation
    // has its own ETag, and either one validates a conditional request.
    let wants_gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(accepts_gzip);
    let mut response = match (&file.gzip, wants_gzip) {
        (Some(gz), true) => {
            let mut r = conditional_any(
                headers,
                gz.clone(),
                &file.gzip_etag,
                &[&file.etag],
                file.last_modified,
                &file.last_modified_http,
                "text/plain; charset=utf-8",
            );
            if r.status() == StatusCode::OK {
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            r
        }
        _ => conditional_any(
            headers,
            file.body.clone(),
            &file.etag,
            &[&file.gzip_etag],
            file.last_modified,
            &file.last_modified_http,
            "text/plain; charset=utf-8",
        ),
    };
    if file.gzip.is_some() {
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    Ok(response)
}

/// Whether an Accept-Encoding value admits gzip (q=0 refuses it).
fn accepts_gzip(value: &str) -> bool {
    value.split(',').any(|part| {
        let mut it = part.split(';');
        let coding = it.next().unwrap_or("").trim();
        let refused = it.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=")
                .is_some_and(|q| q.trim().parse::<f32>().map(|q| q == 0.0).unwrap_or(false))
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

/// A small stable hash for validators of small bodies (FNV-1a).
fn fxhash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_acceptance() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("br, gzip;q=0.5"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip("br"));
    }

    #[test]
    fn etag_precedes_date() {
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"a\", \"b\""),
        );
        assert!(not_modified(&h, "\"b\"", 100));
        assert!(!not_modified(&h, "\"c\"", 100));
        h.insert(
            header::IF_MODIFIED_SINCE,
            HeaderValue::from_str(&http_date(200)).unwrap(),
        );
        assert!(
            !not_modified(&h, "\"c\"", 100),
            "a mismatching ETag wins over the date"
        );
        h.remove(header::IF_NONE_MATCH);
        assert!(not_modified(&h, "\"c\"", 100));
        assert!(not_modified(&h, "\"c\"", 200));
        assert!(!not_modified(&h, "\"c\"", 201));
    }
}
