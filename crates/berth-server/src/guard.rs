//! Who the client is, and whether its address may go on: the client address
//! behind trusted reverse proxies ([`ClientAddr`], set once per request by
//! [`Guard::client`]), per-registry address allow-lists ([`outside_allow_list`]), and
//! the brute-force throttle on failed authentications ([`Guard::throttled`],
//! [`Guard::failed`], used by the `Caller` extractor).
//!
//! Everything here is in memory and per node: fixed-capacity maps with
//! least-recently-used eviction, one short lock per request that needs
//! them, no database work except the audit rows of refusals (bounded: one
//! per address a minute for refused addresses, within the audit log's
//! budget of refusal rows (`berth-store`'s `refusals`), which never lets
//! one flood of addresses keep another's first refusal out; at
//! most the threshold plus
//! one per address or prefix and cooling period for failed
//! authentications). This module never decides who a token belongs to and
//! never reads a request body; the per-connection cap (`conn.rs`) stays on
//! the TCP peer.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use berth_core::audit::{AuditAction, AuditEntry, AuditOutcome};
use berth_core::config::ForwardedHeader;
use berth_core::Config;
use hashlink::linked_hash_map::Entry;
use hashlink::LruCache;
use ipnet::IpNet;

use crate::client::clip;
use crate::error::json_error;
use crate::AppState;
use berth_core::address_key;

/// The client's address: the TCP peer, or what trusted proxies say it is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub IpAddr);

/// Most `X-Forwarded-For` / `Forwarded` header lines read.
const MAX_HEADER_LINES: usize = 16;
/// Longest header line read; a longer one makes the headers ignored.
const MAX_HEADER_BYTES: usize = 8 * 1024;
/// Most addresses walked from the right.
const MAX_HOPS: usize = 64;
/// Addresses and token prefixes whose failures are remembered at once.
const COUNTER_CAPACITY: usize = 65_536;
/// Addresses whose last `access.denied` row is remembered.
const DENIED_CAPACITY: usize = 4_096;
/// At most one `access.denied` row per address in this long (all of them
/// counted in metrics); how many rows all addresses write is the audit
/// log's refusal budget's to decide.
const DENIED_AUDIT_EVERY: Duration = Duration::from_secs(60);
/// How many characters of a presented secret identify its prefix.
pub(crate) const PREFIX_CHARS: usize = 12;

/// The node's guard state, built once from the configuration.
pub(crate) struct Guard {
    trusted: Vec<IpNet>,
    header: HeaderName,
    /// Registries with address lists: the lists a client must pass, each
    /// with the registry whose `allowed_cidrs` it is.
    allowed: HashMap<String, Vec<(String, Vec<IpNet>)>>,
    /// When each refused address was last audited.
    denied_audited: Mutex<LruCache<IpAddr, Instant>>,
    by_address: Counters<IpAddr>,
    by_prefix: Counters<Box<str>>,
    window: Duration,
    cooldown: Duration,
}

/// Why a request with credentials is refused for now.
pub(crate) struct Throttled {
    pub retry_after: Duration,
    pub detail: String,
    pub label: &'static str,
}

/// What one failed authentication started, for the audit log.
pub(crate) enum Failure {
    /// Counted; under every threshold, or already cooling.
    Counted,
    /// This failure began a cooling period; `detail` says which.
    Throttles(String),
}

impl Guard {
    pub(crate) fn new(config: &Config) -> Self {
        let l = &config.limits;
        Self {
            trusted: config.trusted_proxies.clone(),
            header: match config.forwarded_header {
                ForwardedHeader::Forwarded => header::FORWARDED,
                ForwardedHeader::XForwardedFor => HeaderName::from_static("x-forwarded-for"),
            },
            allowed: berth_core::config::reach_lists(&config.registries),
            denied_audited: Mutex::new(LruCache::new(DENIED_CAPACITY)),
            by_address: Counters::new(l.auth_failures_per_address),
            by_prefix: Counters::new(l.auth_failures_per_prefix),
            window: Duration::from_secs(l.auth_failure_window_secs),
            cooldown: Duration::from_secs(l.auth_cooldown_secs),
        }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(&ip))
    }

    /// The client behind `peer`: from a trusted proxy, the right-most
    /// address of the forwarding header that is not itself trusted
    /// (walking from the right); else `peer`.
    pub(crate) fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        let mut lines = Vec::new();
        for v in headers.get_all(&self.header).iter() {
            if lines.len() == MAX_HEADER_LINES || v.len() > MAX_HEADER_BYTES {
                return peer;
            }
            match v.to_str() {
                Ok(s) => lines.push(s),
                Err(_) => return peer,
            }
        }
        let forwarded = self.header == header::FORWARDED;
        // Hops from the right: the last line's last entry first.
        let hops = lines.iter().rev().flat_map(|l| l.rsplit(','));
        let mut client = peer;
        for hop in hops.take(MAX_HOPS) {
            let parsed = if forwarded {
                forwarded_for(hop)
            } else {
                hop.trim().parse::<IpAddr>().ok()
            };
            // What a trusted proxy wrote and cannot be read ends the walk
            // at the last address known.
            let Some(ip) = parsed.map(|ip| ip.to_canonical()) else {
                break;
            };
            client = ip;
            if !self.is_trusted(ip) {
                break;
            }
        }
        client
    }

    /// Whether `ip` may reach `registry`; if not, the refusal's detail.
    /// Whether a client at `ip` may reach `registry` (the web UI lists
    /// only those).
    pub(crate) fn reaches(&self, registry: &str, ip: Option<IpAddr>) -> bool {
        match ip {
            Some(ip) => self.refusal(registry, ip).is_none(),
            None => !self.allowed.contains_key(registry),
        }
    }

    fn refusal(&self, registry: &str, ip: IpAddr) -> Option<String> {
        let lists = self.allowed.get(registry)?;
        let (owner, _) = lists
            .iter()
            .find(|(_, nets)| !nets.iter().any(|n| n.contains(&ip)))?;
        Some(if owner == registry {
            format!(
                "address {ip} is not allowed to reach registry `{registry}`; an operator can allow \
                 it in `allowed_cidrs` of the registry's [[registries]] entry"
            )
        } else {
            format!(
                "address {ip} is not allowed to reach registry `{registry}` (its member \
                 `{owner}`); an operator can allow it in `allowed_cidrs` of the [[registries]] \
                 entry of `{owner}`"
            )
        })
    }

    /// Whether this refusal of `ip` is to be audited: the first of that
    /// address in a minute (the audit log's refusal budget decides the rest).
    fn first_denial_in_a_while(&self, ip: IpAddr, now: Instant) -> bool {
        let mut audit = self
            .denied_audited
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let key = address_key(ip);
        if audit
            .get(&key)
            .is_some_and(|at| now.saturating_duration_since(*at) < DENIED_AUDIT_EVERY)
        {
            return false;
        }
        audit.insert(key, now);
        true
    }

    /// Whether a request presenting credentials from `ip` with a secret
    /// starting `prefix` is refused for now.
    pub(crate) fn throttled(&self, ip: Option<IpAddr>, prefix: Option<&str>) -> Option<Throttled> {
        let now = Instant::now();
        if let Some(ip) = ip {
            if let Some(left) = self.by_address.cooling(&address_key(ip), now) {
                return Some(Throttled {
                    retry_after: left,
                    detail: format!(
                        "too many failed authentications from address {ip}; try again in {} \
                         seconds (limits.auth_failures_per_address, limits.auth_cooldown_secs)",
                        secs(left)
                    ),
                    label: "address",
                });
            }
        }
        if let Some(prefix) = prefix {
            if let Some(left) = self.by_prefix.cooling(prefix, now) {
                return Some(Throttled {
                    retry_after: left,
                    detail: format!(
                        "too many failed authentications with tokens starting `{prefix}`; try \
                         again in {} seconds (limits.auth_failures_per_prefix, \
                         limits.auth_cooldown_secs)",
                        secs(left)
                    ),
                    label: "prefix",
                });
            }
        }
        None
    }

    /// Counts one failed authentication from `ip` with `prefix`.
    pub(crate) fn failed(&self, ip: Option<IpAddr>, prefix: Option<&str>) -> Failure {
        let now = Instant::now();
        let mut began = Vec::new();
        if let Some(ip) = ip {
            if self
                .by_address
                .fail(address_key(ip), now, self.window, self.cooldown)
            {
                began.push(format!(
                    "address {ip}: {} failed authentications within {} s; refused for {} s \
                     (limits.auth_failures_per_address)",
                    self.by_address.limit,
                    self.window.as_secs(),
                    self.cooldown.as_secs()
                ));
            }
        }
        if let Some(prefix) = prefix {
            if self
                .by_prefix
                .fail(prefix.into(), now, self.window, self.cooldown)
            {
                began.push(format!(
                    "token prefix `{prefix}`: {} failed authentications within {} s; refused \
                     for {} s (limits.auth_failures_per_prefix)",
                    self.by_prefix.limit,
                    self.window.as_secs(),
                    self.cooldown.as_secs()
                ));
            }
        }
        if began.is_empty() {
            Failure::Counted
        } else {
            Failure::Throttles(began.join("; "))
        }
    }
}

/// Whole seconds, rounded up, at least 1 (a `Retry-After` value).
fn secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// The first [`PREFIX_CHARS`] characters of a presented secret.
pub(crate) fn prefix_of(secret: &str) -> &str {
    match secret.char_indices().nth(PREFIX_CHARS) {
        Some((i, _)) => &secret[..i],
        None => secret,
    }
}

/// The address of one `Forwarded` element's `for=` parameter, if it is
/// one (not `unknown` or an obfuscated identifier).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let value = element.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim().eq_ignore_ascii_case("for").then(|| v.trim())
    })?;
    let value = value.trim_matches('"');
    if let Some(rest) = value.strip_prefix('[') {
        // `[2001:db8::1]` or `[2001:db8::1]:4711`
        return rest.split(']').next()?.parse().ok();
    }
    // `192.0.2.60` or `192.0.2.60:4711`
    value
        .parse()
        .ok()
        .or_else(|| value.rsplit_once(':')?.0.parse().ok())
}

/// Failed authentications by key, in a fixed-capacity map: the least
/// recently seen key is forgotten when a new one needs the room.
struct Counters<K: std::hash::Hash + Eq> {
    map: Mutex<LruCache<K, Count>>,
    limit: u32,
}

struct Count {
    since: Instant,
    failures: u32,
    cooling_until: Option<Instant>,
}

impl<K: std::hash::Hash + Eq> Counters<K> {
    fn new(limit: u32) -> Self {
        Self {
            map: Mutex::new(LruCache::new(COUNTER_CAPACITY)),
            limit: limit.max(1),
        }
    }

    /// How long `key` is still refused, if it is.
    fn cooling<Q>(&self, key: &Q, now: Instant) -> Option<Duration>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let until = map.get(key)?.cooling_until?;
        if until > now {
            return Some(until - now);
        }
        // Cooled down: the count starts afresh.
        map.remove(key);
        None
    }

    /// Counts a failure; true when it begins a cooling period.
    fn fail(&self, key: K, now: Instant, window: Duration, cooldown: Duration) -> bool {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        // At capacity, the entry call forgets the least recently seen key.
        let count = match map.entry(key) {
            Entry::Occupied(mut o) => {
                o.to_back();
                o.into_mut()
            }
            Entry::Vacant(v) => v.insert(Count {
                since: now,
                failures: 0,
                cooling_until: None,
            }),
        };
        if count.cooling_until.is_some() {
            return false;
        }
        if now.saturating_duration_since(count.since) > window {
            count.since = now;
            count.failures = 0;
        }
        count.failures += 1;
        if count.failures >= self.limit {
            count.cooling_until = Some(now + cooldown);
            return true;
        }
        false
    }
}

/// The registry a URL names: `/r/{reg}/...`, `/t/{reg}/...` (a toolchains
/// registry) or `/api/v1/registries/{reg}[/...]`, percent-decoded as the router decodes
/// its `{registry}` parameter (so `/r/sec%75re/` names `secure`). Every
/// check of a request's registry (its `allowed_cidrs` here, a token's
/// registry restriction in `caller.rs`) reads this one value, so that no
/// spelling of the name in a URL reaches a registry around them. `Err`
/// when the segment does not decode to UTF-8 (the router refuses it too).
pub(crate) fn registry_of(path: &str) -> Option<Result<Cow<'_, str>, ()>> {
    let rest = path
        .strip_prefix("/r/")
        .or_else(|| path.strip_prefix("/t/"))
        .or_else(|| path.strip_prefix("/api/v1/registries/"))?;
    let raw = rest.split('/').next().filter(|s| !s.is_empty())?;
    Some(
        percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| ()),
    )
}

/// A request for a registry with `allowed_cidrs` from an address outside
/// them: its 403, before anything about the registry's contents is looked
/// at, and the audit entry to write for it (the first refusal of an
/// address in a while). Called by the outermost middleware,
/// [`crate::transport::request_id`].
pub(crate) fn outside_allow_list(
    state: &AppState,
    req: &Request,
) -> Option<(Response, Option<AuditEntry>)> {
    let guard = &state.guard;
    if guard.allowed.is_empty() {
        return None;
    }
    let registry = match registry_of(req.uri().path())? {
        Ok(name) => name,
        // Not a name any registry has; refused before it could be taken
        // for one.
        Err(()) => {
            let detail = "the registry name in the URL is not valid UTF-8 once percent-decoded";
            return Some((json_error(StatusCode::BAD_REQUEST, detail), None));
        }
    };
    let registry = registry.as_ref();
    let ip = req.extensions().get::<ClientAddr>()?.0;
    let detail = guard.refusal(registry, ip)?;
    metrics::counter!("berth_refused_total", "reason" => "address_not_allowed").increment(1);
    let entry = guard
        .first_denial_in_a_while(ip, Instant::now())
        .then(|| AuditEntry {
            registry: Some(registry.to_string()),
            detail: Some(format!("{} {}", req.method(), clip(req.uri().path(), 200))),
            client_addr: Some(ip.to_string()),
            user_agent: crate::client::user_agent(req.headers()),
            ..AuditEntry::new(AuditAction::AccessDenied, AuditOutcome::Denied)
        });
    Some((json_error(StatusCode::FORBIDDEN, detail), entry))
}

/// The 429 of a throttled address or prefix.
pub(crate) fn throttled_response(t: &Throttled) -> Response {
    metrics::counter!("berth_auth_throttled_total", "key" => t.label).increment(1);
    let mut response = json_error(StatusCode::TOO_MANY_REQUESTS, t.detail.clone());
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs(t.retry_after)));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn guard(trusted: &[&str], header: ForwardedHeader) -> Guard {
        let mut config = Config {
            trusted_proxies: trusted.iter().map(|s| s.parse().unwrap()).collect(),
            forwarded_header: header,
            ..Config::default()
        };
        config.limits.auth_failures_per_address = 3;
        config.limits.auth_failures_per_prefix = 5;
        config.finish().unwrap();
        Guard::new(&config)
    }

    fn headers(name: &str, values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_from_trusted_proxies_only() {
        let g = guard(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let h = headers("x-forwarded-for", &["198.51.100.1, 203.0.113.9, 10.0.0.7"]);
        // From the proxy: the right-most untrusted address.
        assert_eq!(g.client(ip("10.0.0.5"), &h), ip("203.0.113.9"));
        // From anyone else: the peer.
        assert_eq!(g.client(ip("192.0.2.1"), &h), ip("192.0.2.1"));
        // Several lines are one list; garbage ends the walk.
        let h = headers("x-forwarded-for", &["203.0.113.9", "bogus, 10.0.0.7"]);
        assert_eq!(g.client(ip("10.0.0.5"), &h), ip("10.0.0.7"));
        // No header: the proxy itself.
        assert_eq!(g.client(ip("10.0.0.5"), &HeaderMap::new()), ip("10.0.0.5"));
        // The other header is not read.
        let h = headers("forwarded", &["for=203.0.113.9"]);
        assert_eq!(g.client(ip("10.0.0.5"), &h), ip("10.0.0.5"));
        // Too long: ignored.
        let long = vec!["203.0.113.9"; 1000].join(",");
        let h = headers("x-forwarded-for", &[&long]);
        assert_eq!(g.client(ip("10.0.0.5"), &h), ip("10.0.0.5"));
        // IPv4-mapped peers count as IPv4.
        let h = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(g.client(ip("::ffff:10.0.0.5"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn rfc7239_elements() {
        let g = guard(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        let h = headers(
            "forwarded",
            &["for=198.51.100.1, For=\"[2001:db8::17]:4711\";proto=https;by=10.0.0.7"],
        );
        assert_eq!(g.client(ip("10.0.0.5"), &h), ip("2001:db8::17"));
        let h = headers("forwarded", &["for=203.0.113.9:80, for=10.1.1.1"]);
        assert_eq!(g.client(ip("10.0.0.5"), &h), ip("203.0.113.9"));
        let h = headers("forwarded", &["for=unknown"]);
        assert_eq!(g.client(ip("10.0.0.5"), &h), ip("10.0.0.5"));
    }

    #[test]
    fn failures_throttle_then_cool_down() {
        let g = guard(&[], ForwardedHeader::XForwardedFor);
        let a = Some(ip("192.0.2.1"));
        for _ in 0..2 {
            assert!(matches!(
                g.failed(a, Some("berth_aaaaaa")),
                Failure::Counted
            ));
            assert!(g.throttled(a, None).is_none());
        }
        assert!(matches!(
            g.failed(a, Some("berth_aaaaaa")),
            Failure::Throttles(_)
        ));
        let t = g.throttled(a, Some("berth_bbbbbb")).unwrap();
        assert_eq!((t.label, secs(t.retry_after)), ("address", 300));
        // Another address is untouched; the prefix has 3 of 5.
        assert!(g
            .throttled(Some(ip("192.0.2.2")), Some("berth_aaaaaa"))
            .is_none());
        let b = Some(ip("192.0.2.3"));
        g.failed(b, Some("berth_aaaaaa"));
        assert!(matches!(
            g.failed(b, Some("berth_aaaaaa")),
            Failure::Throttles(_)
        ));
        let t = g
            .throttled(Some(ip("192.0.2.4")), Some("berth_aaaaaa"))
            .unwrap();
        assert_eq!(t.label, "prefix");
        // An IPv6 client counts by /64.
        let g = guard(&[], ForwardedHeader::XForwardedFor);
        for n in 1..=3 {
            g.failed(Some(ip(&format!("2001:db8::{n}"))), None);
        }
        assert!(g.throttled(Some(ip("2001:db8::ffff")), None).is_some());
    }

    #[test]
    fn refused_addresses_are_audited_once_a_minute_each() {
        let g = guard(&[], ForwardedHeader::XForwardedFor);
        let now = Instant::now();
        assert!(g.first_denial_in_a_while(ip("192.0.2.1"), now));
        assert!(!g.first_denial_in_a_while(ip("192.0.2.1"), now + Duration::from_secs(59)));
        assert!(g.first_denial_in_a_while(ip("192.0.2.1"), now + Duration::from_secs(61)));
        let audited = (0..1000u32)
            .filter(|n| {
                let a = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n));
                g.first_denial_in_a_while(a, now + Duration::from_secs(61))
            })
            .count();
        // However many addresses are refused, each one's first refusal of
        // the minute goes on to the audit log (whose refusal budget decides).
        assert_eq!(audited, 1000);
    }

    #[test]
    fn prefixes_are_twelve_characters() {
        assert_eq!(prefix_of("berth_abcdefghijklmnop"), "berth_abcdef");
        assert_eq!(prefix_of("short"), "short");
        assert_eq!(prefix_of("ééééééééééééé"), "éééééééééééé");
    }

    #[test]
    fn registry_urls() {
        let name = |path| registry_of(path).map(|r| r.map(|n| n.into_owned()));
        let ok = |s: &str| Some(Ok(s.to_string()));
        assert_eq!(name("/r/main/index/config.json"), ok("main"));
        assert_eq!(name("/api/v1/registries/corp/crates/x"), ok("corp"));
        assert_eq!(name("/api/v1/registries/corp"), ok("corp"));
        assert_eq!(name("/api/v1/audit"), None);
        assert_eq!(name("/health"), None);
        assert_eq!(name("/r//index/x"), None);
        // Decoded as the router decodes `{registry}`: every spelling of a
        // name is that name.
        assert_eq!(name("/r/sec%75re/index/config.json"), ok("secure"));
        assert_eq!(name("/r/%73%65%63%75%72%65"), ok("secure"));
        assert_eq!(name("/api/v1/registries/c%6Frp/crates/x"), ok("corp"));
        assert_eq!(name("/r/a%2Fb/index/x"), ok("a/b"));
        assert_eq!(name("/r/%ff/index/x"), Some(Err(())));
    }
}
