//! A bounded memo of our access tokens already verified: an app sends one token with many
//! requests, and checking its signature and claims again each time was a sixth of a credential's
//! CPU.
//!
//! - Only tokens that verified in full are kept (errors and other issuers' tokens never are), keyed
//!   by the whole token: one differing in any byte is another key, so it is verified afresh. (Not by
//!   a digest of it: SHA-256 of the token cost as much as a third of the verification it saves.)
//! - A hit still has its expiry checked against the clock (the caller does), and the disabled-account
//!   check runs after it on every request.
//! - The keys and rules a token was checked with live as long as the memo (both belong to one
//!   `AccessTokens`, built once at start-up): a rotation restarts the process and empties it.
//! - Memory is bounded: two generations of at most `generation` entries each (a token and its
//!   subject, ~350 bytes an entry with the map's share); when the young one is
//!   full it becomes the old one and the previous old one is dropped, and a hit in the old one moves
//!   to the young one, so tokens in use stay. A flood of distinct valid tokens (each needs a login)
//!   only pushes others out, which then cost a full verification again.

use std::collections::HashMap;
use std::sync::Mutex;

/// What a verified token says beyond the issuer and audience, which are the verifier's own.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Verified {
    pub sub: Box<str>,
    pub iat: i64,
    pub exp: i64,
}

pub(super) struct VerifiedTokens {
    generation: usize,
    generations: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    young: HashMap<Box<str>, Verified>,
    old: HashMap<Box<str>, Verified>,
}

impl VerifiedTokens {
    pub fn new(generation: usize) -> Self {
        VerifiedTokens {
            generation: generation.max(1),
            generations: Mutex::default(),
        }
    }

    pub fn get(&self, token: &str) -> Option<Verified> {
        let mut g = self.lock();
        if let Some(hit) = g.young.get(token) {
            return Some(hit.clone());
        }
        let (token, hit) = g.old.remove_entry(token)?;
        self.insert_locked(&mut g, token, hit.clone());
        Some(hit)
    }

    pub fn insert(&self, token: &str, verified: Verified) {
        let mut g = self.lock();
        self.insert_locked(&mut g, token.into(), verified);
    }

    fn insert_locked(&self, g: &mut Generations, token: Box<str>, verified: Verified) {
        if g.young.len() >= self.generation {
            g.old = std::mem::take(&mut g.young);
        }
        g.young.insert(token, verified);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // The maps are consistent after every statement: a panic elsewhere leaves nothing half-done.
        self.generations.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let g = self.lock();
        g.young.len() + g.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(i: i64) -> Verified {
        Verified {
            sub: format!("user-{i}").into(),
            iat: i,
            exp: i + 60,
        }
    }

    #[test]
    fn holds_at_most_two_generations_and_keeps_what_is_used() {
        let memo = VerifiedTokens::new(4);
        memo.insert("in use", verified(0));
        for i in 1..100 {
            memo.insert(&format!("token {i}"), verified(i));
            assert!(memo.len() <= 8, "{} entries", memo.len());
            // Read on every request, it survives however many others come and go.
            assert_eq!(memo.get("in use"), Some(verified(0)), "after {i}");
        }
        // One left unused is gone after two generations.
        assert_eq!(memo.get("token 1"), None);
        assert_eq!(memo.get("token 99"), Some(verified(99)));
    }

    #[test]
    fn only_the_same_token_is_a_hit() {
        let memo = VerifiedTokens::new(4);
        memo.insert("aaa.bbb.ccc", verified(1));
        assert_eq!(memo.get("aaa.bbb.ccd"), None);
        assert_eq!(memo.get("aaa.bbb.cc"), None);
        assert_eq!(memo.get("aaa.bbb.ccc "), None);
        assert_eq!(memo.get("aaa.bbb.ccc"), Some(verified(1)));
    }
}
