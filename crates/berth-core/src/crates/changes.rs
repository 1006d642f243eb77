//! A registry's change feed (`GET /r/NAME/api/v1/changes?since=SEQ`):
//! its publishes, yanks and unyanks in commit order, paged by sequence,
//! which replicas on other Berths follow.
//!
//! The sequence is the audit log's id of the change (see
//! `store/tables/replica.rs`): ascending, in commit order, so reading
//! after the last one seen never misses a change. A reader may wait for a
//! change (`wait`, a long poll): it is woken by every change this node
//! hears of (its own, or another node's through the index watch) and asks
//! again at least every second. At most [`MAX_WAITING`] readers wait on a
//! node; the others are answered at once, so long polls cannot hold a
//! node's connections or database pool.

use std::time::Duration;

use berth_store::ChangeRow;
use serde::Serialize;

use crate::error::ServiceError;
use crate::{Berth, Identity};

/// Readers that may wait for a change at once, per node.
pub(crate) const MAX_WAITING: usize = 64;
/// Changes per page unless asked for fewer; the most a page has.
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;
/// The longest wait asked for is cut to this many seconds.
pub const MAX_WAIT_SECS: u64 = 25;
/// How often a waiting reader asks the database again, woken or not.
const RECHECK: Duration = Duration::from_secs(1);

/// One page of a registry's change feed, as served and as read by a
/// replica or a `mirror fill --all` on another Berth.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ChangePage {
    /// After `since`, oldest first.
    pub changes: Vec<ChangeRow>,
    /// The newest sequence of the feed now (0: none); a reader whose last
    /// change is `head` has everything.
    pub head: i64,
}

impl Berth {
    /// The changes of hosted (or replica) registry `registry` after
    /// `since`, waiting up to `wait_secs` for one when there is none.
    pub async fn changes(
        &self,
        registry: &str,
        who: Option<&Identity>,
        since: i64,
        limit: Option<i64>,
        wait_secs: u64,
    ) -> Result<ChangePage, ServiceError> {
        let reg = self.registry(registry)?;
        self.authorize_read(reg, who)?;
        if !reg.traits().holds_publishes {
            return Err(ServiceError::BadRequest(format!(
                "registry `{registry}` is a {} registry: it has no change feed (a replica \
                 follows a hosted registry)",
                reg.kind()
            )));
        }
        let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let since = since.max(0);
        let shared = &self.kinds.hosted;
        let wait = Duration::from_secs(wait_secs.min(MAX_WAIT_SECS));
        // A waiting slot, or no wait at all.
        let _slot = match wait.is_zero() {
            true => None,
            false => shared.feed_waiters.try_acquire().ok(),
        };
        let waits = if _slot.is_some() {
            wait
        } else {
            Duration::ZERO
        };
        let deadline = tokio::time::Instant::now() + waits;
        loop {
            // Armed before the read: a change committed after it wakes us.
            let woken = shared.feed_wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let changes = self.meta.changes(&reg.name, since, limit).await?;
            let now = tokio::time::Instant::now();
            if !changes.is_empty() || now >= deadline {
                let head = self.meta.change_head(&reg.name).await?;
                return Ok(ChangePage { changes, head });
            }
            let until = deadline.min(now + RECHECK);
            tokio::select! {
                _ = &mut woken => {}
                _ = tokio::time::sleep_until(until) => {}
            }
        }
    }
}
