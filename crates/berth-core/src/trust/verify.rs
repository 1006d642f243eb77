//! Checking a CI job's OIDC token: its issuer's keys (fetched from the
//! issuer's discovery document and JWKS, cached, refreshed when a token
//! names an unknown key, at most once per [`REFRESH_EVERY`] per issuer),
//! its signature (RS256 or ES256 only: the algorithm must be the key's, so
//! `none` and an HMAC keyed with a public key are refused), its audience,
//! and its times against the server's clock with [`LEEWAY`].
//!
//! This module never decides which crates a token may publish (that is
//! `mod.rs`, against the trust configurations) and never stores anything.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use crate::config::TrustedIssuer;
use crate::error::ServiceError;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub(crate) const LEEWAY: i64 = 60;
/// How often an issuer's keys may be fetched again for an unknown `kid`.
pub(crate) const REFRESH_EVERY: i64 = 30;
/// The largest OIDC token accepted, in bytes.
pub(crate) const MAX_TOKEN: usize = 16 * 1024;
/// The largest discovery document or key set read, in bytes.
const MAX_DOCUMENT: usize = 256 * 1024;

/// What a CI job's token says about it (GitHub Actions' claim names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiClaims {
    /// `OWNER/REPO`.
    pub repository: String,
    /// The workflow's file name (`release.yml`).
    pub workflow: String,
    /// The deployment environment, if the job ran in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The git ref (`refs/tags/v1.0.0`).
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// The commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The issuer's configured name.
    pub issuer: String,
}

/// A verified token: its claims, `jti` and expiry.
#[derive(Debug, Clone)]
pub(crate) struct Verified {
    pub claims: CiClaims,
    pub jti: String,
    pub exp: i64,
}

/// The claims read from a token's payload.
#[derive(Debug, Deserialize)]
struct RawClaims {
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    jti: Option<String>,
    repository: Option<String>,
    workflow_ref: Option<String>,
    /// GitLab's name for the repository (`group[/subgroup]/project`).
    project_path: Option<String>,
    /// GitLab's pipeline definition: `HOST/PROJECT//FILE@REF`.
    ci_config_ref_uri: Option<String>,
    pipeline_id: Option<serde_json::Value>,
    environment: Option<String>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    sha: Option<String>,
    run_id: Option<serde_json::Value>,
}

fn refused(why: impl Into<String>) -> ServiceError {
    ServiceError::Unauthorized(format!("the OIDC token was refused: {}", why.into()))
}

/// Part `n` of a token (0: header, 1: payload), decoded, unverified.
pub(crate) fn unverified_part<T: serde::de::DeserializeOwned>(
    jwt: &str,
    n: usize,
) -> Result<T, ServiceError> {
    let what = if n == 0 { "header" } else { "payload" };
    let mut parts = jwt.split('.');
    let part = parts
        .nth(n)
        .filter(|_| jwt.split('.').count() == 3)
        .ok_or_else(|| refused("it is not a JWT (three base64url parts joined by `.`)"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| refused(format!("its {what} is not base64url")))?;
    serde_json::from_slice(&bytes).map_err(|_| refused(format!("its {what} is not a JSON object")))
}

/// The `iss` claim of a token, unverified: which issuer's keys to check it
/// with.
pub(crate) fn unverified_issuer(jwt: &str) -> Result<String, ServiceError> {
    #[derive(Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    let iss: Iss = unverified_part(jwt, 1)?;
    iss.iss.ok_or_else(|| refused("it has no `iss` claim"))
}

/// Refuses a token whose header names another algorithm than RS256 or
/// ES256 (`none`, an HMAC, anything unknown) before any key is looked at.
fn accepted_algorithm(jwt: &str) -> Result<(), ServiceError> {
    #[derive(Deserialize)]
    struct Alg {
        alg: Option<String>,
    }
    let alg: Alg = unverified_part(jwt, 0)?;
    match alg.alg.as_deref() {
        Some("RS256" | "ES256") => Ok(()),
        Some(other) => Err(refused(format!(
            "it is signed with `{}`; only RS256 and ES256 are accepted",
            crate::text::clip(other, 16)
        ))),
        None => Err(refused("its header names no algorithm (`alg`)")),
    }
}

/// The workflow file of a `workflow_ref` (`OWNER/REPO/.github/workflows/
/// FILE@REF`), if it is one of `repository`'s.
pub(crate) fn workflow_file(workflow_ref: &str, repository: &str) -> Option<String> {
    let path = workflow_ref.split('@').next()?;
    let head = path.get(..repository.len())?;
    let rest = path.get(repository.len()..)?;
    if !head.eq_ignore_ascii_case(repository) {
        return None;
    }
    let file = rest.strip_prefix("/.github/workflows/")?;
    (!file.is_empty() && !file.contains('/')).then(|| file.to_string())
}

/// The pipeline file of a GitLab `ci_config_ref_uri`
/// (`HOST/PROJECT//FILE@REF`), if it is one of `project`'s.
pub(crate) fn gitlab_config_file(uri: &str, project: &str) -> Option<String> {
    let (location, _) = uri.split_once('@')?;
    let (host_and_project, file) = location.split_once("//")?;
    let (host, path) = host_and_project.split_once('/')?;
    let sane = !host.is_empty()
        && path.eq_ignore_ascii_case(project)
        && !file.is_empty()
        && !file.starts_with('/')
        && file
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..");
    sane.then(|| file.to_string())
}

/// Checks the times of a token at `now`.
pub(crate) fn check_times(
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    now: i64,
) -> Result<i64, ServiceError> {
    let exp = exp.ok_or_else(|| refused("it has no `exp` claim"))?;
    if exp + LEEWAY <= now {
        return Err(refused("it has expired: ask the CI job for a fresh one"));
    }
    if nbf.is_some_and(|nbf| nbf - LEEWAY > now) {
        return Err(refused("it is not valid yet (`nbf`)"));
    }
    if iat.is_some_and(|iat| iat - LEEWAY > now) {
        return Err(refused("it was issued in the future (`iat`)"));
    }
    Ok(exp)
}

/// One issuer's keys as last fetched.
struct Keys {
    by_kid: HashMap<String, Jwk>,
    fetched_at: i64,
}

/// The keys of every configured issuer, fetched on demand.
pub(crate) struct IssuerKeys {
    http: reqwest::Client,
    cache: Mutex<HashMap<String, Keys>>,
    /// One fetch at a time per server: a flood of unknown `kid`s costs at
    /// most one request per issuer per [`REFRESH_EVERY`].
    fetching: tokio::sync::Mutex<()>,
}

/// The client for calls the server makes on its own to another service
/// (an OIDC issuer or provider, a webhook receiver): 10 s in all, 5 s to
/// connect, redirects never followed.
pub(crate) fn outbound_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

impl IssuerKeys {
    pub(crate) fn new() -> Self {
        Self {
            http: outbound_client(),
            cache: Mutex::new(HashMap::new()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self, issuer: &str, kid: &str) -> (Option<Jwk>, Option<i64>) {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        match cache.get(issuer) {
            Some(keys) => (keys.by_kid.get(kid).cloned(), Some(keys.fetched_at)),
            None => (None, None),
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, ServiceError> {
        let unavailable = |why: String| {
            ServiceError::BadGateway(format!(
                "could not read the OIDC issuer's keys from {url}: {why}"
            ))
        };
        let mut response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("status {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| unavailable(e.to_string()))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT {
                return Err(unavailable(format!("larger than {MAX_DOCUMENT} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| unavailable(e.to_string()))
    }

    /// The key `kid` of `issuer`, fetching the issuer's keys when it is
    /// unknown and they were not fetched in the last [`REFRESH_EVERY`]
    /// seconds.
    pub(crate) async fn key(
        &self,
        issuer: &TrustedIssuer,
        kid: &str,
        now: i64,
    ) -> Result<Jwk, ServiceError> {
        if let (Some(jwk), _) = self.cached(&issuer.name, kid) {
            return Ok(jwk);
        }
        let _one = self.fetching.lock().await;
        match self.cached(&issuer.name, kid) {
            (Some(jwk), _) => return Ok(jwk),
            (None, Some(at)) if now - at < REFRESH_EVERY => {
                return Err(refused(format!(
                    "it is signed with key `{kid}`, which issuer `{}` does not publish",
                    issuer.name
                )))
            }
            _ => {}
        }
        #[derive(Deserialize)]
        struct Discovery {
            jwks_uri: String,
        }
        let base = issuer.issuer.trim_end_matches('/');
        let fetched = async {
            let discovery: Discovery = self
                .get_json(&format!("{base}/.well-known/openid-configuration"))
                .await?;
            self.get_json::<JwkSet>(&discovery.jwks_uri).await
        };
        let set = match fetched.await {
            Ok(set) => set,
            Err(e) => {
                // A failed fetch counts as one: an issuer that is down is
                // asked again only after the period, keeping the keys it
                // gave before.
                tracing::warn!(issuer = %issuer.name, error = %e, "could not fetch the OIDC issuer's keys");
                self.cache
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(issuer.name.clone())
                    .or_insert_with(|| Keys {
                        by_kid: HashMap::new(),
                        fetched_at: now,
                    })
                    .fetched_at = now;
                return Err(e);
            }
        };
        let by_kid: HashMap<String, Jwk> = set
            .keys
            .into_iter()
            .filter_map(|k| k.common.key_id.clone().map(|kid| (kid, k)))
            .collect();
        tracing::info!(issuer = %issuer.name, keys = by_kid.len(), "fetched the OIDC issuer's keys");
        let found = by_kid.get(kid).cloned();
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(
            issuer.name.clone(),
            Keys {
                by_kid,
                fetched_at: now,
            },
        );
        found.ok_or_else(|| {
            refused(format!(
                "it is signed with key `{kid}`, which issuer `{}` does not publish",
                issuer.name
            ))
        })
    }

    /// The algorithm (RS256 or ES256 only), key id and key that `jwt`
    /// (called `what` in refusals, which `refuse` makes) must verify with:
    /// one `issuer` publishes, fetched when unknown.
    pub(crate) async fn signing_key(
        &self,
        issuer: &TrustedIssuer,
        jwt: &str,
        now: i64,
        what: &str,
        refuse: fn(String) -> ServiceError,
    ) -> Result<(Algorithm, String, DecodingKey), ServiceError> {
        let header = jsonwebtoken::decode_header(jwt)
            .map_err(|e| refuse(format!("the header of {what} cannot be read: {e}")))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(refuse(format!(
                "{what} is signed with {:?}; only RS256 and ES256 are accepted",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| refuse(format!("the header of {what} names no key (`kid`)")))?;
        let jwk = self.key(issuer, &kid, now).await.map_err(|e| match e {
            ServiceError::Unauthorized(_) => refuse(format!(
                "{what} is signed with key `{kid}`, which its issuer ({}) does not publish",
                issuer.issuer
            )),
            other => other,
        })?;
        let key = DecodingKey::from_jwk(&jwk)
            .map_err(|e| refuse(format!("key `{kid}` of the issuer is unusable: {e}")))?;
        Ok((header.alg, kid, key))
    }

    /// Verifies `jwt` as a token of `issuer` at `now`.
    pub(crate) async fn verify(
        &self,
        issuer: &TrustedIssuer,
        jwt: &str,
        now: i64,
    ) -> Result<Verified, ServiceError> {
        accepted_algorithm(jwt)?;
        let (alg, kid, key) = self.signing_key(issuer, jwt, now, "it", refused).await?;
        let mut validation = Validation::new(alg);
        // Times are checked against the server's clock below.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        // Present, whatever their values (the library passes a token that
        // lacks `aud` or `iss` unless they are required).
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&[issuer.issuer.as_str()]);
        validation.set_audience(&[issuer.audience.as_str()]);
        let data = jsonwebtoken::decode::<RawClaims>(jwt, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            refused(match e.kind() {
                ErrorKind::MissingRequiredClaim(claim) => {
                    format!("it has no `{claim}` claim")
                }
                ErrorKind::InvalidAudience => format!(
                    "its audience (`aud`) is not `{}`: ask the CI job for a token for that \
                     audience",
                    issuer.audience
                ),
                ErrorKind::InvalidIssuer => format!("its issuer is not `{}`", issuer.issuer),
                ErrorKind::InvalidSignature => "its signature does not verify".to_string(),
                ErrorKind::InvalidAlgorithm => {
                    format!("its algorithm does not match key `{kid}`")
                }
                _ => format!("it does not verify: {e}"),
            })
        })?;
        let raw = data.claims;
        let exp = check_times(raw.exp, raw.nbf, raw.iat, now)?;
        let jti = raw
            .jti
            .filter(|j| !j.is_empty() && j.len() <= 256)
            .ok_or_else(|| refused("it has no usable `jti` claim"))?;
        // GitHub Actions' claims, else GitLab CI's.
        let repository = raw
            .repository
            .or(raw.project_path)
            .filter(|r| r.contains('/') && r.len() <= 256)
            .ok_or_else(|| {
                refused("it has no `repository` (GitHub) or `project_path` (GitLab) claim")
            })?;
        let workflow = match (&raw.workflow_ref, &raw.ci_config_ref_uri) {
            (Some(w), _) => workflow_file(w, &repository),
            (None, Some(uri)) => gitlab_config_file(uri, &repository),
            (None, None) => None,
        }
        .ok_or_else(|| {
            refused(
                "its `workflow_ref` (or `ci_config_ref_uri`) claim does not name a workflow file \
                 of its repository",
            )
        })?;
        let run_id = raw.run_id.or(raw.pipeline_id).map(|v| match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        });
        Ok(Verified {
            claims: CiClaims {
                repository,
                workflow,
                environment: raw.environment.filter(|e| !e.is_empty()),
                git_ref: raw.git_ref,
                sha: raw.sha,
                run_id,
                issuer: issuer.name.clone(),
            },
            jti,
            exp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_files_belong_to_their_repository() {
        assert_eq!(
            workflow_file(
                "acme/tools/.github/workflows/release.yml@refs/tags/v1",
                "acme/tools"
            ),
            Some("release.yml".into())
        );
        assert_eq!(
            workflow_file(
                "Acme/Tools/.github/workflows/release.yml@refs/heads/main",
                "acme/tools"
            ),
            Some("release.yml".into())
        );
        assert_eq!(
            workflow_file("evil/tools/.github/workflows/release.yml@x", "acme/tools"),
            None
        );
        assert_eq!(
            workflow_file("acme/toolsx/.github/workflows/release.yml@x", "acme/tools"),
            None
        );
        assert_eq!(
            workflow_file(
                "acme/tools/.github/workflows/sub/release.yml@x",
                "acme/tools"
            ),
            None
        );
        assert_eq!(workflow_file("acme", "acme/tools"), None);
    }

    #[test]
    fn gitlab_pipeline_files_belong_to_their_project() {
        let file = |uri: &str| gitlab_config_file(uri, "acme/tools/cli");
        assert_eq!(
            file("git.example/acme/tools/cli//.gitlab-ci.yml@refs/heads/main"),
            Some(".gitlab-ci.yml".into())
        );
        assert_eq!(
            file("git.example/Acme/Tools/CLI//ci/release.yml@refs/tags/v1"),
            Some("ci/release.yml".into())
        );
        assert_eq!(file("git.example/evil/tools/cli//.gitlab-ci.yml@x"), None);
        assert_eq!(file("git.example/acme/tools//.gitlab-ci.yml@x"), None);
        assert_eq!(file("git.example/acme/tools/cli//../x.yml@x"), None);
        assert_eq!(file("git.example/acme/tools/cli///x.yml@x"), None);
        assert_eq!(file("acme/tools/cli//.gitlab-ci.yml"), None);
        assert_eq!(file("/acme/tools/cli//.gitlab-ci.yml@x"), None);
    }

    #[test]
    fn times_are_checked_with_leeway() {
        let now = 1_000_000;
        assert_eq!(
            check_times(Some(now + 10), None, None, now).unwrap(),
            now + 10
        );
        assert!(check_times(Some(now - LEEWAY + 1), None, None, now).is_ok());
        assert!(check_times(Some(now - LEEWAY), None, None, now)
            .unwrap_err()
            .to_string()
            .contains("expired"));
        assert!(check_times(None, None, None, now).is_err());
        assert!(check_times(Some(now + 100), Some(now + LEEWAY + 1), None, now).is_err());
        assert!(check_times(Some(now + 100), None, Some(now + LEEWAY + 1), now).is_err());
        assert!(check_times(Some(now + 100), Some(now + LEEWAY), Some(now), now).is_ok());
    }

    #[tokio::test]
    async fn unknown_keys_refetch_at_most_once_per_period() {
        use berth_testkit::{oidc::unix_now, SigningKey, TestIssuer};
        let a = SigningKey::ec("a");
        let b = SigningKey::ec("b");
        let c = SigningKey::ec("c");
        let test_issuer = TestIssuer::start(&[&a]);
        let issuer = TrustedIssuer {
            name: "ci".into(),
            issuer: test_issuer.url().to_string(),
            audience: "berth".into(),
        };
        let keys = IssuerKeys::new();
        let t0 = unix_now();
        let claims = || test_issuer.claims("berth", "acme/tool", "release.yml");
        let ok = keys.verify(&issuer, &a.sign(&claims()), t0).await.unwrap();
        assert_eq!(ok.claims.workflow, "release.yml");
        assert_eq!(test_issuer.jwks_fetches(), 1);
        // Cached: no fetch.
        keys.verify(&issuer, &a.sign(&claims()), t0 + 1)
            .await
            .unwrap();
        assert_eq!(test_issuer.jwks_fetches(), 1);
        // The issuer rotates in `b`: within the period, a token naming it
        // is refused without a fetch; after it, the keys are fetched again.
        test_issuer.publish(&[&a, &b]);
        let e = keys
            .verify(&issuer, &b.sign(&claims()), t0 + REFRESH_EVERY - 1)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("key `b`"), "{e}");
        assert_eq!(test_issuer.jwks_fetches(), 1);
        keys.verify(&issuer, &b.sign(&claims()), t0 + REFRESH_EVERY)
            .await
            .unwrap();
        assert_eq!(test_issuer.jwks_fetches(), 2);
        // An issuer that is down is asked once per period too.
        test_issuer.fixture.set(berth_testkit::Mode::Error);
        let later = t0 + 10 * REFRESH_EVERY;
        let e = keys
            .verify(&issuer, &c.sign(&claims()), later)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("could not read"), "{e}");
        let asked = test_issuer.fixture.asked().len();
        assert!(keys
            .verify(&issuer, &c.sign(&claims()), later + 1)
            .await
            .is_err());
        assert_eq!(test_issuer.fixture.asked().len(), asked, "not asked again");
        // The keys it gave before still verify.
        keys.verify(&issuer, &a.sign(&claims()), later + 2)
            .await
            .unwrap();
        test_issuer.fixture.set(berth_testkit::Mode::Normal);
        // A flood of unknown keys right after costs nothing more.
        for i in 1..5 {
            assert!(keys
                .verify(&issuer, &c.sign(&claims()), t0 + REFRESH_EVERY + i)
                .await
                .is_err());
        }
        assert_eq!(test_issuer.jwks_fetches(), 2);
        // No audience at all is no audience of ours.
        let mut without = test_issuer.claims("berth", "acme/tool", "release.yml");
        without.as_object_mut().unwrap().remove("aud");
        let e = keys
            .verify(&issuer, &a.sign(&without), t0 + REFRESH_EVERY)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("no `aud` claim"), "{e}");
        // The wrong audience, after the signature.
        let wrong = test_issuer.claims("other", "acme/tool", "release.yml");
        let e = keys
            .verify(&issuer, &a.sign(&wrong), t0 + REFRESH_EVERY)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("audience"), "{e}");
    }

    #[test]
    fn the_issuer_is_read_before_verifying() {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = format!(
            "{}.{}.sig",
            b64("{}"),
            b64(r#"{"iss":"https://ci.example"}"#)
        );
        assert_eq!(unverified_issuer(&jwt).unwrap(), "https://ci.example");
        assert!(unverified_issuer("nodots").is_err());
        assert!(unverified_issuer(&format!("a.{}.c", b64("{}"))).is_err());
        let with = |alg: &str| format!("{}.{}.s", b64(&format!(r#"{{"alg":"{alg}"}}"#)), b64("{}"));
        assert!(accepted_algorithm(&with("RS256")).is_ok());
        assert!(accepted_algorithm(&with("ES256")).is_ok());
        for bad in ["none", "HS256", "RS512", "EdDSA"] {
            let e = accepted_algorithm(&with(bad)).unwrap_err().to_string();
            assert!(e.contains(&format!("signed with `{bad}`")), "{e}");
        }
    }
}
