//! Exponential backoff after a number of free failures: the state is the failure count and the
//! time of the last one. Meant for one client address guessing at one username: a typo or two
//! costs nothing, a guesser waits 1 s, 2 s, 4 s, ... between attempts, and nobody else is slowed.

use std::time::Duration;

use super::Rule;
use crate::store::LimitState;

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    free: i64,
    /// µs.
    max_wait: i64,
    /// µs without a failure after which the count starts again.
    forget_after: i64,
}

const FIRST_WAIT_US: i64 = 1_000_000;

impl Backoff {
    pub fn new(free_failures: u32, max_wait: Duration, forget_after: Duration) -> Backoff {
        Backoff {
            free: i64::from(free_failures),
            max_wait: max_wait.as_micros() as i64,
            forget_after: forget_after.as_micros() as i64,
        }
    }

    /// The wait after `failures` failures.
    fn wait_after(&self, failures: i64) -> i64 {
        if failures < self.free {
            return 0;
        }
        let doublings = (failures - self.free).min(40) as u32;
        FIRST_WAIT_US.saturating_mul(1 << doublings).min(self.max_wait)
    }
}

impl Rule for Backoff {
    /// Counts the attempt as a failure up front (a burst of parallel guesses cannot all pass the
    /// check before any is counted); a success then forgets the key.
    fn take(&self, state: Option<LimitState>, now: i64) -> Result<Option<LimitState>, Duration> {
        let state = state.filter(|s| now - s.at < self.forget_after);
        let (failures, last) = state.map_or((0, now), |s| (s.count, s.at));
        let next = last + self.wait_after(failures);
        if now < next {
            return Err(Duration::from_micros((next - now) as u64));
        }
        Ok(Some(LimitState {
            count: failures + 1,
            at: now,
        }))
    }

    fn give_back(&self, state: Option<LimitState>) -> Option<LimitState> {
        state
            .map(|s| LimitState {
                count: s.count - 1,
                ..s
            })
            .filter(|s| s.count > 0)
    }

    fn ttl(&self) -> Duration {
        Duration::from_micros(self.forget_after.max(self.max_wait) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    #[test]
    fn free_failures_then_doubling_waits_up_to_the_cap() {
        let b = Backoff::new(3, Duration::from_secs(5), Duration::from_secs(3600));
        let mut state = None;
        for _ in 0..3 {
            state = b.take(state, 0).unwrap();
        }
        assert_eq!(b.take(state, 0).unwrap_err(), Duration::from_secs(1));
        state = b.take(state, S).unwrap();
        assert_eq!(b.take(state, S).unwrap_err(), Duration::from_secs(2));
        state = b.take(state, 3 * S).unwrap();
        assert_eq!(b.take(state, 3 * S).unwrap_err(), Duration::from_secs(4));
        state = b.take(state, 7 * S).unwrap();
        assert_eq!(
            b.take(state, 7 * S).unwrap_err(),
            Duration::from_secs(5),
            "capped"
        );
    }

    #[test]
    fn quiet_time_forgets_and_give_back_undoes() {
        let b = Backoff::new(1, Duration::from_secs(60), Duration::from_secs(10));
        let state = b.take(None, 0).unwrap();
        assert!(b.take(state, 0).is_err());
        assert!(b.take(state, 10 * S).is_ok(), "forgotten after 10 s");
        assert!(b.take(b.give_back(state), 0).is_ok());
        assert_eq!(b.give_back(state), None);
    }
}
