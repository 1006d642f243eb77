//! Why a proxy could not get what it asked its upstream for: the one error
//! type of the proxy's upstream work, and its one conversion to a
//! [`ServiceError`]. Each message is what cargo users and the log read; it
//! names the upstream problem, never the upstream token, and never echoes
//! what a host other than the upstream said.
//!
//! This module only names failures; it contacts nothing.

use berth_store::StoreError;
use reqwest::StatusCode;

use crate::error::ServiceError;

/// What parsing a URL fails with (the `url` crate's error, reached
/// through reqwest).
pub(crate) type UrlError = <reqwest::Url as std::str::FromStr>::Err;

/// A failure of the upstream, of what it answered, or of keeping it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    // What was asked, around why it failed (a 502 that says why).
    /// An index file, with nothing cached to stand in.
    #[error("registry `{registry}` could not get `{name}` from its upstream: {why}")]
    IndexFile {
        registry: String,
        name: String,
        #[source]
        why: Box<UpstreamError>,
    },
    /// A `.crate`.
    #[error("registry `{registry}` could not get {name}@{vers} from its upstream: {why}")]
    CrateFile {
        registry: String,
        name: String,
        vers: String,
        #[source]
        why: Box<UpstreamError>,
    },
    /// The upstream's `config.json`, with nothing cached to stand in.
    #[error("registry `{registry}` cannot reach its upstream: {why}")]
    Config {
        registry: String,
        #[source]
        why: Box<UpstreamError>,
    },

    // Where the proxy may not go.
    /// A URL that does not parse.
    #[error("`{url}` is not a usable URL: {source}")]
    BadUrl { url: String, source: UrlError },
    /// A host that is neither trusted nor at a public address.
    #[error(
        "`{host}` is neither the upstream's host nor a public address; not contacted (list \
         it in the proxy's `upstream_allowed_hosts` if you trust it)"
    )]
    NotPermitted { host: String },
    /// A redirect to such a host.
    #[error(
        "the upstream redirected to another host `{host}`, which is not a public address; \
         not followed (list it in the proxy's `upstream_allowed_hosts` if you trust it)"
    )]
    RedirectNotPermitted { host: String },
    /// A redirect without a `Location` to follow.
    #[error("the upstream answered {status} without a usable Location")]
    RedirectWithoutLocation { status: StatusCode },
    /// Redirects beyond the bound.
    #[error("the upstream redirected more than {max} times; not followed")]
    TooManyRedirects { max: usize },

    // The upstream's answer.
    /// No answer: the connection, the name or the deadline failed, with
    /// every cause (reqwest's message names the URL, never the headers).
    #[error("{}", with_causes(.source))]
    Unreachable { source: reqwest::Error },
    /// The proxy's own request slots are gone (never while it serves).
    #[error("{0}")]
    Closed(#[from] tokio::sync::AcquireError),
    /// A status the request cannot use.
    #[error("the upstream answered {status}")]
    Status { status: StatusCode },
    /// 401 or 403 for an index file: the token is missing or wrong.
    #[error("the upstream refused the request ({status}); check the proxy's upstream_token_env")]
    Refused { status: StatusCode },
    /// A body larger than the proxy reads.
    #[error("the upstream's answer is larger than {max} bytes")]
    TooLarge { max: u64 },
    /// An index body larger than `limits.max_index_file_bytes`.
    #[error("the upstream's index file is larger than {max} bytes (limits.max_index_file_bytes)")]
    IndexTooLarge { max: u64 },
    /// A body broken off while it was read.
    #[error("reading the upstream's answer: {0}")]
    Reading(#[source] reqwest::Error),
    /// A body longer than its `Content-Length`.
    #[error("the upstream sent more than it declared")]
    MoreThanDeclared,

    // What the answer says.
    /// An index file that is not text.
    #[error("the upstream's index file is not UTF-8")]
    NotUtf8,
    /// An index line that does not parse, as a fresh answer is checked.
    #[error("the upstream's index file is unusable: {0}")]
    Unusable(String),
    /// An index line that does not parse, as a served file is read to
    /// find a version (the line's own message, naming its line).
    #[error("{0}")]
    BadLine(String),
    /// An index file whose lines name another crate.
    #[error("the upstream's index file is for another crate")]
    OtherCrate,
    /// A `.crate` whose bytes do not have the index's checksum (what was
    /// sent is not echoed; the log has its sha256).
    #[error(
        "the .crate does not match the sha256 {expected} the index gives; it was refused and \
         not cached"
    )]
    Mismatch { expected: String },
    /// The upstream now gives another checksum for a version this registry
    /// logged when it first stored it.
    #[error(
        "the upstream now gives sha256 {offered} for this version, but this registry logged \
         sha256 {logged} when it first stored it: a published version's bytes never change, so \
         the new bytes are refused (see the registry's transparency log)"
    )]
    Changed { logged: String, offered: String },
    /// A `config.json` that is not text.
    #[error("{0}")]
    ConfigNotUtf8(#[source] std::string::FromUtf8Error),
    /// A `config.json` that is not JSON.
    #[error("the upstream's config.json is not JSON: {0}")]
    ConfigNotJson(#[source] serde_json::Error),
    /// A `config.json` without an http(s) `dl`.
    #[error("the upstream's config.json has no http(s) `dl`")]
    ConfigNoDl,
    /// A `dl` that makes no URL.
    #[error("the upstream's config.json has an unusable `dl`: {0}")]
    ConfigBadDl(#[source] UrlError),
    /// A `dl` on a host the proxy may not contact.
    #[error(
        "the upstream's config.json names the download host `{host}`, which is neither \
         the upstream's host nor a public address; not used (list it in \
         `upstream_allowed_hosts` of registry `{registry}` if you trust it)"
    )]
    ConfigDlNotPermitted { host: String, registry: String },

    // The proxy's own side.
    /// `limits.proxy_index_buffer_bytes` is taken by other bodies (503
    /// when no upstream request is involved yet).
    #[error(
        "the server is reading as many upstream index files as its memory allows \
         (limits.proxy_index_buffer_bytes); try again shortly"
    )]
    Busy,
    /// No memory of its own for a large index body.
    #[error("no memory for the upstream's index file: {0}")]
    NoMemory(#[source] std::io::Error),
    /// The mapping holding a large index body could not be sealed.
    #[error("keeping the upstream's index file: {0}")]
    Keeping(#[source] std::io::Error),
    /// The database refused the answer.
    #[error("storing the answer: {0}")]
    Storing(#[source] StoreError),
    /// The answer could not be made a served file.
    #[error("{0}")]
    Building(ServiceError),
}

/// A reqwest error's message followed by each of its causes (a refused
/// name, a timeout), as one line.
fn with_causes(e: &reqwest::Error) -> String {
    let mut why = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        why = format!("{why}: {c}");
        cause = c.source();
    }
    why
}

impl From<UpstreamError> for ServiceError {
    /// A full memory budget is the server's own, passing state (503); a
    /// failure to build a served file keeps its class; every other failure
    /// is the upstream's (502). The message is the error's text.
    fn from(e: UpstreamError) -> Self {
        match e {
            UpstreamError::Busy => ServiceError::Unavailable(e.to_string()),
            UpstreamError::Building(inner) => inner,
            other => ServiceError::BadGateway(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why() -> Box<UpstreamError> {
        Box::new(UpstreamError::Status {
            status: StatusCode::INTERNAL_SERVER_ERROR,
        })
    }

    #[test]
    fn messages_read_as_they_always_have() {
        let cases = [
            (
                UpstreamError::IndexFile {
                    registry: "public".into(),
                    name: "tool".into(),
                    why: why(),
                },
                "registry `public` could not get `tool` from its upstream: the upstream answered \
                 500 Internal Server Error",
            ),
            (
                UpstreamError::CrateFile {
                    registry: "public".into(),
                    name: "tool".into(),
                    vers: "1.0.0".into(),
                    why: why(),
                },
                "registry `public` could not get tool@1.0.0 from its upstream: the upstream \
                 answered 500 Internal Server Error",
            ),
            (
                UpstreamError::Config {
                    registry: "public".into(),
                    why: why(),
                },
                "registry `public` cannot reach its upstream: the upstream answered 500 Internal \
                 Server Error",
            ),
            (
                UpstreamError::NotPermitted {
                    host: "10.0.0.1:80".into(),
                },
                "`10.0.0.1:80` is neither the upstream's host nor a public address; not \
                 contacted (list it in the proxy's `upstream_allowed_hosts` if you trust it)",
            ),
            (
                UpstreamError::RedirectNotPermitted {
                    host: "10.0.0.1".into(),
                },
                "the upstream redirected to another host `10.0.0.1`, which is not a public \
                 address; not followed (list it in the proxy's `upstream_allowed_hosts` if you \
                 trust it)",
            ),
            (
                UpstreamError::RedirectWithoutLocation {
                    status: StatusCode::FOUND,
                },
                "the upstream answered 302 Found without a usable Location",
            ),
            (
                UpstreamError::TooManyRedirects { max: 5 },
                "the upstream redirected more than 5 times; not followed",
            ),
            (
                UpstreamError::Refused {
                    status: StatusCode::FORBIDDEN,
                },
                "the upstream refused the request (403 Forbidden); check the proxy's \
                 upstream_token_env",
            ),
            (
                UpstreamError::TooLarge { max: 10 },
                "the upstream's answer is larger than 10 bytes",
            ),
            (
                UpstreamError::IndexTooLarge { max: 10 },
                "the upstream's index file is larger than 10 bytes \
                 (limits.max_index_file_bytes)",
            ),
            (
                UpstreamError::MoreThanDeclared,
                "the upstream sent more than it declared",
            ),
            (
                UpstreamError::NotUtf8,
                "the upstream's index file is not UTF-8",
            ),
            (
                UpstreamError::Unusable("line 1: bad".into()),
                "the upstream's index file is unusable: line 1: bad",
            ),
            (UpstreamError::BadLine("line 1: bad".into()), "line 1: bad"),
            (
                UpstreamError::OtherCrate,
                "the upstream's index file is for another crate",
            ),
            (
                UpstreamError::Mismatch {
                    expected: "ab".into(),
                },
                "the .crate does not match the sha256 ab the index gives; it was refused and \
                 not cached",
            ),
            (
                UpstreamError::ConfigNoDl,
                "the upstream's config.json has no http(s) `dl`",
            ),
            (
                UpstreamError::ConfigDlNotPermitted {
                    host: "10.0.0.1".into(),
                    registry: "public".into(),
                },
                "the upstream's config.json names the download host `10.0.0.1`, which is \
                 neither the upstream's host nor a public address; not used (list it in \
                 `upstream_allowed_hosts` of registry `public` if you trust it)",
            ),
            (
                UpstreamError::Busy,
                "the server is reading as many upstream index files as its memory allows \
                 (limits.proxy_index_buffer_bytes); try again shortly",
            ),
            (
                UpstreamError::Storing(StoreError::CrateNotFound("tool".into())),
                "storing the answer: crate `tool` does not exist",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
        }
        let url = reqwest::Url::parse("no url").unwrap_err();
        assert_eq!(
            UpstreamError::BadUrl {
                url: "no url".into(),
                source: url,
            }
            .to_string(),
            format!("`no url` is not a usable URL: {url}")
        );
        assert_eq!(
            UpstreamError::ConfigBadDl(url).to_string(),
            format!("the upstream's config.json has an unusable `dl`: {url}")
        );
        let json = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let text = format!("the upstream's config.json is not JSON: {json}");
        assert_eq!(UpstreamError::ConfigNotJson(json).to_string(), text);
        let utf8 = String::from_utf8(vec![0xff]).unwrap_err();
        let text = utf8.to_string();
        assert_eq!(UpstreamError::ConfigNotUtf8(utf8).to_string(), text);
    }

    #[test]
    fn a_full_budget_is_unavailable_and_the_rest_a_bad_gateway() {
        assert!(matches!(
            ServiceError::from(UpstreamError::Busy),
            ServiceError::Unavailable(m) if m.contains("proxy_index_buffer_bytes")
        ));
        assert!(matches!(
            ServiceError::from(UpstreamError::Building(ServiceError::Internal("x".into()))),
            ServiceError::Internal(m) if m == "x"
        ));
        assert!(matches!(
            ServiceError::from(UpstreamError::IndexFile {
                registry: "public".into(),
                name: "tool".into(),
                why: Box::new(UpstreamError::Busy),
            }),
            ServiceError::BadGateway(m) if m.starts_with("registry `public` could not get `tool`")
        ));
    }
}
