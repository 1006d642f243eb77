//! Every SQL statement Berth runs, written once for both dialects.
//!
//! Placeholders are `$1`-style (both SQLite and PostgreSQL accept them),
//! integers are 64-bit, flags are 0/1 and times are Unix seconds, so each
//! query reads the same on either backend.

use berth_protocol::IndexEntry;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::db::{Backend, MetaStore};
use crate::domain::{AuditAction, AuditOutcome, RegistryKind, Role};
use crate::model::*;
use crate::{now_unix, StoreError};

type Tx = Transaction<'static, Any>;

fn user_from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("id")?,
        login: row.try_get("login")?,
        name: row.try_get("name")?,
        is_admin: row.try_get::<i64, _>("is_admin")? != 0,
    })
}

fn crate_from_row(row: &AnyRow) -> Result<CrateRow, sqlx::Error> {
    Ok(CrateRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        max_version: row.try_get("max_version")?,
        downloads: row.try_get("downloads")?,
        revision: row.try_get("revision")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The crate's new `updated_at` (bound as `$2` = now) on a change: strictly
/// greater than the previous one, so that Last-Modified (whole seconds)
/// differs after every change even when two land in the same second. A new
/// crate (revision 0) simply takes now.
const NEXT_UPDATED_AT: &str =
    "CASE WHEN $2 > updated_at OR revision = 0 THEN $2 ELSE updated_at + 1 END";

const CRATE_COLUMNS: &str =
    "id, name, description, max_version, downloads, revision, created_at, updated_at";

async fn insert_audit(tx: &mut Tx, e: &AuditEntry) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, registry, crate, version, outcome, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(now_unix())
    .bind(e.actor.clone())
    .bind(e.action.as_str())
    .bind(e.registry.clone())
    .bind(e.crate_name.clone())
    .bind(e.version.clone())
    .bind(e.outcome.as_str())
    .bind(e.detail.clone())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn is_owner(tx: &mut Tx, crate_id: i64, user_id: i64) -> Result<bool, sqlx::Error> {
    let row = sqlx::query("SELECT 1 AS one FROM crate_owners WHERE crate_id = $1 AND user_id = $2")
        .bind(crate_id)
        .bind(user_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.is_some())
}

/// The highest version not yanked (or the highest of all when every version
/// is yanked), by semver order.
async fn recompute_max_version(tx: &mut Tx, crate_id: i64) -> Result<Option<String>, sqlx::Error> {
    let rows = sqlx::query("SELECT vers, yanked FROM versions WHERE crate_id = $1")
        .bind(crate_id)
        .fetch_all(&mut **tx)
        .await?;
    let mut best: Option<(bool, semver::Version, String)> = None;
    for row in rows {
        let vers: String = row.try_get("vers")?;
        let live = row.try_get::<i64, _>("yanked")? == 0;
        let Ok(parsed) = semver::Version::parse(&vers) else {
            continue;
        };
        let better = match &best {
            None => true,
            Some((blive, bv, _)) => (live, &parsed) > (*blive, bv),
        };
        if better {
            best = Some((live, parsed, vers));
        }
    }
    Ok(best.map(|(_, _, v)| v))
}

impl MetaStore {
    // ---- registries -------------------------------------------------------

    /// Creates the registry if it does not exist; returns its id.
    pub async fn ensure_registry(&self, name: &str, kind: RegistryKind) -> Result<i64, StoreError> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO registries (name, kind, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(kind.as_str())
        .bind(now_unix())
        .execute(&mut *w.tx)
        .await?;
        let id: i64 = sqlx::query("SELECT id FROM registries WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *w.tx)
            .await?
            .try_get("id")?;
        w.tx.commit().await?;
        Ok(id)
    }

    // ---- users and tokens ---------------------------------------------------

    /// Adds a user. Fails with [`StoreError::UserExists`] on a taken login.
    pub async fn create_user(
        &self,
        login: &str,
        name: Option<&str>,
        password_hash: Option<&str>,
        is_admin: bool,
    ) -> Result<User, StoreError> {
        let mut w = self.begin_write().await?;
        let res = sqlx::query(
            "INSERT INTO users (login, name, password_hash, is_admin, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(login)
        .bind(name.map(str::to_string))
        .bind(password_hash.map(str::to_string))
        .bind(i64::from(is_admin))
        .bind(now_unix())
        .fetch_one(&mut *w.tx)
        .await;
        let id: i64 = match res {
            Ok(row) => row.try_get("id")?,
            Err(e) if StoreError::is_unique_violation(&e) => {
                return Err(StoreError::UserExists(login.to_string()))
            }
            Err(e) => return Err(e.into()),
        };
        insert_audit(
            &mut w.tx,
            &AuditEntry {
                detail: Some(format!("login={login} admin={is_admin}")),
                ..AuditEntry::new(AuditAction::UserCreate, AuditOutcome::Ok)
            },
        )
        .await?;
        w.tx.commit().await?;
        Ok(User {
            id,
            login: login.to_string(),
            name: name.map(str::to_string),
            is_admin,
        })
    }

    /// Looks a user up by login.
    pub async fn user_by_login(&self, login: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query("SELECT id, login, name, is_admin FROM users WHERE login = $1")
            .bind(login)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    /// The password hash of a user, if one is set.
    pub async fn password_hash(&self, user_id: i64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get("password_hash")?,
            None => None,
        })
    }

    /// Every user, by login.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query("SELECT id, login, name, is_admin FROM users ORDER BY login")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(user_from_row).collect::<Result<_, _>>()?)
    }

    /// Stores a new token (its hash only).
    pub async fn create_token(
        &self,
        user_id: i64,
        name: &str,
        token_hash: &str,
        scopes: &str,
        expires_at: Option<i64>,
    ) -> Result<i64, StoreError> {
        let mut w = self.begin_write().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO tokens (user_id, name, token_hash, scopes, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(user_id)
        .bind(name)
        .bind(token_hash)
        .bind(scopes)
        .bind(now_unix())
        .bind(expires_at)
        .fetch_one(&mut *w.tx)
        .await?
        .try_get("id")?;
        insert_audit(
            &mut w.tx,
            &AuditEntry {
                detail: Some(format!(
                    "user_id={user_id} token_id={id} name={name} scopes={scopes}"
                )),
                ..AuditEntry::new(AuditAction::TokenCreate, AuditOutcome::Ok)
            },
        )
        .await?;
        w.tx.commit().await?;
        Ok(id)
    }

    /// Finds a token by the hash of its secret.
    pub async fn token_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<(String, TokenRecord)>, StoreError> {
        let row = sqlx::query(
            "SELECT t.id AS tid, t.name AS tname, t.token_hash, t.scopes, t.expires_at, t.last_used_at, t.revoked, \
                    u.id, u.login, u.name, u.is_admin \
             FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((
            row.try_get("token_hash")?,
            TokenRecord {
                id: row.try_get("tid")?,
                name: row.try_get("tname")?,
                scopes: row.try_get("scopes")?,
                expires_at: row.try_get("expires_at")?,
                last_used_at: row.try_get("last_used_at")?,
                revoked: row.try_get::<i64, _>("revoked")? != 0,
                user: user_from_row(&row)?,
            },
        )))
    }

    /// Records that a token was used now.
    pub async fn touch_token(&self, token_id: i64) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        sqlx::query("UPDATE tokens SET last_used_at = $2 WHERE id = $1")
            .bind(token_id)
            .bind(now_unix())
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// The tokens of a user (never their secrets).
    pub async fn list_tokens(&self, user_id: i64) -> Result<Vec<TokenInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, scopes, created_at, expires_at, revoked FROM tokens \
             WHERE user_id = $1 ORDER BY id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenInfo {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    scopes: r.try_get("scopes")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                    revoked: r.try_get::<i64, _>("revoked")? != 0,
                })
            })
            .collect()
    }

    /// Revokes a token of a user. Returns whether a token was revoked.
    pub async fn revoke_token(&self, user_id: i64, token_id: i64) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE tokens SET revoked = 1 WHERE id = $1 AND user_id = $2 AND revoked = 0",
        )
        .bind(token_id)
        .bind(user_id)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        if n > 0 {
            insert_audit(
                &mut w.tx,
                &AuditEntry {
                    detail: Some(format!("user_id={user_id} token_id={token_id}")),
                    ..AuditEntry::new(AuditAction::TokenRevoke, AuditOutcome::Ok)
                },
            )
            .await?;
        }
        w.tx.commit().await?;
        Ok(n > 0)
    }

    // ---- registry roles -------------------------------------------------------

    /// Every `(registry_id, role)` a user holds.
    pub async fn user_roles(&self, user_id: i64) -> Result<Vec<(i64, Role)>, StoreError> {
        let rows = sqlx::query("SELECT registry_id, role FROM registry_roles WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("registry_id")?, parse_word(r.try_get("role")?)?)))
            .collect()
    }

    /// Grants (`Some(role)`) or revokes (`None`) a user's role in a registry.
    pub async fn set_role(
        &self,
        registry_id: i64,
        registry: &str,
        login: &str,
        role: Option<Role>,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        let user = sqlx::query("SELECT id, login, name, is_admin FROM users WHERE login = $1")
            .bind(login)
            .fetch_optional(&mut *w.tx)
            .await?
            .as_ref()
            .map(user_from_row)
            .transpose()?
            .ok_or_else(|| StoreError::UserNotFound(login.to_string()))?;
        match role {
            Some(role) => {
                sqlx::query(
                    "INSERT INTO registry_roles (registry_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (registry_id, user_id) DO UPDATE SET role = excluded.role",
                )
                .bind(registry_id)
                .bind(user.id)
                .bind(role.as_str())
                .bind(now_unix())
                .execute(&mut *w.tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM registry_roles WHERE registry_id = $1 AND user_id = $2")
                    .bind(registry_id)
                    .bind(user.id)
                    .execute(&mut *w.tx)
                    .await?;
            }
        }
        insert_audit(
            &mut w.tx,
            &AuditEntry {
                registry: Some(registry.to_string()),
                detail: Some(format!(
                    "login={login} role={}",
                    role.map_or("-", Role::as_str)
                )),
                ..AuditEntry::new(
                    if role.is_some() {
                        AuditAction::RoleGrant
                    } else {
                        AuditAction::RoleRevoke
                    },
                    AuditOutcome::Ok,
                )
            },
        )
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// `(login, role)` of every user with a role in a registry.
    pub async fn registry_members(
        &self,
        registry_id: i64,
    ) -> Result<Vec<(String, Role)>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.login, r.role FROM registry_roles r JOIN users u ON u.id = r.user_id \
             WHERE r.registry_id = $1 ORDER BY u.login",
        )
        .bind(registry_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("login")?, parse_word(r.try_get("role")?)?)))
            .collect()
    }

    // ---- crates and the index ---------------------------------------------

    /// A crate by canonical name.
    pub async fn find_crate(
        &self,
        registry_id: i64,
        canon_name: &str,
    ) -> Result<Option<CrateRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CRATE_COLUMNS} FROM crates WHERE registry_id = $1 AND canon_name = $2"
        ))
        .bind(registry_id)
        .bind(canon_name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(crate_from_row).transpose()?)
    }

    /// The revision of a crate's index file, to validate a cached copy.
    pub async fn index_state(
        &self,
        registry_id: i64,
        canon_name: &str,
    ) -> Result<Option<IndexState>, StoreError> {
        let row = sqlx::query(
            "SELECT id, revision, updated_at FROM crates WHERE registry_id = $1 AND canon_name = $2",
        )
        .bind(registry_id)
        .bind(canon_name)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(IndexState {
            crate_id: row.try_get("id")?,
            revision: row.try_get("revision")?,
            updated_at: row.try_get("updated_at")?,
        }))
    }

    /// A crate's index file: its state and every line, in publish order, read
    /// in one transaction so the lines match the state.
    pub async fn index_file(
        &self,
        registry_id: i64,
        canon_name: &str,
    ) -> Result<Option<(IndexState, Vec<String>)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT id, revision, updated_at FROM crates WHERE registry_id = $1 AND canon_name = $2",
        )
        .bind(registry_id)
        .bind(canon_name)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let state = IndexState {
            crate_id: row.try_get("id")?,
            revision: row.try_get("revision")?,
            updated_at: row.try_get("updated_at")?,
        };
        let rows = sqlx::query("SELECT index_line FROM versions WHERE crate_id = $1 ORDER BY id")
            .bind(state.crate_id)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let lines = rows
            .iter()
            .map(|r| r.try_get::<String, _>("index_line"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some((state, lines)))
    }

    /// The stored spelling of a version of a crate, if it exists (ignoring
    /// build metadata).
    pub async fn existing_version(
        &self,
        crate_id: i64,
        canon_vers: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT vers FROM versions WHERE crate_id = $1 AND canon_vers = $2")
            .bind(crate_id)
            .bind(canon_vers)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("vers")).transpose()?)
    }

    /// Bytes of a crate's index file (its lines and their newlines).
    pub async fn index_file_bytes(&self, crate_id: i64) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query(
            "SELECT CAST(COALESCE(SUM(OCTET_LENGTH(index_line) + 1), 0) AS BIGINT) AS n \
             FROM versions WHERE crate_id = $1",
        )
        .bind(crate_id)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        Ok(n.max(0) as u64)
    }

    /// Every version of a crate, in publish order.
    pub async fn crate_versions(&self, crate_id: i64) -> Result<Vec<VersionRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT v.vers, v.yanked, v.cksum, v.size, v.created_at, v.downloads, u.login, \
                    CASE WHEN v.readme IS NULL THEN 0 ELSE 1 END AS has_readme \
             FROM versions v LEFT JOIN users u ON u.id = v.published_by \
             WHERE v.crate_id = $1 ORDER BY v.id",
        )
        .bind(crate_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(VersionRow {
                    vers: r.try_get("vers")?,
                    yanked: r.try_get::<i64, _>("yanked")? != 0,
                    cksum: r.try_get("cksum")?,
                    size: r.try_get("size")?,
                    created_at: r.try_get("created_at")?,
                    downloads: r.try_get("downloads")?,
                    published_by: r.try_get("login")?,
                    has_readme: r.try_get::<i64, _>("has_readme")? != 0,
                })
            })
            .collect()
    }

    /// The README extracted at publish, if any.
    pub async fn version_readme(
        &self,
        crate_id: i64,
        canon_vers: &str,
    ) -> Result<Option<String>, StoreError> {
        let row =
            sqlx::query("SELECT readme FROM versions WHERE crate_id = $1 AND canon_vers = $2")
                .bind(crate_id)
                .bind(canon_vers)
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            Some(r) => r.try_get("readme")?,
            None => None,
        })
    }

    /// Whether a crate exists in a registry (dependency checks).
    pub async fn crate_exists(
        &self,
        registry_id: i64,
        canon_name: &str,
    ) -> Result<bool, StoreError> {
        Ok(self.index_state(registry_id, canon_name).await?.is_some())
    }

    /// Records a published version, creating the crate (owned by the
    /// publisher) on its first version. When `actor` is not an admin and the
    /// crate exists, the actor must own it at the moment of the change.
    pub async fn publish(
        &self,
        v: &NewVersion,
        actor: &Actor,
        registry: &str,
    ) -> Result<PublishOutcome, StoreError> {
        // Two first publishes of one crate (any versions) may race to create
        // the crate row; the loser retries and then sees an existing crate.
        for _ in 0..3 {
            match self.publish_once(v, actor, registry).await {
                Err(StoreError::Contention(_)) => continue,
                other => return other,
            }
        }
        Err(StoreError::Contention(format!(
            "crate `{}` is being changed by other requests; try again",
            v.name
        )))
    }

    async fn publish_once(
        &self,
        v: &NewVersion,
        actor: &Actor,
        registry: &str,
    ) -> Result<PublishOutcome, StoreError> {
        let now = now_unix();
        let mut w = self.begin_write().await?;
        let existing = sqlx::query(&format!(
            "SELECT {CRATE_COLUMNS} FROM crates WHERE registry_id = $1 AND canon_name = $2{}",
            self.lock_rows()
        ))
        .bind(v.registry_id)
        .bind(&v.canon_name)
        .fetch_optional(&mut *w.tx)
        .await?;
        let (crate_id, new_crate) = match existing {
            Some(row) => {
                let krate = crate_from_row(&row)?;
                if krate.name != v.name {
                    return Err(StoreError::NameMismatch {
                        existing: krate.name,
                    });
                }
                if !actor.is_admin && !is_owner(&mut w.tx, krate.id, actor.user_id).await? {
                    return Err(StoreError::NotOwner(krate.name));
                }
                (krate.id, false)
            }
            None => {
                let res = sqlx::query(
                    "INSERT INTO crates (registry_id, name, canon_name, description, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
                )
                .bind(v.registry_id)
                .bind(&v.name)
                .bind(&v.canon_name)
                .bind(v.description.clone())
                .bind(now)
                .fetch_one(&mut *w.tx)
                .await;
                let id: i64 = match res {
                    Ok(row) => row.try_get("id")?,
                    // Another request created it first: retry, and then
                    // see it as an existing crate.
                    Err(e) if StoreError::is_unique_violation(&e) => {
                        return Err(StoreError::Contention(v.name.clone()))
                    }
                    Err(e) => return Err(e.into()),
                };
                sqlx::query(
                    "INSERT INTO crate_owners (crate_id, user_id, added_by, created_at) VALUES ($1, $2, $2, $3)",
                )
                .bind(id)
                .bind(actor.user_id)
                .bind(now)
                .execute(&mut *w.tx)
                .await?;
                (id, true)
            }
        };
        let res = sqlx::query(
            "INSERT INTO versions (crate_id, vers, canon_vers, index_line, cksum, size, metadata, readme, \
                                   published_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(crate_id)
        .bind(&v.vers)
        .bind(&v.canon_vers)
        .bind(&v.index_line)
        .bind(&v.cksum)
        .bind(v.size)
        .bind(&v.metadata_json)
        .bind(v.readme.clone())
        .bind(actor.user_id)
        .bind(now)
        .fetch_one(&mut *w.tx)
        .await;
        let version_id: i64 = match res {
            Ok(row) => row.try_get("id")?,
            Err(e) if StoreError::is_unique_violation(&e) => {
                let existing: String = sqlx::query(
                    "SELECT vers FROM versions WHERE crate_id = $1 AND canon_vers = $2",
                )
                .bind(crate_id)
                .bind(&v.canon_vers)
                .fetch_optional(&mut *w.tx)
                .await
                .ok()
                .flatten()
                .and_then(|r| r.try_get("vers").ok())
                .unwrap_or_else(|| v.vers.clone());
                return Err(StoreError::VersionExists {
                    name: v.name.clone(),
                    vers: existing,
                });
            }
            Err(e) => return Err(e.into()),
        };
        let max_version = recompute_max_version(&mut w.tx, crate_id).await?;
        // The description shown for a crate is that of its newest version.
        let is_max = max_version.as_deref() == Some(v.vers.as_str());
        let revision: i64 = sqlx::query(&format!(
            "UPDATE crates SET revision = revision + 1, updated_at = {NEXT_UPDATED_AT}, max_version = $3, \
                    description = CASE WHEN $4 = 1 THEN $5 ELSE description END \
             WHERE id = $1 RETURNING revision"
        ))
        .bind(crate_id)
        .bind(now)
        .bind(max_version)
        .bind(i64::from(is_max))
        .bind(v.description.clone())
        .fetch_one(&mut *w.tx)
        .await?
        .try_get("revision")?;
        insert_audit(
            &mut w.tx,
            &AuditEntry {
                actor: Some(actor.login.clone()),
                action: AuditAction::Publish,
                registry: Some(registry.to_string()),
                crate_name: Some(v.name.clone()),
                version: Some(v.vers.clone()),
                outcome: AuditOutcome::Ok,
                detail: Some(format!("cksum={} size={}", v.cksum, v.size)),
            },
        )
        .await?;
        w.tx.commit().await?;
        Ok(PublishOutcome {
            crate_id,
            version_id,
            new_crate,
            revision,
        })
    }

    /// Yanks or unyanks a version, rewriting its index line. Returns the
    /// crate's new revision, or `None` when nothing changed (yanking a
    /// yanked version is a no-op).
    pub async fn set_yanked(
        &self,
        registry_id: i64,
        registry: &str,
        canon_name: &str,
        canon_vers: &str,
        yanked: bool,
        actor: &Actor,
    ) -> Result<Option<i64>, StoreError> {
        let mut w = self.begin_write().await?;
        let krate = sqlx::query(&format!(
            "SELECT {CRATE_COLUMNS} FROM crates WHERE registry_id = $1 AND canon_name = $2{}",
            self.lock_rows()
        ))
        .bind(registry_id)
        .bind(canon_name)
        .fetch_optional(&mut *w.tx)
        .await?
        .as_ref()
        .map(crate_from_row)
        .transpose()?
        .ok_or_else(|| StoreError::CrateNotFound(canon_name.to_string()))?;
        if !actor.is_admin && !is_owner(&mut w.tx, krate.id, actor.user_id).await? {
            return Err(StoreError::NotOwner(krate.name));
        }
        let row = sqlx::query(
            "SELECT id, vers, yanked, index_line FROM versions WHERE crate_id = $1 AND canon_vers = $2",
        )
        .bind(krate.id)
        .bind(canon_vers)
        .fetch_optional(&mut *w.tx)
        .await?
        .ok_or_else(|| StoreError::VersionNotFound { name: krate.name.clone(), vers: canon_vers.to_string() })?;
        let version_id: i64 = row.try_get("id")?;
        let vers: String = row.try_get("vers")?;
        if (row.try_get::<i64, _>("yanked")? != 0) == yanked {
            return Ok(None);
        }
        let line: String = row.try_get("index_line")?;
        let mut entry = IndexEntry::from_line(&line).map_err(|e| {
            StoreError::Corrupt(format!("index line of {}@{vers}: {e}", krate.name))
        })?;
        entry.yanked = yanked;
        sqlx::query("UPDATE versions SET yanked = $2, index_line = $3 WHERE id = $1")
            .bind(version_id)
            .bind(i64::from(yanked))
            .bind(entry.to_line())
            .execute(&mut *w.tx)
            .await?;
        let max_version = recompute_max_version(&mut w.tx, krate.id).await?;
        let revision: i64 = sqlx::query(&format!(
            "UPDATE crates SET revision = revision + 1, updated_at = {NEXT_UPDATED_AT}, max_version = $3 \
             WHERE id = $1 RETURNING revision"
        ))
        .bind(krate.id)
        .bind(now_unix())
        .bind(max_version)
        .fetch_one(&mut *w.tx)
        .await?
        .try_get("revision")?;
        insert_audit(
            &mut w.tx,
            &AuditEntry {
                actor: Some(actor.login.clone()),
                action: if yanked {
                    AuditAction::Yank
                } else {
                    AuditAction::Unyank
                },
                registry: Some(registry.to_string()),
                crate_name: Some(krate.name.clone()),
                version: Some(vers),
                outcome: AuditOutcome::Ok,
                detail: None,
            },
        )
        .await?;
        w.tx.commit().await?;
        Ok(Some(revision))
    }

    // ---- owners -------------------------------------------------------------

    /// The owners of a crate.
    pub async fn list_owners(&self, crate_id: i64) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.id, u.login, u.name, u.is_admin FROM crate_owners o JOIN users u ON u.id = o.user_id \
             WHERE o.crate_id = $1 ORDER BY u.login",
        )
        .bind(crate_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(user_from_row).collect::<Result<_, _>>()?)
    }

    /// Adds (`add = true`) or removes owners by login. The actor must own the
    /// crate unless an admin; removing every owner is refused.
    pub async fn change_owners(
        &self,
        registry: &str,
        crate_id: i64,
        crate_name: &str,
        logins: &[String],
        add: bool,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        // Serialize owner changes of one crate (two owners removing each
        // other at once must not leave it with none).
        sqlx::query(&format!(
            "SELECT id FROM crates WHERE id = $1{}",
            self.lock_rows()
        ))
        .bind(crate_id)
        .fetch_optional(&mut *w.tx)
        .await?;
        if !actor.is_admin && !is_owner(&mut w.tx, crate_id, actor.user_id).await? {
            return Err(StoreError::NotOwner(crate_name.to_string()));
        }
        let now = now_unix();
        for login in logins {
            let user = sqlx::query("SELECT id, login, name, is_admin FROM users WHERE login = $1")
                .bind(login)
                .fetch_optional(&mut *w.tx)
                .await?
                .as_ref()
                .map(user_from_row)
                .transpose()?
                .ok_or_else(|| StoreError::UserNotFound(login.clone()))?;
            if add {
                sqlx::query(
                    "INSERT INTO crate_owners (crate_id, user_id, added_by, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (crate_id, user_id) DO NOTHING",
                )
                .bind(crate_id)
                .bind(user.id)
                .bind(actor.user_id)
                .bind(now)
                .execute(&mut *w.tx)
                .await?;
            } else {
                sqlx::query("DELETE FROM crate_owners WHERE crate_id = $1 AND user_id = $2")
                    .bind(crate_id)
                    .bind(user.id)
                    .execute(&mut *w.tx)
                    .await?;
            }
        }
        let remaining: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM crate_owners WHERE crate_id = $1")
                .bind(crate_id)
                .fetch_one(&mut *w.tx)
                .await?
                .try_get("n")?;
        if remaining == 0 {
            return Err(StoreError::LastOwner);
        }
        insert_audit(
            &mut w.tx,
            &AuditEntry {
                actor: Some(actor.login.clone()),
                action: if add {
                    AuditAction::OwnerAdd
                } else {
                    AuditAction::OwnerRemove
                },
                registry: Some(registry.to_string()),
                crate_name: Some(crate_name.to_string()),
                version: None,
                outcome: AuditOutcome::Ok,
                detail: Some(logins.join(",")),
            },
        )
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    // ---- downloads and search -----------------------------------------------

    /// The blob behind a version.
    pub async fn download_info(
        &self,
        registry_id: i64,
        canon_name: &str,
        canon_vers: &str,
    ) -> Result<Option<DownloadInfo>, StoreError> {
        let row = sqlx::query(
            "SELECT v.id, v.crate_id, v.cksum, v.size FROM versions v JOIN crates c ON c.id = v.crate_id \
             WHERE c.registry_id = $1 AND c.canon_name = $2 AND v.canon_vers = $3",
        )
        .bind(registry_id)
        .bind(canon_name)
        .bind(canon_vers)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(DownloadInfo {
            version_id: row.try_get("id")?,
            crate_id: row.try_get("crate_id")?,
            cksum: row.try_get("cksum")?,
            size: row.try_get("size")?,
        }))
    }

    /// Adds download counts: `(crate_id, version_id, count)` triples.
    pub async fn add_downloads(&self, counts: &[(i64, i64, i64)]) -> Result<(), StoreError> {
        if counts.is_empty() {
            return Ok(());
        }
        let mut w = self.begin_write().await?;
        for (crate_id, version_id, n) in counts {
            sqlx::query("UPDATE versions SET downloads = downloads + $2 WHERE id = $1")
                .bind(*version_id)
                .bind(*n)
                .execute(&mut *w.tx)
                .await?;
            sqlx::query("UPDATE crates SET downloads = downloads + $2 WHERE id = $1")
                .bind(*crate_id)
                .bind(*n)
                .execute(&mut *w.tx)
                .await?;
        }
        w.tx.commit().await?;
        Ok(())
    }

    /// Download count of a version (tests and the UI).
    pub async fn version_downloads(&self, version_id: i64) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT downloads FROM versions WHERE id = $1")
            .bind(version_id)
            .fetch_one(&self.pool)
            .await?
            .try_get("downloads")?)
    }

    /// Crates whose name or description contains `query` (queries of one or
    /// two characters match name prefixes), exact name first, then by
    /// downloads. Returns the page and the number of matches. Both dialects answer from indexes (SQLite: an
    /// FTS5 trigram table; PostgreSQL: pg_trgm), never by scanning every
    /// crate's text.
    pub async fn search(
        &self,
        registry_id: i64,
        query: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<SearchHit>, i64), StoreError> {
        enum P {
            I(i64),
            S(String),
        }
        let canon = berth_protocol::canonical_name(query);
        let mut params = vec![P::I(registry_id)];
        let filter = if canon.is_empty() {
            "registry_id = $1".to_string()
        } else if canon.chars().count() < 3 {
            // Too short for trigrams: name prefix, through the unique index.
            let mut upper = canon.clone();
            upper.push(char::MAX);
            params.push(P::S(canon.clone()));
            params.push(P::S(upper));
            "registry_id = $1 AND canon_name >= $2 AND canon_name < $3".to_string()
        } else {
            match self.backend() {
                Backend::Sqlite => {
                    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
                    params.push(P::S(format!(
                        "canon_name : {} OR description : {}",
                        quote(&canon),
                        quote(&query.to_lowercase())
                    )));
                    "registry_id = $1 AND id IN (SELECT rowid FROM crates_search WHERE crates_search MATCH $2)"
                        .to_string()
                }
                Backend::Postgres => {
                    let escape = |s: &str| {
                        s.replace('\\', "\\\\")
                            .replace('%', "\\%")
                            .replace('_', "\\_")
                    };
                    params.push(P::S(format!("%{}%", escape(&canon))));
                    params.push(P::S(format!("%{}%", escape(&query.to_lowercase()))));
                    "registry_id = $1 AND (canon_name LIKE $2 ESCAPE '\\' OR lower(description) LIKE $3 ESCAPE '\\')"
                        .to_string()
                }
            }
        };
        fn bind<'q>(
            sql: &'q str,
            params: &[P],
        ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
            let mut q = sqlx::query(sql);
            for p in params {
                q = match p {
                    P::I(v) => q.bind(*v),
                    P::S(v) => q.bind(v.clone()),
                };
            }
            q
        }
        // One pass: the page and, by a window function, the number of
        // matches.
        let n = params.len();
        let page_sql = format!(
            "SELECT name, max_version, description, downloads, COUNT(*) OVER () AS total \
             FROM crates WHERE {filter} \
             ORDER BY CASE WHEN canon_name = ${} THEN 0 ELSE 1 END, downloads DESC, canon_name \
             LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2,
            n + 3
        );
        let filter_params = params.len();
        params.push(P::S(canon.clone()));
        params.push(P::I(limit));
        params.push(P::I(offset));
        let rows = bind(&page_sql, &params).fetch_all(&self.pool).await?;
        let total: i64 = match rows.first() {
            Some(r) => r.try_get("total")?,
            // A page past the end: count on its own.
            None if offset > 0 => bind(
                &format!("SELECT COUNT(*) AS n FROM crates WHERE {filter}"),
                &params[..filter_params],
            )
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?,
            None => 0,
        };
        let hits = rows
            .iter()
            .map(|r| {
                Ok(SearchHit {
                    name: r.try_get("name")?,
                    max_version: r.try_get("max_version")?,
                    description: r.try_get("description")?,
                    downloads: r.try_get("downloads")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok((hits, total))
    }

    // ---- audit and maintenance ----------------------------------------------

    /// Appends one audit row (refused attempts; changes write their own).
    pub async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        insert_audit(&mut w.tx, entry).await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// The newest audit rows, newest first.
    pub async fn recent_audit(&self, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, registry, crate, version, outcome, detail FROM audit_log \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditRow {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    entry: AuditEntry {
                        actor: r.try_get("actor")?,
                        action: parse_word(r.try_get("action")?)?,
                        registry: r.try_get("registry")?,
                        crate_name: r.try_get("crate")?,
                        version: r.try_get("version")?,
                        outcome: parse_word(r.try_get("outcome")?)?,
                        detail: r.try_get("detail")?,
                    },
                })
            })
            .collect()
    }

    /// Whether any version refers to a blob.
    pub async fn blob_referenced(&self, cksum: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("SELECT 1 AS one FROM versions WHERE cksum = $1 LIMIT 1")
                .bind(cksum)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// Every checksum a version of any registry refers to (`migrate`).
    pub async fn version_blobs(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT cksum FROM versions")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("cksum").map_err(StoreError::from))
            .collect()
    }

    /// Every checksum a version of one registry refers to (garbage
    /// collection asks each registry).
    pub async fn referenced_blobs(
        &self,
        registry_id: i64,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT v.cksum FROM versions v JOIN crates c ON c.id = v.crate_id \
             WHERE c.registry_id = $1",
        )
        .bind(registry_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("cksum").map_err(StoreError::from))
            .collect()
    }
}

/// Reads a domain word stored as text; a word this build does not know is a
/// corrupt row, not a client error.
fn parse_word<T: std::str::FromStr<Err = String>>(s: String) -> Result<T, StoreError> {
    s.parse().map_err(StoreError::Corrupt)
}
