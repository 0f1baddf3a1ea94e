//! Usernames of built-in accounts: parsed once at the edge into a normalised [`Username`].

pub const MIN_LEN: usize = 3;
pub const MAX_LEN: usize = 64;

/// A valid, normalised username: trimmed, lowercase, 3 to 64 characters from `a-z 0-9 . _ - @ +`,
/// starting with a letter or digit. Lowercasing makes `Alice` and `alice` the same account;
/// the ASCII-only charset rules out look-alike Unicode names (so no NFC step is needed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("username must be at least {MIN_LEN} characters")]
    TooShort,
    #[error("username must be at most {MAX_LEN} characters")]
    TooLong,
    #[error("username may only contain a-z, 0-9 and . _ - @ +, and must start with a letter or digit")]
    InvalidCharacters,
}

impl UsernameError {
    pub fn code(&self) -> &'static str {
        match self {
            UsernameError::TooShort => "username_too_short",
            UsernameError::TooLong => "username_too_long",
            UsernameError::InvalidCharacters => "username_invalid_characters",
        }
    }
}

/// Trim and lowercase only: the key under which login attempts are counted, valid or not.
pub fn normalise(raw: &str) -> String {
    raw.trim().to_lowercase()
}

impl Username {
    pub fn parse(raw: &str) -> Result<Username, UsernameError> {
        let name = normalise(raw);
        let len = name.chars().count();
        if len < MIN_LEN {
            return Err(UsernameError::TooShort);
        }
        if len > MAX_LEN {
            return Err(UsernameError::TooLong);
        }
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_@+".contains(c);
        let starts_well = name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !starts_well || !name.chars().all(allowed) {
            return Err(UsernameError::InvalidCharacters);
        }
        Ok(Username(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_lowercases() {
        assert_eq!(
            Username::parse("  Alice.Smith@Example.com ").unwrap().as_str(),
            "alice.smith@example.com"
        );
    }

    #[test]
    fn enforces_length_in_characters() {
        assert_eq!(Username::parse("ab"), Err(UsernameError::TooShort));
        assert_eq!(Username::parse("   ab   "), Err(UsernameError::TooShort));
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse(&"a".repeat(64)).is_ok());
        assert_eq!(Username::parse(&"a".repeat(65)), Err(UsernameError::TooLong));
    }

    #[test]
    fn refuses_other_characters() {
        for bad in [
            "al ice",
            "ålice",
            "alice!",
            "-alice",
            ".alice",
            "al\u{0}ice",
            "аlice",
        ] {
            assert_eq!(
                Username::parse(bad),
                Err(UsernameError::InvalidCharacters),
                "{bad:?}"
            );
        }
        for good in ["a_b-c.d", "user+tag@example.com", "007bond"] {
            assert!(Username::parse(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn codes_are_stable() {
        assert_eq!(UsernameError::TooShort.code(), "username_too_short");
        assert_eq!(UsernameError::TooLong.code(), "username_too_long");
        assert_eq!(
            UsernameError::InvalidCharacters.code(),
            "username_invalid_characters"
        );
    }
}
