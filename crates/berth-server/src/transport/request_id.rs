//! Request ids, and the one outermost middleware that gives them: one id
//! per request, so that a user's error report finds the server's log lines
//! for it.
//!
//! The id is the client's `X-Request-Id` when it is sane (1 to 128 bytes of
//! letters, digits and `-_.:@`), else 16 random hex digits. It is the
//! `request_id` of the request's context, which the log writer puts on every
//! line written while the request is answered (with the `client` address:
//! [`current_request`]), is echoed in the response's
//! `X-Request-Id`, and ends the `detail` of every error body in cargo's shape
//! (cargo prints `errors[].detail`), rendered here once by
//! [`crate::error::render`]. The middleware also runs what every
//! request needs before and after its handler (client address, allow-list,
//! login hint, metrics), each decided in its own module; this one never
//! decides a status or rewrites a message, it only appends the id.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::guard::ClientAddr;
use crate::AppState;

/// The target of each request's log line: what operators filter on
/// (`RUST_LOG=berth_server::request_id=debug`), kept as it was when this
/// module stood at the crate's root.
pub const LOG_TARGET: &str = "berth_server::request_id";

/// What the log lines of a request name: its id and its client's address.
/// It is the value of a task-local set around the request's future, so it
/// costs a swap per poll and is read only when a line is written (a
/// tracing span, made and closed on every request whether or not a line
/// was written in it, was a tenth of a cached index hit's instructions).
struct RequestContext {
    id: HeaderValue,
    client: Option<IpText>,
}

tokio::task_local! {
    static REQUEST: RequestContext;
}

/// Calls `f` with the id and the client's address of the request being
/// answered by the code that runs now (on this task), if it runs for one:
/// what the log writer puts on each line (`berth::logging`).
pub fn current_request<R>(f: impl FnOnce(&str, Option<&str>) -> R) -> Option<R> {
    REQUEST
        .try_with(|r| {
            f(
                r.id.to_str().unwrap_or("-"),
                r.client.as_ref().map(IpText::as_str),
            )
        })
        .ok()
}

/// `x-request-id`.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Whether a client's id is safe to log and echo.
pub fn sane(id: &[u8]) -> bool {
    (1..=128).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'@'))
}

fn make_id() -> HeaderValue {
    let mut hex = [0u8; 16];
    if hex::encode_to_slice(rand::random::<u64>().to_be_bytes(), &mut hex).is_err() {
        return HeaderValue::from_static("0");
    }
    HeaderValue::from_bytes(&hex).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

/// The TCP peer of a connection, given with each of its requests to
/// [`crate::App::call`]; `guard::ClientAddr` is the client's address
/// derived from it. The address is written as text once per connection,
/// for the log lines of a client that is its own peer (no proxy).
#[derive(Clone, Copy)]
pub(crate) struct PeerAddr {
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) text: IpText,
}

impl PeerAddr {
    pub(crate) fn new(addr: std::net::SocketAddr) -> Self {
        Self {
            addr,
            text: IpText::new(addr.ip().to_canonical()),
        }
    }
}

/// An address as text, as `Display` writes it, on the stack; IPv4 without
/// the formatting machinery (each request's context carries its client).
#[derive(Clone, Copy)]
pub(crate) struct IpText {
    text: [u8; 45],
    len: usize,
}

impl IpText {
    pub(crate) fn new(ip: std::net::IpAddr) -> Self {
        let mut text = [0u8; 45];
        let std::net::IpAddr::V4(v4) = ip else {
            use std::io::Write as _;
            let mut cursor = std::io::Cursor::new(&mut text[..]);
            // At most 45 bytes: an IPv6 address with an embedded IPv4 one.
            let _ = write!(cursor, "{ip}");
            let len = cursor.position() as usize;
            return Self { text, len };
        };
        let mut len = 0;
        for (i, octet) in v4.octets().into_iter().enumerate() {
            if i > 0 {
                text[len] = b'.';
                len += 1;
            }
            let digits = [octet / 100, octet / 10 % 10, octet % 10];
            let skip = if octet >= 100 {
                0
            } else if octet >= 10 {
                1
            } else {
                2
            };
            for d in &digits[skip..] {
                text[len] = b'0' + d;
                len += 1;
            }
        }
        Self { text, len }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.text[..self.len]).unwrap_or("?")
    }
}

/// The outermost middleware: finds the client's address (behind a trusted
/// proxy, the user's rather than the proxy's: [`crate::guard`]), sets the
/// request's context, so that every line names it, refuses an address outside
/// a registry's allow-list, adds cargo's login hint to a 401, logs the
/// outcome and counts the request in the metrics.
pub async fn request_id(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let labels = crate::request_labels(&req);
    let peer = req.extensions().get::<PeerAddr>().copied();
    around(state, req, peer, labels, |req| next.run(req)).await
}

/// What [`request_id`] does around `inner` (the rest of the stack, or a
/// hot path's handler called without the router: [`crate::App`]), with the
/// request's metrics labels; `peer` is the connection's.
pub(crate) async fn around<F, Fut>(
    state: AppState,
    mut req: Request,
    peer: Option<PeerAddr>,
    labels: (&'static str, &'static str),
    inner: F,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let client = peer.map(|peer| (peer, state.guard.client(peer.addr.ip(), req.headers())));
    if let Some((_, client)) = client {
        req.extensions_mut().insert(ClientAddr(client));
    }
    // Echoed in the response (nothing reads it from the request: it is
    // not copied back into the request's headers).
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .filter(|v| sane(v.as_bytes()))
        .cloned()
        .unwrap_or_else(make_id);
    // The connection's text when the client is its peer.
    let client = client.map(|(peer, ip)| {
        if ip == peer.addr.ip().to_canonical() {
            peer.text
        } else {
            IpText::new(ip)
        }
    });
    let context = RequestContext {
        id: id.clone(),
        client,
    };
    let answer = async move {
        let started = std::time::Instant::now();
        // Cheap clones (shared bytes), formatted only if a line is written.
        let (method, uri) = (req.method().clone(), req.uri().clone());
        let refusal = crate::guard::outside_allow_list(&state, &req);
        let mut response = match refusal {
            Some((refused, entry)) => {
                if let Some(entry) = entry {
                    Box::pin(state.berth.audit_refusal(&entry)).await;
                }
                refused
            }
            None => inner(req).await,
        };
        crate::caller::add_login_hint(&state, uri.path(), &mut response);
        let status = response.status();
        let elapsed = started.elapsed();
        crate::record_request(labels, status.as_u16(), elapsed);
        let elapsed_ms = elapsed.as_millis() as u64;
        let shown = crate::docs::redact_pass(uri.path());
        let (code, path) = (status.as_u16(), &*shown);
        let reason = crate::error::render(&mut response, id.to_str().unwrap_or("-"));
        if code >= 400 {
            // What the client was told, clipped: the message it shows
            // (never a secret: it went to the client), else the status.
            let reason = reason
                .as_deref()
                .map(clip)
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("-").to_string());
            if status.is_server_error() {
                tracing::warn!(target: LOG_TARGET, %method, path, status = code, elapsed_ms, reason, "request failed");
            } else if code == 404 && method == axum::http::Method::GET && is_index_probe(path) {
                // cargo asks for the index file of every spelling of a
                // name it resolves; a 404 there is the ordinary answer.
                tracing::debug!(target: LOG_TARGET, %method, path, status = code, elapsed_ms, reason, "request refused");
            } else {
                tracing::info!(target: LOG_TARGET, %method, path, status = code, elapsed_ms, reason, "request refused");
            }
        } else {
            tracing::debug!(target: LOG_TARGET, %method, path, status = code, elapsed_ms, "request done");
        }
        response.headers_mut().insert(X_REQUEST_ID.clone(), id);
        response
    };
    REQUEST.scope(context, answer).await
}

/// Most characters of an error's message written on its log line.
const MAX_REASON: usize = 200;

/// `detail` on one line, at most [`MAX_REASON`] characters.
fn clip(detail: &str) -> String {
    let mut out: String = detail
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_REASON)
        .collect();
    if detail.chars().count() > MAX_REASON {
        out.push('…');
    }
    out
}

/// Whether `path` is a crate's index file (`/r/REG/index/..`, not
/// `config.json`), which cargo asks for in every spelling of a name.
fn is_index_probe(path: &str) -> bool {
    path.strip_prefix("/r/")
        .and_then(|rest| rest.split_once("/index/"))
        .is_some_and(|(registry, file)| !registry.contains('/') && file != "config.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_one_clipped_line_and_index_probes_are_told_apart() {
        assert_eq!(clip("no such\ncrate"), "no such crate");
        let long = "x".repeat(300);
        assert_eq!(clip(&long).chars().count(), MAX_REASON + 1);
        assert!(is_index_probe("/r/main/index/se/rd/serde"));
        assert!(is_index_probe("/r/main/index/3/a/abc"));
        assert!(!is_index_probe("/r/main/index/config.json"));
        assert!(!is_index_probe("/r/main/api/v1/crates/x/1.0.0/download"));
        assert!(!is_index_probe("/crates/serde"));
    }

    #[test]
    fn only_sane_ids_are_kept() {
        assert!(sane(b"abc-123_x.y:z@w"));
        assert!(sane(&[b'a'; 128]));
        assert!(!sane(&[b'a'; 129]));
        assert!(!sane(b""));
        assert!(!sane(b"a b"));
        assert!(!sane(b"a\"b"));
        assert!(!sane("é".as_bytes()));
    }

    #[test]
    fn addresses_print_as_std_prints_them() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.9.99.100",
            "255.255.255.255",
            "1.20.3.40",
            "::1",
            "fe80::1",
            "::ffff:255.255.255.255",
            "1111:2222:3333:4444:5555:6666:7777:8888",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(IpText::new(ip).as_str(), ip.to_string());
        }
        for n in (0..=u32::MAX).step_by(65_537) {
            let ip = std::net::IpAddr::V4(n.into());
            assert_eq!(IpText::new(ip).as_str(), ip.to_string());
        }
    }
}
