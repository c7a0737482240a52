//! The secret session token and the only form of it identity stores: its SHA-256. The token
//! is never logged, displayed or serialized except through `expose_secret`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// Length of a token: 32 bytes in base64url without padding.
const TOKEN_CHARS: usize = 43;

/// A new session token: 32 bytes from the OS CSPRNG, base64url without padding.
/// Its `Debug` is redacted.
#[derive(Debug)]
pub struct SessionToken(SecretString);

impl SessionToken {
    /// Draws a fresh token.
    pub fn generate() -> SessionToken {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        SessionToken(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The token in clear, to hand to the client once.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }

    /// What the store keeps.
    pub fn hash(&self) -> TokenHash {
        TokenHash::digest(self.expose_secret())
    }
}

/// The SHA-256 of a session token, base64url: the key the store looks sessions up by. 256 random
/// bits looked up by hash in a unique index need no constant-time compare.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    /// Hashes a token presented by a client, or `None` when it cannot be one of ours (so no
    /// lookup is wasted on it).
    pub fn of_presented(token: &str) -> Option<TokenHash> {
        let well_formed = token.len() == TOKEN_CHARS
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| TokenHash::digest(token))
    }

    fn digest(token: &str) -> TokenHash {
        TokenHash(URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes())))
    }

    /// The hash as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_32_random_bytes_in_base64url() {
        let one = SessionToken::generate();
        let two = SessionToken::generate();
        assert_eq!(one.expose_secret().len(), 43);
        assert_eq!(
            URL_SAFE_NO_PAD.decode(one.expose_secret()).unwrap().len(),
            32
        );
        assert_ne!(one.expose_secret(), two.expose_secret());
    }

    #[test]
    fn debug_never_shows_the_token() {
        let token = SessionToken::generate();
        let shown = format!("{token:?}");
        assert!(!shown.contains(token.expose_secret()), "{shown}");
    }

    #[test]
    fn a_presented_token_hashes_like_the_issued_one() {
        let token = SessionToken::generate();
        assert_eq!(
            TokenHash::of_presented(token.expose_secret()),
            Some(token.hash())
        );
        assert_ne!(token.hash().as_str(), token.expose_secret());
    }

    #[test]
    fn presented_garbage_is_not_a_token() {
        assert_eq!(TokenHash::of_presented(""), None);
        assert_eq!(TokenHash::of_presented("short"), None);
        assert_eq!(TokenHash::of_presented(&"a".repeat(44)), None);
        assert_eq!(
            TokenHash::of_presented(&format!("{}=", "a".repeat(42))),
            None
        );
    }
}
