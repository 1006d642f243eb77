//! A blocking HTTP client for tests, what a server answered ([`Reply`]), and
//! the redactions that make whole bodies stable enough to snapshot.

use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::publish::PublishBuilder;

/// A blocking HTTP client with a bounded timeout (a hung server fails the
/// test instead of hanging it).
pub fn http() -> Client {
    http_with_timeout(Duration::from_secs(60))
}

/// Like [`http`], with another timeout.
pub fn http_with_timeout(timeout: Duration) -> Client {
    Client::builder()
        .timeout(timeout)
        .build()
        .expect("build an HTTP client")
}

/// What a server answered, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    /// Reads a response whole; the request id at the end of error details
    /// reads `[REQUEST_ID]` ([`redact_request_ids`]), the header keeps it.
    pub fn read(r: Response) -> Result<Reply, reqwest::Error> {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = redact_request_ids(&r.text()?);
        Ok(Reply {
            status,
            headers,
            text,
        })
    }

    /// A 2xx status.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The Content-Type, or "".
    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or_default()
    }

    /// The body as JSON (panics, showing the body, unless it is JSON).
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text))
    }

    /// Fails the test unless the body contains every one of `wants`.
    #[track_caller]
    pub fn assert_has(&self, wants: &[&str]) {
        for want in wants {
            assert!(self.text.contains(want), "{want} missing: {}", self.text);
        }
    }

    /// Fails the test if the body contains any of `unwanted`.
    #[track_caller]
    pub fn assert_lacks(&self, unwanted: &[&str]) {
        for bad in unwanted {
            assert!(!self.text.contains(bad), "{bad} present: {}", self.text);
        }
    }

    /// The `detail` of cargo's `{"errors":[{"detail":..}]}`, if the body has
    /// that shape.
    pub fn detail(&self) -> Option<String> {
        let v: Value = serde_json::from_str(&self.text).ok()?;
        v["errors"][0]["detail"].as_str().map(str::to_string)
    }
}

/// Sends a request and reads the answer whole.
pub fn send(req: RequestBuilder) -> Result<Reply, reqwest::Error> {
    Reply::read(req.send()?)
}

/// Publishes `name@vers` with these `.crate` bytes to registry `main` at
/// `url`; the status, or None when the server could not be reached.
pub fn publish_raw(url: &str, token: &str, name: &str, vers: &str, krate: &[u8]) -> Option<u16> {
    http()
        .put(format!("{url}/r/main/api/v1/crates/new"))
        .header("Authorization", token)
        .body(
            PublishBuilder::new(name, vers)
                .tarball(krate.to_vec())
                .body(),
        )
        .send()
        .ok()
        .map(|r| r.status().as_u16())
}

/// sha256 hex of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// `text` with every occurrence of each `(value, placeholder)` replaced, for
/// snapshots of bodies that carry a port, a temp path, a token or a time.
/// Empty values are skipped.
pub fn redact(text: &str, redactions: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    for (value, placeholder) in redactions {
        if !value.is_empty() {
            out = out.replace(value, placeholder);
        }
    }
    out
}

/// `text` with the id of every ` (request id: ID)` (what the server appends
/// to each error detail) as `[REQUEST_ID]`.
pub fn redact_request_ids(text: &str) -> String {
    const MARK: &str = " (request id: ";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(MARK) {
        let after = &rest[at + MARK.len()..];
        let Some(end) = after.find(')') else {
            break;
        };
        out.push_str(&rest[..at + MARK.len()]);
        out.push_str("[REQUEST_ID]");
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// `text` with the number `n` replaced by `placeholder` wherever it stands
/// alone (not inside a longer run of digits), for sizes that depend on gzip
/// output rather than on what a test means.
pub fn redact_number(text: &str, n: impl std::fmt::Display, placeholder: &str) -> String {
    let n = n.to_string();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&n) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + n.len()..].chars().next();
        out.push_str(&rest[..at]);
        if before.is_some_and(|c| c.is_ascii_digit()) || after.is_some_and(|c| c.is_ascii_digit()) {
            out.push_str(&n);
        } else {
            out.push_str(placeholder);
        }
        rest = &rest[at + n.len()..];
    }
    out.push_str(rest);
    out
}

/// `value` with the value of every object key named in `keys`, at any
/// depth, replaced by `"[KEY]"`: times, checksums and sizes that change from
/// run to run or with the cargo that packaged a crate.
pub fn redact_json(mut value: Value, keys: &[&str]) -> Value {
    fn walk(v: &mut Value, keys: &[&str]) {
        match v {
            Value::Object(map) => {
                for (k, child) in map.iter_mut() {
                    if keys.contains(&k.as_str()) {
                        *child = Value::String(format!("[{k}]"));
                    } else {
                        walk(child, keys);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|c| walk(c, keys)),
            _ => {}
        }
    }
    walk(&mut value, keys);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_redacted_only_alone() {
        assert_eq!(
            redact_number("187 of 1870, 187.", 187, "[N]"),
            "[N] of 1870, [N]."
        );
        assert_eq!(redact_number("21870", 187, "[N]"), "21870");
    }

    #[test]
    fn json_keys_are_redacted_at_any_depth() {
        let v = serde_json::json!({"a": 1, "b": [{"a": {"x": 2}, "c": 3}]});
        assert_eq!(
            redact_json(v, &["a"]),
            serde_json::json!({"a": "[a]", "b": [{"a": "[a]", "c": 3}]})
        );
    }

    #[test]
    fn request_ids_are_redacted() {
        assert_eq!(
            redact_request_ids(r#"{"errors":[{"detail":"no (request id: 0a1b)"}]}"#),
            r#"{"errors":[{"detail":"no (request id: [REQUEST_ID])"}]}"#
        );
        assert_eq!(redact_request_ids("a (request id: x"), "a (request id: x");
    }

    #[test]
    fn redactions_apply_in_order() {
        assert_eq!(
            redact("http://127.0.0.1:4242/r", &[("127.0.0.1:4242", "[HOST]")]),
            "http://[HOST]/r"
        );
        assert_eq!(redact("x", &[("", "[EMPTY]")]), "x");
    }
}
