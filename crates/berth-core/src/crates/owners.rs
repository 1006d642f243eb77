//! A crate's owners (users and teams) in cargo's response shape, and
//! adding and removing them; ownership is enforced by the store inside the
//! transaction that makes the change.

use berth_store::{AuditAction, StoreError, Team, User, TEAM_PREFIX};
use serde::Serialize;

use crate::accounts::auth::Scope;
use crate::crates::checks::{need_token, Change};
use crate::error::ServiceError;
use crate::{Berth, Identity};

/// Owners of a crate, in cargo's response shape.
#[derive(Debug, Clone, Serialize)]
pub struct OwnerList {
    pub users: Vec<OwnerJson>,
}

/// One owner: a user, or a team (`login` is then `team:NAME`, as `cargo
/// owner --add` takes it).
#[derive(Debug, Clone, Serialize)]
pub struct OwnerJson {
    pub id: i64,
    pub login: String,
    pub name: Option<String>,
    /// `user` or `team`.
    pub kind: &'static str,
}

impl From<User> for OwnerJson {
    fn from(u: User) -> Self {
        OwnerJson {
            id: opaque_user_id(&u.login),
            login: u.login,
            name: u.name,
            kind: "user",
        }
    }
}

impl From<Team> for OwnerJson {
    fn from(t: Team) -> Self {
        let login = format!("{TEAM_PREFIX}{}", t.name);
        OwnerJson {
            id: opaque_user_id(&login),
            login,
            name: None,
            kind: "team",
        }
    }
}

/// The `id` cargo's owner list carries: derived from the login (which the
/// list shows anyway), never the database row id, so that a reader of a
/// public registry cannot count the users of the whole server. Stable, and
/// positive as cargo's `u32`-sized ids are.
fn opaque_user_id(login: &str) -> i64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(login.as_bytes());
    i64::from(u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) >> 1)
}

impl Berth {
    /// The owners of a crate.
    pub async fn owners(
        &self,
        registry: &str,
        who: Option<&Identity>,
        name: &str,
    ) -> Result<OwnerList, ServiceError> {
        let reg = self.hosted_for(registry, who, name).await?;
        self.authorize_read(reg, who)?;
        let krate = self.existing_crate(reg, name).await?;
        Ok(OwnerList {
            users: self.all_owners(krate.id).await?,
        })
    }

    /// A crate's user owners, then its team owners.
    pub(crate) async fn all_owners(&self, crate_id: i64) -> Result<Vec<OwnerJson>, ServiceError> {
        let users = self.meta.list_owners(crate_id).await?;
        let teams = self.meta.list_owner_teams(crate_id).await?;
        Ok(users
            .into_iter()
            .map(OwnerJson::from)
            .chain(teams.into_iter().map(OwnerJson::from))
            .collect())
    }

    /// Adds (`add = true`) or removes owners. Returns cargo's message.
    pub async fn change_owners(
        &self,
        registry: &str,
        who: Option<&Identity>,
        name: &str,
        logins: &[String],
        add: bool,
    ) -> Result<String, ServiceError> {
        let reg = self.writable_for(registry, who, name).await?;
        let who = need_token(who, reg)?;
        self.authorize_read(reg, Some(who))?;
        let action = AuditAction::owners(add);
        let change = Change::of(action, reg, name, None);
        self.require_scope(who, Scope::ChangeOwners, change).await?;
        if logins.is_empty() || logins.len() > 100 {
            return Err(ServiceError::BadRequest(
                "give between 1 and 100 owners (user logins, or teams as `team:NAME`)".into(),
            ));
        }
        let krate = self.existing_crate(reg, name).await?;
        match self
            .meta
            .change_owners(
                &reg.name,
                krate.id,
                &krate.name,
                logins,
                add,
                &who.actor(reg.id),
            )
            .await
        {
            Err(e @ StoreError::NotOwner(_)) => Err(self.refused_by_store(who, change, e).await),
            Err(e) => Err(e.into()),
            Ok(()) => {
                let list = logins.join("`, `");
                let kind = if logins.iter().all(|l| l.starts_with(TEAM_PREFIX)) {
                    "team"
                } else {
                    "user"
                };
                Ok(if add {
                    format!("{kind} `{list}` added as owner of crate `{}`", krate.name)
                } else {
                    format!("{kind} `{list}` removed as owner of crate `{}`", krate.name)
                })
            }
        }
    }
}
