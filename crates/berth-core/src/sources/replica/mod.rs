//! A replica registry: a read-only copy of a hosted registry on another
//! Berth (its primary), kept current through the primary's change feed
//! (`GET /r/NAME/api/v1/changes`).
//!
//! What it holds are version rows like a hosted registry's, written by the
//! same publish and yank transactions (as its `replica:NAME` user), so its
//! reads are a hosted registry's reads ([`Hosted`]) and its own feed, log,
//! webhooks and every node's cache follow as for any change. Writes from
//! users are refused, naming the primary. [`follow`] copies: the feed
//! after the sequence it has applied, then each changed crate's index file
//! from the primary, every missing version's `.crate` checked against the
//! line's checksum before it is stored (and, with `primary_log_keys`,
//! against the primary's signed transparency log, [`log`]), and yanks as
//! the lines say.

mod follow;
mod log;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

pub use follow::ReplicaStep;
pub(crate) use follow::FEED_WAIT_SECS;

use super::hosted::Hosted;
use super::settings::ReplicaSettings;
use crate::error::ServiceError;

/// A replica's state on this node.
pub(crate) struct Replica {
    pub(crate) hosted: Hosted,
    pub(crate) settings: ReplicaSettings,
    client: reqwest::Client,
    /// When this node last knew the replica held all its primary had
    /// (Unix seconds; 0: never).
    caught_up_at: AtomicI64,
    /// The time of the oldest change seen and not yet applied (0: none).
    pending_since: AtomicI64,
    /// The last exchange with the primary succeeded.
    healthy: AtomicBool,
    /// The newest checkpoint of the primary's log verified (with
    /// `primary_log_keys`).
    log_trusted: tokio::sync::Mutex<Option<log::Trusted>>,
}

impl Replica {
    pub(crate) fn new(hosted: Hosted, settings: ReplicaSettings) -> Result<Self, ServiceError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            // A long poll waits up to FEED_WAIT_SECS; downloads are bounded
            // by size as they are read.
            .timeout(Duration::from_secs(FEED_WAIT_SECS + 30))
            // The primary's redirects (its downloads from an object store)
            // are followed; a redirect to another host drops the token.
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION"), " (replica)"))
            .build()
            .map_err(|e| {
                ServiceError::Internal(format!("cannot build the primary's client: {e}"))
            })?;
        Ok(Self {
            hosted,
            settings,
            client,
            caught_up_at: AtomicI64::new(0),
            pending_since: AtomicI64::new(0),
            healthy: AtomicBool::new(false),
            log_trusted: tokio::sync::Mutex::new(None),
        })
    }

    /// Seconds this replica is behind its primary at `now`, as this node
    /// knows: 0 when the last exchange found nothing left to copy; the age
    /// of the oldest change not yet applied while catching up; since the
    /// last time it was caught up while the primary cannot be reached
    /// (`None`: never caught up on this node).
    pub(crate) fn lag_secs(&self, now: i64) -> Option<i64> {
        let pending = self.pending_since.load(Ordering::Acquire);
        let caught_up = self.caught_up_at.load(Ordering::Acquire);
        if self.healthy.load(Ordering::Acquire) {
            if pending > 0 {
                return Some((now - pending).max(0));
            }
            if caught_up > 0 {
                return Some(0);
            }
        }
        (caught_up > 0).then(|| (now - caught_up).max(0))
    }

    /// The message a refused write carries.
    pub(crate) fn read_only(&self, registry: &str) -> ServiceError {
        ServiceError::BadRequest(format!(
            "registry `{registry}` is a replica of {}: it is read-only here; publish, yank \
             and owner changes go to the primary",
            berth_store::redact(self.settings.primary.as_str())
        ))
    }
}
