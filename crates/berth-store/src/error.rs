//! The storage layer's error type.

use crate::domain::UnknownWord;

/// Why a store operation failed. Domain outcomes (conflicts, missing rows,
/// ownership) are variants of their own so that services can map them to
/// precise messages; everything else is an infrastructure failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("version `{vers}` of crate `{name}` already exists")]
    VersionExists { name: String, vers: String },
    #[error("crate was previously published as `{existing}`")]
    NameMismatch { existing: String },
    #[error("crate `{0}` does not exist")]
    CrateNotFound(String),
    #[error("version `{vers}` of crate `{name}` does not exist")]
    VersionNotFound { name: String, vers: String },
    #[error("you are not an owner of crate `{0}`")]
    NotOwner(String),
    /// The crate was created by another request first, and the caller may
    /// only create new crates.
    #[error("crate `{0}` exists")]
    NotNewCrate(String),
    #[error("no user `{0}`")]
    UserNotFound(String),
    #[error("user `{0}` already exists")]
    UserExists(String),
    #[error("no team `{0}`")]
    TeamNotFound(String),
    #[error("team `{0}` already exists")]
    TeamExists(String),
    /// The user already has an active token of this name.
    #[error("an active token named `{0}` exists")]
    TokenNameExists(String),
    /// A crate already trusts this CI identity.
    #[error("crate `{0}` already trusts this CI identity")]
    TrustConfigExists(String),
    #[error("a crate must keep at least one user owner")]
    LastOwner,
    /// A user to remove is the last user owner of these crates
    /// (`registry/crate`).
    #[error("user `{login}` is the last user owner of {}", crates.join(", "))]
    LastOwnerOf { login: String, crates: Vec<String> },
    /// Concurrent changes collided; the request may be retried.
    #[error("{0}")]
    Contention(String),
    /// Any other database failure. A stored domain word this build does not
    /// know is reported as [`StoreError::Corrupt`] instead.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("blob store error: {0}")]
    Blob(#[from] object_store::Error),
    #[error("blob store configuration: {0}")]
    BlobConfig(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The transparency log holds another checksum for this version: a
    /// version's bytes never change.
    #[error(
        "version `{vers}` of crate `{name}` is logged with sha256 {logged}, not {offered}: \
         a version's bytes never change"
    )]
    LogConflict {
        name: String,
        vers: String,
        logged: String,
        offered: String,
    },
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::ColumnDecode { index, source } if source.is::<UnknownWord>() => {
                StoreError::Corrupt(format!("column {index}: {source}"))
            }
            other => StoreError::Database(other),
        }
    }
}

impl StoreError {
    /// Whether a database error is a unique-constraint violation.
    pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
        matches!(err, sqlx::Error::Database(e) if e.is_unique_violation())
    }
}

/// A statement's result with a unique-constraint violation read as the
/// domain error that says what was taken (a login, a team's name, a
/// token's name), and any other failure as a database error.
pub(crate) trait OrTaken<T> {
    fn or_taken(self, taken: impl FnOnce() -> StoreError) -> Result<T, StoreError>;
}

impl<T> OrTaken<T> for Result<T, sqlx::Error> {
    fn or_taken(self, taken: impl FnOnce() -> StoreError) -> Result<T, StoreError> {
        self.map_err(|e| {
            if StoreError::is_unique_violation(&e) {
                taken()
            } else {
                e.into()
            }
        })
    }
}
