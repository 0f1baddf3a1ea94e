//! Failed-login limits per account and per client address, in memory (per process).
//!
//! A sliding window of failure instants per key; a key past its limit is refused until its oldest
//! counted failure leaves the window. Memory is bounded: each key keeps at most `limit` instants,
//! and expired keys are swept once the map grows.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::settings::LoginLimitSettings;

const SWEEP_ABOVE: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Address(String),
}

pub struct LoginLimiter {
    per_account: usize,
    per_address: usize,
    window: Duration,
    trust_forwarded_for: bool,
    failures: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

impl LoginLimiter {
    pub fn new(settings: &LoginLimitSettings) -> Self {
        LoginLimiter {
            per_account: settings.max_failures_per_account as usize,
            per_address: settings.max_failures_per_address as usize,
            window: Duration::from_secs(settings.window_secs),
            trust_forwarded_for: settings.trust_forwarded_for,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The address to count failures under.
    pub fn client_address(&self, req: &actix_web::HttpRequest) -> String {
        if self.trust_forwarded_for {
            if let Some(addr) = req.connection_info().realip_remote_addr() {
                return addr.to_string();
            }
        }
        req.peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|| "unknown".into())
    }

    /// `false` when either the account or the address has reached its limit.
    pub fn allows(&self, account: &str, address: &str) -> bool {
        self.allows_at(account, address, Instant::now())
    }

    pub fn record_failure(&self, account: &str, address: &str) {
        self.record_failure_at(account, address, Instant::now())
    }

    /// A successful login forgets the account's failures (not the address's: one good password
    /// must not reset a spray across many accounts).
    pub fn clear_account(&self, account: &str) {
        self.lock().remove(&Key::Account(account.to_string()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, VecDeque<Instant>>> {
        // A panic while holding the lock cannot leave the counts inconsistent in a harmful way.
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self, map: &mut HashMap<Key, VecDeque<Instant>>, key: &Key, now: Instant) -> usize {
        match map.get_mut(key) {
            Some(times) => {
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    times.pop_front();
                }
                times.len()
            }
            None => 0,
        }
    }

    fn allows_at(&self, account: &str, address: &str, now: Instant) -> bool {
        let mut map = self.lock();
        let account_failures = self.count(&mut map, &Key::Account(account.to_string()), now);
        let address_failures = self.count(&mut map, &Key::Address(address.to_string()), now);
        account_failures < self.per_account && address_failures < self.per_address
    }

    fn record_failure_at(&self, account: &str, address: &str, now: Instant) {
        let mut map = self.lock();
        if map.len() > SWEEP_ABOVE {
            let window = self.window;
            map.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        for (key, limit) in [
            (Key::Account(account.to_string()), self.per_account),
            (Key::Address(address.to_string()), self.per_address),
        ] {
            let times = map.entry(key).or_default();
            times.push_back(now);
            while times.len() > limit {
                times.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_account: u32, per_address: u32) -> LoginLimiter {
        LoginLimiter::new(&LoginLimitSettings {
            max_failures_per_account: per_account,
            max_failures_per_address: per_address,
            window_secs: 60,
            trust_forwarded_for: false,
        })
    }

    #[test]
    fn account_limit_then_window_expiry() {
        let l = limiter(3, 100);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.allows_at("alice", "1.2.3.4", t0));
            l.record_failure_at("alice", "1.2.3.4", t0);
        }
        assert!(
            !l.allows_at("alice", "5.6.7.8", t0),
            "per account, whatever the address"
        );
        assert!(l.allows_at("bob", "1.2.3.4", t0));
        assert!(l.allows_at("alice", "1.2.3.4", t0 + Duration::from_secs(60)));
    }

    #[test]
    fn address_limit_spans_accounts() {
        let l = limiter(100, 2);
        let t0 = Instant::now();
        l.record_failure_at("a", "9.9.9.9", t0);
        l.record_failure_at("b", "9.9.9.9", t0);
        assert!(!l.allows_at("c", "9.9.9.9", t0));
        assert!(l.allows_at("c", "8.8.8.8", t0));
    }

    #[test]
    fn success_clears_only_the_account() {
        let l = limiter(1, 2);
        let t0 = Instant::now();
        l.record_failure_at("a", "9.9.9.9", t0);
        l.clear_account("a");
        assert!(l.allows_at("a", "9.9.9.9", t0));
        l.record_failure_at("b", "9.9.9.9", t0);
        assert!(!l.allows_at("z", "9.9.9.9", t0));
    }
}
