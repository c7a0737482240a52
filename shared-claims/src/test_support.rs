//! Test-only token minting: a fresh Ed25519 key per test, and tokens built from JSON values so
//! each test can break exactly one thing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use rand::rngs::OsRng;
use serde_json::{json, Value};

use crate::{Jwk, JwkSet};

/// The issuer every test verifier is configured with.
pub(crate) const ISSUER: &str = "http://127.0.0.1:8081";
/// The audience every test verifier is configured with.
pub(crate) const AUDIENCE: &str = "core-api";
/// The user id in minted tokens.
pub(crate) const SUBJECT: &str = "5d4c3a0e-1f6b-4c1e-9a63-2f0b7d9e8c11";

/// Mints tokens like identity does, with its own fresh key.
pub(crate) struct Minter {
    signing: SigningKey,
    kid: String,
}

impl Minter {
    /// A minter with a fresh key, named by its thumbprint.
    pub(crate) fn new() -> Self {
        let signing = SigningKey::generate(&mut OsRng);
        let kid = Jwk::ed25519(signing.verifying_key().as_bytes())
            .kid
            .expect("Jwk::ed25519 always names the key");
        Minter { signing, kid }
    }

    /// The key id tokens carry.
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key (for minting with jsonwebtoken or forging with the public bytes).
    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The published public key.
    pub(crate) fn jwk(&self) -> Jwk {
        Jwk::ed25519(self.signing.verifying_key().as_bytes())
    }

    /// A JWKS holding only this minter's key.
    pub(crate) fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.jwk()],
        }
    }

    /// The header identity writes.
    pub(crate) fn header(&self) -> Value {
        json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": self.kid })
    }

    /// Valid claims for `method path`, issued at `now`, with a fresh `jti` (tokens are
    /// single-use).
    pub(crate) fn claims(&self, method: &str, path: &str, now: i64) -> Value {
        json!({
            "iss": ISSUER,
            "sub": SUBJECT,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + 60,
            "jti": fresh_jti(),
            "sid": "7a2d9a54-0c1b-4b8e-8f0e-5e6a1b2c3d4e",
            "client_id": "edge",
            "email": "ada@example.com",
            "email_verified": true,
            "htm": method,
            "htu": path,
        })
    }

    /// `header.claims.signature`, signed with this minter's key whatever the header says.
    pub(crate) fn sign(&self, header: &Value, claims: &Value) -> String {
        let signing_input = format!("{}.{}", encode_json(header), encode_json(claims));
        let signature = self.signing.sign(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }

    /// A valid token for `method path` issued at `now`.
    pub(crate) fn token_for(&self, method: &str, path: &str, now: i64) -> String {
        self.sign(&self.header(), &self.claims(method, path, now))
    }
}

/// base64url (no padding) of a JSON value.
pub(crate) fn encode_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("a JSON value always serializes"))
}

/// A random 128-bit `jti`, as identity makes them.
pub(crate) fn fresh_jti() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}
