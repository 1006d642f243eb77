//! Accounts: users and their passwords, web sessions (signed in with a
//! password, single sign-on or the directory: `external`, `oidc`), teams, roles in
//! registries, and the checks of who may read or change what. API tokens,
//! which act for a user, are in [`crate::tokens`].

pub(crate) mod access;
pub mod auth;
pub mod external;
pub(crate) mod ldap;
pub mod oidc;
mod roles;
pub(crate) mod sessions;
pub(crate) mod teams;
pub(crate) mod users;

pub use sessions::{Session, SESSION_SECS};
