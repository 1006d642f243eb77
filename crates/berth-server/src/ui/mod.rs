//! The web UI: server-rendered pages (askama templates, checked at compile
//! time) at `/`, `/crates/…`, `/r/{registry}/crates/…`, `/search`,
//! `/login`, `/account` and `/admin/…`, with a small external script and a
//! stylesheet embedded in the binary ([`assets`]).
//!
//! Requests no route answers come to [`fallback`]: a browser (a GET that
//! accepts `text/html`) gets the UI's HTML 404 page, cargo and API clients
//! the JSON error; a page's URL with a trailing slash redirects to the URL
//! without it. `/favicon.ico` and `/robots.txt` are answered here too.
//!
//! Every UI response carries the security headers (a strict CSP with no
//! inline script, frame-ancestors none, nosniff, a referrer policy) and is
//! compressed (gzip or brotli) when the client accepts it. A page learns
//! who is looking through [`session::Viewer`] and asks berth-core, which
//! checks read access; a registry a viewer may not read shows the same 404
//! page whether a crate exists or not. This module holds no business rules
//! and no SQL, and never emits unescaped HTML except a README sanitized by
//! [`markdown`].

mod account;
mod admin;
pub(crate) mod assets;
mod chart;
mod crate_page;
mod markdown;
mod pages;
mod search;
pub(crate) mod session;
mod sso;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use berth_core::ServiceError;
use tower_http::compression::CompressionLayer;

use crate::AppState;

/// What the UI keeps between requests.
#[derive(Default)]
pub struct UiState {
    pub(crate) logins: session::LoginLimiter,
}

/// The content security policy of every UI response.
pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' https: data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Largest form body a UI page reads.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// The UI's routes, each with its layers, for the server's route table.
pub(crate) fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    let page = |route: MethodRouter<AppState>| -> MethodRouter<AppState> {
        route
            .layer::<_, std::convert::Infallible>(DefaultBodyLimit::max(MAX_FORM_BYTES))
            .layer(CompressionLayer::new().gzip(true).br(true))
            .layer(middleware::from_fn(security_headers))
    };
    vec![
        ("/", page(get(pages::home))),
        ("/static/{file}", page(get(assets::serve))),
        ("/search", page(get(search::search))),
        ("/search.json", page(get(search::search_json))),
        ("/crates/{name}", page(get(crate_page::default_page))),
        (
            "/crates/{name}/{version}",
            page(get(crate_page::default_version)),
        ),
        ("/favicon.ico", page(get(assets::favicon))),
        ("/robots.txt", page(get(assets::robots))),
        ("/r/{registry}", page(get(pages::registry))),
        ("/r/{registry}/crates/{name}", page(get(crate_page::page))),
        (
            "/r/{registry}/crates/{name}/{version}",
            page(get(crate_page::version)),
        ),
        (
            "/r/{registry}/crates/{name}/trust",
            page(post(crate_page::trust_action)),
        ),
        (
            "/r/{registry}/crates/{name}/docs-rebuild",
            page(post(crate_page::docs_rebuild)),
        ),
        (
            "/r/{registry}/crates/{name}/{version}/docs",
            page(get(crate_page::open_docs)),
        ),
        (
            "/login",
            page(get(account::login_form).post(account::login)),
        ),
        ("/login/oidc", page(get(sso::begin))),
        ("/login/oidc/callback", page(get(sso::callback))),
        ("/logout", page(post(account::logout))),
        ("/account", page(get(account::account))),
        ("/account/tokens", page(post(account::create_token))),
        ("/account/tokens/revoke", page(post(account::revoke_token))),
        ("/account/password", page(post(account::change_password))),
        ("/admin", page(get(admin::users))),
        (
            "/admin/users/{login}",
            page(get(admin::user).post(admin::user_action)),
        ),
        ("/admin/registries", page(get(admin::registries))),
        ("/admin/policies", page(get(admin::policies))),
        (
            "/admin/webhooks",
            page(get(admin::webhooks).post(admin::webhook_action)),
        ),
        ("/admin/audit", page(get(admin::audit))),
        ("/api/openapi.json", page(get(assets::openapi))),
    ]
}

/// Adds the security headers to a UI response; pages (not assets) are
/// never stored by shared caches.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    add_security_headers(&mut response);
    response
}

/// Where a request that no route answers goes. A GET or HEAD of a page's
/// URL with trailing slashes is redirected (308) to the URL without them
/// (never when that would read as another host: `//` or a backslash in it);
/// one from a browser (it accepts `text/html`) gets the HTML 404 page;
/// anything else (cargo, API clients, `curl`), and anything under a
/// registry's `index/` or `api/` or under `/api/`, the JSON error.
pub(crate) async fn fallback(req: Request) -> Response {
    let path = req.uri().path();
    let machine = path.starts_with("/api/")
        || path
            .strip_prefix("/r/")
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(_, rest)| {
                rest.starts_with("index/") || rest.starts_with("api/") || rest == "index"
            });
    let reads = req.method() == axum::http::Method::GET || req.method() == axum::http::Method::HEAD;
    if !reads || machine {
        return crate::ops::not_found().await.into_response();
    }
    let trimmed = path.trim_end_matches('/');
    // Never `//host` or `/\host`: a browser reads either as another site
    // (it takes `\` for `/`), and no page's URL holds them.
    if trimmed.len() < path.len()
        && !trimmed.is_empty()
        && !trimmed.contains("//")
        && !trimmed.contains('\\')
    {
        let to = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&to) {
            let mut response = StatusCode::PERMANENT_REDIRECT.into_response();
            response.headers_mut().insert(header::LOCATION, v);
            add_security_headers(&mut response);
            return response;
        }
    }
    let html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if !html {
        return crate::ops::not_found().await.into_response();
    }
    let mut response = UiError::new(
        StatusCode::NOT_FOUND,
        "No page here. Search for a crate, or start from the home page.",
    )
    .into_response();
    add_security_headers(&mut response);
    response
}

fn add_security_headers(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
    }
    h.insert(
        header::VARY,
        HeaderValue::from_static("Cookie, Accept-Encoding"),
    );
}

/// What every page's frame shows: title, who is logged in, the assets.
pub(crate) struct Chrome {
    pub title: String,
    pub css: &'static str,
    pub js: &'static str,
    pub login: Option<String>,
    pub is_admin: bool,
    pub csrf: String,
    /// The search box's text.
    pub q: String,
}

impl Chrome {
    pub(crate) fn new(title: impl Into<String>, viewer: Option<&session::Viewer>) -> Chrome {
        Chrome {
            title: title.into(),
            css: &assets::CSS.url,
            js: &assets::JS.url,
            login: viewer.and_then(|v| v.login().map(str::to_string)),
            is_admin: viewer.is_some_and(|v| v.is_admin()),
            csrf: viewer.map(|v| v.csrf().to_string()).unwrap_or_default(),
            q: String::new(),
        }
    }
}

/// A page that could not be shown, as an HTML page.
#[derive(Debug)]
pub(crate) struct UiError {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl UiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> UiError {
        UiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The one "not found" of crates and registries: the same whether the
    /// thing is missing or the viewer may not see it.
    pub(crate) fn not_found() -> UiError {
        UiError::new(
            StatusCode::NOT_FOUND,
            "Nothing here: no such crate or registry, or it is private and you may not read it. \
             If you have an account, log in.",
        )
    }
}

impl From<ServiceError> for UiError {
    fn from(e: ServiceError) -> Self {
        let status = match &e {
            ServiceError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServiceError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
            ServiceError::Conflict(_) => StatusCode::CONFLICT,
            ServiceError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ServiceError::TooSlow(_) => StatusCode::REQUEST_TIMEOUT,
            ServiceError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            ServiceError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ServiceError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match e {
            ServiceError::Unavailable(_) => {
                "The registry is temporarily unavailable; try again shortly.".to_string()
            }
            ServiceError::Internal(m) => {
                tracing::error!(error = %m, "internal error on a page");
                "Internal server error; the registry's log has the details.".to_string()
            }
            ServiceError::BadRequest(m)
            | ServiceError::Unauthorized(m)
            | ServiceError::Forbidden(m)
            | ServiceError::NotFound(m)
            | ServiceError::Conflict(m)
            | ServiceError::TooLarge(m)
            | ServiceError::TooSlow(m)
            | ServiceError::Busy(m)
            | ServiceError::BadGateway(m) => m,
        };
        UiError::new(status, message)
    }
}

#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    c: Chrome,
    status: u16,
    message: &'a str,
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            c: Chrome::new(self.status.canonical_reason().unwrap_or("Error"), None),
            status: self.status.as_u16(),
            message: &self.message,
        };
        let mut response = (self.status, render(&page)).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// Renders a template to an HTML response body.
pub(crate) fn render(t: &impl askama::Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal server error; the registry's log has the details\n",
            )
                .into_response()
        }
    }
}

pub(crate) fn human_size(bytes: i64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / 1024.0 / 1024.0),
    }
}

/// A moment as a page shows it: "3 days ago", with the absolute date for a
/// `title` and the ISO form for `<time datetime>`; all empty when unknown.
#[derive(Clone, Default)]
pub(crate) struct When {
    pub ago: String,
    pub abs: String,
    pub iso: String,
}

impl When {
    pub(crate) fn of(secs: i64) -> When {
        When::at(secs, time::OffsetDateTime::now_utc().unix_timestamp())
    }

    pub(crate) fn at(secs: i64, now: i64) -> When {
        if secs <= 0 {
            return When::default();
        }
        let iso = time::OffsetDateTime::from_unix_timestamp(secs)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        When {
            ago: ago(now - secs),
            abs: human_date(secs),
            iso,
        }
    }
}

/// An age in words: "just now", "1 minute ago", "3 days ago", "2 years ago".
pub(crate) fn ago(secs: i64) -> String {
    let n = |count: i64, unit: &str| {
        if count == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{count} {unit}s ago")
        }
    };
    match secs.max(0) {
        s if s < 60 => "just now".to_string(),
        s if s < 3_600 => n(s / 60, "minute"),
        s if s < 86_400 => n(s / 3_600, "hour"),
        s if s < 2 * 86_400 => "yesterday".to_string(),
        s if s < 31 * 86_400 => n(s / 86_400, "day"),
        s if s < 365 * 86_400 => n(s / (30 * 86_400), "month"),
        s => n(s / (365 * 86_400), "year"),
    }
}

/// `count noun`, with the noun's plural when the count is not one.
pub(crate) fn plural(count: i64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

pub(crate) fn human_date(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_default()
}
