//! The key id: an RFC 7638 thumbprint. Checked once at the boundary, so a kid can safely name a
//! file (`<kid>.pem`) and never lets a path through.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::KeyError;

/// Length of a base64url (no padding) SHA-256 digest.
const KID_LEN: usize = 43;

/// A key id: 43 base64url characters, the RFC 7638 thumbprint of the public key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Kid(String);

impl Kid {
    /// Checks that `text` has the shape of a thumbprint.
    pub fn parse(text: &str) -> Result<Kid, KeyError> {
        let well_formed = text.len() == KID_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if well_formed {
            Ok(Kid(text.to_owned()))
        } else {
            Err(KeyError::MalformedKid(text.chars().take(64).collect()))
        }
    }

    /// The kid of an Ed25519 public key: its RFC 7638 thumbprint.
    pub fn of_public_key(public_key: &[u8; 32]) -> Kid {
        let jwk = shared_claims::Jwk::ed25519(public_key);
        Kid(jwk.kid.unwrap_or_default())
    }

    /// The kid as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 8 bytes of the thumbprint in hex (`list`'s FINGERPRINT column): the same
    /// SHA-256 digest as the kid, short enough to compare by eye.
    pub fn fingerprint(&self) -> String {
        let digest = URL_SAFE_NO_PAD.decode(&self.0).unwrap_or_default();
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// The name of this key's private key file.
    pub fn pem_file_name(&self) -> String {
        format!("{}.pem", self.0)
    }
}

impl fmt::Display for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Kid {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Kid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Kid, D::Error> {
        let text = String::deserialize(deserializer)?;
        Kid::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kid_of_a_key_is_its_rfc_7638_thumbprint() {
        let public = [7u8; 32];
        let jwk = shared_claims::Jwk::ed25519(&public);
        assert_eq!(
            Some(Kid::of_public_key(&public).as_str()),
            jwk.kid.as_deref()
        );
        assert!(Kid::parse(Kid::of_public_key(&public).as_str()).is_ok());
    }

    #[test]
    fn the_fingerprint_is_the_thumbprint_digest_in_hex() {
        // RFC 8037 A.3 gives this thumbprint; its digest starts 90 fa ca fe.
        let kid = Kid::parse("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k").expect("a kid");
        assert_eq!(kid.fingerprint(), "90facafea9b15566");
    }

    #[test]
    fn paths_and_odd_text_are_not_kids() {
        for bad in [
            "",
            "../../etc/passwd",
            "a/b",
            &"a".repeat(42),
            &"a".repeat(44),
            &format!("{}.", "a".repeat(42)),
        ] {
            assert!(Kid::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
