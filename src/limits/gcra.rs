//! GCRA (the generic cell rate algorithm): a token bucket of `burst` requests refilled at one
//! request per `interval`, kept as a single instant, the "theoretical arrival time" (TAT).

use std::time::Duration;

use super::Rule;
use crate::store::LimitState;

#[derive(Debug, Clone, Copy)]
pub struct Gcra {
    /// µs between two requests at the sustained rate.
    interval: i64,
    burst: i64,
}

impl Gcra {
    /// `limit` requests per `period`, all of them at once if need be; `None` when `limit` is 0
    /// (no limit).
    pub fn per(limit: u32, period: Duration) -> Option<Gcra> {
        Gcra::with_burst(limit, period, limit)
    }

    /// `limit` requests per `period` sustained, `burst` at once; `None` when `limit` is 0.
    pub fn with_burst(limit: u32, period: Duration, burst: u32) -> Option<Gcra> {
        (limit > 0).then(|| Gcra {
            interval: (period.as_micros() as i64 / i64::from(limit)).max(1),
            burst: i64::from(burst.max(1)),
        })
    }
}

impl Rule for Gcra {
    fn take(&self, state: Option<LimitState>, now: i64) -> Result<Option<LimitState>, Duration> {
        let tat = state.map_or(now, |s| s.at.max(now)) + self.interval;
        let allowed_from = tat - self.interval * self.burst;
        if now < allowed_from {
            return Err(Duration::from_micros((allowed_from - now) as u64));
        }
        Ok(Some(LimitState { count: 0, at: tat }))
    }

    fn give_back(&self, state: Option<LimitState>) -> Option<LimitState> {
        state.map(|s| LimitState {
            at: s.at - self.interval,
            ..s
        })
    }

    fn ttl(&self) -> Duration {
        Duration::from_micros((self.interval * self.burst) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    #[test]
    fn burst_then_the_sustained_rate() {
        let g = Gcra::with_burst(60, Duration::from_secs(60), 3).unwrap();
        let mut state = None;
        for _ in 0..3 {
            state = g.take(state, 0).unwrap();
        }
        let wait = g.take(state, 0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        assert!(g.take(state, S).is_ok(), "one more after a second");
        assert!(g.give_back(state).is_some_and(|s| g.take(Some(s), 0).is_ok()));
        assert!(Gcra::per(0, Duration::from_secs(1)).is_none());
    }

    #[test]
    fn a_long_pause_refills_only_up_to_the_burst() {
        let g = Gcra::per(2, Duration::from_secs(10)).unwrap();
        let mut state = g.take(None, 0).unwrap();
        state = g.take(state, 0).unwrap();
        let later = 3600 * S;
        state = g.take(state, later).unwrap();
        state = g.take(state, later).unwrap();
        assert!(g.take(state, later).is_err());
    }
}
