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
                // A header value: keep the key small whatever the client sent.
                return addr.chars().take(64).collect();
            }
        }
        req.peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|| "unknown".into())
    }

    /// Starts a login attempt: `false` when the account or the address has reached its limit.
    /// Otherwise the attempt is counted as a failure right away (check and count under one lock), so
    /// a burst of parallel guesses cannot all pass the check before any of them is counted;
    /// [`succeeded`](Self::succeeded) takes it back.
    pub fn begin_attempt(&self, account: &str, address: &str) -> bool {
        self.begin_attempt_at(account, address, Instant::now())
    }

    /// A successful login forgets the account's failures and takes back the attempt counted for
    /// the address (but not the address's earlier failures: one good password must not reset a
    /// password spray across many accounts).
    pub fn succeeded(&self, account: &str, address: &str) {
        let mut map = self.lock();
        map.remove(&Key::Account(account.to_string()));
        if let Some(times) = map.get_mut(&Key::Address(address.to_string())) {
            times.pop_back();
        }
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

    fn begin_attempt_at(&self, account: &str, address: &str, now: Instant) -> bool {
        let mut map = self.lock();
        let account_key = Key::Account(account.to_string());
        let address_key = Key::Address(address.to_string());
        if self.count(&mut map, &account_key, now) >= self.per_account
            || self.count(&mut map, &address_key, now) >= self.per_address
        {
            return false;
        }
        if map.len() > SWEEP_ABOVE {
            let window = self.window;
            map.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        for (key, limit) in [(account_key, self.per_account), (address_key, self.per_address)] {
            let times = map.entry(key).or_default();
            times.push_back(now);
            while times.len() > limit {
                times.pop_front();
            }
        }
        true
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
            assert!(l.begin_attempt_at("alice", "1.2.3.4", t0));
        }
        assert!(
            !l.begin_attempt_at("alice", "5.6.7.8", t0),
            "per account, whatever the address"
        );
        assert!(l.begin_attempt_at("bob", "1.2.3.4", t0));
        assert!(l.begin_attempt_at("alice", "1.2.3.4", t0 + Duration::from_secs(60)));
    }

    #[test]
    fn address_limit_spans_accounts() {
        let l = limiter(100, 2);
        let t0 = Instant::now();
        assert!(l.begin_attempt_at("a", "9.9.9.9", t0));
        assert!(l.begin_attempt_at("b", "9.9.9.9", t0));
        assert!(!l.begin_attempt_at("c", "9.9.9.9", t0));
        assert!(l.begin_attempt_at("c", "8.8.8.8", t0));
    }

    #[test]
    fn success_clears_the_account_and_its_own_attempt_only() {
        let l = limiter(2, 3);
        let t0 = Instant::now();
        assert!(l.begin_attempt_at("a", "9.9.9.9", t0));
        assert!(l.begin_attempt_at("a", "9.9.9.9", t0));
        l.succeeded("a", "9.9.9.9");
        // The account is clear; the address still holds the first (failed) attempt.
        assert!(l.begin_attempt_at("a", "9.9.9.9", t0));
        assert!(l.begin_attempt_at("b", "9.9.9.9", t0));
        assert!(!l.begin_attempt_at("c", "9.9.9.9", t0));
    }

    #[test]
    fn memory_per_key_is_bounded() {
        let l = limiter(2, 2);
        let t0 = Instant::now();
        for i in 0..10 {
            l.begin_attempt_at("a", "9.9.9.9", t0 + Duration::from_secs(i * 60));
        }
        assert!(l.lock().values().all(|times| times.len() <= 2));
    }
}
