//! Sign-in with a directory password (`[auth.ldap]`): a search bind. The
//! service account finds the user by the login typed (escaped per RFC 4515
//! into `user_filter`), the user's own DN binds with the password given,
//! then the service account reads the user's groups. The person is signed
//! in through `accounts::external` (found again by their DN, groups mapped
//! to the admin flag and teams).
//!
//! Connections are `ldaps://`, or `ldap://` upgraded with StartTLS (plain
//! only on a loopback address), one per sign-in, each operation bounded by
//! `timeout_secs`. This module never sees a password hash; rate limits are
//! the login form's.

use std::sync::Arc;
use std::time::Duration;

use ldap3::{ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};

use crate::accounts::external::ExternalPerson;
use crate::config::LdapConfig;
use crate::error::ServiceError;

/// What the directory says about a login and password.
#[derive(Debug)]
pub(crate) enum DirectoryAnswer {
    /// The password binds as the entry the login finds.
    Person(ExternalPerson),
    /// The login finds an entry, and the password does not bind.
    WrongPassword,
    /// The login finds no entry (or several, which counts as none).
    NotFound,
}

fn unavailable(why: impl std::fmt::Display) -> ServiceError {
    ServiceError::BadGateway(format!(
        "the directory (LDAP) could not be asked: {why}; try again later or ask an administrator"
    ))
}

/// The directory of `[auth.ldap]`.
pub(crate) struct Directory {
    config: LdapConfig,
    password: Option<String>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Directory {
    /// The directory of `config`; its service password from the
    /// environment, its CA file read now.
    pub(crate) fn new(config: &LdapConfig) -> Result<Self, ServiceError> {
        let tls = match &config.ca_file {
            None => None,
            Some(path) => {
                use rustls::pki_types::pem::PemObject;
                let mut roots = rustls::RootCertStore::empty();
                let certs =
                    rustls::pki_types::CertificateDer::pem_file_iter(path).map_err(|e| {
                        ServiceError::BadRequest(format!(
                            "auth.ldap.ca_file `{}`: {e}",
                            path.display()
                        ))
                    })?;
                for cert in certs {
                    let cert = cert.map_err(|e| {
                        ServiceError::BadRequest(format!(
                            "auth.ldap.ca_file `{}`: {e}",
                            path.display()
                        ))
                    })?;
                    roots.add(cert).map_err(|e| {
                        ServiceError::BadRequest(format!(
                            "auth.ldap.ca_file `{}`: {e}",
                            path.display()
                        ))
                    })?;
                }
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let tls = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| ServiceError::Internal(format!("TLS setup: {e}")))?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                Some(Arc::new(tls))
            }
        };
        Ok(Self {
            config: config.clone(),
            password: std::env::var(&config.bind_password_env)
                .ok()
                .filter(|p| !p.is_empty()),
            tls,
        })
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout_secs)
    }

    /// A connection bound as the service account.
    async fn connect(&self) -> Result<Ldap, ServiceError> {
        let starttls = self.config.url.starts_with("ldap://") && self.config.starttls;
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout())
            .set_starttls(starttls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &self.config.url)
            .await
            .map_err(|e| unavailable(format!("connecting to {}: {e}", self.config.url)))?;
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(error = %e, "LDAP connection ended");
            }
        });
        let password = self.password.as_deref().ok_or_else(|| {
            ServiceError::Internal(format!(
                "the LDAP service account's password is not set: the environment variable `{}` \
                 is empty",
                self.config.bind_password_env
            ))
        })?;
        ldap.with_timeout(self.timeout())
            .simple_bind(&self.config.bind_dn, password)
            .await
            .and_then(|r| r.success())
            .map_err(|e| unavailable(format!("the service account's bind was refused: {e}")))?;
        Ok(ldap)
    }

    /// The entries `filter` finds under `base`, with `attrs`.
    async fn search(
        &self,
        ldap: &mut Ldap,
        base: &str,
        filter: &str,
        attrs: Vec<&str>,
    ) -> Result<Vec<SearchEntry>, ServiceError> {
        let (entries, _) = ldap
            .with_timeout(self.timeout())
            .search(base, Scope::Subtree, filter, attrs)
            .await
            .and_then(|r| r.success())
            .map_err(|e| unavailable(format!("searching {base} for {filter}: {e}")))?;
        Ok(entries.into_iter().map(SearchEntry::construct).collect())
    }

    /// The user entry a login finds: `None` unless exactly one.
    async fn find_user(
        &self,
        ldap: &mut Ldap,
        login: &str,
    ) -> Result<Option<SearchEntry>, ServiceError> {
        let filter = self
            .config
            .user_filter
            .replace("{login}", &ldap_escape(login));
        let attrs = vec![self.config.login_attribute.as_str(), "cn", "displayName"];
        let mut found = self
            .search(ldap, &self.config.user_base, &filter, attrs)
            .await?;
        if found.len() > 1 {
            tracing::warn!(
                login = %crate::text::clip(login, 64),
                entries = found.len(),
                "an LDAP login matches several entries: refused"
            );
            return Ok(None);
        }
        Ok(found.pop())
    }

    /// Asks the directory about a login and password.
    pub(crate) async fn check(
        &self,
        login: &str,
        password: &str,
    ) -> Result<DirectoryAnswer, ServiceError> {
        let mut ldap = self.connect().await?;
        let answer = self.check_bound(&mut ldap, login, password).await;
        let _ = ldap.unbind().await;
        answer
    }

    async fn check_bound(
        &self,
        ldap: &mut Ldap,
        login: &str,
        password: &str,
    ) -> Result<DirectoryAnswer, ServiceError> {
        let Some(entry) = self.find_user(ldap, login).await? else {
            return Ok(DirectoryAnswer::NotFound);
        };
        // An empty password would be an unauthenticated bind, which
        // directories answer with success.
        if password.is_empty() {
            return Ok(DirectoryAnswer::WrongPassword);
        }
        let bound = ldap
            .with_timeout(self.timeout())
            .simple_bind(&entry.dn, password)
            .await
            .map_err(|e| unavailable(format!("binding as {}: {e}", entry.dn)))?;
        match bound.rc {
            0 => {}
            // invalidCredentials, and inappropriateAuthentication
            // (accounts the directory locked or disabled).
            49 | 48 | 50 | 53 => return Ok(DirectoryAnswer::WrongPassword),
            rc => {
                return Err(unavailable(format!(
                    "binding as {} answered {rc} ({})",
                    entry.dn, bound.text
                )))
            }
        }
        let first = |attr: &str| {
            entry
                .attrs
                .get(attr)
                .and_then(|v| v.first())
                .map(|s| s.to_string())
        };
        let name = first("displayName").or_else(|| first("cn"));
        let directory_login = first(&self.config.login_attribute).unwrap_or_else(|| login.into());
        let mut groups = Vec::new();
        if let Some(base) = &self.config.group_base {
            // Back to the service account: a user may not read groups.
            let password = self.password.as_deref().unwrap_or("");
            ldap.with_timeout(self.timeout())
                .simple_bind(&self.config.bind_dn, password)
                .await
                .and_then(|r| r.success())
                .map_err(|e| unavailable(format!("the service account's bind was refused: {e}")))?;
            let filter = self
                .config
                .group_filter
                .replace("{dn}", &ldap_escape(entry.dn.as_str()))
                .replace("{login}", &ldap_escape(directory_login.as_str()));
            let attr = self.config.group_attribute.as_str();
            for group in self.search(ldap, base, &filter, vec![attr]).await? {
                groups.extend(group.attrs.get(attr).into_iter().flatten().cloned());
            }
        }
        Ok(DirectoryAnswer::Person(ExternalPerson {
            source: "ldap",
            subject: entry.dn.to_ascii_lowercase(),
            login: directory_login,
            name,
            groups,
        }))
    }

    /// Whether the entry of `dn` still exists and `user_filter` still finds
    /// it by `login` (a deleted or disabled account does not).
    pub(crate) async fn still_there(&self, dn: &str, login: &str) -> Result<bool, ServiceError> {
        let mut ldap = self.connect().await?;
        let found = self.find_user(&mut ldap, login).await;
        let _ = ldap.unbind().await;
        Ok(found?.is_some_and(|e| e.dn.eq_ignore_ascii_case(dn)))
    }

    /// The group mapping and linking rule of this directory.
    pub(crate) fn config(&self) -> &LdapConfig {
        &self.config
    }
}
