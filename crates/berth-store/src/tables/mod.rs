//! The SQL of the metadata store, one file per table or concern. Each file
//! adds `MetaStore` methods for its table and `pub(crate)` helpers that
//! other files reuse inside their transactions, so that every statement is
//! written once.
//!
//! One set of statements serves both dialects: `$1`-style placeholders
//! (SQLite and PostgreSQL accept them), 64-bit integers, flags as 0/1 and
//! times as Unix seconds. Rows are read with `query_as` into the
//! `FromRow` types of `model.rs` (this file says how flags and domain words
//! decode); a column list read into one of them is a constant beside its
//! table. Nothing here decides policy (who is an admin,
//! which registries exist): callers pass those decisions in. A new table
//! gets a migration in both dialects, a file here, its row type in
//! `model.rs` and its columns in `transfer.rs` (a test checks the last).

use sqlx::any::{Any, AnyTypeInfo, AnyValueRef};
use sqlx::error::BoxDynError;
use sqlx::{Decode, Type};

use crate::domain::{AuditAction, AuditOutcome, RegistryKind, Role};
use crate::model::StoredList;

mod audit;
mod blob_refs;
mod crates;
pub(crate) mod dependencies;
pub(crate) mod docs;
mod downloads;
mod external;
pub(crate) mod fsck;
mod index;
mod listing;
pub(crate) mod log;
#[cfg(test)]
mod log_fsck_tests;
#[cfg(test)]
mod log_tests;
mod owners;
mod policy;
pub(crate) mod proxy;
mod publish;
pub(crate) mod refusals;
mod registries;
mod replica;
mod roles;
mod search;
mod sessions;
mod teams;
#[cfg(test)]
mod tests;
mod tokens;
mod toolchains;
mod trust;
mod users;
mod versions;
pub(crate) mod webhooks;

pub(crate) use audit::insert_audit;
pub use audit::{operator, set_operator};
pub use docs::{DocsBuild, DocsJob, DocsSet, HeldDocs, NewDocsSet};
pub use external::{ExternalAccount, ExternalRefusal, ExternalSignIn};
pub(crate) use owners::remove_owner;
pub use owners::TEAM_PREFIX;
pub(crate) use refusals::RefusalBudget;
pub use refusals::{address_key, REFUSALS_PER_CALLER_MINUTE, REFUSALS_PER_MINUTE};
pub use replica::{ChangeRow, ReplicaStateRow};
pub(crate) use roles::Holder;
pub use webhooks::{event_of as webhook_event_of, Attempt as WebhookAttempt, Delivery, Webhook};

/// A 0/1 integer column read as `bool` (`#[sqlx(try_from = "Flag")]`):
/// both dialects store flags as integers, and sqlx's `Any` driver decodes
/// `bool` only from a boolean column.
pub struct Flag(bool);

impl Type<Any> for Flag {
    fn type_info() -> AnyTypeInfo {
        <i64 as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        <i64 as Type<Any>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Any> for Flag {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Flag(<i64 as Decode<'r, Any>>::decode(value)? != 0))
    }
}

impl From<Flag> for bool {
    fn from(flag: Flag) -> bool {
        flag.0
    }
}

/// Domain words stored as text are read as their enums, parsed here at the
/// boundary by their `TryFrom<String>`. A word this build does not know
/// fails with [`UnknownWord`](crate::UnknownWord), which `StoreError`
/// reports as a corrupt row. (A `Decode` impl rather than
/// `#[sqlx(try_from = "String")]`: sqlx 0.8's derive drops the message of a
/// `try_from` error.)
macro_rules! text_words {
    ($($word:ty),+) => {$(
        impl Type<Any> for $word {
            fn type_info() -> AnyTypeInfo {
                <String as Type<Any>>::type_info()
            }

            fn compatible(ty: &AnyTypeInfo) -> bool {
                <String as Type<Any>>::compatible(ty)
            }
        }

        impl<'r> Decode<'r, Any> for $word {
            fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok(<$word>::try_from(<String as Decode<'r, Any>>::decode(value)?)?)
            }
        }
    )+};
}

text_words!(RegistryKind, Role, AuditAction, AuditOutcome);

/// A token's limit list is read the same way: an item that does not parse
/// is a corrupt row.
impl<T> Type<Any> for StoredList<T> {
    fn type_info() -> AnyTypeInfo {
        <String as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        <String as Type<Any>>::compatible(ty)
    }
}

impl<'r, T: std::str::FromStr> Decode<'r, Any> for StoredList<T>
where
    T::Err: std::fmt::Display,
{
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(StoredList::try_from(<String as Decode<'r, Any>>::decode(
            value,
        )?)?)
    }
}
