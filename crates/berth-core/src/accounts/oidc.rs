//! Single sign-on with the company's OpenID provider (`[auth.oidc]`): the
//! authorization code flow with PKCE. [`Berth::oidc_begin`] makes the
//! provider's authorization URL and the values the browser keeps until it
//! comes back (state, nonce, PKCE verifier; the server keeps nothing, so
//! any node finishes what another began); [`Berth::oidc_finish`] checks the
//! state, redeems the code with the client secret and the verifier, checks
//! the ID token (signature with the provider's published keys, fetched
//! again when an unknown `kid` appears at most once per 30 s; issuer,
//! audience, times, nonce) and signs the person in through
//! `accounts::external`.
//!
//! The provider's endpoints come from its discovery document, cached for
//! an hour. Claims the ID token lacks (the login, the groups) are read from
//! the userinfo endpoint when the provider has one. The browser side
//! (cookies, redirects, rate limits) is the server's.

use base64::Engine as _;
use jsonwebtoken::Validation;
use rand::distr::{Alphanumeric, SampleString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::accounts::external::{ExternalPerson, SignedIn};
use crate::config::{OidcConfig, TrustedIssuer};
use crate::error::ServiceError;
use crate::trust::verify::{check_times, IssuerKeys, LEEWAY};
use crate::Berth;

/// How long the provider's discovery document is kept.
const DISCOVERY_SECS: i64 = 3600;
/// The largest answer read from the provider, in bytes.
const MAX_ANSWER: usize = 256 * 1024;
/// The path the provider sends the browser back to.
pub const CALLBACK_PATH: &str = "/login/oidc/callback";

/// The provider's endpoints, from its discovery document.
#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
    #[serde(default)]
    end_session_endpoint: Option<String>,
}

/// Single sign-on's state in a node: the client secret, the provider's
/// keys and discovery document.
pub(crate) struct OidcState {
    config: OidcConfig,
    secret: Option<String>,
    http: reqwest::Client,
    keys: IssuerKeys,
    discovery: tokio::sync::Mutex<Option<(Discovery, i64)>>,
}

/// What the browser keeps between leaving for the provider and coming
/// back: the state, the nonce and the PKCE verifier (random letters and
/// digits each, joined by `.`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

impl PendingSignIn {
    fn new() -> Self {
        let mut rng = rand::rng();
        Self {
            state: Alphanumeric.sample_string(&mut rng, 32),
            nonce: Alphanumeric.sample_string(&mut rng, 32),
            verifier: Alphanumeric.sample_string(&mut rng, 43),
        }
    }

    /// The cookie value.
    pub fn to_cookie(&self) -> String {
        format!("{}.{}.{}", self.state, self.nonce, self.verifier)
    }

    /// Reads a cookie value back; `None` when it is not one.
    pub fn from_cookie(value: &str) -> Option<Self> {
        let mut parts = value.split('.');
        let (state, nonce, verifier) = (parts.next()?, parts.next()?, parts.next()?);
        let ok = |p: &str| p.len() >= 32 && p.bytes().all(|b| b.is_ascii_alphanumeric());
        (parts.next().is_none() && ok(state) && ok(nonce) && ok(verifier)).then(|| Self {
            state: state.into(),
            nonce: nonce.into(),
            verifier: verifier.into(),
        })
    }

    /// The PKCE challenge of the verifier (S256).
    fn challenge(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(self.verifier.as_bytes()))
    }
}

fn refused(why: impl Into<String>) -> ServiceError {
    ServiceError::Unauthorized(format!("single sign-on failed: {}", why.into()))
}

fn unavailable(why: impl std::fmt::Display) -> ServiceError {
    ServiceError::BadGateway(format!(
        "single sign-on is unavailable: the identity provider could not be reached or answered \
         wrongly ({why}); try again later or ask an administrator"
    ))
}

impl OidcState {
    pub(crate) fn new(config: &OidcConfig) -> Self {
        Self {
            secret: std::env::var(&config.client_secret_env)
                .ok()
                .filter(|s| !s.is_empty()),
            config: config.clone(),
            http: crate::trust::verify::outbound_client(),
            keys: IssuerKeys::new(),
            discovery: tokio::sync::Mutex::new(None),
        }
    }

    /// The provider as the key cache knows it.
    fn issuer(&self) -> TrustedIssuer {
        TrustedIssuer {
            name: "sign-in".into(),
            issuer: self.config.issuer.clone(),
            audience: self.config.client_id.clone(),
        }
    }

    async fn read_json<T: serde::de::DeserializeOwned>(
        response: reqwest::Response,
    ) -> Result<(reqwest::StatusCode, T), String> {
        let status = response.status();
        let mut response = response;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err(format!("an answer larger than {MAX_ANSWER} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let value = serde_json::from_slice(&body)
            .map_err(|e| format!("status {status}, and not the JSON expected: {e}"))?;
        Ok((status, value))
    }

    /// The discovery document, fetched when missing or older than an hour.
    async fn discovery(&self, now: i64) -> Result<Discovery, ServiceError> {
        let mut cached = self.discovery.lock().await;
        if let Some((d, at)) = cached.as_ref() {
            if now - at < DISCOVERY_SECS {
                return Ok(d.clone());
            }
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let response = self.http.get(&url).send().await.map_err(unavailable)?;
        let (status, d): (_, Discovery) = Self::read_json(response)
            .await
            .map_err(|e| unavailable(format!("{url}: {e}")))?;
        if !status.is_success() {
            return Err(unavailable(format!("{url}: status {status}")));
        }
        if d.issuer != self.config.issuer {
            return Err(unavailable(format!(
                "its discovery document names the issuer `{}`, not the configured `{}`",
                d.issuer, self.config.issuer
            )));
        }
        *cached = Some((d.clone(), now));
        Ok(d)
    }
}

/// The claims of an ID token this module reads (the rest stay in `other`).
#[derive(Debug, Deserialize)]
pub(crate) struct IdClaims {
    sub: String,
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    nonce: Option<String>,
    azp: Option<String>,
    aud: serde_json::Value,
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

impl Berth {
    fn oidc(&self) -> Result<&OidcState, ServiceError> {
        self.oidc.as_ref().ok_or_else(|| {
            ServiceError::NotFound("single sign-on is not configured on this server".into())
        })
    }

    /// Whether single sign-on is configured, and its button's words.
    pub fn oidc_label(&self) -> Option<&str> {
        self.config.auth.oidc.as_ref().map(|o| o.label.as_str())
    }

    /// The redirect URI registered at the provider.
    fn oidc_redirect_uri(&self) -> String {
        format!(
            "{}{CALLBACK_PATH}",
            self.config.public_url.trim_end_matches('/')
        )
    }

    /// Starts a sign-in: the provider's authorization URL to send the
    /// browser to, and what the browser keeps until it comes back.
    pub async fn oidc_begin(&self) -> Result<(String, PendingSignIn), ServiceError> {
        let oidc = self.oidc()?;
        let d = oidc.discovery(self.clock.now_unix()).await?;
        let pending = PendingSignIn::new();
        let mut scopes: Vec<&str> = vec!["openid"];
        scopes.extend(
            oidc.config
                .scopes
                .iter()
                .map(String::as_str)
                .filter(|s| *s != "openid"),
        );
        let mut url = reqwest::Url::parse(&d.authorization_endpoint)
            .map_err(|e| unavailable(format!("its authorization endpoint: {e}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &oidc.config.client_id)
            .append_pair("redirect_uri", &self.oidc_redirect_uri())
            .append_pair("scope", &scopes.join(" "))
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &pending.challenge())
            .append_pair("code_challenge_method", "S256");
        Ok((url.to_string(), pending))
    }

    /// Where logging out of a single sign-on session sends the browser:
    /// the provider's `end_session_endpoint`, if it has one, coming back
    /// to this server's front page.
    pub async fn oidc_logout_url(&self) -> Option<String> {
        let oidc = self.oidc().ok()?;
        let d = oidc.discovery(self.clock.now_unix()).await.ok()?;
        let mut url = reqwest::Url::parse(d.end_session_endpoint.as_deref()?).ok()?;
        url.query_pairs_mut()
            .append_pair("client_id", &oidc.config.client_id)
            .append_pair(
                "post_logout_redirect_uri",
                &format!("{}/", self.config.public_url.trim_end_matches('/')),
            );
        Some(url.to_string())
    }

    /// Finishes a sign-in the provider sent back: `state` and `code` from
    /// the callback's query, `pending` from the browser's cookie. Every
    /// refusal is audited.
    pub async fn oidc_finish(
        &self,
        state: &str,
        code: &str,
        pending: Option<&PendingSignIn>,
        origin: &berth_store::Origin,
    ) -> Result<SignedIn, ServiceError> {
        match self.oidc_person(state, code, pending).await {
            Ok(person) => {
                let oidc = self.oidc()?;
                self.sign_in_external(
                    person,
                    &oidc.config.mapping(),
                    oidc.config.link_existing_users,
                    origin,
                )
                .await
            }
            Err(e) => {
                let entry = self.login_refusal("", false, origin, &e.to_string());
                self.audit_refusal(&berth_store::AuditEntry {
                    detail: Some(e.to_string()),
                    ..entry
                })
                .await;
                Err(e)
            }
        }
    }

    /// Who the provider vouches for, after every check.
    async fn oidc_person(
        &self,
        state: &str,
        code: &str,
        pending: Option<&PendingSignIn>,
    ) -> Result<ExternalPerson, ServiceError> {
        let oidc = self.oidc()?;
        let pending = pending.ok_or_else(|| {
            refused(
                "this browser did not start the sign-in (its cookie is missing or expired); \
                 start again from the login page",
            )
        })?;
        if state.is_empty() || !bool::from(state.as_bytes().ct_eq(pending.state.as_bytes())) {
            return Err(refused(
                "the answer's state does not match the sign-in this browser started; start \
                 again from the login page",
            ));
        }
        if code.is_empty() || code.len() > 4096 {
            return Err(refused("the provider sent no authorization code"));
        }
        let secret = oidc.secret.as_deref().ok_or_else(|| {
            ServiceError::Internal(format!(
                "the OIDC client secret is not set: the environment variable `{}` is empty",
                oidc.config.client_secret_env
            ))
        })?;
        let now = self.clock.now_unix();
        let d = oidc.discovery(now).await?;
        let response = oidc
            .http
            .post(&d.token_endpoint)
            .basic_auth(
                form_urlencoded::byte_serialize(oidc.config.client_id.as_bytes())
                    .collect::<String>(),
                Some(form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>()),
            )
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.oidc_redirect_uri()),
                ("code_verifier", &pending.verifier),
            ])
            .send()
            .await
            .map_err(unavailable)?;
        #[derive(Deserialize)]
        struct TokenAnswer {
            id_token: Option<String>,
            access_token: Option<String>,
            error: Option<String>,
            error_description: Option<String>,
        }
        let (status, answer): (_, TokenAnswer) = OidcState::read_json(response)
            .await
            .map_err(|e| unavailable(format!("its token endpoint: {e}")))?;
        if !status.is_success() || answer.error.is_some() {
            let why = [answer.error, answer.error_description]
                .into_iter()
                .flatten()
                .map(|s| crate::text::clip(&s, 200).to_string())
                .collect::<Vec<_>>()
                .join(": ");
            return Err(refused(format!(
                "the provider refused the authorization code ({why}); it may have been used \
                 already or have expired: start again from the login page"
            )));
        }
        let id_token = answer
            .id_token
            .ok_or_else(|| refused("the provider's answer has no ID token"))?;
        let mut claims = self
            .check_id_token(oidc, &id_token, &pending.nonce, now)
            .await?;
        let wanted = [&oidc.config.login_claim, &oidc.config.groups_claim];
        if wanted
            .iter()
            .any(|c| !claims.other.contains_key(c.as_str()))
        {
            if let (Some(url), Some(access)) = (&d.userinfo_endpoint, &answer.access_token) {
                let response = oidc
                    .http
                    .get(url)
                    .bearer_auth(access)
                    .send()
                    .await
                    .map_err(unavailable)?;
                let (status, info): (_, serde_json::Map<String, serde_json::Value>) =
                    OidcState::read_json(response)
                        .await
                        .map_err(|e| unavailable(format!("its userinfo endpoint: {e}")))?;
                if !status.is_success() {
                    return Err(unavailable(format!(
                        "its userinfo endpoint: status {status}"
                    )));
                }
                // Only the person the ID token names.
                if info.get("sub").and_then(|s| s.as_str()) == Some(claims.sub.as_str()) {
                    for (k, v) in info {
                        claims.other.entry(k).or_insert(v);
                    }
                }
            }
        }
        let login = claims
            .other
            .get(&oidc.config.login_claim)
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
                refused(format!(
                    "the provider gave no `{}` claim to take the login from; ask an \
                     administrator to check `auth.oidc.login_claim` and the scopes",
                    oidc.config.login_claim
                ))
            })?
            .to_string();
        let groups = match claims.other.get(&oidc.config.groups_claim) {
            Some(serde_json::Value::Array(list)) => list
                .iter()
                .filter_map(|g| g.as_str().map(str::to_string))
                .collect(),
            Some(serde_json::Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        let name = claims
            .other
            .get("name")
            .and_then(|v| v.as_str())
            .map(|n| crate::text::clip(n, 200).to_string());
        Ok(ExternalPerson {
            source: "oidc",
            subject: format!("{}#{}", oidc.config.issuer, claims.sub),
            login,
            name,
            groups,
        })
    }

    /// Checks an ID token: RS256 or ES256 with one of the provider's
    /// published keys, issued by the provider for this client, within its
    /// times, and carrying the sign-in's nonce.
    async fn check_id_token(
        &self,
        oidc: &OidcState,
        id_token: &str,
        nonce: &str,
        now: i64,
    ) -> Result<IdClaims, ServiceError> {
        check_id_token(&oidc.keys, &oidc.issuer(), id_token, nonce, now).await
    }
}

/// Checks an ID token of `issuer` (its `audience` is the client id); see
/// [`Berth::check_id_token`].
pub(crate) async fn check_id_token(
    keys: &IssuerKeys,
    issuer: &TrustedIssuer,
    id_token: &str,
    nonce: &str,
    now: i64,
) -> Result<IdClaims, ServiceError> {
    if id_token.len() > crate::trust::verify::MAX_TOKEN {
        return Err(refused("the ID token is too large"));
    }
    let (alg, _, key) = keys
        .signing_key(issuer, id_token, now, "the ID token", refused)
        .await?;
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.set_issuer(&[issuer.issuer.as_str()]);
    validation.set_audience(&[issuer.audience.as_str()]);
    let data = jsonwebtoken::decode::<IdClaims>(id_token, &key, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        refused(match e.kind() {
            ErrorKind::InvalidAudience => {
                "the ID token was issued to another client (`aud`)".to_string()
            }
            ErrorKind::InvalidIssuer => "the ID token comes from another issuer".to_string(),
            ErrorKind::InvalidSignature => "the ID token's signature does not verify".to_string(),
            ErrorKind::MissingRequiredClaim(c) => format!("the ID token has no `{c}` claim"),
            _ => format!("the ID token does not verify: {e}"),
        })
    })?;
    let claims = data.claims;
    check_times(claims.exp, claims.nbf, claims.iat, now).map_err(|_| {
        refused(format!(
            "the ID token has expired or is not valid yet (allowing {LEEWAY} s of clock skew); \
             start again from the login page"
        ))
    })?;
    let several = claims.aud.as_array().is_some_and(|a| a.len() > 1);
    if several && claims.azp.as_deref() != Some(issuer.audience.as_str()) {
        return Err(refused(
            "the ID token names several audiences and was not issued to this client (`azp`)",
        ));
    }
    let given = claims.nonce.as_deref().unwrap_or("");
    if given.is_empty() || !bool::from(given.as_bytes().ct_eq(nonce.as_bytes())) {
        return Err(refused(
            "the ID token's nonce does not match the sign-in this browser started",
        ));
    }
    Ok(claims)
}
