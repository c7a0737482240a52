//! Helpers shared by the key module's unit tests.

use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use service_kit::Clock;
use shared_claims::{Audience, Claims};

use super::lifecycle;
use super::ring::KeyRingConfig;
use super::Kid;

/// The issuer of the test tokens.
pub const ISSUER: &str = "http://127.0.0.1:8081";

/// The claims of a valid access token issued at `now` (seconds) for core-api.
pub fn claims(now: i64) -> Claims {
    Claims {
        iss: ISSUER.into(),
        sub: "3f1c7a1e-0000-4000-8000-000000000001".into(),
        aud: Audience::One("core-api".into()),
        iat: now,
        nbf: now,
        exp: now + 60,
        jti: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        sid: "3f1c7a1e-0000-4000-8000-000000000002".into(),
        client_id: "edge".into(),
        email: "ada@example.com".into(),
        email_verified: true,
        htm: "GET".into(),
        htu: "/api/profile".into(),
    }
}

/// Rotates `dir` with the default configuration and lead; the new key's id.
pub fn rotate(dir: &Path, clock: &Clock) -> Kid {
    let config = KeyRingConfig::default();
    lifecycle::rotate(dir, clock, &config, config.default_lead(), false, "test")
        .expect("rotates")
        .kid
}

/// Fails if `shown` contains any rendering of the private key: PEM body, or the seed as hex,
/// base64 or a byte list.
pub fn assert_no_secret(shown: &str, pem: &str, seed: &[u8; 32]) {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!shown.contains(&body[..16]), "PEM in {shown}");
    let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    for rendering in [
        hex,
        STANDARD.encode(seed),
        URL_SAFE_NO_PAD.encode(seed),
        format!("{:?}", &seed[..8]).trim_end_matches(']').to_owned(),
    ] {
        assert!(!shown.contains(&rendering), "seed ({rendering}) in {shown}");
    }
}
