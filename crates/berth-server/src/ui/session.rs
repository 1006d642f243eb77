//! Who is looking at a page: the [`Viewer`] extractor reads the session
//! cookie and resolves it once; forms ([`Form`]) are checked against the
//! session's CSRF token (or, before login, a double-submit cookie); failed logins are
//! counted per client address (IPv6 per /64) and per login in fixed
//! in-memory tables that no flood of keys can fill.
//!
//! Cookies are HttpOnly and SameSite=Lax (Strict for the login form's
//! token), Secure when `public_url` is https. Session secrets never reach a
//! log. This module never checks a password (berth-core does).

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use berth_core::accounts::Session;
use berth_core::Identity;
use subtle::ConstantTimeEq;

use super::UiError;
use crate::guard::ClientAddr;
use crate::AppState;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "berth_session";
/// The login form's double-submit CSRF cookie.
pub(crate) const LOGIN_CSRF_COOKIE: &str = "berth_login_csrf";
/// Marks a session signed in through single sign-on (logout then goes on
/// to the provider's).
pub(crate) const SSO_COOKIE: &str = "berth_sso";

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

    /// A form the signed-in viewer posted, with who posted it: parsed, its
    /// `csrf` field checked against the session's token (an anonymous
    /// viewer has none, so its forms are refused).
    pub(crate) fn posted(&self, body: &Bytes) -> Result<(&Identity, Form), UiError> {
        let form = Form::parse(body);
        self.check_csrf(form.get("csrf"))?;
        // A token that matched is a session's.
        let who = self.who().ok_or_else(csrf_refused)?;
        Ok((who, form))
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

/// A form body's fields (repeated names kept in order).
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    pub(crate) fn parse(body: &Bytes) -> Form {
        Form(form_urlencoded::parse(body).into_owned().take(64).collect())
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Where a UI request came from, for its audit rows: the client's address
/// and its `User-Agent` (clipped).
pub(crate) fn origin(
    headers: &HeaderMap,
    addr: Option<std::net::IpAddr>,
) -> berth_core::audit::Origin {
    berth_core::audit::Origin {
        token_id: None,
        client_addr: addr.map(|a| a.to_string()),
        user_agent: crate::client::user_agent(headers),
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
        let mut session = match &secret {
            Some(s) => state.berth.session(s).await?,
            None => None,
        };
        // What a session does is recorded with where it came from.
        if let Some(s) = &mut session {
            s.identity.origin = origin(&parts.headers, addr);
        }
        Ok(Viewer {
            session,
            secret,
            addr,
        })
    }
}

/// Failed logins allowed per login in a window.
pub(crate) const FAILURES_PER_LOGIN: u32 = 5;
/// Failed logins allowed per client address (IPv6: per /64) in a window.
pub(crate) const FAILURES_PER_ADDRESS: u32 = 20;
/// The window failures are counted in.
pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Counters per kind (logins, addresses). Every key has a counter: keys
/// hash into this fixed table, so no number or length of logins can fill
/// it, push a key out or leave a key uncounted; keys that share a counter
/// are refused together (an attacker who does not know the node's secret
/// hash key cannot aim at a victim's counter).
const BUCKETS: usize = 65_536;

/// One counter: failures since `since` (seconds after the limiter's
/// epoch), and a fingerprint of the one login counted in it (0 once two
/// logins share it, so that a login's success never clears another's
/// failures).
#[derive(Clone, Copy, Default)]
struct Bucket {
    failures: u32,
    since: u64,
    owner: u64,
}

/// Failed logins per login and per client address, in two fixed tables of
/// [`BUCKETS`] counters; times are given by the caller (`Instant::now()`
/// on requests, set ones in tests).
pub(crate) struct LoginLimiter {
    secret: u64,
    epoch: Instant,
    logins: Mutex<Vec<Bucket>>,
    addresses: Mutex<Vec<Bucket>>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::with_secret(rand::random())
    }
}

/// What one login attempt is counted against.
pub(crate) struct LoginKeys {
    login: (usize, u64),
    address: usize,
}

impl LoginLimiter {
    /// A limiter whose hash key is `secret` (random in the server).
    pub(crate) fn with_secret(secret: u64) -> Self {
        Self {
            secret,
            epoch: Instant::now(),
            logins: Mutex::new(vec![Bucket::default(); BUCKETS]),
            addresses: Mutex::new(vec![Bucket::default(); BUCKETS]),
        }
    }

    fn hash(&self, kind: u8, key: &[u8]) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (self.secret, kind, key).hash(&mut h);
        h.finish()
    }

    /// The counters of a login (case folded) and a client address (IPv6
    /// folded to its /64, as connections are counted).
    pub(crate) fn keys(&self, login: &str, addr: Option<IpAddr>) -> LoginKeys {
        let login = login.to_ascii_lowercase();
        let address = match addr.map(berth_core::address_key) {
            Some(IpAddr::V4(a)) => self.hash(1, &a.octets()),
            Some(IpAddr::V6(a)) => self.hash(1, &a.octets()),
            None => self.hash(1, b"unknown"),
        };
        LoginKeys {
            login: (
                self.hash(0, login.as_bytes()) as usize % BUCKETS,
                self.hash(2, login.as_bytes()) | 1,
            ),
            address: address as usize % BUCKETS,
        }
    }

    fn secs(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_secs()
    }

    /// `Err(wait)` when the login or the address has used up its failures.
    pub(crate) fn check(&self, keys: &LoginKeys, now: Instant) -> Result<(), Duration> {
        let now = self.secs(now);
        let window = WINDOW.as_secs();
        let wait = |b: &Bucket, limit: u32| {
            let age = now.saturating_sub(b.since);
            (age < window && b.failures >= limit).then(|| Duration::from_secs(window - age))
        };
        let logins = self.logins.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = wait(&logins[keys.login.0], FAILURES_PER_LOGIN) {
            return Err(w);
        }
        drop(logins);
        let addresses = self.addresses.lock().unwrap_or_else(|e| e.into_inner());
        match wait(&addresses[keys.address], FAILURES_PER_ADDRESS) {
            Some(w) => Err(w),
            None => Ok(()),
        }
    }

    /// Counts one failure against the login and the address.
    pub(crate) fn fail(&self, keys: &LoginKeys, now: Instant) {
        let now = self.secs(now);
        let count = |b: &mut Bucket, owner: u64| {
            if now.saturating_sub(b.since) >= WINDOW.as_secs() || b.failures == 0 {
                *b = Bucket {
                    failures: 0,
                    since: now,
                    owner,
                };
            } else if b.owner != owner {
                b.owner = 0;
            }
            b.failures = b.failures.saturating_add(1);
        };
        let mut logins = self.logins.lock().unwrap_or_else(|e| e.into_inner());
        count(&mut logins[keys.login.0], keys.login.1);
        drop(logins);
        let mut addresses = self.addresses.lock().unwrap_or_else(|e| e.into_inner());
        count(&mut addresses[keys.address], 1);
    }

    /// Forgets a login's failures after it succeeded, unless another login
    /// shares its counter.
    pub(crate) fn forget(&self, keys: &LoginKeys) {
        let mut logins = self.logins.lock().unwrap_or_else(|e| e.into_inner());
        let b = &mut logins[keys.login.0];
        if b.owner == keys.login.1 {
            *b = Bucket::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_refuses_after_the_limit() {
        let l = LoginLimiter::with_secret(7);
        let now = Instant::now();
        let keys = l.keys("Alice", "192.0.2.1".parse().ok());
        for _ in 0..FAILURES_PER_LOGIN - 1 {
            l.fail(&keys, now);
        }
        assert!(l.check(&keys, now).is_ok());
        l.fail(&keys, now);
        let wait = l.check(&l.keys("alice", "192.0.2.9".parse().ok()), now);
        assert_eq!(wait, Err(WINDOW), "the login is counted case-folded");
        l.forget(&keys);
        assert!(l.check(&keys, now).is_ok());
        // The window passes.
        for _ in 0..FAILURES_PER_LOGIN {
            l.fail(&keys, now);
        }
        assert!(l
            .check(&keys, now + WINDOW - Duration::from_secs(1))
            .is_err());
        assert!(l.check(&keys, now + WINDOW).is_ok());
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        let l = LoginLimiter::with_secret(7);
        let now = Instant::now();
        for i in 0..FAILURES_PER_ADDRESS {
            let ip = format!("2001:db8:1:2:{i:x}::1").parse().ok();
            l.fail(&l.keys(&format!("user{i}"), ip), now);
        }
        let same_64 = l.keys("someone", "2001:db8:1:2:ffff::9".parse().ok());
        assert!(l.check(&same_64, now).is_err());
        let next_64 = l.keys("someone", "2001:db8:1:3::1".parse().ok());
        assert!(l.check(&next_64, now).is_ok());
        // IPv4 addresses count one by one, also when written IPv6-mapped.
        for i in 0..FAILURES_PER_ADDRESS {
            l.fail(&l.keys(&format!("v{i}"), "192.0.2.7".parse().ok()), now);
        }
        let mapped = l.keys("someone", "::ffff:192.0.2.7".parse().ok());
        assert!(l.check(&mapped, now).is_err());
        assert!(l
            .check(&l.keys("someone", "192.0.2.8".parse().ok()), now)
            .is_ok());
    }

    #[test]
    fn a_flood_of_other_logins_leaves_every_login_counted() {
        let l = LoginLimiter::with_secret(7);
        let now = Instant::now();
        // Far more distinct (and long) logins than there are counters.
        for i in 0..2 * BUCKETS {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i as u32);
            l.fail(&l.keys(&format!("{i:0>100}"), Some(ip.into())), now);
        }
        let victim = |n: u32| {
            l.keys(
                "bob",
                Some(std::net::Ipv4Addr::new(10, 200, 0, n as u8).into()),
            )
        };
        let mut refused = None;
        for n in 0..=FAILURES_PER_LOGIN {
            if l.check(&victim(n), now).is_err() {
                refused = Some(n);
                break;
            }
            l.fail(&victim(n), now);
        }
        assert!(
            refused.is_some_and(|n| n <= FAILURES_PER_LOGIN),
            "{refused:?}"
        );
    }

    #[test]
    fn a_success_never_clears_another_logins_failures() {
        let l = LoginLimiter::with_secret(7);
        let now = Instant::now();
        let bob = l.keys("bob", None);
        let other = (0..)
            .map(|i| l.keys(&format!("other{i}"), None))
            .find(|k| k.login.0 == bob.login.0)
            .unwrap();
        for _ in 0..FAILURES_PER_LOGIN {
            l.fail(&bob, now);
        }
        l.forget(&other);
        assert!(l.check(&bob, now).is_err());
        // Nor does a failure of the other login first, then its success.
        let l = LoginLimiter::with_secret(7);
        for _ in 0..FAILURES_PER_LOGIN - 1 {
            l.fail(&bob, now);
        }
        l.fail(&other, now);
        l.forget(&other);
        assert!(l.check(&bob, now).is_err());
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
