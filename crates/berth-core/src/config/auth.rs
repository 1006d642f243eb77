//! `[auth]`: how people sign in to the web UI. Passwords kept by Berth
//! (`password_login`), single sign-on through the company's OpenID
//! provider (`[auth.oidc]`), and the company's directory (`[auth.ldap]`);
//! both map the person's groups to the admin flag and to teams. Only
//! reads configuration: the flows are `accounts::oidc` and
//! `accounts::ldap`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::values::ConfigError;

/// The `[auth]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Whether users Berth keeps a password for may sign in with it.
    /// `false`: sign-in only through single sign-on (and the directory,
    /// when `[auth.ldap]` is set). Tokens and the command line are
    /// unaffected.
    pub password_login: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ldap: Option<LdapConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            password_login: true,
            oidc: None,
            ldap: None,
        }
    }
}

/// What a person's groups at the identity provider mean here.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupMapping {
    /// Members of any of these groups are server administrators; when
    /// empty, sign-ins leave the admin flag alone.
    pub admin_groups: Vec<String>,
    /// Provider group -> Berth team. A sign-in adds the person to the
    /// teams of their groups and removes them from the other teams named
    /// here; teams named nowhere here are left alone.
    pub teams: BTreeMap<String, String>,
}

impl GroupMapping {
    /// The admin flag (`None`: left alone) and the membership of every
    /// managed team for a person in `groups`.
    pub fn apply(&self, groups: &[String]) -> (Option<bool>, Vec<(String, bool)>) {
        let admin = (!self.admin_groups.is_empty())
            .then(|| self.admin_groups.iter().any(|g| groups.contains(g)));
        let mut teams: BTreeMap<&str, bool> = BTreeMap::new();
        for (group, team) in &self.teams {
            let member = groups.contains(group);
            let entry = teams.entry(team.as_str()).or_insert(false);
            *entry |= member;
        }
        (
            admin,
            teams.into_iter().map(|(t, m)| (t.to_string(), m)).collect(),
        )
    }

    fn check(&self, at: &str) -> Result<(), ConfigError> {
        for team in self.teams.values() {
            if !crate::accounts::teams::valid_name(team) {
                return Err(ConfigError(format!(
                    "{at}.teams: team `{team}`: use 1-64 ASCII letters, digits, `-`, `_` or `.`"
                )));
            }
        }
        Ok(())
    }
}

/// `[auth.oidc]`: single sign-on with an OpenID provider (authorization
/// code flow with PKCE).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer URL, exactly as its ID tokens' `iss` has it;
    /// its endpoints come from `ISSUER/.well-known/openid-configuration`.
    pub issuer: String,
    /// This server's client id at the provider. Register
    /// `PUBLIC_URL/login/oidc/callback` as its redirect URI.
    pub client_id: String,
    /// The environment variable that holds the client secret (never the
    /// secret itself in this file).
    pub client_secret_env: String,
    /// The scopes asked for; `openid` is always sent.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim a new user's login comes from.
    #[serde(default = "default_login_claim")]
    pub login_claim: String,
    /// The claim with the person's groups (a list of names).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    #[serde(default)]
    pub admin_groups: Vec<String>,
    #[serde(default)]
    pub teams: BTreeMap<String, String>,
    /// Whether a first sign-in may take over the existing local user of
    /// the same login. Off by default: a provider that lets people choose
    /// their own username would let them take over an account.
    #[serde(default)]
    pub link_existing_users: bool,
    /// The sign-in button's words.
    #[serde(default = "default_label")]
    pub label: String,
}

fn default_scopes() -> Vec<String> {
    ["openid", "profile", "email"].map(String::from).to_vec()
}
fn default_login_claim() -> String {
    "preferred_username".into()
}
fn default_groups_claim() -> String {
    "groups".into()
}
fn default_label() -> String {
    "Sign in with single sign-on".into()
}

impl OidcConfig {
    /// The group mapping of this provider.
    pub fn mapping(&self) -> GroupMapping {
        GroupMapping {
            admin_groups: self.admin_groups.clone(),
            teams: self.teams.clone(),
        }
    }
}

/// `[auth.ldap]`: sign-in with a directory password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldaps://HOST[:PORT]`, or `ldap://HOST[:PORT]` (upgraded with
    /// StartTLS unless `starttls = false`, which only a loopback host may
    /// use).
    pub url: String,
    #[serde(default = "yes")]
    pub starttls: bool,
    /// A PEM file of the CA that signed the directory's certificate (the
    /// system's roots when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<std::path::PathBuf>,
    /// The service account that searches the directory.
    pub bind_dn: String,
    /// The environment variable that holds its password.
    pub bind_password_env: String,
    /// Where users are searched.
    pub user_base: String,
    /// The filter that finds a user; `{login}` is replaced by the login
    /// typed, escaped per RFC 4515.
    #[serde(default = "default_user_filter")]
    pub user_filter: String,
    /// The attribute a user's login is read from.
    #[serde(default = "default_login_attribute")]
    pub login_attribute: String,
    /// Where groups are searched; unset: groups are not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_base: Option<String>,
    /// The filter that finds a user's groups; `{dn}` is replaced by the
    /// user's DN, `{login}` by their login, both escaped.
    #[serde(default = "default_group_filter")]
    pub group_filter: String,
    /// The attribute a group's name is read from.
    #[serde(default = "default_group_attribute")]
    pub group_attribute: String,
    #[serde(default)]
    pub admin_groups: Vec<String>,
    #[serde(default)]
    pub teams: BTreeMap<String, String>,
    /// As in `[auth.oidc]`.
    #[serde(default)]
    pub link_existing_users: bool,
    /// Seconds one directory operation may take.
    #[serde(default = "default_ldap_timeout")]
    pub timeout_secs: u64,
}

fn yes() -> bool {
    true
}
fn default_user_filter() -> String {
    "(&(objectClass=inetOrgPerson)(uid={login}))".into()
}
fn default_login_attribute() -> String {
    "uid".into()
}
fn default_group_filter() -> String {
    "(&(objectClass=groupOfNames)(member={dn}))".into()
}
fn default_group_attribute() -> String {
    "cn".into()
}
fn default_ldap_timeout() -> u64 {
    5
}

impl LdapConfig {
    /// The group mapping of this directory.
    pub fn mapping(&self) -> GroupMapping {
        GroupMapping {
            admin_groups: self.admin_groups.clone(),
            teams: self.teams.clone(),
        }
    }
}

/// Whether a URL's host is a loopback address (or `localhost`).
pub(crate) fn loopback_host(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or("");
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback())
}

impl AuthConfig {
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if let Some(o) = &self.oidc {
            let url = reqwest::Url::parse(&o.issuer)
                .map_err(|e| ConfigError(format!("auth.oidc.issuer `{}`: {e}", o.issuer)))?;
            if !(url.scheme() == "https" || (url.scheme() == "http" && loopback_host(&url))) {
                return Err(ConfigError(format!(
                    "auth.oidc.issuer `{}` must be an https URL (plain http only on a loopback \
                     address): its keys decide who signs in",
                    o.issuer
                )));
            }
            if o.client_id.trim().is_empty() {
                return Err(ConfigError(
                    "auth.oidc.client_id is empty: set this server's client id at the provider"
                        .into(),
                ));
            }
            if o.client_secret_env.trim().is_empty() {
                return Err(ConfigError(
                    "auth.oidc.client_secret_env is empty: name the environment variable that \
                     holds the client secret"
                        .into(),
                ));
            }
            if o.login_claim.trim().is_empty() || o.groups_claim.trim().is_empty() {
                return Err(ConfigError(
                    "auth.oidc.login_claim and auth.oidc.groups_claim must name claims".into(),
                ));
            }
            o.mapping().check("auth.oidc")?;
        }
        if let Some(l) = &self.ldap {
            let url = reqwest::Url::parse(&l.url)
                .map_err(|e| ConfigError(format!("auth.ldap.url `{}`: {e}", l.url)))?;
            match url.scheme() {
                "ldaps" => {}
                "ldap" if l.starttls || loopback_host(&url) => {}
                "ldap" => {
                    return Err(ConfigError(format!(
                        "auth.ldap.url `{}` with starttls = false would send passwords in the \
                         clear: use ldaps://, StartTLS, or a loopback address",
                        l.url
                    )))
                }
                other => {
                    return Err(ConfigError(format!(
                        "auth.ldap.url `{}`: the scheme `{other}` is neither ldap nor ldaps",
                        l.url
                    )))
                }
            }
            if !l.user_filter.contains("{login}") {
                return Err(ConfigError(format!(
                    "auth.ldap.user_filter `{}` has no `{{login}}`: it must find the user by the \
                     login typed",
                    l.user_filter
                )));
            }
            if l.bind_password_env.trim().is_empty() {
                return Err(ConfigError(
                    "auth.ldap.bind_password_env is empty: name the environment variable that \
                     holds the service account's password"
                        .into(),
                ));
            }
            if l.timeout_secs == 0 || l.timeout_secs > 60 {
                return Err(ConfigError(
                    "auth.ldap.timeout_secs must be between 1 and 60".into(),
                ));
            }
            l.mapping().check("auth.ldap")?;
        }
        Ok(())
    }

    /// The environment variables the section names as holding secrets.
    pub(crate) fn secret_variables(&self) -> Vec<&str> {
        let oidc = self.oidc.iter().map(|o| o.client_secret_env.as_str());
        let ldap = self.ldap.iter().map(|l| l.bind_password_env.as_str());
        oidc.chain(ldap).collect()
    }

    /// The secret variables that are unset or empty in this process.
    pub fn missing_secrets(&self) -> Vec<String> {
        self.secret_variables()
            .into_iter()
            .filter(|name| std::env::var(name).map_or(true, |v| v.is_empty()))
            .map(str::to_string)
            .collect()
    }

    /// Whether the login form has a password field: for Berth's own
    /// passwords or the directory's.
    pub fn password_form(&self) -> bool {
        self.password_login || self.ldap.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_map_to_the_admin_flag_and_managed_teams() {
        let m = GroupMapping {
            admin_groups: vec!["registry-admins".into()],
            teams: [
                ("platform-eng", "platform"),
                ("sre", "platform"),
                ("security", "security"),
            ]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        };
        let (admin, teams) = m.apply(&["sre".into(), "other".into()]);
        assert_eq!(admin, Some(false));
        assert_eq!(
            teams,
            vec![("platform".into(), true), ("security".into(), false)]
        );
        let (admin, _) = m.apply(&["registry-admins".into()]);
        assert_eq!(admin, Some(true));
        let none = GroupMapping::default();
        assert_eq!(none.apply(&["registry-admins".into()]), (None, vec![]));
    }
}
