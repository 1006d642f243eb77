//! Fair shares of the server's scarce resources, so that one client or one
//! user cannot starve everyone else: publish slots, memory for upload
//! bodies (in total and per user), concurrent searches and lockfile
//! checks; and how many tokens a user creates an hour (a count over a
//! window, on a clock the caller gives).
//!
//! Each admission of a slot hands out a guard; dropping it gives the share
//! back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};

use crate::accounts::auth::Identity;
use crate::config::LimitsConfig;
use crate::{Berth, ServiceError};

/// Upload memory is counted in KiB so that a budget of many GiB fits the
/// semaphore's `u32` permit counts.
const UNIT: u64 = 1024;

/// How long a search waits for a slot before it is refused with 429.
const SEARCH_WAIT: Duration = Duration::from_millis(250);

/// Lockfile checks (`POST .../check`) running at once on a node: each may
/// make a proxy ask its upstream about many packages.
pub(crate) const MAX_CONCURRENT_CHECKS: usize = 2;

/// How long an upload waits for buffer memory before it is refused.
const UPLOAD_WAIT: Duration = Duration::from_secs(30);

pub(crate) struct Throttle {
    publish_slots: Semaphore,
    upload_budget: Semaphore,
    upload_units: u32,
    uploads_by_user: Mutex<HashMap<i64, Arc<Semaphore>>>,
    max_uploads_per_user: usize,
    search_slots: Semaphore,
    check_slots: Semaphore,
    token_creations: TokenCreations,
}

/// Tokens created per user in the current hour of each (from the user's
/// first creation in it), per node.
pub(crate) struct TokenCreations {
    per_hour: u32,
    by_user: Mutex<HashMap<i64, (i64, u32)>>,
}

/// The window token creations are counted in.
const TOKEN_WINDOW_SECS: i64 = 3_600;

impl TokenCreations {
    pub(crate) fn new(per_hour: u32) -> Self {
        Self {
            per_hour: per_hour.max(1),
            by_user: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one creation by `user` at Unix time `now`; `Err(secs)` until
    /// the user may create another when its hour's tokens are used up.
    pub(crate) fn admit(&self, user: i64, now: i64) -> Result<(), i64> {
        let mut map = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= 4_096 {
            map.retain(|_, (since, _)| now - *since < TOKEN_WINDOW_SECS);
        }
        let (since, n) = map.entry(user).or_insert((now, 0));
        if now - *since >= TOKEN_WINDOW_SECS {
            *since = now;
            *n = 0;
        }
        if *n >= self.per_hour {
            return Err((*since + TOKEN_WINDOW_SECS - now).max(1));
        }
        *n += 1;
        Ok(())
    }
}

impl Throttle {
    pub(crate) fn new(limits: &LimitsConfig, pool: u32) -> Self {
        let units = (limits.upload_buffer_bytes / UNIT).clamp(1, u64::from(u32::MAX >> 4)) as u32;
        Self {
            publish_slots: Semaphore::new(limits.max_concurrent_publishes.max(1)),
            upload_budget: Semaphore::new(units as usize),
            upload_units: units,
            uploads_by_user: Mutex::new(HashMap::new()),
            max_uploads_per_user: limits.max_uploads_per_user.max(1),
            search_slots: Semaphore::new(limits.search_slots(pool)),
            check_slots: Semaphore::new(MAX_CONCURRENT_CHECKS),
            token_creations: TokenCreations::new(limits.token_creations_per_hour),
        }
    }
}

/// One admitted upload: its share of upload memory and one of its user's
/// upload slots, both returned on drop.
pub struct UploadPermit<'a> {
    _memory: SemaphorePermit<'a>,
    _user: UserUpload<'a>,
}

/// One of a user's upload slots.
struct UserUpload<'a> {
    user: i64,
    slot: Option<OwnedSemaphorePermit>,
    by_user: &'a Mutex<HashMap<i64, Arc<Semaphore>>>,
}

impl Drop for UserUpload<'_> {
    fn drop(&mut self) {
        let mut map = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        drop(self.slot.take());
        // The user's last upload: forget the user.
        if let Some(slots) = map.get(&self.user) {
            if Arc::strong_count(slots) == 1 {
                map.remove(&self.user);
            }
        }
    }
}

impl Berth {
    /// Waits for one of the `limits.max_concurrent_publishes` slots. Taken
    /// after the upload is read, so slow clients never hold one.
    pub async fn publish_slot(&self) -> Option<SemaphorePermit<'_>> {
        self.throttle.publish_slots.acquire().await.ok()
    }

    /// Admits an upload of `declared` bytes (its `Content-Length`, or the
    /// largest body allowed): waits for one of the user's
    /// `limits.max_uploads_per_user` slots, then for its share of
    /// `limits.upload_buffer_bytes`; refused with 429 when either takes
    /// longer than 30 s. Waiting holds no memory and no publish slot.
    pub async fn admit_upload(
        &self,
        who: Option<&Identity>,
        declared: u64,
    ) -> Result<UploadPermit<'_>, ServiceError> {
        let t = &self.throttle;
        let user = who.map_or(0, |w| w.user.id);
        let slots = {
            let mut map = t.uploads_by_user.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(user)
                .or_insert_with(|| Arc::new(Semaphore::new(t.max_uploads_per_user)))
                .clone()
        };
        // The guard forgets the user again however this ends.
        let mut counted = UserUpload {
            user,
            slot: None,
            by_user: &t.uploads_by_user,
        };
        let busy = format!(
            "this user has had {} uploads in progress for {} s \
             (limits.max_uploads_per_user); wait for them to finish",
            t.max_uploads_per_user,
            UPLOAD_WAIT.as_secs()
        );
        let slot = within(UPLOAD_WAIT, slots.acquire_owned(), "uploads_per_user", busy).await?;
        counted.slot = Some(slot);
        let units = declared.div_ceil(UNIT).clamp(1, u64::from(t.upload_units)) as u32;
        let memory = within(
            UPLOAD_WAIT,
            t.upload_budget.acquire_many(units),
            "upload_buffer",
            "the server is reading as many uploads as its memory allows \
             (limits.upload_buffer_bytes); try again shortly"
                .into(),
        )
        .await?;
        Ok(UploadPermit {
            _memory: memory,
            _user: counted,
        })
    }

    /// Counts one token created by `user` (the API and the account page):
    /// 429 past `limits.token_creations_per_hour`.
    pub(crate) fn admit_token_creation(
        &self,
        user: &berth_store::User,
    ) -> Result<(), ServiceError> {
        let t = &self.throttle.token_creations;
        t.admit(user.id, self.clock.now_unix()).map_err(|wait| {
            metrics::counter!("berth_refused_total", "reason" => "token_creations").increment(1);
            ServiceError::Busy(format!(
                "user `{}` has created {} tokens within an hour \
                 (limits.token_creations_per_hour); try again in {} minute(s)",
                user.login,
                t.per_hour,
                (wait + 59) / 60
            ))
        })
    }

    /// A slot for one search, or 429 when `limits.max_concurrent_searches`
    /// are running: searches never take the whole database pool.
    pub(crate) async fn search_slot(&self) -> Result<SemaphorePermit<'_>, ServiceError> {
        within(
            SEARCH_WAIT,
            self.throttle.search_slots.acquire(),
            "searches",
            "too many searches are running on this registry; try again in a second".into(),
        )
        .await
    }
}

impl Berth {
    /// How many lockfile checks hold a slot now (tests).
    #[cfg(test)]
    pub(crate) fn checks_running(&self) -> usize {
        MAX_CONCURRENT_CHECKS - self.throttle.check_slots.available_permits()
    }

    /// A slot for one lockfile check, or 429 when
    /// [`MAX_CONCURRENT_CHECKS`] are running.
    pub(crate) async fn check_slot(&self) -> Result<SemaphorePermit<'_>, ServiceError> {
        within(
            SEARCH_WAIT,
            self.throttle.check_slots.acquire(),
            "checks",
            "too many lockfile checks are running on this server; try again in a few seconds"
                .into(),
        )
        .await
    }
}

/// A permit that arrives within `wait`, or 429 (`Busy`) with `message`,
/// counted in `berth_refused_total{reason}`.
async fn within<P>(
    wait: Duration,
    permit: impl std::future::Future<Output = Result<P, tokio::sync::AcquireError>>,
    reason: &'static str,
    message: String,
) -> Result<P, ServiceError> {
    match tokio::time::timeout(wait, permit).await {
        Ok(Ok(p)) => Ok(p),
        _ => {
            metrics::counter!("berth_refused_total", "reason" => reason).increment(1);
            Err(ServiceError::Busy(message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_creations_are_counted_per_user_and_hour() {
        let t = TokenCreations::new(3);
        let now = 1_800_000_000;
        for i in 0..3 {
            assert_eq!(t.admit(1, now + i), Ok(()));
        }
        assert_eq!(t.admit(1, now + 10), Err(TOKEN_WINDOW_SECS - 10));
        // Another user is not touched; the hour ends.
        assert_eq!(t.admit(2, now + 10), Ok(()));
        assert_eq!(t.admit(1, now + TOKEN_WINDOW_SECS - 1), Err(1));
        assert_eq!(t.admit(1, now + TOKEN_WINDOW_SECS), Ok(()));
    }
}
