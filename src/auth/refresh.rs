//! Refresh tokens: opaque random values the client holds; we keep only their SHA-256.

use base64::Engine;
use sha2::{Digest, Sha256};

/// A new refresh token (256 random bits, URL-safe base64) and the hash to store.
pub fn generate() -> (String, String) {
    let bytes: [u8; 32] = rand::random();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    (token, hash)
}

/// Hex SHA-256 of the token. A fast hash is right here: the token has full entropy, so nothing can
/// be guessed from its hash, and lookups stay cheap.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_to_what_is_stored() {
        let (a, ha) = generate();
        let (b, _) = generate();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash(&a), ha);
        assert_eq!(ha.len(), 64);
    }
}
