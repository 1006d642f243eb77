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

/// Where a docs request points: `/r/{registry}/docs/{name}/{version}/{path}`,
/// or with a pass, `/r/{registry}/docs/~{pass}/{name}/{version}/{path}`
/// (no crate name starts with `~`). `path` is `None` for the version's
/// top without its slash, `Some("")` for the top with it.
#[derive(Debug, PartialEq, Eq)]
struct DocsAt<'a> {
    registry: &'a str,
    pass: Option<&'a str>,
    name: &'a str,
    version: &'a str,
    path: Option<&'a str>,
}

impl<'a> DocsAt<'a> {
    /// The route's parts as the router matched them (a pass shifts them
    /// by one: its `name` is the pass, its `version` the crate's name);
    /// `None` when they name no version.
    fn of(
        registry: &'a str,
        name: &'a str,
        version: &'a str,
        path: Option<&'a str>,
    ) -> Option<Self> {
        let Some(pass) = name.strip_prefix('~') else {
            return Some(Self {
                registry,
                pass: None,
                name,
                version,
                path,
            });
        };
        let (name, (version, path)) = (
            version,
            match path?.split_once('/') {
                Some((version, rest)) => (version, Some(rest)),
                None => (path?, None),
            },
        );
        (!version.is_empty()).then_some(Self {
            registry,
            pass: Some(pass),
            name,
            version,
            path,
        })
    }

    /// The URL of the version's top, pass included.
    fn top(&self) -> String {
        let pass = self.pass.map(|p| format!("~{p}/")).unwrap_or_default();
        format!(
            "/r/{}/docs/{pass}{}/{}/",
            self.registry, self.name, self.version
        )
    }
}

/// `GET /r/{registry}/docs/{name}/{version}`: to the version's top.
pub(crate) async fn top(
    State(state): State<AppState>,
    Path((registry, name, version)): Path<(String, String, String)>,
    who: Caller,
    headers: HeaderMap,
) -> Response {
    let at = DocsAt::of(&registry, &name, &version, None);
    answer(&state, at, &who, &headers).await
}

/// `GET /r/{registry}/docs/{name}/{version}/`: to the crate's own page.
pub(crate) async fn index(
    State(state): State<AppState>,
    Path((registry, name, version)): Path<(String, String, String)>,
    who: Caller,
    headers: HeaderMap,
) -> Response {
    let at = DocsAt::of(&registry, &name, &version, Some(""));
    answer(&state, at, &who, &headers).await
}

/// `GET /r/{registry}/docs/{name}/{version}/{*path}`.
pub(crate) async fn file(
    State(state): State<AppState>,
    Path((registry, name, version, path)): Path<(String, String, String, String)>,
    who: Caller,
    headers: HeaderMap,
) -> Response {
    let at = DocsAt::of(&registry, &name, &version, Some(&path));
    answer(&state, at, &who, &headers).await
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

/// A request path as a log line may show it: a docs pass replaced by
/// `~…` (a pass reads docs as its session's user; logs are read by more
/// people than the session's).
pub(crate) fn redact_pass(uri_path: &str) -> std::borrow::Cow<'_, str> {
    let Some(at) = uri_path.find("/docs/~") else {
        return uri_path.into();
    };
    let start = at + "/docs/~".len();
    let end = uri_path[start..]
        .find('/')
        .map_or(uri_path.len(), |e| start + e);
    format!("{}…{}", &uri_path[..start], &uri_path[end..]).into()
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
    let at = DocsAt::of(registry, name, version, Some(path));
    crate::unwound("docs", async {
        Ok::<_, crate::error::ApiError>(answer(&state, at, &who, &parts.headers).await)
    })
    .await
}

/// Whether a page of this server's own origin (not a sandboxed docs page,
/// whose loads are cross-site: its origin is opaque) is loading a docs
/// file as a script, style or other subresource. Docs are their
/// uploaders' files: the UI's `script-src 'self'` must not make them
/// scripts of the UI. Browsers that send no fetch metadata are let
/// through (the UI's escaping is the first guard).
fn loaded_by_own_page(headers: &HeaderMap) -> bool {
    let is = |name: &str, value: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case(value))
    };
    is("sec-fetch-site", "same-origin") && !is("sec-fetch-mode", "navigate")
}

/// The answer to a docs request (headers and pass checked first).
async fn answer(
    state: &AppState,
    at: Option<DocsAt<'_>>,
    who: &Caller,
    headers: &HeaderMap,
) -> Response {
    let refused = |e: ServiceError| guarded(ApiError::from(e).into_response());
    let Some(at) = at else {
        return refused(ServiceError::NotFound(
            "no docs here: the URL names no version".into(),
        ));
    };
    if loaded_by_own_page(headers) {
        return refused(ServiceError::Forbidden(
            "docs files are not loaded by this server's own pages".into(),
        ));
    }
    let Some(path) = at.path else {
        return guarded(moved(&at.top()));
    };
    match at.pass {
        None => serve(state, &at, path, who.get(), headers).await,
        Some(pass) => match state
            .berth
            .docs_pass_identity(pass, at.registry, at.name)
            .await
        {
            Ok(reader) => serve(state, &at, path, Some(&reader), headers).await,
            Err(e @ (ServiceError::Unauthorized(_) | ServiceError::Forbidden(_))) => {
                pass_refused(&at, e)
            }
            Err(e) => refused(e),
        },
    }
}

/// A pass that reads nothing (expired, ended with its sign-in, for
/// another crate): said in a page that leads back to the crate's page,
/// where a signed-in reader opens the docs again.
fn pass_refused(at: &DocsAt<'_>, e: ServiceError) -> Response {
    let status = ApiError::from(e).into_response();
    let code = status.status();
    let message = match code {
        StatusCode::FORBIDDEN => "This documentation link is for another crate.",
        _ => "This documentation link has expired, or the sign-in it was opened from has ended.",
    };
    // The names come from the URL: linked to only when they are names.
    let plain = |t: &str| {
        t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let crate_page = match plain(at.registry) && plain(at.name) {
        true => format!("/r/{}/crates/{}", at.registry, at.name),
        false => "/".into(),
    };
    let html = format!(
        "<!doctype html><meta charset=utf-8><title>Documentation link</title>\
         <p>{message} <a href=\"{crate_page}\">Open the docs again from the crate's page</a>.</p>"
    );
    let mut r = (code, html).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    guarded(r)
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
    at: &DocsAt<'_>,
    path: &str,
    who: Option<&berth_core::Identity>,
    headers: &HeaderMap,
) -> Response {
    let (registry, name, version) = (at.registry, at.name, at.version);
    let answer = state
        .berth
        .docs_file(registry, who, name, version, path, takes_gzip(headers))
        .await;
    let response = match answer {
        Ok(DocsAnswer::Redirect(to)) => {
            let mut r = moved(&format!("{}{to}", at.top()));
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
            // anyone anyway, and a pass's by whoever holds its URL, which
            // is the pass. A restricted registry's read by a token
            // (private, or limited to addresses) are sent with no such
            // header.
            if !restricted || at.pass.is_some() {
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
            }
            r
        }
        Err(e) => ApiError::from(e).into_response(),
    };
    guarded(response)
}

/// Every docs answer's headers: the sandboxing policy, no sniffing, no
/// referrer (a pass in the URL goes nowhere), and never a cookie.
fn guarded(mut response: Response) -> Response {
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
    fn a_pass_shifts_the_route_by_one_segment() {
        let pass = "~Abc123";
        let at = |path| DocsAt::of("main", pass, "my-crate", path);
        assert_eq!(
            at(Some("1.0.0/my_crate/index.html")),
            Some(DocsAt {
                registry: "main",
                pass: Some("Abc123"),
                name: "my-crate",
                version: "1.0.0",
                path: Some("my_crate/index.html"),
            })
        );
        assert_eq!(at(Some("1.0.0/")).unwrap().path, Some(""));
        // Without its slash, the version's top is moved to it.
        let top = at(Some("1.0.0")).unwrap();
        assert_eq!(top.path, None);
        assert_eq!(top.top(), "/r/main/docs/~Abc123/my-crate/1.0.0/");
        // No version named.
        assert_eq!(at(None), None);
        assert_eq!(at(Some("")), None);
        assert_eq!(at(Some("/x")), None);
        let plain = DocsAt::of("main", "my-crate", "1.0.0", Some("a.html")).unwrap();
        assert_eq!(
            (plain.pass, plain.top().as_str()),
            (None, "/r/main/docs/my-crate/1.0.0/")
        );
    }

    #[test]
    fn a_pass_never_reaches_a_log_line() {
        assert_eq!(
            redact_pass("/r/main/docs/~SeCrEt/my-crate/1.0.0/a.html"),
            "/r/main/docs/~…/my-crate/1.0.0/a.html"
        );
        assert_eq!(redact_pass("/r/main/docs/~SeCrEt"), "/r/main/docs/~…");
        assert_eq!(
            redact_pass("/r/main/docs/my-crate/1.0.0/"),
            "/r/main/docs/my-crate/1.0.0/"
        );
    }

    #[test]
    fn only_the_servers_own_pages_loading_a_docs_file_are_refused() {
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_static(v));
            }
            loaded_by_own_page(&h)
        };
        // A UI page's <script src> of a docs file.
        assert!(with(&[
            ("sec-fetch-site", "same-origin"),
            ("sec-fetch-mode", "no-cors")
        ]));
        // The sandboxed docs page's own loads (an opaque origin).
        assert!(!with(&[
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "no-cors")
        ]));
        // Following the crate page's link.
        assert!(!with(&[
            ("sec-fetch-site", "same-origin"),
            ("sec-fetch-mode", "navigate")
        ]));
        assert!(!with(&[]));
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
