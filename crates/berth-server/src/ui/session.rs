//! Who is looking at a page: the [`Viewer`] extractor reads the session
//! cookie and resolves it once; forms are checked against the session's
//! CSRF token (or, before login, a double-submit cookie); failed logins are
//! counted per client address and per login in a bounded in-memory table.
//!
//! Cookies are HttpOnly and SameSite=Lax (Strict for the login form's
//! token), Secure when `public_url` is https. Session secrets never reach a
//! log. This module never checks a password (berth-core does).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use berth_core::web::Session;
use berth_core::Identity;
use subtle::ConstantTimeEq;

use super::UiError;
use crate::guard::ClientAddr;
use crate::AppState;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "berth_session";
/// The login form's double-submit CSRF cookie.
pub(crate) const LOGIN_CSRF_COOKIE: &str = "berth_login_csrf";

/// The person behind a page request: a live session, or nobody.
pub(crate) struct Viewer {
    pub session: Option<Session>,
    /// The cookie's secret, to end the session at logout.
    pub secret: Option<String>,
    /// The client's address (rate limits).
    pub addr: Option<std::net::IpAddr>,
}

impl Viewer {
    pub(crate) fn who(&self) -> Option<&Identity> {
        self.session.as_ref().map(|s| &s.identity)
    }

    pub(crate) fn login(&self) -> Option<&str> {
        self.who().map(|w| w.user.login.as_str())
    }

    pub(crate) fn is_admin(&self) -> bool {
        self.who().is_some_and(|w| w.user.is_admin)
    }

    pub(crate) fn csrf(&self) -> &str {
        self.session.as_ref().map(|s| s.csrf.as_str()).unwrap_or("")
    }

    /// Checks a form's `csrf` field against the session's token.
    pub(crate) fn check_csrf(&self, given: Option<&str>) -> Result<(), UiError> {
        let expected = self.csrf();
        let given = given.unwrap_or("");
        if expected.is_empty()
            || given.is_empty()
            || !bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
        {
            return Err(csrf_refused());
        }
        Ok(())
    }
}

/// The one refusal of a form without its valid CSRF token.
pub(crate) fn csrf_refused() -> UiError {
    UiError::new(
        axum::http::StatusCode::FORBIDDEN,
        "This form has expired or did not come from this site (its CSRF token is missing or wrong). \
         Go back, reload the page and try again.",
    )
}

/// A cookie's value from the request's `Cookie` headers.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// A `Set-Cookie` value. `max_age = Some(0)` deletes the cookie.
pub(crate) fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    same_site: &str,
    max_age: Option<i64>,
) -> String {
    let secure = if state.berth.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let age = max_age
        .map(|a| format!("; Max-Age={a}"))
        .unwrap_or_default();
    format!("{name}={value}; Path={path}; HttpOnly; SameSite={same_site}{secure}{age}")
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = UiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let addr = parts.extensions.get::<ClientAddr>().map(|ClientAddr(a)| *a);
        let secret = cookie(&parts.headers, SESSION_COOKIE);
        let session = match &secret {
            Some(s) => state.berth.session(s).await?,
            None => None,
        };
        Ok(Viewer {
            session,
            secret,
            addr,
        })
    }
}

/// Failed logins allowed per login in a window.
pub(crate) const FAILURES_PER_LOGIN: u32 = 5;
/// Failed logins allowed per client address in a window.
pub(crate) const FAILURES_PER_ADDRESS: u32 = 20;
/// The window failures are counted in.
pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Most keys the table holds; beyond, expired ones are dropped and, if none
/// are, new keys are refused until some expire (never unbounded growth).
const MAX_KEYS: usize = 10_000;

/// Failed logins per key (`addr:…`, `login:…`), in a bounded table.
#[derive(Default)]
pub(crate) struct LoginLimiter {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginLimiter {
    /// `Err(wait)` when one of the keys has used up its failures.
    pub(crate) fn check(&self, keys: &[(String, u32)]) -> Result<(), Duration> {
        let now = Instant::now();
        let Ok(map) = self.failures.lock() else {
            return Ok(());
        };
        for (key, limit) in keys {
            if let Some((n, since)) = map.get(key) {
                let age = now.duration_since(*since);
                if age < WINDOW && n >= limit {
                    return Err(WINDOW - age);
                }
            }
        }
        Ok(())
    }

    /// Counts one failure against each key.
    pub(crate) fn fail(&self, keys: &[(String, u32)]) {
        let now = Instant::now();
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        if map.len() >= MAX_KEYS {
            map.retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
        }
        for (key, _) in keys {
            if map.len() >= MAX_KEYS && !map.contains_key(key) {
                continue;
            }
            let entry = map.entry(key.clone()).or_insert((0, now));
            if now.duration_since(entry.1) >= WINDOW {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
    }

    /// Forgets a login's failures after it succeeded.
    pub(crate) fn forget(&self, key: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_refuses_after_the_limit() {
        let l = LoginLimiter::default();
        let keys = [("login:a".to_string(), 2), ("addr:x".to_string(), 10)];
        assert!(l.check(&keys).is_ok());
        l.fail(&keys);
        assert!(l.check(&keys).is_ok());
        l.fail(&keys);
        assert!(l.check(&keys).is_err());
        l.forget("login:a");
        assert!(l.check(&keys).is_ok());
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; berth_session=xyz; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
