//! Password rules and Argon2id hashing. Hashing is slow on purpose, so it runs on the blocking pool,
//! never on an actix worker.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::Argon2;
use secrecy::{ExposeSecret, SecretString};

use super::usernames::Username;
use super::AuthError;

pub const MIN_LEN: usize = 10;
/// Bounds the work a request can cause and catches pasted garbage.
pub const MAX_LEN: usize = 128;
const MIN_DISTINCT: usize = 4;

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
}

impl PasswordError {
    pub fn code(&self) -> &'static str {
        match self {
            PasswordError::TooShort => "password_too_short",
            PasswordError::TooLong => "password_too_long",
            PasswordError::TooSimple => "password_too_simple",
            PasswordError::MatchesUsername => "password_matches_username",
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
    Ok(())
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes), plus a hash of a random password that
/// unknown usernames are verified against, so a login costs the same whether the account exists.
pub struct PasswordHasher {
    dummy_hash: String,
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
    pub async fn new() -> Result<Self, AuthError> {
        let dummy: [u8; 32] = rand::random();
        let dummy_hash = blocking(move || hash_now(&dummy)).await??;
        Ok(PasswordHasher { dummy_hash })
    }

    pub async fn hash(&self, password: SecretString) -> Result<String, AuthError> {
        blocking(move || hash_now(password.expose_secret().as_bytes())).await?
    }

    /// Verifies `password` against `hash`, or against the dummy hash when there is no account
    /// (and then answers `false`).
    pub async fn verify(&self, password: SecretString, hash: Option<String>) -> Result<bool, AuthError> {
        let exists = hash.is_some();
        let phc = hash.unwrap_or_else(|| self.dummy_hash.clone());
        let matched = blocking(move || {
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

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let hasher = PasswordHasher::new().await.unwrap();
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
