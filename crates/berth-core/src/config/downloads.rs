//! `[downloads]`: how `.crate` downloads leave the server: as bytes from
//! the node (the default), or as a redirect to a short-lived presigned URL
//! of the blob in the S3 store; and the URL cargo is told to download from
//! (`dl` in `config.json`), so that a CDN can front the downloads. Only
//! reads configuration; the downloads themselves are
//! `crates/downloads.rs`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::values::{refusal, ConfigError};

/// The longest a presigned URL may live: S3's own limit (7 days).
pub const MAX_PRESIGN_TTL_SECS: u64 = 7 * 24 * 3600;

/// The `[downloads]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DownloadsConfig {
    /// `none` (the default): the node sends the bytes. `presigned`: after
    /// every check a download has (access, policy, the version exists),
    /// the node answers `302 Found` with a presigned GET URL of the blob in
    /// the S3 store, and counts the download; the bytes never pass through
    /// the node. Needs an `s3://` storage URL.
    pub redirect: Redirect,
    /// How long a presigned URL of a public registry's download is valid.
    pub presign_ttl_secs: u64,
    /// How long a presigned URL of a private registry's download (or of
    /// one limited to `allowed_cidrs`, which the object store does not
    /// know) is valid: whoever holds the URL can fetch the crate until
    /// then, token or not. At most `presign_ttl_secs`.
    pub private_presign_ttl_secs: u64,
    /// Where cargo downloads from: `dl` in each registry's `config.json`
    /// becomes `{base_url}/r/{REGISTRY}/api/v1/crates`, so that a CDN in
    /// front of the server (which forwards these paths to it) serves the
    /// downloads. An absolute `http(s)://` URL without query or fragment;
    /// unset (the default): `public_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
}

impl Default for DownloadsConfig {
    fn default() -> Self {
        Self {
            redirect: Redirect::None,
            presign_ttl_secs: 300,
            private_presign_ttl_secs: 60,
            base_url: None,
        }
    }
}

/// How a download is answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Redirect {
    /// The node sends the bytes.
    #[default]
    None,
    /// `302 Found` to a presigned URL of the blob.
    Presigned,
}

impl Redirect {
    /// The word the file uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Redirect::None => "none",
            Redirect::Presigned => "presigned",
        }
    }
}

impl Serialize for Redirect {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Redirect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        [Redirect::None, Redirect::Presigned]
            .into_iter()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| {
                refusal(ConfigError(format!(
                    "downloads.redirect `{text}` must be `none` or `presigned`"
                )))
            })
    }
}

impl DownloadsConfig {
    /// Checks the section, given the blob store's URL (already defaulted),
    /// and normalizes `base_url` (no trailing `/`; empty is unset).
    pub(crate) fn finish(&mut self, storage_url: &str) -> Result<(), ConfigError> {
        for (key, secs) in [
            ("presign_ttl_secs", self.presign_ttl_secs),
            ("private_presign_ttl_secs", self.private_presign_ttl_secs),
        ] {
            if secs == 0 || secs > MAX_PRESIGN_TTL_SECS {
                return Err(ConfigError(format!(
                    "downloads.{key} is {secs}; it must be between 1 and {MAX_PRESIGN_TTL_SECS} \
                     (7 days, the longest S3 signs for)"
                )));
            }
        }
        if self.private_presign_ttl_secs > self.presign_ttl_secs {
            return Err(ConfigError(format!(
                "downloads.private_presign_ttl_secs ({}) is longer than \
                 downloads.presign_ttl_secs ({}): a private registry's URLs must not live \
                 longer than a public one's",
                self.private_presign_ttl_secs, self.presign_ttl_secs
            )));
        }
        if self.redirect == Redirect::Presigned && !storage_url.starts_with("s3://") {
            return Err(ConfigError(format!(
                "downloads.redirect = \"presigned\" needs an S3 blob store (storage.url = \
                 \"s3://BUCKET[/PREFIX]\"); the blobs are in `{storage_url}`, which cannot \
                 presign URLs: set downloads.redirect = \"none\" to serve the bytes from the \
                 node"
            )));
        }
        if let Some(url) = self.base_url.take() {
            let url = url.trim_end_matches('/').to_string();
            if !url.is_empty() {
                check_base_url(&url)?;
                self.base_url = Some(url);
            }
        }
        Ok(())
    }

    /// The base of the `dl` URLs: `base_url`, else `public_url`.
    pub fn dl_base<'a>(&'a self, public_url: &'a str) -> &'a str {
        self.base_url.as_deref().unwrap_or(public_url)
    }

    /// How long a presigned URL of a registry's download lives: the
    /// shorter life for a registry restricted to some callers.
    pub fn presign_ttl(&self, restricted: bool) -> u64 {
        if restricted {
            self.private_presign_ttl_secs
        } else {
            self.presign_ttl_secs
        }
    }
}

/// `base_url` is an absolute `http(s)` URL with a host, and nothing that
/// every cargo would be handed and should not be: credentials, a query or
/// a fragment.
fn check_base_url(url: &str) -> Result<(), ConfigError> {
    let refuse = |why: &str| {
        Err(ConfigError(format!(
            "downloads.base_url `{url}` {why}: give an absolute URL such as \
             https://cdn.example.internal (or one with a path)"
        )))
    };
    let parsed = match reqwest::Url::parse(url) {
        Ok(u) => u,
        Err(e) => return refuse(&format!("is not a URL ({e})")),
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return refuse("must start with http:// or https://");
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return refuse("names no host");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return refuse("must not carry credentials (every cargo is handed it)");
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return refuse("must have no query (`?`) or fragment (`#`)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::tests::load;

    const S3: &str = "[storage]\nurl = \"s3://bucket/prefix\"\n";

    #[test]
    fn defaults_serve_bytes_with_short_lives_for_urls() {
        let c = load("").unwrap();
        assert_eq!(c.downloads.redirect, super::Redirect::None);
        assert_eq!(c.downloads.presign_ttl(false), 300);
        assert_eq!(c.downloads.presign_ttl(true), 60);
        assert_eq!(c.downloads.dl_base(&c.public_url), "http://127.0.0.1:7878");
        let c = load(&format!(
            "{S3}[downloads]\nredirect = \"presigned\"\nbase_url = \"https://cdn.example.internal/berth/\"\n"
        ))
        .unwrap();
        assert_eq!(c.downloads.redirect, super::Redirect::Presigned);
        assert_eq!(
            c.downloads.dl_base(&c.public_url),
            "https://cdn.example.internal/berth"
        );
        let c = load("[downloads]\nbase_url = \"\"\n").unwrap();
        assert_eq!(c.downloads.base_url, None, "empty is unset");
    }

    #[test]
    fn bad_downloads_settings_are_refused_in_words_that_name_them() {
        let refused = |toml: &str| load(toml).unwrap_err();
        assert_eq!(
            refused("[downloads]\nredirect = \"cdn\"\n"),
            "configuration error: downloads.redirect `cdn` must be `none` or `presigned`"
        );
        let local = refused("data_dir = \"/srv/berth\"\n[downloads]\nredirect = \"presigned\"\n");
        assert_eq!(
            local,
            "configuration error: downloads.redirect = \"presigned\" needs an S3 blob store \
             (storage.url = \"s3://BUCKET[/PREFIX]\"); the blobs are in \
             `file:///srv/berth/blobs`, which cannot presign URLs: set downloads.redirect = \
             \"none\" to serve the bytes from the node"
        );
        assert_eq!(
            refused(&format!("{S3}[downloads]\npresign_ttl_secs = 0\n")),
            "configuration error: downloads.presign_ttl_secs is 0; it must be between 1 and \
             604800 (7 days, the longest S3 signs for)"
        );
        assert!(refused("[downloads]\nprivate_presign_ttl_secs = 604801\n")
            .contains("downloads.private_presign_ttl_secs is 604801"));
        assert_eq!(
            refused("[downloads]\npresign_ttl_secs = 30\n"),
            "configuration error: downloads.private_presign_ttl_secs (60) is longer than \
             downloads.presign_ttl_secs (30): a private registry's URLs must not live longer \
             than a public one's"
        );
        for (url, why) in [
            ("cdn.example.internal", "is not a URL"),
            (
                "ftp://cdn.example.internal",
                "must start with http:// or https://",
            ),
            (
                "https://u:p@cdn.example.internal",
                "must not carry credentials",
            ),
            ("https://cdn.example.internal/?a=b", "must have no query"),
            ("https://cdn.example.internal/#x", "must have no query"),
        ] {
            let e = refused(&format!("[downloads]\nbase_url = \"{url}\"\n"));
            assert!(
                e.starts_with(&format!(
                    "configuration error: downloads.base_url `{url}` {why}"
                )),
                "{url}: {e}"
            );
        }
    }
}
