//! `external_identities`: users who sign in through the company's identity
//! provider (OIDC) or directory (LDAP), found by the identity's source and
//! stable subject; and what a sign-in brings along from there (the admin
//! flag, memberships of the teams the group mapping manages), written in
//! one transaction with an audit row per change.
//!
//! This file never talks to a provider or decides what groups mean: it is
//! given the outcome (berth-core's `accounts::external`).

use crate::db::MetaStore;
use crate::domain::AuditAction;
use crate::model::{AuditEntry, User};
use crate::tables::insert_audit;
use crate::tables::users::USER_COLUMNS;
use crate::{now_unix, StoreError};

/// What an identity provider said about a person at sign-in, as the
/// configuration maps it.
#[derive(Debug, Clone)]
pub struct ExternalAccount {
    /// `oidc` or `ldap`.
    pub source: String,
    /// The identity's stable subject within the source (OIDC: issuer and
    /// `sub`; LDAP: the entry's DN).
    pub subject: String,
    /// The login a new user gets (and an existing local user is linked by,
    /// when `link_existing` allows it).
    pub login: String,
    /// The person's display name, if the provider gave one.
    pub name: Option<String>,
    /// The admin flag the groups give, or `None` when the mapping leaves it
    /// alone (no admin groups configured).
    pub admin: Option<bool>,
    /// Every team the mapping manages, and whether the person belongs to
    /// it now. Teams outside the mapping are left alone.
    pub teams: Vec<(String, bool)>,
    /// Whether a first sign-in may take over a local user of the same
    /// login that has no identity of this source yet.
    pub link_existing: bool,
}

/// Why an external sign-in was refused by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalRefusal {
    /// A local user has the login, and linking is not allowed.
    LoginTaken,
    /// The user with the login is already linked to another identity of
    /// the same source.
    LinkedElsewhere,
}

/// The outcome of [`MetaStore::sign_in_external`].
#[derive(Debug, Clone)]
pub enum ExternalSignIn {
    /// The user (as it is after the sign-in's changes) and whether it was
    /// created now.
    User {
        user: User,
        created: bool,
    },
    Refused(ExternalRefusal),
}

impl MetaStore {
    /// Finds (or creates, or links) the user of an external identity and
    /// brings its admin flag and managed team memberships in line with the
    /// provider's groups, auditing each change with `audit`'s origin (its
    /// actor is the user). A disabled user is returned as it is, unchanged:
    /// the caller refuses it.
    pub async fn sign_in_external(
        &self,
        account: &ExternalAccount,
        audit: &AuditEntry,
    ) -> Result<ExternalSignIn, StoreError> {
        let now = now_unix();
        let mut w = self.begin_write().await?;
        let by_subject: Option<User> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM external_identities e JOIN users u ON u.id = e.user_id \
             WHERE e.source = $1 AND e.subject = $2"
        ))
        .bind(&account.source)
        .bind(&account.subject)
        .fetch_optional(&mut *w.tx)
        .await?;
        let row = |action, detail: String| AuditEntry {
            actor: Some(account.login.clone()),
            detail: Some(detail),
            ..AuditEntry::new(action, crate::AuditOutcome::Ok)
        };
        let origin = |mut e: AuditEntry| {
            e.client_addr.clone_from(&audit.client_addr);
            e.user_agent.clone_from(&audit.user_agent);
            e
        };
        let mut created = false;
        let mut user = match by_subject {
            Some(user) => user,
            None => {
                let by_login: Option<User> = sqlx::query_as(&format!(
                    "SELECT {USER_COLUMNS} FROM users u WHERE u.login = $1"
                ))
                .bind(&account.login)
                .fetch_optional(&mut *w.tx)
                .await?;
                let user = match by_login {
                    Some(user) => {
                        let linked: Option<i64> = sqlx::query_scalar(
                            "SELECT 1 FROM external_identities WHERE user_id = $1 AND source = $2",
                        )
                        .bind(user.id)
                        .bind(&account.source)
                        .fetch_optional(&mut *w.tx)
                        .await?;
                        if linked.is_some() {
                            return Ok(ExternalSignIn::Refused(ExternalRefusal::LinkedElsewhere));
                        }
                        if !account.link_existing {
                            return Ok(ExternalSignIn::Refused(ExternalRefusal::LoginTaken));
                        }
                        insert_audit(
                            &mut w.tx,
                            &origin(row(
                                AuditAction::UserLink,
                                format!(
                                    "login={} linked to {} identity {}",
                                    account.login, account.source, account.subject
                                ),
                            )),
                        )
                        .await?;
                        user
                    }
                    None => {
                        let id: i64 = sqlx::query_scalar(
                            "INSERT INTO users (login, name, password_hash, is_admin, created_at) \
                             VALUES ($1, $2, NULL, 0, $3) RETURNING id",
                        )
                        .bind(&account.login)
                        .bind(account.name.clone())
                        .bind(now)
                        .fetch_one(&mut *w.tx)
                        .await?;
                        insert_audit(
                            &mut w.tx,
                            &origin(row(
                                AuditAction::UserCreate,
                                format!(
                                    "login={} admin=false at first {} sign-in ({})",
                                    account.login, account.source, account.subject
                                ),
                            )),
                        )
                        .await?;
                        created = true;
                        User {
                            id,
                            login: account.login.clone(),
                            name: account.name.clone(),
                            is_admin: false,
                            disabled: false,
                        }
                    }
                };
                sqlx::query(
                    "INSERT INTO external_identities \
                     (source, subject, user_id, created_at, last_seen_at) \
                     VALUES ($1, $2, $3, $4, $4)",
                )
                .bind(&account.source)
                .bind(&account.subject)
                .bind(user.id)
                .bind(now)
                .execute(&mut *w.tx)
                .await?;
                user
            }
        };
        if user.disabled {
            return Ok(ExternalSignIn::User { user, created });
        }
        let actor = |action, detail: String| {
            origin(AuditEntry {
                actor: Some(user.login.clone()),
                ..row(action, detail)
            })
        };
        if let Some(admin) = account.admin.filter(|a| *a != user.is_admin) {
            sqlx::query("UPDATE users SET is_admin = $2 WHERE id = $1")
                .bind(user.id)
                .bind(i64::from(admin))
                .execute(&mut *w.tx)
                .await?;
            insert_audit(
                &mut w.tx,
                &actor(
                    AuditAction::UserAdmin,
                    format!(
                        "login={} admin={admin} from the {} groups",
                        user.login, account.source
                    ),
                ),
            )
            .await?;
            user.is_admin = admin;
        }
        for (team, member) in &account.teams {
            let team_id: Option<i64> = sqlx::query_scalar("SELECT id FROM teams WHERE name = $1")
                .bind(team)
                .fetch_optional(&mut *w.tx)
                .await?;
            let team_id = match (team_id, member) {
                (Some(id), _) => id,
                (None, false) => continue,
                (None, true) => {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO teams (name, created_at) VALUES ($1, $2) RETURNING id",
                    )
                    .bind(team)
                    .bind(now)
                    .fetch_one(&mut *w.tx)
                    .await?;
                    insert_audit(
                        &mut w.tx,
                        &actor(
                            AuditAction::TeamCreate,
                            format!("team={team} for the {} group mapping", account.source),
                        ),
                    )
                    .await?;
                    id
                }
            };
            let changed = if *member {
                sqlx::query(
                    "INSERT INTO team_members (team_id, user_id, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (team_id, user_id) DO NOTHING",
                )
                .bind(team_id)
                .bind(user.id)
                .bind(now)
                .execute(&mut *w.tx)
                .await?
            } else {
                sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
                    .bind(team_id)
                    .bind(user.id)
                    .execute(&mut *w.tx)
                    .await?
            }
            .rows_affected()
                > 0;
            if changed {
                let (action, verb) = if *member {
                    (AuditAction::TeamMemberAdd, "joins")
                } else {
                    (AuditAction::TeamMemberRemove, "leaves")
                };
                insert_audit(
                    &mut w.tx,
                    &actor(
                        action,
                        format!(
                            "team={team} login={} changed=true ({verb} with the {} groups)",
                            user.login, account.source
                        ),
                    ),
                )
                .await?;
            }
        }
        sqlx::query(
            "UPDATE external_identities SET last_seen_at = $3 WHERE source = $1 AND subject = $2",
        )
        .bind(&account.source)
        .bind(&account.subject)
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(ExternalSignIn::User { user, created })
    }

    /// The identities (source and subject) of a user.
    pub async fn external_identities(
        &self,
        user_id: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT source, subject FROM external_identities WHERE user_id = $1 ORDER BY source",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
