//! Docs passes: a private registry's docs read in a browser.
//!
//! A browser sends no token, and docs pages are untrusted HTML served on
//! a path that carries no session cookie (and, sandboxed, their own loads
//! are cross-site, so no cookie would reach them). So a signed-in reader
//! who opens a crate's docs from its page is given a pass: a random secret
//! in the docs URL (`/r/REG/docs/~PASS/NAME/VERSION/...`), which rustdoc's
//! relative links keep. A pass
//! - reads the docs of that one crate of that one registry, and nothing
//!   else (stolen by the crate's own scripts, it gives their author what
//!   they wrote);
//! - acts as the session it was opened from, whose user's read right is
//!   checked on every request, and ends with it (sign-out, password
//!   change, a disabled user) or after `[docs] pass_secs`, whichever is
//!   first;
//! - is stored as its sha256 only.
//!
//! The pass never appears in a log line (the server redacts it).

use rand::distr::{Alphanumeric, SampleString};

use crate::accounts::auth::hash_token;
use crate::error::ServiceError;
use crate::{Berth, Identity};

/// The passes a session keeps: opening more drops its oldest.
pub const PASSES_PER_SESSION: i64 = 32;

/// The length of a pass's secret (alphanumeric: about 238 bits).
const PASS_LEN: usize = 40;

/// Whether `text` could be a pass (the server tells a pass segment from
/// a crate name by its `~`, and checks the rest here before any lookup).
pub fn looks_like_pass(text: &str) -> bool {
    text.len() == PASS_LEN && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn expired() -> ServiceError {
    ServiceError::Unauthorized(
        "this documentation link has expired or its sign-in has ended: open the docs again \
         from the crate's page"
            .into(),
    )
}

impl Berth {
    /// Whether a signed-in reader opens `registry`'s docs with a pass: a
    /// private registry's, and a virtual registry's (a member it serves
    /// the crate from may be private).
    pub fn docs_read_with_pass(&self, registry: &str) -> bool {
        self.registry(registry)
            .is_ok_and(|r| r.private || r.kind() == berth_store::RegistryKind::Virtual)
    }

    /// Opens a pass to crate `name`'s docs in `registry` for the session
    /// behind `session_secret` (a reader of the registry): the secret to
    /// put in the docs URL.
    pub async fn open_docs_pass(
        &self,
        session_secret: &str,
        registry: &str,
        name: &str,
    ) -> Result<String, ServiceError> {
        let session = self.session(session_secret).await?.ok_or_else(|| {
            ServiceError::Unauthorized("sign in to read this registry's docs".into())
        })?;
        // Refused (and audited) as a read of the registry would be.
        self.hosted_for(registry, Some(&session.identity), name)
            .await?;
        let secret = Alphanumeric.sample_string(&mut rand::rng(), PASS_LEN);
        let now = self.clock.now_unix();
        let ttl = i64::try_from(self.config.docs.pass_secs).unwrap_or(i64::MAX);
        self.meta
            .create_docs_pass(
                &hash_token(&secret),
                &hash_token(session_secret),
                registry,
                &berth_protocol::canonical_name(name),
                now,
                now.saturating_add(ttl),
                PASSES_PER_SESSION,
            )
            .await?;
        Ok(secret)
    }

    /// Who a pass reads crate `name`'s docs in `registry` as: its
    /// session's user, when the pass is live and was opened for this
    /// crate of this registry.
    pub async fn docs_pass_identity(
        &self,
        pass: &str,
        registry: &str,
        name: &str,
    ) -> Result<Identity, ServiceError> {
        if !looks_like_pass(pass) {
            return Err(expired());
        }
        let record = self
            .meta
            .docs_pass(&hash_token(pass), self.clock.now_unix())
            .await?
            .ok_or_else(expired)?;
        if record.registry != registry || record.crate_name != berth_protocol::canonical_name(name)
        {
            return Err(ServiceError::Forbidden(format!(
                "this documentation link reads `{}` in registry `{}` only",
                record.crate_name, record.registry
            )));
        }
        let session = self
            .live_session(record.session)
            .await?
            .ok_or_else(expired)?;
        Ok(session.identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_pass_shaped_segment_is_looked_up() {
        assert!(looks_like_pass(&"a".repeat(PASS_LEN)));
        assert!(!looks_like_pass(&"a".repeat(PASS_LEN - 1)));
        assert!(!looks_like_pass(&format!("{}/", "a".repeat(PASS_LEN - 1))));
        assert!(!looks_like_pass(""));
    }
}
