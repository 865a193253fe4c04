//! Throttling repeated failures (wrong passwords, wrong builder keys) with windowed counts.
//!
//! Time is cut into windows of a fixed length; the store keeps, per key, the failures of the
//! current window and of the one before it. A key may try again while those two counts add up
//! to less than the limit. Every span as long as a window lies within the current and the
//! previous window, so no such span ever holds more failures than the limit.

use std::time::Duration;

use time::OffsetDateTime;

/// Failures of one key in the current window and in the one before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures {
    /// Failures in the window before the current one.
    pub previous: u32,
    /// Failures in the current window.
    pub current: u32,
}

impl Failures {
    /// Both windows together.
    pub fn total(self) -> u32 {
        self.previous.saturating_add(self.current)
    }
}

/// How many failures a key may have, over how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// Failures allowed within one window.
    pub failures: u32,
    /// Length of a window.
    pub window: Duration,
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            failures: 10,
            window: Duration::from_secs(300),
        }
    }
}

impl Throttle {
    fn window_secs(&self) -> i64 {
        i64::try_from(self.window.as_secs())
            .unwrap_or(i64::MAX)
            .max(1)
    }

    /// The number of the window `at` falls in.
    pub fn window_of(&self, at: OffsetDateTime) -> i64 {
        at.unix_timestamp().div_euclid(self.window_secs())
    }

    /// How long a key with `counts` (read at `at`) must wait before it may try again;
    /// `None` when it may try now. Counts that include the attempt being made are refused
    /// once they go past the limit: use [`Throttle::over`] for those.
    pub fn wait(&self, counts: Failures, at: OffsetDateTime) -> Option<Duration> {
        (counts.total() >= self.failures).then(|| self.until_free(counts, at))
    }

    /// Whether counts that include the attempt being made went past the limit, and if so how
    /// long to wait.
    pub fn over(&self, counts: Failures, at: OffsetDateTime) -> Option<Duration> {
        (counts.total() > self.failures).then(|| self.until_free(counts, at))
    }

    /// Time until the counts fall below the limit: the current window's failures alone keep
    /// the key throttled through the next window too.
    fn until_free(&self, counts: Failures, at: OffsetDateTime) -> Duration {
        let secs = self.window_secs();
        let windows_left = if counts.current >= self.failures {
            2
        } else {
            1
        };
        let free_at = (self.window_of(at) + windows_left).saturating_mul(secs);
        let now = at.unix_timestamp();
        // Whole seconds from the start of the current second: rounded up, as Retry-After counts.
        let whole = u64::try_from(free_at.saturating_sub(now)).unwrap_or(0);
        Duration::from_secs(whole.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).expect("valid time")
    }

    fn counts(previous: u32, current: u32) -> Failures {
        Failures { previous, current }
    }

    #[test]
    fn windows_are_numbered_from_the_epoch() {
        let t = Throttle::default();
        assert_eq!(t.window_of(at(0)), 0);
        assert_eq!(t.window_of(at(299)), 0);
        assert_eq!(t.window_of(at(300)), 1);
        assert_eq!(t.window_of(at(-1)), -1);
    }

    #[test]
    fn below_the_limit_a_key_may_try() {
        let t = Throttle::default();
        assert_eq!(t.wait(counts(4, 5), at(310)), None);
        assert_eq!(t.over(counts(4, 6), at(310)), None);
    }

    #[test]
    fn at_the_limit_a_key_waits_for_the_next_window() {
        let t = Throttle::default();
        // 10 failures spread over both windows: free when the older ones leave, at 600.
        assert_eq!(
            t.wait(counts(4, 6), at(310)),
            Some(Duration::from_secs(290))
        );
        assert_eq!(t.over(counts(4, 7), at(599)), Some(Duration::from_secs(1)));
    }

    #[test]
    fn a_full_current_window_throttles_through_the_next_one() {
        let t = Throttle::default();
        assert_eq!(
            t.wait(counts(0, 10), at(310)),
            Some(Duration::from_secs(590))
        );
    }
}
