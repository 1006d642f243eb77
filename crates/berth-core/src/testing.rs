//! The in-process test harness of this crate: a [`Berth`] over a temporary
//! SQLite database and blob directory with a given configuration and a
//! test [`Clock`], and row builders (users with a token and roles,
//! registries of each kind as configuration, published crates built with
//! `berth-testkit`'s builders). Test-only; never compiled into the library.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use berth_testkit::PublishBuilder;
use bytes::Bytes;

use crate::tokens::{CreatedToken, TokenRequest};
use crate::{Berth, Clock, Identity, Role, ServiceError};

/// Where a test clock starts: a fixed Unix time (2027-01-15).
pub(crate) const T0: i64 = 1_800_000_000;

/// A hosted registry's configuration.
pub(crate) fn hosted(name: &str) -> String {
    format!("[[registries]]\nname = \"{name}\"\n")
}

/// A private hosted registry's configuration.
pub(crate) fn private_hosted(name: &str) -> String {
    format!("[[registries]]\nname = \"{name}\"\nprivate = true\n")
}

/// A proxy of `upstream` (a `sparse+` URL) with `extra` keys.
pub(crate) fn proxy(name: &str, upstream: &str, extra: &str) -> String {
    format!(
        "[[registries]]\nname = \"{name}\"\nkind = \"proxy\"\nupstream = \"{upstream}\"\n{extra}\n"
    )
}

/// A virtual registry over `members`, with `extra` keys (`claims`, ...).
pub(crate) fn virtual_of(name: &str, members: &[&str], extra: &str) -> String {
    let members: Vec<String> = members.iter().map(|m| format!("\"{m}\"")).collect();
    format!(
        "[[registries]]\nname = \"{name}\"\nkind = \"virtual\"\nmembers = [{}]\n{extra}\n",
        members.join(", ")
    )
}

/// Two hosted registries (`main`, `second`), a proxy `public` of
/// `upstream` and a virtual registry `company` over all three, with
/// `virtual_extra` keys on the virtual registry.
pub(crate) fn two_hosted_and_a_proxy(upstream: &str, virtual_extra: &str) -> String {
    format!(
        "{}{}{}{}",
        hosted("main"),
        hosted("second"),
        proxy("public", upstream, ""),
        virtual_of("company", &["main", "second", "public"], virtual_extra)
    )
}

/// A [`Berth`] on temporary stores, with the clock it reads.
pub(crate) struct TestBerth {
    pub berth: Arc<Berth>,
    pub clock: Clock,
    _dir: tempfile::TempDir,
}

/// A user made by [`TestBerth::user`]: the identity its token resolves to.
pub(crate) struct TestUser {
    pub secret: String,
    pub who: Identity,
}

impl TestBerth {
    /// A server whose configuration file says `toml` (registries and any
    /// other keys), at [`T0`] on a test clock.
    pub async fn new(toml: &str) -> Self {
        Self::try_new(toml).await.unwrap()
    }

    /// As [`TestBerth::new`], with the configuration's or the opening's error.
    pub async fn try_new(toml: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("berth.toml");
        let text = format!(
            "data_dir = \"{}\"\nlisten = \"127.0.0.1:7878\"\n{toml}",
            dir.path().join("data").display()
        );
        std::fs::write(&file, text).unwrap();
        let config = crate::Config::load_file_only(&file).map_err(|e| e.to_string())?;
        let clock = Clock::test(T0);
        let berth = Berth::open_with_clock(config, clock.clone())
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self {
            berth,
            clock,
            _dir: dir,
        })
    }

    /// Where the data (the SQLite database, the blobs) lives.
    pub fn data_dir(&self) -> std::path::PathBuf {
        self._dir.path().join("data")
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// A user with every scope, `roles` (registry, role) and no limits.
    pub async fn user(&self, login: &str, roles: &[(&str, Role)]) -> TestUser {
        self.user_with(login, roles, TokenRequest::default()).await
    }

    /// A user with `roles` and a token made from `req` (used from the
    /// first of its CIDR ranges, if it has any).
    pub async fn user_with(
        &self,
        login: &str,
        roles: &[(&str, Role)],
        req: TokenRequest,
    ) -> TestUser {
        self.berth.add_user(login, None, false).await.unwrap();
        for (registry, role) in roles {
            self.berth
                .set_role(registry, login, Some(*role))
                .await
                .unwrap();
        }
        let created = self.berth.create_token(login, &req).await.unwrap();
        // A token limited to ranges is used from the first one's address.
        let client = req
            .allowed_cidrs
            .first()
            .and_then(|c| c.split('/').next()?.parse().ok());
        let who = self.identify_from(&created.secret, client).await.unwrap();
        TestUser {
            secret: created.secret,
            who,
        }
    }

    /// A user without roles whose token works on `registry` only.
    pub async fn user_limited_to(&self, login: &str, registry: &str) -> TestUser {
        let req = TokenRequest {
            registry: Some(registry.into()),
            ..TokenRequest::default()
        };
        self.user_with(login, &[], req).await
    }

    /// A server administrator.
    pub async fn admin(&self, login: &str) -> TestUser {
        self.berth.add_user(login, None, true).await.unwrap();
        let created = self
            .berth
            .create_token(login, &TokenRequest::default())
            .await
            .unwrap();
        TestUser {
            who: self.identify(&created.secret).await.unwrap(),
            secret: created.secret,
        }
    }

    /// Another token of an existing user.
    pub async fn token(
        &self,
        login: &str,
        req: TokenRequest,
    ) -> Result<CreatedToken, ServiceError> {
        self.berth.create_token(login, &req).await
    }

    /// The identity a secret resolves to, from an unknown address.
    pub async fn identify(&self, secret: &str) -> Result<Identity, ServiceError> {
        self.identify_from(secret, None).await
    }

    /// The identity a secret resolves to, from `client`.
    pub async fn identify_from(
        &self,
        secret: &str,
        client: Option<IpAddr>,
    ) -> Result<Identity, ServiceError> {
        Ok(self.berth.identify(Some(secret), client).await?.unwrap())
    }

    /// Publishes what `build` describes to `registry` as `who`.
    pub async fn publish(
        &self,
        registry: &str,
        who: &TestUser,
        build: PublishBuilder,
    ) -> Result<(), ServiceError> {
        self.berth
            .publish(registry, Some(&who.who), Bytes::from(build.body()))
            .await
            .map(|_| ())
    }

    /// Publishes `name@vers` (with a small library) to `registry` as `who`.
    pub async fn publish_crate(
        &self,
        registry: &str,
        who: &TestUser,
        name: &str,
        vers: &str,
    ) -> Result<(), ServiceError> {
        self.publish(registry, who, PublishBuilder::new(name, vers))
            .await
    }

    /// As [`TestBerth::publish_crate`], for a publish that must succeed.
    pub async fn published(&self, registry: &str, who: &TestUser, name: &str, vers: &str) {
        if let Err(e) = self.publish_crate(registry, who, name, vers).await {
            panic!("publishing {name}@{vers} to {registry}: {e}");
        }
    }

    /// The index file of `name` in `registry` as anyone asking, as text.
    pub async fn index(
        &self,
        registry: &str,
        who: Option<&TestUser>,
        name: &str,
    ) -> Result<String, ServiceError> {
        let file = self
            .berth
            .index_file(
                registry,
                who.map(|u| &u.who),
                &berth_protocol::index_path(name),
            )
            .await?;
        Ok(String::from_utf8(file.body.to_vec()).unwrap())
    }

    /// Imports an advisory database of `advisories` (written in the RustSec
    /// format by the test kit).
    pub async fn import_advisories(&self, advisories: &[berth_testkit::AdvisoryFile]) {
        let dir = tempfile::tempdir().unwrap();
        berth_testkit::write_advisory_db(dir.path(), advisories);
        self.berth
            .import_advisories(
                crate::supply::advisories::AdvisoryInput::Path(dir.path().into()),
                "test-db",
            )
            .await
            .unwrap();
    }

    /// The index lines of `name` in `registry` (as an administrator sees them).
    pub async fn lines(&self, registry: &str, name: &str) -> Vec<serde_json::Value> {
        self.index(registry, None, name)
            .await
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// The message of an error of the expected class, or a failed test.
#[track_caller]
pub(crate) fn bad_request<T: std::fmt::Debug>(r: Result<T, ServiceError>) -> String {
    match r {
        Err(ServiceError::BadRequest(m)) => m,
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[track_caller]
pub(crate) fn forbidden<T: std::fmt::Debug>(r: Result<T, ServiceError>) -> String {
    match r {
        Err(ServiceError::Forbidden(m)) => m,
        other => panic!("expected a 403, got {other:?}"),
    }
}

#[track_caller]
pub(crate) fn unauthorized<T: std::fmt::Debug>(r: Result<T, ServiceError>) -> String {
    match r {
        Err(ServiceError::Unauthorized(m)) => m,
        other => panic!("expected a 401, got {other:?}"),
    }
}

#[track_caller]
pub(crate) fn not_found<T: std::fmt::Debug>(r: Result<T, ServiceError>) -> String {
    match r {
        Err(ServiceError::NotFound(m)) => m,
        other => panic!("expected a 404, got {other:?}"),
    }
}

#[track_caller]
pub(crate) fn conflict<T: std::fmt::Debug>(r: Result<T, ServiceError>) -> String {
    match r {
        Err(ServiceError::Conflict(m)) => m,
        other => panic!("expected a 409, got {other:?}"),
    }
}

#[track_caller]
pub(crate) fn too_large<T: std::fmt::Debug>(r: Result<T, ServiceError>) -> String {
    match r {
        Err(ServiceError::TooLarge(m)) => m,
        other => panic!("expected a 413, got {other:?}"),
    }
}

#[track_caller]
pub(crate) fn busy<T: std::fmt::Debug>(r: Result<T, ServiceError>) -> String {
    match r {
        Err(ServiceError::Busy(m)) => m,
        other => panic!("expected a 429, got {other:?}"),
    }
}

/// Makes proxy `registry` forget what it holds in memory (as a restarted
/// node, or another node, would), leaving its stored rows.
pub(crate) fn forget_proxy_memory(t: &TestBerth, registry: &str) {
    match t.berth.registry(registry).unwrap().source.as_ref() {
        crate::sources::Source::Proxy(p) => p.forget(None),
        _ => panic!("`{registry}` is not a proxy"),
    }
}
