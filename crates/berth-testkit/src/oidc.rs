//! A test OIDC issuer of CI identity tokens, for trusted publishing: a
//! [`Fixture`] on loopback serving a discovery document and a JWKS, and
//! signing tokens with its keys (RS256 and ES256, made when it starts), or
//! forging them (`alg: none`, HS256 keyed with a public key, an unknown
//! key). Tokens carry GitHub Actions' claim names.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

use crate::upstream::{Answer, Fixture};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// One signing key of the issuer.
pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    encoding: EncodingKey,
    /// The public JWK.
    pub jwk: Value,
}

impl SigningKey {
    /// A new RSA key (2048 bits) for RS256.
    pub fn rsa(kid: &str) -> Self {
        let mut rng = rsa::rand_core::OsRng;
        let key = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("an RSA key");
        let der = key.to_pkcs1_der().expect("PKCS#1 DER");
        let jwk = json!({
            "kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
            "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be()),
        });
        SigningKey {
            kid: kid.into(),
            alg: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            jwk,
        }
    }

    /// A new P-256 key for ES256.
    pub fn ec(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("a P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("the P-256 key reads back");
        // Uncompressed point: 0x04, then x and y.
        let point = pair.public_key().as_ref();
        let jwk = json!({
            "kty": "EC", "kid": kid, "alg": "ES256", "use": "sig", "crv": "P-256",
            "x": b64(&point[1..33]), "y": b64(&point[33..65]),
        });
        SigningKey {
            kid: kid.into(),
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk,
        }
    }

    /// `claims` signed with this key.
    pub fn sign(&self, claims: &Value) -> String {
        let header = Header {
            kid: Some(self.kid.clone()),
            ..Header::new(self.alg)
        };
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("a signed token")
    }
}

/// A test issuer on loopback.
pub struct TestIssuer {
    pub fixture: Fixture,
    /// The keys its JWKS publishes.
    published: Mutex<Vec<Value>>,
    jti: AtomicU64,
}

impl TestIssuer {
    /// An issuer on 127.0.0.1 publishing `keys`.
    pub fn start(keys: &[&SigningKey]) -> Self {
        let fixture = Fixture::on("127.0.0.1");
        fixture.answer(
            "/.well-known/openid-configuration",
            Answer::ok(
                json!({
                    "issuer": fixture.url,
                    "jwks_uri": format!("{}/jwks", fixture.url),
                })
                .to_string(),
            ),
        );
        let issuer = TestIssuer {
            fixture,
            published: Mutex::new(Vec::new()),
            jti: AtomicU64::new(0),
        };
        issuer.publish(keys);
        issuer
    }

    /// Publishes `keys` (a rotation) from now on.
    pub fn publish(&self, keys: &[&SigningKey]) {
        let jwks: Vec<Value> = keys.iter().map(|k| k.jwk.clone()).collect();
        *self.published.lock().unwrap() = jwks.clone();
        self.fixture
            .answer("/jwks", Answer::ok(json!({ "keys": jwks }).to_string()));
    }

    /// The issuer URL (`iss`).
    pub fn url(&self) -> &str {
        &self.fixture.url
    }

    /// How many times its keys were fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.fixture.hits("/jwks")
    }

    /// The claims of a job of `repository` running workflow file
    /// `workflow`, for `audience`, valid for five minutes from now, with a
    /// fresh `jti`.
    pub fn claims(&self, audience: &str, repository: &str, workflow: &str) -> Value {
        let now = unix_now();
        let n = self.jti.fetch_add(1, Ordering::SeqCst);
        json!({
            "iss": self.url(),
            "aud": audience,
            "sub": format!("repo:{repository}:ref:refs/tags/v1.0.0"),
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": format!("jti-{}-{n}", std::process::id()),
            "repository": repository,
            "repository_owner": repository.split('/').next().unwrap_or(""),
            "workflow_ref": format!("{repository}/.github/workflows/{workflow}@refs/tags/v1.0.0"),
            "job_workflow_ref": format!("{repository}/.github/workflows/{workflow}@refs/tags/v1.0.0"),
            "ref": "refs/tags/v1.0.0",
            "sha": "0123456789abcdef0123456789abcdef01234567",
            "run_id": "4242",
            "run_attempt": "1",
        })
    }

    /// An unsigned token (`alg: none`) with `claims`, naming key `kid`.
    pub fn unsigned(kid: &str, claims: &Value) -> String {
        let header = json!({"alg": "none", "typ": "JWT", "kid": kid});
        format!(
            "{}.{}.",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        )
    }

    /// A token with `claims` "signed" with HS256 keyed by the bytes of
    /// `key`'s public JWK (the algorithm-confusion forgery), naming its kid.
    pub fn hmac_with_public_key(key: &SigningKey, claims: &Value) -> String {
        let header = Header {
            kid: Some(key.kid.clone()),
            ..Header::new(Algorithm::HS256)
        };
        let secret = key.jwk.to_string();
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("an HS256 token")
    }
}
