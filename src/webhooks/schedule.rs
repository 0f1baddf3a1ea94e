//! When to try a delivery again: the Standard Webhooks schedule (at once, then 5 s, 5 min,
//! 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h after the previous attempt; the last ~3 days after
//! the first), each delay with ±20 % jitter so that a recovering receiver is not hit by every
//! retry at once. The schedule is a setting (`webhooks.retry_schedule_ms`).

use std::time::Duration;

/// The delay before attempt `attempts + 1` after `attempts` failed ones; `None` when the
/// schedule is exhausted. `jitter` is in [0, 1) (0.5: no change).
pub fn next_delay(schedule_ms: &[u64], attempts: usize, jitter: f64) -> Option<Duration> {
    let base = *schedule_ms.get(attempts)?;
    let factor = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
    Some(Duration::from_millis((base as f64 * factor) as u64))
}

/// Honours a receiver's `Retry-After` (seconds) when it asks for more than the schedule, within a day.
pub fn with_retry_after(delay: Duration, retry_after_secs: Option<u64>) -> Duration {
    match retry_after_secs {
        Some(secs) => delay.max(Duration::from_secs(secs.min(86_400))),
        None => delay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::DEFAULT_RETRY_SCHEDULE_MS;

    #[test]
    fn the_default_schedule_spans_about_three_days() {
        let total: u64 = DEFAULT_RETRY_SCHEDULE_MS.iter().sum();
        assert_eq!(total, 272_105_000); // 75 h 35 min 5 s
        assert_eq!(DEFAULT_RETRY_SCHEDULE_MS.len(), 10);
    }

    #[test]
    fn delays_follow_the_schedule_with_bounded_jitter() {
        let s = [0, 1000, 5000];
        assert_eq!(next_delay(&s, 0, 0.9), Some(Duration::ZERO));
        assert_eq!(next_delay(&s, 1, 0.5), Some(Duration::from_millis(1000)));
        assert_eq!(next_delay(&s, 2, 0.0), Some(Duration::from_millis(4000)));
        assert_eq!(next_delay(&s, 2, 1.0), Some(Duration::from_millis(6000)));
        assert_eq!(next_delay(&s, 3, 0.5), None);
    }

    #[test]
    fn retry_after_lengthens_but_is_capped() {
        let d = Duration::from_secs(5);
        assert_eq!(with_retry_after(d, None), d);
        assert_eq!(with_retry_after(d, Some(1)), d);
        assert_eq!(with_retry_after(d, Some(60)), Duration::from_secs(60));
        assert_eq!(with_retry_after(d, Some(10_000_000)), Duration::from_secs(86_400));
    }
}
