//! Unit tests of `identity keys verify`: each token breaks one rule and the answer names it.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use service_kit::Clock;
use shared_claims::{Audience, Claims};

use super::*;
use crate::keys::lifecycle;
use crate::keys::ring::{KeyRing, KeyRingConfig};
use crate::keys::tests_support::{claims, ISSUER};

/// A ring over a fresh directory and the clock it reads.
struct Fixture {
    dir: tempfile::TempDir,
    clock: Clock,
    ring: KeyRing,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("a temp dir");
        let clock = Clock::adjustable();
        lifecycle::init(dir.path(), &clock, "test").expect("init");
        let ring = KeyRing::load(dir.path(), KeyRingConfig::default(), clock.clone())
            .expect("the directory loads");
        Fixture { dir, clock, ring }
    }

    fn token(&self) -> String {
        self.sign(&claims(self.clock.now_unix()))
    }

    fn sign(&self, claims: &Claims) -> String {
        self.ring.sign(claims).expect("signs")
    }

    /// Verifies against the directory as it is now (reloaded), at the clock's now.
    fn verify(&self, token: &str, expected: &Expectations) -> Result<Verified, Refused> {
        self.ring.reload().expect("reloads");
        let (schedule, published) = self.ring.schedule_and_jwks();
        verify_token(
            token,
            expected,
            &schedule,
            &published,
            self.clock.now_millis(),
        )
    }

    fn check(&self, token: &str) -> Result<Verified, Refused> {
        self.verify(token, &Expectations::default())
    }
}

fn failed_check(outcome: Result<Verified, Refused>) -> (&'static str, String) {
    let refused = outcome.expect_err("the token is refused");
    (refused.check(), refused.to_string())
}

#[test]
fn a_token_the_ring_signed_passes_with_its_claims_and_key_state() {
    let f = Fixture::new();
    let sent = claims(f.clock.now_unix());
    let verified = f.check(&f.sign(&sent)).expect("valid");
    assert_eq!(verified.claims, sent);
    assert_eq!(Some(verified.kid.clone()), f.ring.signing_kid());
    assert_eq!(verified.key_state, KeyState::Active);
    assert_eq!(verified.header["typ"], "at+jwt");
    assert_eq!(verified.not_checked, ["iss", "htm", "htu"]);
}

#[test]
fn an_expired_token_fails_the_exp_check() {
    let f = Fixture::new();
    let token = f.token();
    f.clock.advance(Duration::from_secs(66));
    let (check, message) = failed_check(f.check(&token));
    assert_eq!(check, "exp");
    assert!(
        message.contains("expired") && message.contains("now "),
        "{message}"
    );
}

#[test]
fn a_token_within_the_leeway_still_passes() {
    let f = Fixture::new();
    let token = f.token();
    f.clock.advance(Duration::from_secs(62));
    assert!(f.check(&token).is_ok());
}

#[test]
fn a_token_for_another_audience_fails_the_aud_check() {
    let f = Fixture::new();
    let mut billing = claims(f.clock.now_unix());
    billing.aud = Audience::One("billing".into());
    let token = f.sign(&billing);
    let (check, message) = failed_check(f.check(&token));
    assert_eq!(check, "aud");
    assert!(
        message.contains("\"billing\"") && message.contains("core-api"),
        "{message}"
    );
    let for_billing = Expectations {
        audience: "billing".into(),
        ..Expectations::default()
    };
    assert!(
        f.verify(&token, &for_billing).is_ok(),
        "--audience billing accepts it"
    );
}

#[test]
fn a_key_this_ring_never_had_fails_the_kid_check_as_unknown() {
    let f = Fixture::new();
    let stranger = Fixture::new();
    let refused = f.check(&stranger.token()).expect_err("refused");
    assert_eq!(refused.check(), "kid");
    assert!(matches!(refused, Refused::UnknownKey { .. }), "{refused}");
    assert!(
        refused.to_string().contains("not in keys.json"),
        "{refused}"
    );
}

#[test]
fn a_revoked_key_fails_the_kid_check_as_revoked_with_the_reason() {
    let f = Fixture::new();
    let token = f.token();
    let old = f.ring.signing_kid().expect("a signer");
    let kid = crate::keys::Kid::parse(&old).expect("a kid");
    let config = KeyRingConfig::default();
    lifecycle::revoke(
        f.dir.path(),
        &f.clock,
        &config,
        &kid,
        "leaked in a log",
        true,
        "test",
    )
    .expect("revokes");
    let refused = f.check(&token).expect_err("refused");
    assert_eq!(refused.check(), "kid");
    assert!(matches!(refused, Refused::RevokedKey { .. }), "{refused}");
    let message = refused.to_string();
    assert!(
        message.contains("revoked") && message.contains("leaked in a log"),
        "{message}"
    );
    assert!(
        f.check(&f.token()).is_ok(),
        "the replacement key's tokens pass"
    );
}

#[test]
fn a_key_retired_past_its_window_fails_the_kid_check_as_unpublished() {
    let f = Fixture::new();
    let token = f.token();
    let config = KeyRingConfig::default();
    lifecycle::rotate(
        f.dir.path(),
        &f.clock,
        &config,
        config.default_lead(),
        false,
        "test",
    )
    .expect("rotates");
    f.clock
        .advance(config.default_lead() + config.retired_window());
    let refused = f.check(&token).expect_err("refused");
    assert_eq!(refused.check(), "kid", "{refused}");
    assert!(
        matches!(
            refused,
            Refused::UnpublishedKey {
                state: KeyState::Retired,
                ..
            }
        ),
        "{refused}"
    );
}

#[test]
fn a_token_whose_claims_changed_after_signing_fails_the_signature_check() {
    let f = Fixture::new();
    let token = f.token();
    let parts: Vec<&str> = token.split('.').collect();
    let mut changed = claims(f.clock.now_unix());
    changed.sub = "someone-else".into();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&changed).expect("claims encode"));
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    assert_eq!(failed_check(f.check(&tampered)).0, "signature");
}

#[test]
fn a_header_alg_none_fails_the_alg_check() {
    let f = Fixture::new();
    let token = f.token();
    let kid = f.ring.signing_kid().expect("a signer");
    let header = serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": kid});
    let rest = token.split_once('.').expect("a JWS").1;
    let forged = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()));
    assert_eq!(failed_check(f.check(&forged)).0, "alg");
}

#[test]
fn a_lifetime_over_sixty_seconds_fails_the_lifetime_check() {
    let f = Fixture::new();
    let mut long = claims(f.clock.now_unix());
    long.exp += 1;
    assert_eq!(failed_check(f.check(&f.sign(&long))).0, "lifetime");
}

#[test]
fn garbage_fails_the_format_check() {
    let f = Fixture::new();
    assert_eq!(failed_check(f.check("not-a-token")).0, "format");
}

#[test]
fn issuer_method_and_path_are_checked_only_when_asked() {
    let f = Fixture::new();
    let token = f.token();
    let strict = Expectations {
        audience: "core-api".into(),
        issuer: Some(ISSUER.into()),
        method: Some("GET".into()),
        path: Some("/api/profile".into()),
    };
    assert!(f
        .verify(&token, &strict)
        .expect("valid")
        .not_checked
        .is_empty());
    let cases = [
        (
            "iss",
            Expectations {
                issuer: Some("https://elsewhere".into()),
                ..strict.clone()
            },
        ),
        (
            "htm",
            Expectations {
                method: Some("POST".into()),
                ..strict.clone()
            },
        ),
        (
            "htu",
            Expectations {
                path: Some("/api/orders".into()),
                ..strict.clone()
            },
        ),
    ];
    for (check, expected) in cases {
        assert_eq!(failed_check(f.verify(&token, &expected)).0, check);
    }
}

#[test]
fn an_odd_kid_is_quoted_rather_than_printed_raw() {
    let f = Fixture::new();
    let token = f.token();
    let header = serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "\u{1b}[2Jgone"});
    let rest = token.split_once('.').expect("a JWS").1;
    let forged = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()));
    let message = f.check(&forged).expect_err("refused").to_string();
    assert!(!message.contains('\u{1b}'), "{message}");
    assert!(message.contains("\\u{1b}[2Jgone"), "{message}");
}
