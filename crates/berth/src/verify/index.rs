//! The registry `berth verify` checks against, read from its sparse index
//! URL (`sparse+http://HOST/PREFIX/r/REG/index/`): where its log endpoints
//! are, which lockfile sources are its, and which log origin a checkpoint
//! of one of its logs must name. Pure: no I/O.

use anyhow::{bail, Result};

/// A Berth registry's index URL, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexUrl {
    /// `http(s)://HOST/PREFIX`: what comes before `/r/REG/`.
    pub base: String,
    /// The registry the index URL names (a virtual registry answers for
    /// its members: the log a lookup names may be another's).
    pub registry: String,
    /// The source id cargo writes in a lockfile for it:
    /// `sparse+BASE/r/REG/index/`.
    pub source: String,
}

impl IndexUrl {
    /// Reads `sparse+URL` (the `sparse+` may be left out); the URL must end
    /// in `/r/REG/index` (a trailing `/` or none).
    pub fn parse(text: &str) -> Result<IndexUrl> {
        let shape = "a Berth index URL looks like sparse+https://HOST/r/REGISTRY/index/";
        let url = text.strip_prefix("sparse+").unwrap_or(text);
        let Some(rest) = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
        else {
            bail!("`{text}` is not an http(s) URL: {shape}");
        };
        if rest.contains(['?', '#', ' ']) || rest.chars().any(char::is_control) {
            bail!("`{text}` has a query, fragment, space or control character: {shape}");
        }
        let Some(host_end) = rest.find('/') else {
            bail!("`{text}` has no path: {shape}");
        };
        if host_end == 0 || rest[..host_end].contains('@') {
            bail!("`{text}` has no host, or credentials in it: {shape}");
        }
        let trimmed = url.trim_end_matches('/');
        let Some(registry_url) = trimmed.strip_suffix("/index") else {
            bail!("`{text}` does not end in /index/: {shape}");
        };
        let Some(at) = registry_url.rfind("/r/") else {
            bail!("`{text}` has no /r/REGISTRY/ part: {shape}");
        };
        let registry = &registry_url[at + 3..];
        if !is_registry_name(registry) {
            bail!(
                "`{text}` names the registry `{registry}`, which is not a registry name: {shape}"
            );
        }
        let base = &registry_url[..at];
        Ok(IndexUrl {
            base: base.to_string(),
            registry: registry.to_string(),
            source: format!("sparse+{base}/r/{registry}/index/"),
        })
    }

    /// The origin of the log of `registry` on this server: the base URL
    /// without its scheme, `/r/`, the registry (what the server signs as
    /// its checkpoints' first line).
    pub fn origin_of(&self, registry: &str) -> String {
        let bare = self
            .base
            .strip_prefix("https://")
            .or_else(|| self.base.strip_prefix("http://"))
            .unwrap_or(&self.base);
        format!("{bare}/r/{registry}")
    }

    /// The URL of `path` under the log of `registry`.
    pub fn log_url(&self, registry: &str, path: &str) -> String {
        format!("{}/r/{registry}/log/{path}", self.base)
    }

    /// Whether the lockfile source `source` is this index or one of
    /// `also` (the original ids of sources it replaces), trailing slashes
    /// aside.
    pub fn matches_source(&self, source: &str, also: &[String]) -> bool {
        let norm = |s: &str| s.trim_end_matches('/').to_string();
        let source = norm(source);
        source == norm(&self.source) || also.iter().any(|a| norm(a) == source)
    }
}

/// A registry's name as a log record holds it: 1-64 of `A-Z a-z 0-9 - _`
/// (checked before it goes into a URL path).
pub fn is_registry_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_url_gives_the_log_and_its_origin() {
        let i = IndexUrl::parse("sparse+http://127.0.0.1:7878/r/main/index/").unwrap();
        assert_eq!(i.base, "http://127.0.0.1:7878");
        assert_eq!(i.registry, "main");
        assert_eq!(i.source, "sparse+http://127.0.0.1:7878/r/main/index/");
        assert_eq!(i.origin_of("main"), "127.0.0.1:7878/r/main");
        assert_eq!(
            i.log_url("main", "lookup/foo/1.0.0"),
            "http://127.0.0.1:7878/r/main/log/lookup/foo/1.0.0"
        );
        // A virtual registry's lookups name a member's log, on the same
        // server.
        let v = IndexUrl::parse("https://crates.example.test/berth/r/all/index").unwrap();
        assert_eq!(v.base, "https://crates.example.test/berth");
        assert_eq!(v.origin_of("main"), "crates.example.test/berth/r/main");
        assert_eq!(
            v.source,
            "sparse+https://crates.example.test/berth/r/all/index/"
        );
        // The prefix may itself hold /r/: the last one before /index is it.
        let nested = IndexUrl::parse("http://h/r/x/r/main/index/").unwrap();
        assert_eq!(nested.base, "http://h/r/x");
        assert_eq!(nested.registry, "main");
    }

    #[test]
    fn other_urls_are_refused_saying_the_shape() {
        for bad in [
            "sparse+ftp://h/r/main/index/",
            "sparse+http://h/r/main/",
            "sparse+http://h/main/index/",
            "sparse+http://h/r/ma.in/index/",
            "sparse+http://h/r//index/",
            "sparse+http://h/r/main/index/?x=1",
            "sparse+http://user:pw@h/r/main/index/",
            "sparse+http:///r/main/index/",
            "registry+http://h/r/main/index/",
        ] {
            let e = IndexUrl::parse(bad).unwrap_err().to_string();
            assert!(
                e.contains("sparse+https://HOST/r/REGISTRY/index/"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn sources_match_with_or_without_the_trailing_slash() {
        let i = IndexUrl::parse("sparse+http://h:1/r/main/index").unwrap();
        assert!(i.matches_source("sparse+http://h:1/r/main/index/", &[]));
        assert!(i.matches_source("sparse+http://h:1/r/main/index", &[]));
        assert!(!i.matches_source("sparse+http://h:1/r/other/index/", &[]));
        assert!(!i.matches_source("registry+http://h:1/r/main/index/", &[]));
        let replaced = vec!["sparse+http://upstream.test/index/".to_string()];
        assert!(i.matches_source("sparse+http://upstream.test/index", &replaced));
    }
}
