//! Plain rows and commands exchanged with the stores.
//!
//! Rows read from SQL derive `sqlx::FromRow`: a field is read from the
//! column of its name (the queries in `tables/` alias their columns to
//! match), 0/1 flags through [`Flag`](crate::tables::Flag), domain words
//! as their enums (decoded in `tables/mod.rs`). No SQL and no I/O here.

use std::str::FromStr;

use ipnet::IpNet;

use crate::domain::{AuditAction, AuditOutcome, UnknownWord};

/// A registry user.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub login: String,
    pub name: Option<String>,
    #[sqlx(try_from = "crate::tables::Flag")]
    pub is_admin: bool,
    /// Disabled by an administrator: no sign-in, tokens refused.
    #[sqlx(try_from = "crate::tables::Flag")]
    pub disabled: bool,
}

/// A user's flag an administrator sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserFlag {
    Admin,
    Disabled,
}

/// A token's list of limits (crate-name patterns, CIDR ranges): one
/// comma-separated text column, decoded into its items once, when the row
/// is read, and encoded when a token is written. Empty means no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredList<T>(pub Vec<T>);

impl<T> StoredList<T> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T: FromStr> TryFrom<String> for StoredList<T>
where
    T::Err: std::fmt::Display,
{
    type Error = UnknownWord;

    /// A stored item that does not parse is a corrupt row.
    fn try_from(text: String) -> Result<Self, UnknownWord> {
        text.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse()
                    .map_err(|e| UnknownWord(format!("stored token limit `{item}`: {e}")))
            })
            .collect::<Result<_, _>>()
            .map(StoredList)
    }
}

impl<T: std::fmt::Display> std::fmt::Display for StoredList<T> {
    /// The stored text: the items joined by commas.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{item}")?;
        }
        Ok(())
    }
}

/// An API token looked up by its hash, with its owner.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRecord {
    #[sqlx(rename = "token_id")]
    pub id: i64,
    #[sqlx(rename = "token_name")]
    pub name: String,
    pub scopes: String,
    /// Crate-name patterns the token may change; empty for every crate.
    pub crate_patterns: StoredList<String>,
    /// The one registry the token may be used on, by name.
    #[sqlx(rename = "token_registry")]
    pub registry: Option<String>,
    /// CIDR ranges the token may be used from; empty for any address.
    pub allowed_cidrs: StoredList<IpNet>,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    #[sqlx(try_from = "crate::tables::Flag")]
    pub revoked: bool,
    /// The CI claims (JSON) of a trusted-publishing exchange that made it.
    pub trust_claims: Option<String>,
    #[sqlx(flatten)]
    pub user: User,
}

/// A team: a named group of users.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Team {
    pub id: i64,
    pub name: String,
}

/// A team with its members' logins.
#[derive(Debug, Clone)]
pub struct TeamInfo {
    pub team: Team,
    pub members: Vec<String>,
}

/// A token as listed for its user (never the secret).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub scopes: String,
    /// As in [`TokenRecord::crate_patterns`].
    pub crate_patterns: StoredList<String>,
    pub registry: Option<String>,
    /// As in [`TokenRecord::allowed_cidrs`].
    pub allowed_cidrs: StoredList<IpNet>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    #[sqlx(try_from = "crate::tables::Flag")]
    pub revoked: bool,
    /// The token that made this one, if a token did.
    pub parent_id: Option<i64>,
}

/// A token to store: everything but its id and times, with the audit row
/// of its creation (whose detail the store fills in).
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    pub user_id: i64,
    /// `None` names it `token-ID`.
    pub name: Option<&'a str>,
    pub token_hash: &'a str,
    pub scopes: &'a str,
    pub crate_patterns: StoredList<String>,
    pub registry: Option<&'a str>,
    pub allowed_cidrs: StoredList<IpNet>,
    pub expires_at: Option<i64>,
    /// The token that makes this one (`/api/v1/me/tokens`): revoking it
    /// revokes this one too.
    pub parent_id: Option<i64>,
    /// The CI claims (JSON) of a trusted-publishing exchange that made it.
    pub trust_claims: Option<String>,
    pub audit: AuditEntry,
}

/// Who is making a change, for ownership checks and the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: i64,
    pub login: String,
    /// Admins pass ownership checks.
    pub is_admin: bool,
    /// Where the change came from, for its audit row.
    pub origin: Origin,
}

/// Where a request came from, as its audit row records it.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub token_id: Option<i64>,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
}

/// A crate row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CrateRow {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub max_version: Option<String>,
    pub downloads: i64,
    pub revision: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Only trusted publishing may publish it.
    #[sqlx(try_from = "crate::tables::Flag")]
    pub trusted_only: bool,
}

/// What the index needs to know to decide whether a cached file is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct IndexState {
    pub crate_id: i64,
    pub revision: i64,
    pub updated_at: i64,
}

/// A version to record at publish. Every field was validated by the caller.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub registry_id: i64,
    pub name: String,
    pub canon_name: String,
    pub vers: String,
    pub canon_vers: String,
    pub index_line: String,
    pub cksum: String,
    pub size: i64,
    pub metadata_json: String,
    pub readme: Option<String>,
    pub description: Option<String>,
    /// The caller may only create new crates (a `publish-new` token without
    /// `publish-update`): a crate that exists at commit is refused.
    pub new_crate_only: bool,
    /// The CI claims (JSON) of the trusted-publishing token it was
    /// published with.
    pub trust_claims: Option<String>,
}

/// A trust configuration to add: a CI identity that may publish a crate.
#[derive(Debug, Clone)]
pub struct NewTrustConfig {
    pub registry_id: i64,
    pub crate_name: String,
    pub canon_name: String,
    /// The configured issuer's name (`[[trusted_publishing.issuers]]`).
    pub issuer: String,
    /// `OWNER/REPO`, lowercase.
    pub repository: String,
    /// The workflow's file name (`release.yml`).
    pub workflow: String,
    /// The deployment environment the job must run in; any when `None`.
    pub environment: Option<String>,
    pub created_by: i64,
}

/// A stored trust configuration.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TrustConfigRow {
    pub id: i64,
    pub registry_id: i64,
    pub crate_name: String,
    pub canon_name: String,
    pub issuer: String,
    pub repository: String,
    pub workflow: String,
    pub environment: Option<String>,
    pub created_by: i64,
    pub created_at: i64,
}

/// What a publish changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishOutcome {
    pub crate_id: i64,
    pub version_id: i64,
    pub new_crate: bool,
    /// The crate's revision after the change.
    pub revision: i64,
}

/// The blob behind a version, for downloads.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DownloadInfo {
    pub crate_id: i64,
    pub version_id: i64,
    pub cksum: String,
    pub size: i64,
}

/// One search hit: a crate as lists show it.
pub type SearchHit = CrateSummary;

/// One audit-log row to append.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditEntry {
    pub actor: Option<String>,
    pub action: AuditAction,
    pub registry: Option<String>,
    #[sqlx(rename = "crate")]
    pub crate_name: Option<String>,
    pub version: Option<String>,
    pub outcome: AuditOutcome,
    pub detail: Option<String>,
    /// The API token the actor used (none for the command line).
    pub token_id: Option<i64>,
    /// The client's address as the server saw it.
    pub client_addr: Option<String>,
    /// The client's `User-Agent`, clipped.
    pub user_agent: Option<String>,
}

impl AuditEntry {
    /// An entry with only its action and outcome set.
    pub fn new(action: AuditAction, outcome: AuditOutcome) -> Self {
        Self {
            actor: None,
            action,
            registry: None,
            crate_name: None,
            version: None,
            outcome,
            detail: None,
            token_id: None,
            client_addr: None,
            user_agent: None,
        }
    }

    /// A change that was made, described by `detail`.
    pub fn done(action: AuditAction, detail: String) -> Self {
        Self {
            detail: Some(detail),
            ..Self::new(action, AuditOutcome::Ok)
        }
    }

    /// A change `actor` made to a crate of `registry`.
    pub fn crate_change(
        actor: &Actor,
        action: AuditAction,
        registry: &str,
        crate_name: &str,
    ) -> Self {
        Self {
            actor: Some(actor.login.clone()),
            token_id: actor.origin.token_id,
            client_addr: actor.origin.client_addr.clone(),
            user_agent: actor.origin.user_agent.clone(),
            registry: Some(registry.to_string()),
            crate_name: Some(crate_name.to_string()),
            ..Self::new(action, AuditOutcome::Ok)
        }
    }
}

/// One audit-log row as read back.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    #[sqlx(flatten)]
    pub entry: AuditEntry,
    /// The hash of the row before (NULL for the first chained row).
    pub prev_hash: Option<String>,
    /// This row's hash (NULL for rows from before the chain).
    pub hash: Option<String>,
}

/// Which audit rows to list; unset fields match everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Rows at or after this Unix time.
    pub since: Option<i64>,
    pub actor: Option<String>,
    pub crate_name: Option<String>,
    pub action: Option<AuditAction>,
    /// Rows with a larger id (paging).
    pub after_id: Option<i64>,
    /// At most this many rows (the oldest matching first).
    pub limit: Option<i64>,
}

/// What `berth audit verify` found.
#[derive(Debug, Clone, Default)]
pub struct AuditCheck {
    /// Rows read.
    pub entries: u64,
    /// Rows from before the chain began (NULL hash, at the start).
    pub pre_chain: u64,
    /// The id of the first bad row, and what is wrong with it.
    pub first_bad: Option<(i64, String)>,
    /// The hash of the last chained row: record it elsewhere to detect the
    /// removal of rows from the end.
    pub head: Option<String>,
}

/// A version as listed for people (management API, UI).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionRow {
    pub vers: String,
    #[sqlx(try_from = "crate::tables::Flag")]
    pub yanked: bool,
    pub cksum: String,
    pub size: i64,
    pub created_at: i64,
    pub downloads: i64,
    pub published_by: Option<String>,
    #[sqlx(try_from = "crate::tables::Flag")]
    pub has_readme: bool,
    /// The CI claims (JSON) of a trusted publish.
    pub trust_claims: Option<String>,
}

/// A stored version as a promotion copies it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionCopy {
    pub vers: String,
    pub canon_vers: String,
    pub index_line: String,
    pub cksum: String,
    pub size: i64,
    #[sqlx(try_from = "crate::tables::Flag")]
    pub yanked: bool,
    pub metadata: String,
    pub readme: Option<String>,
    pub trust_claims: Option<String>,
    pub description: Option<String>,
}

/// A live web UI session with its user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRecord {
    pub csrf: String,
    pub expires_at: i64,
    /// When it was signed in.
    pub created_at: i64,
    #[sqlx(flatten)]
    pub user: User,
}

/// A live docs pass: the one crate of one registry it reads, and the
/// session it was opened from, with its user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DocsPassRecord {
    pub registry: String,
    /// The crate's canonical name.
    pub crate_name: String,
    #[sqlx(flatten)]
    pub session: SessionRecord,
}

/// A crate as the UI lists it (home page, registry listing, dependents)
/// and as a search finds it ([`SearchHit`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CrateSummary {
    pub name: String,
    pub max_version: Option<String>,
    pub description: Option<String>,
    pub downloads: i64,
    /// When the crate last changed (a proxy: when its index file did).
    pub updated_at: i64,
    /// For a crate of a virtual registry's search, the member it comes from
    /// (never read from a row).
    #[sqlx(skip)]
    pub member: Option<String>,
}

/// What the UI's crate page shows of one version beyond [`VersionRow`]: the
/// publish metadata as stored (JSON) and the README.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionPage {
    pub vers: String,
    pub metadata: String,
    pub readme: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_lists_decode_once_and_encode_back() {
        let cidrs = StoredList::<IpNet>::try_from("10.0.0.0/8, fd00::/8,".to_string()).unwrap();
        assert_eq!(cidrs.0.len(), 2);
        assert_eq!(cidrs.to_string(), "10.0.0.0/8,fd00::/8");
        let none = StoredList::<String>::try_from(String::new()).unwrap();
        assert!(none.is_empty() && none.to_string().is_empty());
        let bad = StoredList::<IpNet>::try_from("10.0.0.0/33".to_string()).unwrap_err();
        assert!(bad.0.contains("`10.0.0.0/33`"), "{bad}");
    }
}

/// The advisory set in force, without its body.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct AdvisorySetInfo {
    pub id: i64,
    /// The set's content digest.
    pub digest: String,
    /// Where it was imported from (a path or URL), as the importer said.
    pub source: String,
    pub advisories: i64,
    pub crates: i64,
    pub imported_at: i64,
}

/// An advisory set to put in force.
#[derive(Debug, Clone)]
pub struct NewAdvisorySet<'a> {
    pub digest: &'a str,
    /// The set in its stored form.
    pub body: &'a str,
    pub source: &'a str,
    pub advisories: i64,
    pub crates: i64,
    pub imported_at: i64,
}

/// A policy exception to add.
#[derive(Debug, Clone)]
pub struct NewPolicyException<'a> {
    pub registry_id: i64,
    /// The crate as the operator spelt it, and folded.
    pub name: &'a str,
    pub canon_name: &'a str,
    pub vers: &'a str,
    pub reason: &'a str,
    pub expires_at: Option<i64>,
    pub created_by: &'a str,
    pub created_at: i64,
}

/// An approved-list entry to add.
#[derive(Debug, Clone)]
pub struct NewPolicyApproval<'a> {
    pub registry_id: i64,
    pub name: &'a str,
    pub canon_name: &'a str,
    /// A version requirement; `None`: every version.
    pub req: Option<&'a str>,
    pub created_by: &'a str,
    pub created_at: i64,
}

/// One policy exception (`berth policy allow`) as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct PolicyExceptionRow {
    pub id: i64,
    pub name: String,
    pub vers: String,
    pub reason: String,
    pub expires_at: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
}

/// One entry of a registry's approved list (`berth policy approve`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct PolicyApprovalRow {
    pub id: i64,
    pub name: String,
    /// A version requirement; `None`: every version.
    pub req: Option<String>,
    pub created_by: String,
    pub created_at: i64,
}

/// A registry's exceptions and approved list, read together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyListRows {
    pub exceptions: Vec<PolicyExceptionRow>,
    pub approvals: Vec<PolicyApprovalRow>,
}

/// One version's record in a registry's transparency log.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LogRecordRow {
    pub registry_id: i64,
    /// The leaf's index in the registry's tree.
    pub idx: i64,
    /// The name as logged (as published, or as the upstream spelled it).
    pub name: String,
    pub canon_name: String,
    pub vers: String,
    pub canon_vers: String,
    pub sha256: String,
    pub pubtime: String,
    pub logged_at: i64,
}

/// A checkpoint the server signed and handed out.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LogCheckpointRow {
    pub registry_id: i64,
    pub size: i64,
    /// The root, lowercase hex.
    pub root: String,
    /// The signed note as served.
    pub note: String,
    pub signed_at: i64,
}
