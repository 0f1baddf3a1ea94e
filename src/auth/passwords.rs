//! Password rules and Argon2id hashing. Hashing is slow on purpose, so it runs on the blocking pool,
//! never on an actix worker, and never more at once than `auth.hashing` allows: each hash holds
//! ~19 MiB, and a registration flood once took the process from 49 MB to 1 GB.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::Argon2;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use super::usernames::Username;
use super::AuthError;

pub const MIN_LEN: usize = 10;
/// Bounds the work a request can cause and catches pasted garbage.
pub const MAX_LEN: usize = 128;
const MIN_DISTINCT: usize = 4;
/// zxcvbn's "safely unguessable" (more than 10^8 guesses): refuses common passwords, keyboard
/// walks, dictionary words with predictable changes and the username in disguise (NIST SP
/// 800-63B §5.1.1.2 asks to check new passwords against such lists).
const MIN_SCORE: zxcvbn::Score = zxcvbn::Score::Three;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least {MIN_LEN} characters")]
    TooShort,
    #[error("password must be at most {MAX_LEN} characters")]
    TooLong,
    #[error("password must use at least {MIN_DISTINCT} different characters")]
    TooSimple,
    #[error("password must not be the username")]
    MatchesUsername,
    #[error("password is too easy to guess{0}; use a longer phrase of unrelated words")]
    TooWeak(String),
}

impl PasswordError {
    pub fn code(&self) -> &'static str {
        match self {
            PasswordError::TooShort => "password_too_short",
            PasswordError::TooLong => "password_too_long",
            PasswordError::TooSimple => "password_too_simple",
            PasswordError::MatchesUsername => "password_matches_username",
            PasswordError::TooWeak(_) => "password_too_weak",
        }
    }
}

/// The rules a new password must meet (checked at registration only: logins just verify).
pub fn check_new_password(password: &str, username: &Username) -> Result<(), PasswordError> {
    let len = password.chars().count();
    if password.trim().chars().count() < MIN_LEN {
        return Err(PasswordError::TooShort);
    }
    if len > MAX_LEN {
        return Err(PasswordError::TooLong);
    }
    let mut distinct: Vec<char> = password.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < MIN_DISTINCT {
        return Err(PasswordError::TooSimple);
    }
    if password.trim().to_lowercase() == username.as_str() {
        return Err(PasswordError::MatchesUsername);
    }
    let estimate = zxcvbn::zxcvbn(password, &[username.as_str()]);
    if estimate.score() < MIN_SCORE {
        let why = estimate
            .feedback()
            .and_then(|f| f.warning())
            .map(|w| format!(" ({})", w.to_string().trim_end_matches('.').to_lowercase()))
            .unwrap_or_default();
        return Err(PasswordError::TooWeak(why));
    }
    Ok(())
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes), plus a hash of a random password that
/// unknown usernames are verified against, so a login costs the same whether the account exists.
pub struct PasswordHasher {
    dummy_hash: String,
    /// One permit per hash that may run at once.
    running: Semaphore,
    /// Requests running or waiting; past `capacity` they are turned away (`Busy`) instead of
    /// queueing without bound.
    admitted: AtomicUsize,
    capacity: usize,
}

/// Returns an admission slot when dropped, however the request ends.
struct Admitted<'a>(&'a AtomicUsize);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn hash_now(password: &[u8]) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Internal(format!("argon2 hashing failed: {e}")))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, AuthError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AuthError::Internal(format!("password task failed: {e}")))
}

impl PasswordHasher {
    /// At most `concurrency` hashes at once and `queue` requests waiting for one.
    pub async fn new(concurrency: usize, queue: usize) -> Result<Self, AuthError> {
        let dummy: [u8; 32] = rand::random();
        let dummy_hash = blocking(move || hash_now(&dummy)).await??;
        let concurrency = concurrency.max(1);
        Ok(PasswordHasher {
            dummy_hash,
            running: Semaphore::new(concurrency),
            admitted: AtomicUsize::new(0),
            capacity: concurrency + queue,
        })
    }

    /// Runs `f` on the blocking pool once a permit is free, or refuses at once when the queue
    /// is full.
    async fn bounded<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(AuthError::Busy);
        }
        let _slot = Admitted(&self.admitted);
        let _permit = self
            .running
            .acquire()
            .await
            .map_err(|_| AuthError::Internal("password semaphore closed".into()))?;
        blocking(f).await
    }

    pub async fn hash(&self, password: SecretString) -> Result<String, AuthError> {
        self.bounded(move || hash_now(password.expose_secret().as_bytes()))
            .await?
    }

    /// Verifies `password` against `hash`, or against the dummy hash when there is no account
    /// (and then answers `false`).
    pub async fn verify(&self, password: SecretString, hash: Option<String>) -> Result<bool, AuthError> {
        let exists = hash.is_some();
        let phc = hash.unwrap_or_else(|| self.dummy_hash.clone());
        let matched = self
            .bounded(move || {
                let parsed = PasswordHash::new(&phc)
                    .map_err(|e| AuthError::Internal(format!("stored password hash unreadable: {e}")))?;
                Ok::<_, AuthError>(
                    Argon2::default()
                        .verify_password(password.expose_secret().as_bytes(), &parsed)
                        .is_ok(),
                )
            })
            .await??;
        Ok(exists && matched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Username {
        Username::parse("alice").unwrap()
    }

    #[test]
    fn length_rules() {
        assert_eq!(
            check_new_password("short1!", &alice()),
            Err(PasswordError::TooShort)
        );
        assert_eq!(
            check_new_password("   abcd    ", &alice()),
            Err(PasswordError::TooShort)
        );
        assert!(check_new_password("correct horse", &alice()).is_ok());
        assert_eq!(
            check_new_password(&"ab3d".repeat(33), &alice()),
            Err(PasswordError::TooLong)
        );
        // Characters, not bytes: 10 multi-byte characters are enough.
        assert!(check_new_password("пароль-длинный", &alice()).is_ok());
    }

    #[test]
    fn simplicity_and_username_rules() {
        assert_eq!(
            check_new_password("aaaaaaaaaaaa", &alice()),
            Err(PasswordError::TooSimple)
        );
        let long_name = Username::parse("alice-in-wonderland").unwrap();
        assert_eq!(
            check_new_password("Alice-In-Wonderland", &long_name),
            Err(PasswordError::MatchesUsername)
        );
    }

    #[test]
    fn common_and_guessable_passwords_are_refused() {
        for weak in [
            "password123",
            "qwertyuiop",
            "1234567890",
            "iloveyou12",
            "alice12345",
        ] {
            let err = check_new_password(weak, &alice()).unwrap_err();
            assert_eq!(err.code(), "password_too_weak", "{weak}");
        }
        assert!(check_new_password("correct horse battery", &alice()).is_ok());
        assert!(check_new_password("violet tram cobalt 77", &alice()).is_ok());
    }

    #[tokio::test]
    async fn hashing_beyond_the_queue_is_refused_not_queued() {
        let hasher = std::sync::Arc::new(PasswordHasher::new(1, 1).await.unwrap());
        let running: Vec<_> = (0..2)
            .map(|_| {
                let h = hasher.clone();
                tokio::spawn(async move { h.hash(SecretString::from("correct horse")).await })
            })
            .collect();
        tokio::task::yield_now().await;
        while hasher.admitted.load(Ordering::Acquire) < 2 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            hasher.hash(SecretString::from("one too many")).await,
            Err(AuthError::Busy)
        ));
        for task in running {
            assert!(task.await.unwrap().is_ok());
        }
        assert_eq!(hasher.admitted.load(Ordering::Acquire), 0, "slots returned");
        assert!(hasher.hash(SecretString::from("room again")).await.is_ok());
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let hasher = PasswordHasher::new(2, 2).await.unwrap();
        let hash = hasher.hash(SecretString::from("correct horse")).await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(hasher
            .verify(SecretString::from("correct horse"), Some(hash.clone()))
            .await
            .unwrap());
        assert!(!hasher
            .verify(SecretString::from("wrong horse"), Some(hash))
            .await
            .unwrap());
        assert!(!hasher.verify(SecretString::from("anything"), None).await.unwrap());
    }
}
