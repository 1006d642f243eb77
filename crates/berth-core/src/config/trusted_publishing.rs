//! `[trusted_publishing]`: the OIDC issuers whose CI tokens may be exchanged
//! for short-lived publish tokens (issue 30). Only reads configuration; the
//! issuers' keys are fetched by `trust/jwks.rs`.

use serde::{Deserialize, Serialize};

use crate::config::values::ConfigError;

/// The `[trusted_publishing]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TrustedPublishingConfig {
    /// The issuers trusted to vouch for CI jobs; none (the default) turns
    /// the exchange off.
    pub issuers: Vec<TrustedIssuer>,
}

/// One OIDC issuer of CI identity tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuer {
    /// The name trust configurations use (`berth trust add --issuer NAME`).
    pub name: String,
    /// The issuer URL, exactly as its tokens' `iss` claim has it; its keys
    /// come from `ISSUER/.well-known/openid-configuration`'s `jwks_uri`.
    pub issuer: String,
    /// The `aud` claim its tokens must carry for this server.
    pub audience: String,
}

impl TrustedPublishingConfig {
    /// Names are unique and usable on a command line; issuers are https
    /// URLs (or http on a loopback address, for tests and sidecars).
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::HashSet::new();
        for (i, t) in self.issuers.iter().enumerate() {
            let at = format!("trusted_publishing.issuers[{i}]");
            if !crate::accounts::teams::valid_name(&t.name) {
                return Err(ConfigError(format!(
                    "{at}.name `{}`: use 1-64 ASCII letters, digits, `-`, `_` or `.`",
                    t.name
                )));
            }
            if !names.insert(t.name.as_str()) {
                return Err(ConfigError(format!(
                    "{at}.name `{}` is configured twice",
                    t.name
                )));
            }
            let url = reqwest::Url::parse(&t.issuer)
                .map_err(|e| ConfigError(format!("{at}.issuer `{}`: {e}", t.issuer)))?;
            let loopback = crate::config::auth::loopback_host(&url);
            if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
                return Err(ConfigError(format!(
                    "{at}.issuer `{}` must be an https URL (plain http only on a loopback \
                     address): its keys decide who may publish",
                    t.issuer
                )));
            }
            if t.audience.trim().is_empty() {
                return Err(ConfigError(format!(
                    "{at}.audience is empty: set the audience the CI job asks its token for"
                )));
            }
        }
        Ok(())
    }

    /// The issuer configured under `name`.
    pub fn issuer(&self, name: &str) -> Option<&TrustedIssuer> {
        self.issuers.iter().find(|t| t.name == name)
    }
}
