//! The smaller operations: yank and unyank, owners, search, users and
//! tokens, and blob garbage collection. Each checks scope and input, then
//! makes one store call; ownership is enforced by the store inside the
//! transaction that makes the change.

use berth_store::{
    now_unix, AuditAction, AuditEntry, AuditOutcome, StoreError, Team, User, TEAM_PREFIX,
};
use serde::Serialize;

use crate::auth::{hash_password, Scope};
use crate::error::ServiceError;
use crate::sources::{SearchPage, SearchResults, MAX_PER_PAGE};
use crate::text::clip;
use crate::{Berth, Identity, Registry};

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

/// A crate with its versions, for the management API and the UI.
#[derive(Debug, Clone, Serialize)]
pub struct CrateDetail {
    pub name: String,
    pub description: Option<String>,
    pub max_version: Option<String>,
    pub downloads: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub owners: Vec<OwnerJson>,
    pub versions: Vec<VersionJson>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionJson {
    pub vers: String,
    pub yanked: bool,
    pub cksum: String,
    pub size: i64,
    pub published_at: i64,
    pub published_by: Option<String>,
    pub downloads: i64,
    pub has_readme: bool,
}

/// What `berth blobs verify` found.
#[derive(Debug, Clone, Default)]
pub struct BlobCheck {
    /// One line per problem; empty when all is well.
    pub problems: Vec<String>,
    /// Blobs checked.
    pub checked: usize,
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

/// Longest name or version an audit row records as given.
const AUDIT_FIELD_CHARS: usize = 128;

/// How deep into search results pages go (`page * per_page`).
pub const MAX_SEARCH_DEPTH: i64 = 1_000;

/// The caller of an operation that needs a token, or the one 401 for its
/// absence.
pub(crate) fn need_token<'a>(
    who: Option<&'a Identity>,
    reg: &Registry,
) -> Result<&'a Identity, ServiceError> {
    who.ok_or_else(|| {
        ServiceError::Unauthorized(format!(
            "this operation requires a token: run `cargo login --registry {}`",
            reg.name
        ))
    })
}

impl Berth {
    /// A crate of a registry by any spelling of its name, or 404.
    async fn existing_crate(
        &self,
        reg: &Registry,
        name: &str,
    ) -> Result<berth_store::CrateRow, ServiceError> {
        self.meta
            .find_crate(reg.id, &berth_protocol::canonical_name(name))
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("crate `{name}` does not exist")))
    }

    /// Fails with 403 (and an audit row) unless the caller's token has
    /// `scope` and, when it is limited to crate patterns, `krate` matches
    /// one.
    pub(crate) async fn require_scope(
        &self,
        who: &Identity,
        scope: Scope,
        action: AuditAction,
        reg: &Registry,
        krate: &str,
        vers: Option<&str>,
    ) -> Result<(), ServiceError> {
        if !who.scopes.has(scope) {
            self.audit_denied(
                who,
                action,
                reg,
                krate,
                vers,
                &format!("token lacks {scope}"),
            )
            .await;
        }
        who.require(scope)?;
        self.require_crate_pattern(who, action, reg, krate, vers)
            .await
    }

    pub(crate) async fn audit_denied(
        &self,
        who: &Identity,
        action: AuditAction,
        reg: &Registry,
        krate: &str,
        vers: Option<&str>,
        why: &str,
    ) {
        // Names and versions here may come straight from a request path:
        // what is not a valid name or version is recorded clipped, so the
        // append-only log never holds attacker-sized rows.
        let name = match berth_protocol::validate_crate_name(krate) {
            Ok(()) => krate.to_string(),
            Err(_) => clip(krate, AUDIT_FIELD_CHARS),
        };
        let version = vers.map(|v| match berth_protocol::validate_version(v) {
            Ok(_) if v.len() <= AUDIT_FIELD_CHARS => v.to_string(),
            _ => clip(v, AUDIT_FIELD_CHARS),
        });
        let entry = AuditEntry {
            actor: Some(who.user.login.clone()),
            action,
            registry: Some(reg.name.clone()),
            crate_name: Some(name),
            version,
            detail: Some(clip(why, 4 * AUDIT_FIELD_CHARS)),
            token_id: Some(who.token_id),
            client_addr: who.origin.client_addr.clone(),
            user_agent: who.origin.user_agent.clone(),
            ..AuditEntry::new(action, AuditOutcome::Denied)
        };
        if let Err(e) = self
            .meta
            .append_audit_at(&entry, self.clock.now_unix())
            .await
        {
            tracing::warn!(error = %e, "could not write audit entry for a refused {action}");
        }
    }

    /// Yanks (`yanked = true`) or unyanks a version.
    pub async fn set_yanked(
        &self,
        registry: &str,
        who: Option<&Identity>,
        name: &str,
        vers: &str,
        yanked: bool,
    ) -> Result<(), ServiceError> {
        let reg = self.hosted_for(registry, who, name).await?;
        let who = need_token(who, reg)?;
        self.authorize_read(reg, Some(who))?;
        let action = AuditAction::yank(yanked);
        self.require_scope(who, Scope::Yank, action, reg, name, Some(vers))
            .await?;
        let version = berth_protocol::validate_version(vers).map_err(|_| {
            ServiceError::NotFound(format!("crate `{name}` has no version `{vers}`"))
        })?;
        let canon_vers = berth_protocol::canonical_version(&version);
        let canon_name = berth_protocol::canonical_name(name);
        match self
            .meta
            .set_yanked(
                reg.id,
                &reg.name,
                &canon_name,
                &canon_vers,
                yanked,
                &who.actor(reg.id),
            )
            .await
        {
            Err(StoreError::NotOwner(n)) => {
                self.audit_denied(who, action, reg, &n, Some(vers), "not an owner")
                    .await;
                Err(StoreError::NotOwner(n).into())
            }
            Err(StoreError::CrateNotFound(_)) => Err(ServiceError::NotFound(format!(
                "crate `{name}` does not exist"
            ))),
            Err(e) => Err(e.into()),
            Ok(changed) => {
                if let Some(revision) = changed {
                    reg.source.changed(reg, &canon_name, revision, false);
                }
                tracing::info!(registry = %reg.name, krate = %name, version = %vers, user = %who.user.login, changed, "{action}");
                Ok(())
            }
        }
    }

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
    async fn all_owners(&self, crate_id: i64) -> Result<Vec<OwnerJson>, ServiceError> {
        let users = self.meta.list_owners(crate_id).await?;
        let teams = self.meta.list_owner_teams(crate_id).await?;
        Ok(users
            .into_iter()
            .map(OwnerJson::from)
            .chain(teams.into_iter().map(OwnerJson::from))
            .collect())
    }

    /// A crate, its owners and its versions.
    pub async fn crate_detail(
        &self,
        registry: &str,
        who: Option<&Identity>,
        name: &str,
    ) -> Result<CrateDetail, ServiceError> {
        let reg = self.hosted_for(registry, who, name).await?;
        self.authorize_read(reg, who)?;
        let krate = self.existing_crate(reg, name).await?;
        let owners = self.all_owners(krate.id).await?;
        let versions = self.meta.crate_versions(krate.id).await?;
        Ok(CrateDetail {
            name: krate.name,
            description: krate.description,
            max_version: krate.max_version,
            downloads: krate.downloads,
            created_at: krate.created_at,
            updated_at: krate.updated_at,
            owners,
            versions: versions
                .into_iter()
                .map(|v| VersionJson {
                    vers: v.vers,
                    yanked: v.yanked,
                    cksum: v.cksum,
                    size: v.size,
                    published_at: v.created_at,
                    published_by: v.published_by,
                    downloads: v.downloads,
                    has_readme: v.has_readme,
                })
                .collect(),
        })
    }

    /// The README of a version, as published.
    pub async fn readme(
        &self,
        registry: &str,
        who: Option<&Identity>,
        name: &str,
        vers: &str,
    ) -> Result<String, ServiceError> {
        let reg = self.hosted_for(registry, who, name).await?;
        self.authorize_read(reg, who)?;
        let missing = || ServiceError::NotFound(format!("no README for `{name}@{vers}`"));
        let krate = self
            .meta
            .find_crate(reg.id, &berth_protocol::canonical_name(name))
            .await?
            .ok_or_else(missing)?;
        let version = berth_protocol::validate_version(vers).map_err(|_| missing())?;
        self.meta
            .version_readme(krate.id, &berth_protocol::canonical_version(&version))
            .await?
            .ok_or_else(missing)
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
        let reg = self.hosted_for(registry, who, name).await?;
        let who = need_token(who, reg)?;
        self.authorize_read(reg, Some(who))?;
        let action = AuditAction::owners(add);
        self.require_scope(who, Scope::ChangeOwners, action, reg, name, None)
            .await?;
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
            Err(StoreError::NotOwner(n)) => {
                self.audit_denied(who, action, reg, &n, None, "not an owner")
                    .await;
                Err(StoreError::NotOwner(n).into())
            }
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

    /// Searches crate names and descriptions.
    pub async fn search(
        &self,
        registry: &str,
        who: Option<&Identity>,
        query: &str,
        per_page: Option<i64>,
        page: Option<i64>,
    ) -> Result<SearchResults, ServiceError> {
        let reg = self.registry(registry)?;
        self.authorize_read(reg, who)?;
        if query.len() > 200 {
            return Err(ServiceError::BadRequest(
                "the search query is too long (at most 200 bytes)".into(),
            ));
        }
        let per_page = per_page.unwrap_or(10).clamp(1, MAX_PER_PAGE);
        let page = page.unwrap_or(1).max(1);
        // Deep pages cost as much as sorting every match; nobody reads them.
        if page.saturating_mul(per_page) > MAX_SEARCH_DEPTH {
            return Err(ServiceError::BadRequest(format!(
                "search results past the first {MAX_SEARCH_DEPTH} are not served; \
                 narrow the query instead"
            )));
        }
        let _slot = self.search_slot().await?;
        let page = SearchPage {
            query: query.trim(),
            per_page,
            offset: (page - 1) * per_page,
        };
        reg.source.search(self.at_for(reg, who), page).await
    }

    /// Adds a user. `password` is hashed with argon2id when given.
    pub async fn add_user(
        &self,
        login: &str,
        password: Option<&str>,
        admin: bool,
    ) -> Result<User, ServiceError> {
        if !crate::teams::valid_name(login) {
            return Err(ServiceError::BadRequest(format!(
                "invalid login `{login}`: use 1-64 ASCII letters, digits, `-`, `_` or `.`"
            )));
        }
        let hash = password.map(hash_password).transpose()?;
        Ok(self
            .meta
            .create_user(login, None, hash.as_deref(), admin)
            .await?)
    }

    /// Every blob some registry still needs, asked of each registry's source.
    pub(crate) async fn referenced_blobs(
        &self,
    ) -> Result<std::collections::HashSet<String>, ServiceError> {
        let mut all = std::collections::HashSet::new();
        for reg in self.registries() {
            all.extend(reg.source.referenced_blobs(self.at(reg)).await?);
        }
        Ok(all)
    }

    /// Checks that every version's blob exists and hashes to its checksum.
    /// Returns one line per problem (empty when all is well) and the number
    /// of versions checked.
    pub async fn verify_blobs(&self) -> Result<BlobCheck, ServiceError> {
        use sha2::{Digest, Sha256};
        let referenced = self.referenced_blobs().await?;
        let mut problems = Vec::new();
        for digest in &referenced {
            match self.blobs.get(digest).await? {
                None => problems.push(format!("missing blob {digest}")),
                Some(bytes) => {
                    let actual = hex::encode(Sha256::digest(&bytes));
                    if &actual != digest {
                        problems.push(format!("blob {digest} has checksum {actual}"));
                    }
                }
            }
        }
        Ok(BlobCheck {
            problems,
            checked: referenced.len(),
        })
    }

    /// Deletes blobs no version refers to and older than `min_age_secs`
    /// (younger ones may belong to a publish in progress; the age may not be
    /// less than the request timeout). Each candidate's age and references
    /// are checked again right before it is deleted, and a publish re-checks
    /// its blob after committing, so a publish that reuses an old orphan's
    /// bytes keeps them. Returns how many blobs were deleted.
    pub async fn collect_garbage(&self, min_age_secs: i64) -> Result<usize, ServiceError> {
        let floor = self.config.limits.request_timeout_secs as i64;
        if min_age_secs < floor {
            return Err(ServiceError::BadRequest(format!(
                "the minimum age must be at least the request timeout ({floor} s), so that no \
                 publish in progress loses its blob"
            )));
        }
        let referenced = self.referenced_blobs().await?;
        let mut deleted = 0;
        for (digest, _) in self.blobs.list().await? {
            if referenced.contains(&digest) {
                continue;
            }
            let cutoff = now_unix() - min_age_secs;
            match self.blobs.head(&digest).await? {
                Some((_, modified)) if modified <= cutoff => {}
                _ => continue,
            }
            // Asked again right before deleting: a publish may have
            // committed it since the listing. The store checks every table
            // that refers to blobs.
            if self.meta.blob_referenced(&digest).await? {
                continue;
            }
            self.blobs.delete(&digest).await?;
            tracing::info!(blob = %digest, "deleted unreferenced blob");
            deleted += 1;
        }
        Ok(deleted)
    }
}
