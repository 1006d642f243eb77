//! Berth's domain words: registry kinds, roles, token scopes, audit actions
//! and outcomes. Each is an enum with exactly one string form, used alike in
//! SQL, JSON, configuration, command lines and messages, so that no crate
//! writes these words as free strings. Rows read them back through
//! `TryFrom<String>`, whose error ([`UnknownWord`]) the store reports as a
//! corrupt row. No I/O here.

use std::fmt;
use std::str::FromStr;

/// A stored domain word this build does not know: a corrupt row, never a
/// client error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownWord(pub String);

impl fmt::Display for UnknownWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UnknownWord {}

/// Declares a fieldless enum whose variants each have one string form,
/// with `as_str`, `ALL`, `Display`, `FromStr`, `TryFrom<String>` (how rows
/// are read) and serde in that form.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name { $( $(#[$vmeta])* $variant, )+ }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The one string form.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown {} `{other}`; expected one of: {}",
                        $what,
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = UnknownWord;
            fn try_from(s: String) -> Result<Self, UnknownWord> {
                s.parse().map_err(UnknownWord)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

string_enum! {
    /// What a registry does.
    pub enum RegistryKind ("registry kind") {
        /// Crates are published to it.
        Hosted = "hosted",
        /// A pull-through cache of an upstream sparse registry.
        Proxy = "proxy",
        /// One endpoint over several member registries.
        Virtual = "virtual",
        /// A read-only copy of a hosted registry on another Berth, kept
        /// current through that registry's change feed.
        Replica = "replica",
        /// A mirror of a Rust toolchain distribution server (rustup's
        /// layout), served at `/t/NAME`.
        Toolchains = "toolchains",
    }
}

string_enum! {
    /// A user's or team's role in one registry; each includes the ones
    /// before it.
    pub enum Role ("role") {
        /// Read the index, download, search (private registries).
        Read = "read",
        /// Publish new crates; owners still decide who publishes new
        /// versions of their crates.
        Publish = "publish",
        /// Promote versions into the registry from another one
        /// (`berth promote`), besides publishing.
        Promote = "promote",
        /// Act as an owner of every crate in the registry.
        Admin = "admin",
    }
}

string_enum! {
    /// What a token may do. The names are cargo's (and the public
    /// registry's) token scopes; `read` is Berth's, for private registries.
    pub enum Scope ("token scope") {
        Read = "read",
        PublishNew = "publish-new",
        PublishUpdate = "publish-update",
        Yank = "yank",
        ChangeOwners = "change-owners",
    }
}

string_enum! {
    /// What an audit-log entry records.
    pub enum AuditAction ("audit action") {
        Publish = "publish",
        Yank = "yank",
        Unyank = "unyank",
        OwnerAdd = "owner.add",
        OwnerRemove = "owner.remove",
        UserCreate = "user.create",
        /// A user's password was set (`berth user passwd`, the account
        /// page, an administrator's reset).
        UserPassword = "user.password",
        /// A user was made (detail `admin=true`) or unmade an administrator.
        UserAdmin = "user.admin",
        /// A user was disabled: no login, tokens refused, sessions ended.
        UserDisable = "user.disable",
        UserEnable = "user.enable",
        /// A user was removed with their tokens, sessions and roles.
        UserRemove = "user.remove",
        /// A version copied from one registry into another.
        Promote = "promote",
        /// A webhook receiver added or removed.
        WebhookAdd = "webhook.add",
        WebhookRemove = "webhook.remove",
        /// A local user linked to an identity of the company's identity
        /// provider or directory at its first sign-in through it.
        UserLink = "user.link",
        /// A web UI sign-in: `ok`, or `denied` (wrong login or password,
        /// too many failures, a disabled user).
        SessionLogin = "session.login",
        TokenCreate = "token.create",
        TokenRevoke = "token.revoke",
        /// A token used outside its limits: another registry than the
        /// one it is restricted to, or an address outside its ranges.
        TokenRestricted = "token.restricted",
        RoleGrant = "role.grant",
        RoleRevoke = "role.revoke",
        TeamCreate = "team.create",
        TeamMemberAdd = "team.member_add",
        TeamMemberRemove = "team.member_remove",
        /// Many crates loaded at once (`berth-scale`, imports).
        BulkLoad = "bulk.load",
        /// An operator made a proxy forget what it cached (`berth proxy
        /// purge`).
        ProxyPurge = "proxy.purge",
        /// A node started serving; the detail is its configuration
        /// (secrets masked).
        ServerStart = "server.start",
        /// A request from a client address outside a registry's
        /// `allowed_cidrs` (at most one row per address a minute), or a
        /// user without a role reading a private registry.
        AccessDenied = "access.denied",
        /// A presented token that is unknown, revoked, expired or
        /// malformed; the detail has its prefix, never the secret.
        AuthFailure = "auth.failure",
        /// An address or token prefix began its cooling period after too
        /// many failed authentications (one row when it begins).
        AuthThrottled = "auth.throttled",
        /// An advisory set was put in force (`berth advisories import`);
        /// the detail has its digest, size and source.
        AdvisoriesImport = "advisories.import",
        /// A version's documentation uploaded (from CI); the detail has
        /// its files and bytes.
        DocsUpload = "docs.upload",
        /// A version's docs build queued again (`berth docs rebuild`).
        DocsRebuild = "docs.rebuild",
        /// A version's documentation dropped to keep its registry within
        /// its docs budget (`[docs] budget_mib`); the detail has the bytes.
        DocsDrop = "docs.drop",
        /// A version was allowed whatever a registry's policy says
        /// (`berth policy allow`); the detail has the reason and expiry.
        PolicyAllow = "policy.allow",
        /// A registry's exceptions for a version were removed.
        PolicyDisallow = "policy.disallow",
        /// A crate (or a range of its versions) was put on a registry's
        /// approved list.
        PolicyApprove = "policy.approve",
        /// A crate was taken off a registry's approved list.
        PolicyUnapprove = "policy.unapprove",
        /// A proxy's upstream offered other bytes for a version this
        /// registry logged (refused).
        LogUpstreamChanged = "log.upstream_changed",
        /// A crate was set to trust a CI identity (`berth trust add`).
        TrustAdd = "trust.add",
        /// A crate's trust configuration was removed.
        TrustRemove = "trust.remove",
        /// A crate was set to accept only trusted publishing (detail
        /// `trusted_only=true`), or to accept ordinary tokens again.
        TrustOnly = "trust.only",
        /// A CI job's OIDC token was exchanged for a publish token, or
        /// refused (the detail says why).
        TrustExchange = "trust.exchange",
    }
}

impl AuditAction {
    /// `Yank`, or `Unyank` when `yanked` is false.
    pub fn yank(yanked: bool) -> Self {
        if yanked {
            Self::Yank
        } else {
            Self::Unyank
        }
    }

    /// `OwnerAdd`, or `OwnerRemove` when `add` is false.
    pub fn owners(add: bool) -> Self {
        if add {
            Self::OwnerAdd
        } else {
            Self::OwnerRemove
        }
    }
}

string_enum! {
    /// How an audited attempt ended.
    pub enum AuditOutcome ("audit outcome") {
        Ok = "ok",
        Denied = "denied",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_string_form_each_way() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), *r);
            assert_eq!(serde_json::to_string(r).unwrap(), format!("\"{r}\""));
        }
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>().unwrap(), *s);
        }
        for a in AuditAction::ALL {
            assert_eq!(a.as_str().parse::<AuditAction>().unwrap(), *a);
        }
        assert_eq!(
            serde_json::from_str::<RegistryKind>("\"proxy\"").unwrap(),
            RegistryKind::Proxy
        );
        let err = "writer".parse::<Role>().unwrap_err();
        assert_eq!(
            err,
            "unknown role `writer`; expected one of: read, publish, promote, admin"
        );
        assert!(Role::Read < Role::Publish && Role::Publish < Role::Promote);
        assert!(Role::Promote < Role::Admin);
        assert_eq!(
            AuditOutcome::try_from("denied".to_string()),
            Ok(AuditOutcome::Denied)
        );
        assert_eq!(
            RegistryKind::try_from("mirror".to_string()).unwrap_err().0,
            "unknown registry kind `mirror`; expected one of: hosted, proxy, virtual, replica, toolchains"
        );
    }
}
