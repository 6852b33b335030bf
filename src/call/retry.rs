//! When and how long to wait before trying again.
//!
//! Exponential backoff with full jitter (the AWS SDKs' standard mode): the wait before retry
//! `n` is uniform in `[0, min(cap, base · 2ⁿ)]`, which spreads clients that failed together.

use std::time::Duration;

/// First backoff ceiling.
pub(crate) const BASE_DELAY: Duration = Duration::from_millis(500);
/// Largest backoff ceiling.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(20);

/// Retry settings for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Most total time spent waiting between attempts.
    pub budget: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0-based), from a uniformly random `u64`.
    pub(crate) fn backoff(retry: u32, random: u64) -> Duration {
        let ceiling = BASE_DELAY.saturating_mul(1u32.checked_shl(retry.min(16)).unwrap_or(u32::MAX)).min(MAX_DELAY);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        // Scaling (not `%`) keeps the draw uniform and maps u64::MAX to the ceiling itself.
        let scaled = (u128::from(random) * (u128::from(nanos) + 1)) >> 64;
        Duration::from_nanos(u64::try_from(scaled).unwrap_or(nanos))
    }

    /// Whether a retry is allowed after `retries_done` retries and `waited` so far, given the
    /// next wait.
    pub(crate) fn allows(&self, retries_done: u32, waited: Duration, next_wait: Duration) -> bool {
        retries_done < self.max_retries && waited + next_wait <= self.budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_by_an_exponential_ceiling() {
        assert_eq!(RetryPolicy::backoff(0, u64::MAX), BASE_DELAY);
        assert_eq!(RetryPolicy::backoff(1, u64::MAX / 2), BASE_DELAY);
        for retry in 0..10 {
            let ceiling = (BASE_DELAY * 2u32.pow(retry)).min(MAX_DELAY);
            for r in [0, 1, 12345, u64::MAX / 3, u64::MAX] {
                assert!(RetryPolicy::backoff(retry, r) <= ceiling);
            }
        }
        assert_eq!(RetryPolicy::backoff(3, 0), Duration::ZERO);
    }

    #[test]
    fn retries_stop_at_the_count_or_the_budget() {
        let p = RetryPolicy { max_retries: 2, budget: Duration::from_secs(1) };
        assert!(p.allows(0, Duration::ZERO, Duration::from_millis(900)));
        assert!(!p.allows(0, Duration::from_millis(200), Duration::from_millis(900)));
        assert!(!p.allows(2, Duration::ZERO, Duration::ZERO));
    }
}
