//! The claims of the internal token (DESIGN §4).

use serde::{Deserialize, Serialize};

/// The JOSE `typ` header of every internal token (RFC 9068).
pub const TOKEN_TYPE: &str = "at+jwt";

/// `exp - iat` of every internal token, and the most a verifier accepts.
pub const TOKEN_LIFETIME_SECS: i64 = 60;

/// `aud` may be one string or an array of strings (RFC 7519 §4.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `audience` is among the token's audiences.
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Audience::One(one) => one == audience,
            Audience::Many(many) => many.iter().any(|a| a == audience),
        }
    }
}

/// The claims identity signs into every internal token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: identity's configured `ISSUER`.
    pub iss: String,
    /// Subject: the user id (UUID string).
    pub sub: String,
    /// Audience: the service the token is for (`core-api`).
    pub aud: Audience,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Not before, seconds since the epoch.
    pub nbf: i64,
    /// Expires at, seconds since the epoch; `exp - iat` is 60.
    pub exp: i64,
    /// Token id: 128 random bits, base64url.
    pub jti: String,
    /// The session's public id.
    pub sid: String,
    /// The exchanging client (`edge`).
    pub client_id: String,
    /// The user's email address.
    pub email: String,
    /// Whether the email address is verified.
    pub email_verified: bool,
    /// The HTTP method this token is for.
    pub htm: String,
    /// The core-api path (no query) this token is for.
    pub htu: String,
}
