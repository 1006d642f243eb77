//! Reading the audit log: filtered listings (`berth audit`, the management
//! API) and the check of its hash chain (`berth audit verify`). Writing is
//! the store's job, inside each change's transaction; the only rows written
//! here are the node's start and refusals decided by the HTTP layer
//! (addresses, failed authentications), which change nothing.

pub use berth_store::{
    AuditAction, AuditCheck, AuditEntry, AuditFilter, AuditOutcome, AuditRow, Origin,
};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, Time};

use crate::error::ServiceError;
use crate::{Berth, Identity};

impl Berth {
    /// The audit rows `filter` selects, oldest first.
    pub async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>, ServiceError> {
        Ok(self.meta.audit_rows(filter).await?)
    }

    /// The management API's listing: server administrators only.
    pub async fn audit_log_for(
        &self,
        who: Option<&Identity>,
        query: &AuditQuery,
    ) -> Result<Vec<AuditRow>, ServiceError> {
        let who = who.ok_or_else(|| {
            ServiceError::Unauthorized("the audit log needs an administrator's token".into())
        })?;
        if !who.user.is_admin {
            return Err(ServiceError::Forbidden(
                "only server administrators may read the audit log".into(),
            ));
        }
        let mut filter = query.filter()?;
        filter.limit = Some(filter.limit.unwrap_or(API_LIMIT).clamp(0, API_LIMIT));
        self.audit_log(&filter).await
    }

    /// Records that this node starts serving, with its configuration
    /// (secrets masked): the rules in force from here on.
    pub async fn audit_start(&self) -> Result<(), ServiceError> {
        let config = self
            .config
            .masked_toml()
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let entry = AuditEntry::done(AuditAction::ServerStart, config);
        Ok(self
            .meta
            .append_audit_at(&entry, self.clock.now_unix())
            .await?)
    }

    /// Appends the row of a refusal decided before any service call (an
    /// address outside a registry's list, a failed or throttled
    /// authentication). A failed write is logged; the refusal stands.
    pub async fn audit_refusal(&self, entry: &AuditEntry) {
        if let Err(e) = self
            .meta
            .append_audit_at(entry, self.clock.now_unix())
            .await
        {
            tracing::warn!(error = %e, action = %entry.action, "could not write the audit entry of a refusal");
        }
    }

    /// Checks the whole audit log's hash chain.
    pub async fn verify_audit(&self) -> Result<AuditCheck, ServiceError> {
        Ok(self.meta.verify_audit().await?)
    }
}

/// Most rows one management API answer holds; page on with `after`.
pub const API_LIMIT: i64 = 10_000;

/// The filters of `berth audit` and `GET /api/v1/audit` as given.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// A date, time or Unix seconds ([`parse_since`]).
    pub since: Option<String>,
    /// The last N seconds.
    pub since_secs: Option<i64>,
    pub actor: Option<String>,
    #[serde(rename = "crate")]
    pub crate_name: Option<String>,
    pub action: Option<String>,
    /// Only entries with a larger id (paging).
    pub after: Option<i64>,
    pub limit: Option<i64>,
}

impl AuditQuery {
    /// The store's filter, or why a value is not understood.
    pub fn filter(&self) -> Result<AuditFilter, ServiceError> {
        let since = match (&self.since, self.since_secs) {
            (Some(s), _) => Some(parse_since(s)?),
            (None, Some(n)) => Some(seconds_ago(n)),
            (None, None) => None,
        };
        Ok(AuditFilter {
            since,
            actor: self.actor.clone(),
            crate_name: self.crate_name.clone(),
            action: self.action.as_deref().map(parse_action).transpose()?,
            after_id: self.after,
            limit: self.limit,
        })
    }
}

/// An audit action named on a command line or in a query.
pub fn parse_action(word: &str) -> Result<AuditAction, ServiceError> {
    word.parse()
        .map_err(|e| ServiceError::BadRequest(format!("action: {e}")))
}

/// A `--since` value as Unix seconds: `YYYY-MM-DD` (midnight UTC),
/// `YYYY-MM-DDTHH:MM:SSZ`, or Unix seconds.
pub fn parse_since(s: &str) -> Result<i64, ServiceError> {
    if let Ok(secs) = s.parse::<i64>() {
        return Ok(secs);
    }
    let bad = || {
        ServiceError::BadRequest(format!(
            "`{s}` is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ) or Unix seconds"
        ))
    };
    let (day, clock) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t.strip_suffix('Z').ok_or_else(bad)?)),
        None => (s, None),
    };
    let num = |part: Option<&str>| part.and_then(|p| p.parse::<u16>().ok()).ok_or_else(bad);
    let mut d = day.splitn(3, '-');
    let (y, m, dd) = (num(d.next())?, num(d.next())?, num(d.next())?);
    let month = Month::try_from(u8::try_from(m).map_err(|_| bad())?).map_err(|_| bad())?;
    let date = Date::from_calendar_date(i32::from(y), month, u8::try_from(dd).map_err(|_| bad())?)
        .map_err(|_| bad())?;
    let time = match clock {
        None => Time::MIDNIGHT,
        Some(t) => {
            let mut t = t.splitn(3, ':');
            let (h, mi, se) = (num(t.next())?, num(t.next())?, num(t.next())?);
            let byte = |v: u16| u8::try_from(v).map_err(|_| bad());
            Time::from_hms(byte(h)?, byte(mi)?, byte(se)?).map_err(|_| bad())?
        }
    };
    Ok(date.with_time(time).assume_utc().unix_timestamp())
}

/// `--since-secs N`: the Unix time N seconds ago.
pub fn seconds_ago(n: i64) -> i64 {
    berth_store::now_unix().saturating_sub(n)
}

/// Unix seconds as RFC 3339 (UTC).
pub fn rfc3339(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| secs.to_string())
}

/// One audit row as the JSON object of `berth audit --json` and the
/// management API (one per line).
pub fn audit_json(row: &AuditRow) -> Value {
    let e = &row.entry;
    json!({
        "id": row.id,
        "at": row.at,
        "time": rfc3339(row.at),
        "actor": e.actor,
        "token_id": e.token_id,
        "client_addr": e.client_addr,
        "user_agent": e.user_agent,
        "registry": e.registry,
        "action": e.action.as_str(),
        "crate": e.crate_name,
        "version": e.version,
        "outcome": e.outcome.as_str(),
        "detail": e.detail,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    })
}

/// Every audit action's word, for the audit page's filter.
pub fn audit_actions() -> Vec<&'static str> {
    berth_store::AuditAction::ALL
        .iter()
        .map(|a| a.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_dates_times_and_seconds() {
        assert_eq!(parse_since("1970-01-02").unwrap(), 86_400);
        assert_eq!(parse_since("2024-01-02T03:04:05Z").unwrap(), 1_704_164_645);
        assert_eq!(parse_since("42").unwrap(), 42);
        assert!(parse_since("2024-13-01").is_err());
        assert!(parse_since("yesterday").is_err());
    }
}
