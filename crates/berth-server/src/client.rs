//! What a request says about its client, as the audit log keeps it: the
//! `User-Agent` and any text from the request, clipped to what a row holds.
//! Used by the caller extractor and the address guard alike (neither
//! imports the other for it).

use axum::http::{header, HeaderMap};

/// How much of a `User-Agent` an audit row keeps.
const USER_AGENT_CHARS: usize = 200;

/// The request's `User-Agent`, clipped, as audit rows keep it.
pub(crate) fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .map(|v| clip(&String::from_utf8_lossy(v.as_bytes()), USER_AGENT_CHARS))
}

/// The first `chars` characters of `s`.
pub(crate) fn clip(s: &str, chars: usize) -> String {
    s.chars().take(chars).collect()
}
