//! `berth verify`'s HTTP: one client for the whole run, the log endpoints
//! of `/r/REG/log/` (lookup, consistency, checkpoint), every body read up
//! to a bound, and errors that name the URL, the status and the server's
//! `errors[0].detail`. Nothing here judges what it fetched.

use std::fmt;
use std::time::Duration;

use berth_log::Hash;
use serde::Deserialize;

use super::index::IndexUrl;

/// Largest body read from any log endpoint.
pub const MAX_BODY: usize = 1 << 20;
/// Most hashes a proof may have (a tree of 2^64 leaves needs 128).
const MAX_PROOF: usize = 128;

/// Why a request to the log failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The server answered with an error status.
    Status {
        url: String,
        status: u16,
        detail: Option<String>,
    },
    /// No answer, or one cut short or too large, or not of the shape the
    /// contract says.
    Other { url: String, what: String },
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Status {
                url,
                status,
                detail,
            } => {
                write!(f, "GET {url}: HTTP {status}")?;
                if let Some(d) = detail {
                    write!(f, ": {d}")?;
                }
                Ok(())
            }
            FetchError::Other { url, what } => write!(f, "GET {url}: {what}"),
        }
    }
}

/// What `GET /r/REG/log/lookup/NAME/VERSION` answers.
#[derive(Debug, Clone, Deserialize)]
pub struct Lookup {
    /// The registry whose log holds the version.
    pub registry: String,
    /// The record's canonical line.
    pub record: String,
    pub index: u64,
    pub tree_size: u64,
    /// Base64 hashes.
    pub inclusion: Vec<String>,
    /// The signed note of the tree of `tree_size`.
    pub checkpoint: String,
}

#[derive(Deserialize)]
struct Consistency {
    from: u64,
    to: u64,
    proof: Vec<String>,
}

/// The log endpoints of one server, over one client.
#[derive(Clone)]
pub struct LogClient {
    client: reqwest::Client,
    index: IndexUrl,
    token: Option<String>,
}

impl LogClient {
    pub fn new(index: IndexUrl, token: Option<String>) -> anyhow::Result<LogClient> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("berth-verify/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(LogClient {
            client,
            index,
            token,
        })
    }

    pub fn index(&self) -> &IndexUrl {
        &self.index
    }

    /// The log entry of `name` `version`, as the index's registry answers.
    pub async fn lookup(&self, name: &str, version: &str) -> Result<Lookup, FetchError> {
        let url = self
            .index
            .log_url(&self.index.registry, &format!("lookup/{name}/{version}"));
        let body = self.get(&url).await?;
        serde_json::from_slice(&body).map_err(|e| FetchError::Other {
            url,
            what: format!("not a lookup answer: {e}"),
        })
    }

    /// The consistency proof from the tree of `from` leaves to that of `to`
    /// in the log of `registry`.
    pub async fn consistency(
        &self,
        registry: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<Hash>, FetchError> {
        let url = self
            .index
            .log_url(registry, &format!("consistency?from={from}&to={to}"));
        let body = self.get(&url).await?;
        let bad = |what: String| FetchError::Other {
            url: url.clone(),
            what,
        };
        let answer: Consistency = serde_json::from_slice(&body)
            .map_err(|e| bad(format!("not a consistency answer: {e}")))?;
        if (answer.from, answer.to) != (from, to) {
            return Err(bad(format!(
                "the proof is from {} to {}, not the sizes asked",
                answer.from, answer.to
            )));
        }
        hashes(&answer.proof).map_err(bad)
    }

    /// The latest signed checkpoint of the log of `registry` (its text).
    pub async fn checkpoint(&self, registry: &str) -> Result<String, FetchError> {
        let url = self.index.log_url(registry, "checkpoint");
        let body = self.get(&url).await?;
        String::from_utf8(body).map_err(|_| FetchError::Other {
            url,
            what: "the checkpoint is not UTF-8".into(),
        })
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let other = |what: String| FetchError::Other {
            url: url.to_string(),
            what,
        };
        let mut request = self.client.get(url);
        if let Some(token) = &self.token {
            request = request.header(reqwest::header::AUTHORIZATION, token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| other(format!("no answer: {}", chain(&e))))?;
        let status = response.status();
        let limit = if status.is_success() {
            MAX_BODY
        } else {
            64 * 1024
        };
        let body = read_bounded(response, limit).await.map_err(other)?;
        if !status.is_success() {
            return Err(FetchError::Status {
                url: url.to_string(),
                status: status.as_u16(),
                detail: error_detail(&body),
            });
        }
        Ok(body)
    }
}

/// The body of `response`, refused past `limit` bytes.
async fn read_bounded(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(format!("the answer is larger than {limit} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("the answer was cut short: {}", chain(&e)))?
    {
        if body.len() + chunk.len() > limit {
            return Err(format!("the answer is larger than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The error and its causes, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `errors[0].detail` of cargo's error body, when there is one.
pub fn error_detail(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let detail = value.get("errors")?.get(0)?.get("detail")?.as_str()?;
    Some(detail.chars().take(500).collect())
}

/// Base64 hashes of a proof.
pub fn hashes(proof: &[String]) -> Result<Vec<Hash>, String> {
    if proof.len() > MAX_PROOF {
        return Err(format!(
            "a proof of {} hashes is longer than any tree needs",
            proof.len()
        ));
    }
    proof
        .iter()
        .enumerate()
        .map(|(i, h)| Hash::from_base64(h).map_err(|e| format!("proof hash {i}: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_url_status_and_detail() {
        let body = br#"{"errors":[{"detail":"crate `foo` 9.9.9 is not in the log"}]}"#;
        let e = FetchError::Status {
            url: "http://h/r/main/log/lookup/foo/9.9.9".into(),
            status: 404,
            detail: error_detail(body),
        };
        assert_eq!(
            e.to_string(),
            "GET http://h/r/main/log/lookup/foo/9.9.9: HTTP 404: crate `foo` 9.9.9 is not in the log"
        );
        assert_eq!(error_detail(b"<html>"), None);
        assert_eq!(error_detail(br#"{"errors":[]}"#), None);
    }

    #[test]
    fn proofs_decode_or_say_which_hash_is_bad() {
        let h = berth_log::leaf_hash(b"x");
        assert_eq!(hashes(&[h.to_base64()]).unwrap(), vec![h]);
        let e = hashes(&[h.to_base64(), "AAAA".into()]).unwrap_err();
        assert!(e.starts_with("proof hash 1:"), "{e}");
        assert!(hashes(&vec![h.to_base64(); 129]).is_err());
    }
}
