//! Documentation: the upload from CI (`PUT
//! /r/{registry}/api/v1/crates/{name}/{version}/docs` with a `.tar.gz` of
//! `target/doc`) and the pages (`/r/{registry}/docs/{name}/{version}/...`,
//! `latest` for the newest version with docs).
//!
//! Docs are untrusted HTML written by a crate's owners, served on the
//! registry's origin: every page carries a content security policy of its
//! own that sandboxes it (an opaque origin without `allow-same-origin`:
//! its scripts read no cookie and no answer of this server, and send no
//! form), and nothing here ever sets a cookie. Handlers only extract,
//! call berth-core's `docs` and shape the answer.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_core::docs::{DocsAnswer, DocsBody};
use berth_core::ServiceError;

use crate::api::{declared_length, read_body, MinRate};
use crate::caller::Caller;
use crate::error::ApiError;
use crate::AppState;

/// The policy of every docs answer: scripts, styles, fonts and images
/// from the docs only (rustdoc writes an inline script too; every file of
/// a set is its uploader's anyway), in a sandbox without this server's
/// origin, which is what keeps the set's scripts from the server's
/// cookies and answers.
pub(crate) const DOCS_CSP: &str = "default-src 'none'; script-src 'self' 'unsafe-inline'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; \
     sandbox allow-scripts allow-popups allow-popups-to-escape-sandbox";

/// `PUT /r/{registry}/api/v1/crates/{name}/{version}/docs`.
pub(crate) async fn upload(
    State(state): State<AppState>,
    Path((registry, name, version)): Path<(String, String, String)>,
    who: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let berth = &state.berth;
    // Who may, before a byte of the archive is read.
    let target = berth
        .docs_upload_target(&registry, who.get(), &name, &version)
        .await?;
    let who = who.get().ok_or_else(|| {
        ServiceError::Unauthorized(format!(
            "uploading documentation needs a token of an owner of the crate: run `cargo login \
             --registry {registry}`"
        ))
    })?;
    let limit = berth.config.docs.max_upload_mib * berth_core::config::MIB;
    let declared = declared_length(&headers, limit)?.unwrap_or(limit);
    let _upload = berth.admit_upload(Some(who), declared).await?;
    let limits = &berth.config.limits;
    let rate = MinRate {
        bytes_per_sec: limits.min_upload_bytes_per_sec,
        grace: Duration::from_secs(limits.upload_grace_secs),
    };
    let body = read_body(&headers, body, limit, Some(rate)).await?;
    let uploaded = berth.upload_docs(&target, who, body).await?;
    Ok(Json(serde_json::json!({
        "ok": true,
        "files": uploaded.files,
        "bytes": uploaded.bytes,
        "url": uploaded.url,
    }))
    .into_response())
}

/// `GET /api/v1/registries/{registry}/crates/{name}/{version}/docs-build`:
/// the version's docs build (`state`: queued, building, ok or failed;
/// `attempts`, `log`, times), for a reader of the registry; 404 when none
/// was queued.
pub(crate) async fn build_status(
    State(state): State<AppState>,
    Path((registry, name, version)): Path<(String, String, String)>,
    who: Caller,
) -> Result<Response, ApiError> {
    match state
        .berth
        .docs_build_of(&registry, who.get(), &name, &version)
        .await?
    {
        Some(build) => Ok(Json(build).into_response()),
        None => Err(ServiceError::NotFound(format!(
            "no docs build of `{name}` {version} in registry `{registry}`"
        ))
        .into()),
    }
}

/// `GET /r/{registry}/docs/{name}/{version}`: to the version's top.
pub(crate) async fn top(
    Path((registry, name, version)): Path<(String, String, String)>,
) -> Response {
    moved(&format!("/r/{registry}/docs/{name}/{version}/"))
}

/// `GET /r/{registry}/docs/{name}/{version}/`: to the crate's own page.
pub(crate) async fn index(
    State(state): State<AppState>,
    Path((registry, name, version)): Path<(String, String, String)>,
    who: Caller,
) -> Response {
    let none = axum::http::HeaderMap::new();
    serve(&state, &registry, &name, &version, "", &who, &none).await
}

/// `GET /r/{registry}/docs/{name}/{version}/{*path}`.
pub(crate) async fn file(
    State(state): State<AppState>,
    Path((registry, name, version, path)): Path<(String, String, String, String)>,
    who: Caller,
    headers: axum::http::HeaderMap,
) -> Response {
    serve(&state, &registry, &name, &version, &path, &who, &headers).await
}

/// Whether [`file`] may answer `req` without the router: a GET of
/// `/r/{registry}/docs/{name}/{version}/{path}` with a path, nothing in it
/// percent-encoded (so that it means what it says, as the router's
/// decoding would make it).
pub(crate) fn is_direct(req: &axum::extract::Request) -> bool {
    req.method() == axum::http::Method::GET
        && !req.uri().path().contains('%')
        && split_docs_uri(req.uri().path()).is_some()
}

/// `/r/{registry}/docs/{name}/{version}/{path}` into its four parts.
fn split_docs_uri(uri_path: &str) -> Option<(&str, &str, &str, &str)> {
    let rest = uri_path.strip_prefix("/r/")?;
    let (registry, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("docs/")?;
    let (name, rest) = rest.split_once('/')?;
    let (version, path) = rest.split_once('/')?;
    [registry, name, version, path]
        .iter()
        .all(|p| !p.is_empty())
        .then_some((registry, name, version, path))
}

/// [`file`] for a request [`is_direct`] accepted: the same answer,
/// without the router's dispatch, parameter decoding and route layers.
pub(crate) async fn file_direct(state: AppState, req: axum::extract::Request) -> Response {
    let (parts, _body) = req.into_parts();
    let Some((registry, name, version, path)) = split_docs_uri(parts.uri.path()) else {
        return crate::ops::not_found().await.into_response();
    };
    let who = match Caller::identify(&parts, &state, Some(registry)).await {
        Ok(who) => who,
        Err(refusal) => return refusal,
    };
    crate::unwound("docs", async {
        Ok::<_, crate::error::ApiError>(
            serve(&state, registry, name, version, path, &who, &parts.headers).await,
        )
    })
    .await
}

/// Whether `Accept-Encoding` takes gzip (named, or `*`, without `q=0`).
fn takes_gzip(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .is_some_and(|q| q.parse::<f32>().is_ok_and(|q| q <= 0.0))
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

async fn serve(
    state: &AppState,
    registry: &str,
    name: &str,
    version: &str,
    path: &str,
    who: &Caller,
    headers: &axum::http::HeaderMap,
) -> Response {
    let answer = state
        .berth
        .docs_file(
            registry,
            who.get(),
            name,
            version,
            path,
            takes_gzip(headers),
        )
        .await;
    let mut response = match answer {
        Ok(DocsAnswer::Redirect(to)) => {
            let mut r = moved(&format!("/r/{registry}/docs/{name}/{version}/{to}"));
            // `latest` moves on with each release.
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        Ok(DocsAnswer::File {
            size,
            body,
            content_type,
            immutable,
            restricted,
            gzipped,
            varies,
            etag,
        }) => {
            // A page is revalidated (`no-cache`): the client's copy still
            // is this set's file when it names the same tag.
            let fresh = headers
                .get_all(header::IF_NONE_MATCH)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|t| t.trim() == etag || t.trim() == "*");
            let mut r = if fresh {
                let mut r = Response::new(Body::empty());
                *r.status_mut() = axum::http::StatusCode::NOT_MODIFIED;
                r
            } else {
                let mut r = Response::new(match body {
                    DocsBody::Whole(bytes) => Body::from(bytes),
                    DocsBody::Stream(stream) => Body::from_stream(stream),
                });
                r.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(size));
                r
            };
            let h = r.headers_mut();
            if let Ok(tag) = HeaderValue::from_str(&etag) {
                h.insert(header::ETAG, tag);
            }
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            let cache = match (immutable && version != "latest", restricted) {
                (true, false) => "public, max-age=31536000, immutable",
                (true, true) => "private, max-age=31536000, immutable",
                (false, false) => "public, no-cache",
                (false, true) => "private, no-cache",
            };
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
            if gzipped {
                h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            if varies {
                h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            }
            // The sandboxed page's origin is opaque, so its font loads
            // are cross-origin: a public registry's files may be read by
            // anyone anyway. A restricted one's (private, or limited to
            // addresses) are sent with no such header.
            if !restricted {
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
            }
            r
        }
        Err(e) => ApiError::from(e).into_response(),
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.remove(header::SET_COOKIE);
    response
}

fn moved(to: &str) -> Response {
    match HeaderValue::try_from(to) {
        Ok(location) => {
            let mut r = StatusCode::FOUND.into_response();
            r.headers_mut().insert(header::LOCATION, location);
            r
        }
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepting(v: &str) -> bool {
        let mut h = axum::http::HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        takes_gzip(&h)
    }

    #[test]
    fn docs_paths_split_into_their_parts() {
        assert_eq!(
            split_docs_uri("/r/main/docs/my-crate/1.0.0/my_crate/index.html"),
            Some(("main", "my-crate", "1.0.0", "my_crate/index.html"))
        );
        assert_eq!(split_docs_uri("/r/main/docs/my-crate/1.0.0/"), None);
        assert_eq!(split_docs_uri("/r/main/docs/my-crate/1.0.0"), None);
        assert_eq!(split_docs_uri("/r/main/index/my-crate"), None);
    }

    #[test]
    fn gzip_is_sent_only_to_who_takes_it() {
        assert!(accepting("gzip, deflate, br"));
        assert!(accepting("br;q=1.0, GZIP;q=0.5"));
        assert!(accepting("*"));
        assert!(!accepting("br"));
        assert!(!accepting("gzip;q=0"));
        assert!(!accepting("identity"));
        assert!(!takes_gzip(&axum::http::HeaderMap::new()));
    }
}
