//! The clock every decision that depends on time reads (token and session
//! expiry, throttles and budgets, proxy index TTLs and revalidation): the
//! system's, or a test's that stands still until the test moves it.
//!
//! [`crate::Berth`] holds one, set at construction; tests inject a
//! [`Clock::test`] clock and advance it instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where time comes from.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The system's clocks (wall time for Unix seconds, the monotonic one
    /// for in-memory freshness).
    #[default]
    System,
    /// A clock that stands still until advanced (tests).
    Test(Arc<TestClock>),
}

/// A standing clock: a fixed Unix time and a fixed instant, moved together
/// by [`Clock::advance`].
#[derive(Debug)]
pub struct TestClock {
    unix_at_start: i64,
    instant_at_start: Instant,
    /// Milliseconds moved since the start.
    moved_ms: AtomicI64,
}

impl Clock {
    /// A test clock standing at Unix time `unix`.
    pub fn test(unix: i64) -> Self {
        Self::Test(Arc::new(TestClock {
            unix_at_start: unix,
            instant_at_start: Instant::now(),
            moved_ms: AtomicI64::new(0),
        }))
    }

    /// The current time as Unix seconds.
    pub fn now_unix(&self) -> i64 {
        match self {
            Self::System => berth_store::now_unix(),
            Self::Test(t) => t.unix_at_start + t.moved_ms.load(Ordering::SeqCst).div_euclid(1000),
        }
    }

    /// The current monotonic instant (for in-memory freshness).
    pub fn instant(&self) -> Instant {
        match self {
            Self::System => Instant::now(),
            Self::Test(t) => {
                t.instant_at_start
                    + Duration::from_millis(t.moved_ms.load(Ordering::SeqCst).max(0) as u64)
            }
        }
    }

    /// Moves a test clock forward by `by`; the system clock cannot be moved.
    ///
    /// # Panics
    /// On the system clock: a test that means to move time must inject a
    /// test clock.
    pub fn advance(&self, by: Duration) {
        match self {
            Self::System => panic!("the system clock cannot be advanced"),
            Self::Test(t) => {
                t.moved_ms
                    .fetch_add(by.as_millis() as i64, Ordering::SeqCst);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_clock_stands_until_advanced() {
        let c = Clock::test(1_800_000_000);
        let i = c.instant();
        assert_eq!(c.now_unix(), 1_800_000_000);
        assert_eq!(c.instant(), i);
        c.advance(Duration::from_millis(1500));
        assert_eq!(c.now_unix(), 1_800_000_001);
        assert_eq!(c.instant() - i, Duration::from_millis(1500));
        // Clones share the time.
        c.clone().advance(Duration::from_secs(60));
        assert_eq!(c.now_unix(), 1_800_000_061);
    }

    #[test]
    fn the_system_clock_is_the_stores() {
        let now = berth_store::now_unix();
        assert!((Clock::System.now_unix() - now).abs() <= 1);
    }
}
