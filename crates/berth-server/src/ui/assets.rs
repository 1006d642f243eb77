//! The UI's static files, embedded in the binary and served under
//! fingerprinted names (`/static/app.<hash>.css`) that never change
//! meaning, so browsers keep them for a year without asking again.
//!
//! Only the files listed here are served; nothing is read from disk.
//! `/favicon.ico` and `/robots.txt` live here too, under their fixed names.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// One embedded file.
pub(crate) struct Asset {
    /// `/static/app.<hash>.css`
    pub url: String,
    pub content_type: &'static str,
    pub body: &'static str,
}

fn asset(stem: &str, ext: &str, content_type: &'static str, body: &'static str) -> Asset {
    let hash = hex::encode(&Sha256::digest(body.as_bytes())[..6]);
    Asset {
        url: format!("/static/{stem}.{hash}.{ext}"),
        content_type,
        body,
    }
}

/// The stylesheet.
pub(crate) static CSS: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "app",
        "css",
        "text/css; charset=utf-8",
        include_str!("../../assets/app.css"),
    )
});

/// The script (copy buttons, search as you type).
pub(crate) static JS: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "app",
        "js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/app.js"),
    )
});

/// `GET /static/{file}`: an embedded file by its fingerprinted name.
pub(crate) async fn serve(Path(file): Path<String>) -> Response {
    let path = format!("/static/{file}");
    for a in [&*CSS, &*JS] {
        if a.url == path {
            return (
                [
                    (header::CONTENT_TYPE, a.content_type),
                    (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                ],
                a.body,
            )
                .into_response();
        }
    }
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "no such file\n",
    )
        .into_response()
}

/// `GET /favicon.ico`: Berth's icon (32 px, a PNG inside an ICO).
pub(crate) async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/x-icon"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        &include_bytes!("../../assets/favicon.ico")[..],
    )
        .into_response()
}

/// What `/robots.txt` says: pages may be crawled; cargo's index and
/// downloads, the APIs, search results as JSON and the pages behind a
/// login may not.
const ROBOTS: &str = "User-agent: *\n\
Disallow: /r/*/index/\n\
Disallow: /r/*/api/\n\
Disallow: /api/\n\
Disallow: /search.json\n\
Disallow: /account\n\
Disallow: /admin\n\
Disallow: /login\n\
Allow: /\n";

/// `GET /robots.txt`
pub(crate) async fn robots() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        ROBOTS,
    )
        .into_response()
}

/// `GET /api/openapi.json`: the description of the JSON management API
/// (`mgmt.rs`), kept beside the UI's assets. The routes it describes
/// apply their own authentication; the description itself is public.
pub(crate) async fn openapi() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("../../assets/openapi.json"),
    )
        .into_response()
}
