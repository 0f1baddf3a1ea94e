//! A bounded memo of our access tokens already verified: an app sends one token with many
//! requests, and checking its signature and claims again each time was a sixth of a credential's
//! CPU.
//!
//! - Only tokens that verified in full are kept (errors and other issuers' tokens never are), keyed
//!   by the SHA-256 of the whole token: one differing in any byte is another key, so it is verified
//!   afresh. A digest rather than the token: a third of the memory (keyed by the token itself, the
//!   bench's 20,000 tokens held ~15 MB), and no bearer token kept. On the CPU's SHA extensions it is
//!   a fraction of a microsecond; valgrind, which runs SHA-256 in software, counts ~10,000
//!   instructions for it.
//! - A hit still has its expiry checked against the clock (the caller does), and the disabled-account
//!   check runs after it on every request.
//! - The keys and rules a token was checked with live as long as the memo (both belong to one
//!   `AccessTokens`, built once at start-up): a rotation restarts the process and empties it.
//! - Memory is bounded: two generations of at most `generation` entries each (a digest and the
//!   subject, ~110 bytes an entry with the map's share); when the young one is
//!   full it becomes the old one and the previous old one is dropped, and a hit in the old one moves
//!   to the young one, so tokens in use stay. A flood of distinct valid tokens (each needs a login)
//!   only pushes others out, which then cost a full verification again.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

pub(super) type Key = [u8; 32];

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
    young: HashMap<Key, Verified>,
    old: HashMap<Key, Verified>,
}

impl VerifiedTokens {
    pub fn new(generation: usize) -> Self {
        VerifiedTokens {
            generation: generation.max(1),
            generations: Mutex::default(),
        }
    }

    pub fn key(token: &str) -> Key {
        Sha256::digest(token.as_bytes()).into()
    }

    pub fn get(&self, key: &Key) -> Option<Verified> {
        let mut g = self.lock();
        if let Some(hit) = g.young.get(key) {
            return Some(hit.clone());
        }
        let hit = g.old.remove(key)?;
        self.insert_locked(&mut g, *key, hit.clone());
        Some(hit)
    }

    pub fn insert(&self, key: Key, verified: Verified) {
        let mut g = self.lock();
        self.insert_locked(&mut g, key, verified);
    }

    fn insert_locked(&self, g: &mut Generations, key: Key, verified: Verified) {
        if g.young.len() >= self.generation {
            g.old = std::mem::take(&mut g.young);
        }
        g.young.insert(key, verified);
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
        let key = VerifiedTokens::key;
        memo.insert(key("in use"), verified(0));
        for i in 1..100 {
            memo.insert(key(&format!("token {i}")), verified(i));
            assert!(memo.len() <= 8, "{} entries", memo.len());
            // Read on every request, it survives however many others come and go.
            assert_eq!(memo.get(&key("in use")), Some(verified(0)), "after {i}");
        }
        // One left unused is gone after two generations.
        assert_eq!(memo.get(&key("token 1")), None);
        assert_eq!(memo.get(&key("token 99")), Some(verified(99)));
    }

    #[test]
    fn only_the_same_token_is_a_hit() {
        let memo = VerifiedTokens::new(4);
        let key = VerifiedTokens::key;
        memo.insert(key("aaa.bbb.ccc"), verified(1));
        assert_eq!(memo.get(&key("aaa.bbb.ccd")), None);
        assert_eq!(memo.get(&key("aaa.bbb.cc")), None);
        assert_eq!(memo.get(&key("aaa.bbb.ccc ")), None);
        assert_eq!(memo.get(&key("aaa.bbb.ccc")), Some(verified(1)));
    }
}
