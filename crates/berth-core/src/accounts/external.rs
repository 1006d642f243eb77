//! Sign-in through the company's identity: what single sign-on
//! (`accounts::oidc`) and the directory (`accounts::ldap`) share once they
//! know who the person is. The user is found by the identity (or created,
//! or linked), its admin flag and managed team memberships follow the
//! person's groups (each change audited, in one transaction), and a
//! session opens. Every outcome writes a `session.login` row.

use berth_store::{
    AuditAction, AuditEntry, AuditOutcome, ExternalAccount, ExternalRefusal, ExternalSignIn,
};

use crate::config::GroupMapping;
use crate::error::ServiceError;
use crate::Berth;

/// Who the identity provider or directory says a person is.
#[derive(Debug, Clone)]
pub struct ExternalPerson {
    /// `oidc` or `ldap`.
    pub source: &'static str,
    /// The stable subject within the source.
    pub subject: String,
    pub login: String,
    pub name: Option<String>,
    pub groups: Vec<String>,
}

/// A signed-in session: the user's login, the cookie's secret, the CSRF
/// token.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub login: String,
    pub secret: String,
    pub csrf: String,
}

impl Berth {
    /// Signs a person in whom `source` vouched for: finds or creates their
    /// user, applies `mapping` to their groups, opens a session. A refusal
    /// is audited as a denied `session.login`.
    pub(crate) async fn sign_in_external(
        &self,
        person: ExternalPerson,
        mapping: &GroupMapping,
        link_existing: bool,
        origin: &berth_store::Origin,
    ) -> Result<SignedIn, ServiceError> {
        let source = person.source;
        if !crate::accounts::teams::valid_name(&person.login) {
            let why = format!(
                "the {} login `{}` is not usable here (1-64 ASCII letters, digits, `-`, `_` or \
                 `.`); ask an administrator to check the login claim or attribute",
                source_name(source),
                crate::text::clip(&person.login, 64).escape_default()
            );
            return Err(self
                .refuse_external(&person.login, false, origin, why)
                .await);
        }
        let (admin, teams) = mapping.apply(&person.groups);
        let account = ExternalAccount {
            source: source.to_string(),
            subject: person.subject.clone(),
            login: person.login.clone(),
            name: person.name.clone(),
            admin,
            teams,
            link_existing,
        };
        let audit = AuditEntry {
            client_addr: origin.client_addr.clone(),
            user_agent: origin.user_agent.clone(),
            ..AuditEntry::new(AuditAction::SessionLogin, AuditOutcome::Ok)
        };
        let user = match self.meta.sign_in_external(&account, &audit).await? {
            ExternalSignIn::User { user, .. } => user,
            ExternalSignIn::Refused(refusal) => {
                let why = match refusal {
                    ExternalRefusal::LoginTaken => format!(
                        "a local account `{}` already exists and is not linked to your {} \
                         identity; an administrator can allow linking (`link_existing_users`) \
                         or rename the local account",
                        person.login,
                        source_name(source)
                    ),
                    ExternalRefusal::LinkedElsewhere => format!(
                        "the account `{}` belongs to another {} identity",
                        person.login,
                        source_name(source)
                    ),
                };
                return Err(self.refuse_external(&person.login, true, origin, why).await);
            }
        };
        if user.disabled {
            let e = crate::accounts::users::disabled();
            return Err(self
                .refuse_external(&user.login, true, origin, e.to_string())
                .await);
        }
        let (secret, csrf) = self.start_session(&user).await?;
        let entry = AuditEntry {
            actor: Some(user.login.clone()),
            client_addr: origin.client_addr.clone(),
            user_agent: origin.user_agent.clone(),
            ..AuditEntry::done(
                AuditAction::SessionLogin,
                format!("{} sign-in", source_name(source)),
            )
        };
        self.meta
            .append_audit_at(&entry, self.clock.now_unix())
            .await?;
        tracing::info!(user = %user.login, source, "web login");
        Ok(SignedIn {
            login: user.login,
            secret,
            csrf,
        })
    }

    /// Audits a refused external sign-in and returns its refusal (403).
    pub(crate) async fn refuse_external(
        &self,
        login: &str,
        known: bool,
        origin: &berth_store::Origin,
        why: String,
    ) -> ServiceError {
        let entry = self.login_refusal(login, known, origin, &why);
        self.audit_refusal(&entry).await;
        ServiceError::Forbidden(why)
    }
}

/// How pages and audit rows name a source.
pub(crate) fn source_name(source: &str) -> &'static str {
    match source {
        "oidc" => "single sign-on",
        "ldap" => "directory",
        _ => "external",
    }
}
