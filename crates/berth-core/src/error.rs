//! The services' error type: what went wrong, in words a cargo user reads,
//! and which class of failure it is. The HTTP layer maps the class to a
//! status code; nothing here knows about HTTP.

use berth_store::StoreError;

/// A failed service call.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is malformed or breaks a rule (400).
    #[error("{0}")]
    BadRequest(String),
    /// No token, or one that is not valid (401).
    #[error("{0}")]
    Unauthorized(String),
    /// A valid token that may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such registry, crate or version (404).
    #[error("{0}")]
    NotFound(String),
    /// The change conflicts with existing state (409).
    #[error("{0}")]
    Conflict(String),
    /// Over a size limit (413).
    #[error("{0}")]
    TooLarge(String),
    /// Too many requests of this kind at once, from this caller or from
    /// everyone (429, with `Retry-After`).
    #[error("{0}")]
    Busy(String),
    /// A client sent its request too slowly (408).
    #[error("{0}")]
    TooSlow(String),
    /// A proxy's upstream failed or answered something unusable, and
    /// nothing cached can stand in (502). The message is shown: it names
    /// the upstream problem, never a secret.
    #[error("{0}")]
    BadGateway(String),
    /// A dependency (database, blob store) is down (503).
    #[error("{0}")]
    Unavailable(String),
    /// A bug or corrupt data (500). The message is logged, not shown in full.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::VersionExists { name, vers } => {
                ServiceError::Conflict(format!("crate version `{name}@{vers}` is already uploaded"))
            }
            StoreError::NameMismatch { existing } => ServiceError::BadRequest(format!(
                "crate was previously named `{existing}`; publish it under that exact name"
            )),
            StoreError::CrateNotFound(name) => {
                ServiceError::NotFound(format!("crate `{name}` does not exist"))
            }
            StoreError::VersionNotFound { name, vers } => {
                ServiceError::NotFound(format!("crate `{name}` has no version `{vers}`"))
            }
            StoreError::NotNewCrate(_) => missing_scope(berth_store::Scope::PublishUpdate),
            StoreError::NotOwner(name) => ServiceError::Forbidden(format!(
                "this token's user is not an owner of crate `{name}`"
            )),
            StoreError::UserNotFound(login) => {
                ServiceError::NotFound(format!("could not find user with login `{login}`"))
            }
            StoreError::UserExists(login) => {
                ServiceError::Conflict(format!("user `{login}` already exists"))
            }
            StoreError::TokenNameExists(name) => ServiceError::Conflict(format!(
                "an active token named `{name}` exists already; choose another name, or revoke \
                 it first (`berth token revoke --name {name}`)"
            )),
            StoreError::TrustConfigExists(name) => ServiceError::Conflict(format!(
                "crate `{name}` already trusts this CI identity (`berth trust list {name}` shows \
                 its configurations)"
            )),
            StoreError::Contention(m) => ServiceError::Conflict(m),
            StoreError::TeamNotFound(name) => ServiceError::NotFound(format!(
                "no team `{name}`; an operator can add it with `berth team add {name}`"
            )),
            StoreError::TeamExists(name) => {
                ServiceError::Conflict(format!("team `{name}` already exists"))
            }
            StoreError::LastOwnerOf { login, crates } => ServiceError::Conflict(format!(
                "user `{login}` is the last user owner of {}; a crate never loses its last user \
                 owner, so add another user owner to each first (`cargo owner --add USER CRATE`, \
                 or `berth user admin` for someone who can), then remove `{login}` again; or \
                 disable the user instead (`berth user disable {login}`)",
                crates.join(", ")
            )),
            StoreError::LastOwner => ServiceError::BadRequest(
                "cannot remove the last user owner of a crate (teams cannot change owners): \
                 add another user owner first"
                    .into(),
            ),
            StoreError::LogConflict {
                name, vers, logged, ..
            } => ServiceError::Conflict(format!(
                "crate version `{name}@{vers}` was uploaded before, with sha256 {logged}, and this \
                 registry's transparency log keeps it: a version's bytes never change, so publish \
                 a new version instead"
            )),
            StoreError::Database(sqlx_err) => match &sqlx_err {
                berth_store_sqlx::Error::PoolTimedOut
                | berth_store_sqlx::Error::Io(_)
                | berth_store_sqlx::Error::PoolClosed => {
                    ServiceError::Unavailable(format!("the database is unavailable: {sqlx_err}"))
                }
                _ => ServiceError::Internal(format!("database error: {sqlx_err}")),
            },
            StoreError::Blob(e) => ServiceError::Unavailable(format!("the blob store failed: {e}")),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

// sqlx is reached through the store's public error type only.
use berth_store::sqlx as berth_store_sqlx;

/// The refusal of a request whose token lacks `scope`.
pub fn missing_scope(scope: berth_store::Scope) -> ServiceError {
    ServiceError::Forbidden(format!(
        "this token does not have the `{scope}` scope; create a token with it"
    ))
}
