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
    /// The system's wall clock moved by a number of seconds (end-to-end
    /// tests of a debug build: [`Clock::for_process`]); the monotonic clock
    /// is the system's.
    Offset(i64),
}

/// The variable a debug build of the server reads its clock offset from.
pub const TEST_CLOCK_OFFSET_VAR: &str = "BERTH_TEST_CLOCK_OFFSET_SECS";

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

    /// The system clock; in a debug build (what the end-to-end tests run)
    /// moved by [`TEST_CLOCK_OFFSET_VAR`] seconds when it is set, so that a
    /// test can restart a server later in time instead of sleeping. Release
    /// builds never read the variable.
    pub fn for_process() -> Self {
        if cfg!(debug_assertions) {
            if let Some(secs) = std::env::var(TEST_CLOCK_OFFSET_VAR)
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
            {
                return Self::Offset(secs);
            }
        }
        Self::System
    }

    /// The current time as Unix seconds.
    pub fn now_unix(&self) -> i64 {
        match self {
            Self::System => berth_store::now_unix(),
            Self::Offset(secs) => berth_store::now_unix().saturating_add(*secs),
            Self::Test(t) => t.unix_at_start + t.moved_ms.load(Ordering::SeqCst).div_euclid(1000),
        }
    }

    /// The current monotonic instant (for in-memory freshness).
    pub fn instant(&self) -> Instant {
        match self {
            Self::System | Self::Offset(_) => Instant::now(),
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
            Self::System | Self::Offset(_) => panic!("the system clock cannot be advanced"),
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
