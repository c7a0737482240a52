//! Unit tests of the key ring: loading, signing, publication across the lifecycle.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signature, SigningKey, Verifier, VerifyingKey};
use service_kit::Clock;
use shared_claims::JwkSet;
use test_support::eventually;

use super::*;
use crate::keys::lifecycle;
use crate::keys::tests_support::{self, claims};
use crate::keys::Kid;

/// How long the watcher may take to notice a change.
const WITHIN: Duration = Duration::from_secs(5);

fn initialized() -> (tempfile::TempDir, Clock, Kid) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let clock = Clock::adjustable();
    let kid = lifecycle::init(dir.path(), &clock, "test").expect("init");
    (dir, clock, kid)
}

fn load(dir: &tempfile::TempDir, clock: &Clock) -> KeyRing {
    KeyRing::load(dir.path(), KeyRingConfig::default(), clock.clone()).expect("the directory loads")
}

fn kids(set: &JwkSet) -> Vec<String> {
    set.keys.iter().filter_map(|k| k.kid.clone()).collect()
}

/// Checks a token's signature against the published key its header names; returns the header.
fn verify_with_jwks(token: &str, jwks: &JwkSet) -> serde_json::Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "three parts");
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("base64url header"))
            .expect("JSON header");
    let jwk = jwks
        .keys
        .iter()
        .find(|k| k.kid.as_deref() == header["kid"].as_str())
        .expect("kid is published");
    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(&jwk.x)
        .expect("base64url x")
        .try_into()
        .expect("32 bytes");
    let public = VerifyingKey::from_bytes(&x).expect("a valid public key");
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(parts[2])
        .expect("base64url sig")
        .try_into()
        .expect("64 bytes");
    let signed = format!("{}.{}", parts[0], parts[1]);
    public
        .verify(signed.as_bytes(), &Signature::from_bytes(&signature))
        .expect("signature verifies");
    header
}

#[test]
fn an_initialized_directory_loads_with_a_signing_key_and_publishes_its_thumbprint() {
    let (dir, clock, kid) = initialized();
    let ring = load(&dir, &clock);
    assert!(ring.has_signing_key());
    assert_eq!(ring.signing_kid().as_deref(), Some(kid.as_str()));
    let jwks = ring.jwks();
    assert_eq!(jwks.keys.len(), 1);
    let jwk = &jwks.keys[0];
    assert_eq!(jwk.kid.as_deref(), Some(kid.as_str()));
    assert_eq!(shared_claims::jwk::thumbprint(&jwk.x), kid.as_str());
    assert_eq!((jwk.kty.as_str(), jwk.crv.as_str()), ("OKP", "Ed25519"));
}

#[test]
fn a_signed_token_verifies_against_the_jwks_and_carries_the_header_and_claims() {
    let (dir, clock, kid) = initialized();
    let ring = load(&dir, &clock);
    let sent = claims(clock.now_unix());
    let token = ring.sign(&sent).expect("signs");
    let header = verify_with_jwks(&token, &ring.jwks());
    assert_eq!(
        header,
        serde_json::json!({"alg":"EdDSA","typ":"at+jwt","kid":kid.as_str()})
    );
    let payload = token.split('.').nth(1).expect("a payload");
    let received: Claims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
            .expect("claims");
    assert_eq!(received, sent);
    assert!(!token.contains('='), "no padding");
}

#[test]
fn a_private_key_readable_by_others_is_refused_naming_the_file() {
    let (dir, clock, kid) = initialized();
    let pem = dir.path().join(kid.pem_file_name());
    fs::set_permissions(&pem, fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = KeyRing::load(dir.path(), KeyRingConfig::default(), clock).expect_err("refused");
    assert!(matches!(err, KeyError::InsecurePermissions { .. }));
    assert!(
        err.to_string().contains(&pem.display().to_string()),
        "{err}"
    );
}

#[test]
fn a_listed_key_without_its_file_is_refused_naming_the_file() {
    let (dir, clock, kid) = initialized();
    let pem = dir.path().join(kid.pem_file_name());
    fs::remove_file(&pem).expect("removed");
    let err = KeyRing::load(dir.path(), KeyRingConfig::default(), clock).expect_err("refused");
    assert!(matches!(err, KeyError::MissingPrivateKey { .. }));
    assert!(
        err.to_string().contains(&pem.display().to_string()),
        "{err}"
    );
}

#[test]
fn a_missing_directory_says_to_run_init() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let err = KeyRing::load(
        &dir.path().join("nowhere"),
        KeyRingConfig::default(),
        Clock::adjustable(),
    )
    .expect_err("refused");
    assert!(err.to_string().contains("identity keys init"), "{err}");
}

#[test]
fn corrupt_keys_json_fails_to_load_and_a_reload_keeps_the_last_good_ring() {
    let (dir, clock, kid) = initialized();
    let ring = load(&dir, &clock);
    fs::write(dir.path().join("keys.json"), b"{\"version\":1,\"keys\":[{").expect("corrupted");
    let err =
        KeyRing::load(dir.path(), KeyRingConfig::default(), clock.clone()).expect_err("refused");
    assert!(err.to_string().contains("keys.json"), "{err}");
    assert!(matches!(ring.check_for_change(), Reload::Invalid(_)));
    assert_eq!(ring.signing_kid().as_deref(), Some(kid.as_str()));
    verify_with_jwks(
        &ring.sign(&claims(clock.now_unix())).expect("still signs"),
        &ring.jwks(),
    );
}

#[test]
fn a_rotated_key_is_published_at_once_signs_after_its_lead_and_the_old_one_stays_for_the_window() {
    let (dir, clock, old) = initialized();
    let ring = load(&dir, &clock);
    let config = KeyRingConfig::default();
    let lead = config.default_lead();
    let new = lifecycle::rotate(dir.path(), &clock, &config, lead, false, "test")
        .expect("rotates")
        .kid;
    ring.reload().expect("reloads");

    assert_eq!(kids(&ring.jwks()).len(), 2, "pending key published at once");
    assert_eq!(
        ring.signing_kid().as_deref(),
        Some(old.as_str()),
        "pending key does not sign"
    );

    clock.advance(lead - Duration::from_secs(1));
    assert_eq!(ring.signing_kid().as_deref(), Some(old.as_str()));
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        ring.signing_kid().as_deref(),
        Some(new.as_str()),
        "signs once activated"
    );
    let header = verify_with_jwks(
        &ring.sign(&claims(clock.now_unix())).expect("signs"),
        &ring.jwks(),
    );
    assert_eq!(header["kid"], new.as_str());

    clock.advance(config.retired_window() - Duration::from_secs(1));
    assert!(
        kids(&ring.jwks()).contains(&old.to_string()),
        "old key published within the window"
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        kids(&ring.jwks()),
        vec![new.to_string()],
        "old key gone after the window"
    );
}

#[test]
fn a_revoked_key_leaves_the_jwks_at_once_and_a_fresh_key_signs() {
    let (dir, clock, old) = initialized();
    let ring = load(&dir, &clock);
    let config = KeyRingConfig::default();
    tests_support::rotate(dir.path(), &clock);
    let revoked = lifecycle::revoke(dir.path(), &clock, &config, &old, "leaked", false, "test")
        .expect("revokes");
    ring.reload().expect("reloads");
    let published = kids(&ring.jwks());
    assert!(!published.contains(&old.to_string()));
    let fresh = revoked
        .replacement
        .expect("the signer was revoked, so a fresh key signs");
    assert!(published.contains(&fresh.to_string()));
    assert_eq!(ring.signing_kid().as_deref(), Some(fresh.as_str()));
}

#[test]
fn two_rings_over_one_directory_agree_on_the_signer() {
    let (dir, clock, _) = initialized();
    let config = KeyRingConfig::default();
    tests_support::rotate(dir.path(), &clock);
    let (one, other) = (load(&dir, &clock), load(&dir, &clock));
    assert_eq!(one.signing_kid(), other.signing_kid());
    clock.advance(config.default_lead());
    assert_eq!(one.signing_kid(), other.signing_kid());
    assert_eq!(one.jwks(), other.jwks());
}

#[test]
fn no_key_signs_when_every_key_is_revoked() {
    let (dir, clock, only) = initialized();
    let config = KeyRingConfig::default();
    assert!(matches!(
        lifecycle::revoke(dir.path(), &clock, &config, &only, "test", false, "test"),
        Err(KeyError::OnlyPublishedKey(_))
    ));
    // Forced: a fresh key replaces it; revoking that one too leaves nothing.
    let fresh = lifecycle::revoke(dir.path(), &clock, &config, &only, "test", true, "test")
        .expect("forced")
        .replacement;
    let fresh = fresh.expect("a replacement");
    let mut schedule = crate::keys::store::KeyDir::new(dir.path())
        .read_schedule()
        .expect("reads");
    schedule.find_mut(&fresh).expect("listed").revoked_at = Some(clock.now_millis());
    crate::keys::store::KeyDir::new(dir.path())
        .write_schedule(&schedule)
        .expect("writes");
    let ring = load(&dir, &clock);
    assert!(!ring.has_signing_key());
    assert!(matches!(
        ring.sign(&claims(clock.now_unix())),
        Err(KeyError::NoSigningKey)
    ));
    assert!(ring.jwks().keys.is_empty());
}

#[test]
fn debug_of_the_ring_shows_kids_but_no_key_material() {
    let (dir, clock, kid) = initialized();
    let ring = load(&dir, &clock);
    let pem = fs::read_to_string(dir.path().join(kid.pem_file_name())).expect("reads the pem");
    let seed = SigningKey::from_pkcs8_pem(&pem)
        .expect("decodes")
        .to_bytes();
    let shown = format!("{ring:?}");
    assert!(shown.contains(kid.as_str()));
    crate::keys::tests_support::assert_no_secret(&shown, &pem, &seed);
}

#[tokio::test]
async fn the_watcher_takes_the_steps_itself_and_stops_with_the_ring() {
    let (dir, clock, _) = initialized();
    let ring = load(&dir, &clock);
    let watcher = ring.spawn_watcher(Duration::from_millis(10));

    let new = tests_support::rotate(dir.path(), &clock);
    eventually(WITHIN, "rotation picked up", || async {
        kids(&ring.jwks()).contains(&new.to_string())
    })
    .await;

    drop(ring);
    watcher
        .await
        .expect("the watcher stops once the ring is dropped");
}

#[test]
fn a_check_takes_a_change_keeps_the_last_good_ring_through_a_bad_one_and_skips_no_change() {
    let (dir, clock, old) = initialized();
    let ring = load(&dir, &clock);
    assert!(matches!(ring.check_for_change(), Reload::Unchanged));

    let new = tests_support::rotate(dir.path(), &clock);
    assert!(matches!(ring.check_for_change(), Reload::Reloaded));
    assert!(kids(&ring.jwks()).contains(&new.to_string()));

    let pem = dir.path().join(new.pem_file_name());
    fs::set_permissions(&pem, fs::Permissions::from_mode(0o644)).expect("chmod");
    let third = tests_support::rotate(dir.path(), &clock);
    let seen = ring.check_for_change();
    assert!(
        matches!(seen, Reload::Invalid(KeyError::InsecurePermissions { .. })),
        "the check saw the bad change: {seen:?}"
    );
    assert!(
        !kids(&ring.jwks()).contains(&third.to_string()),
        "a bad change is not taken"
    );
    assert_eq!(ring.signing_kid().as_deref(), Some(old.as_str()));
    assert!(ring.problem().is_some());
    assert!(
        matches!(ring.check_for_change(), Reload::Unchanged),
        "the same bad directory is not read again"
    );

    fs::set_permissions(&pem, fs::Permissions::from_mode(0o600)).expect("chmod back");
    assert!(matches!(ring.check_for_change(), Reload::Reloaded));
    assert!(kids(&ring.jwks()).contains(&third.to_string()));
    assert_eq!(ring.problem(), None);
}

/// A stray copy of a key, group-readable (a backup, say), beside the real ones.
fn add_stray_backup(dir: &tempfile::TempDir, kid: &Kid) -> std::path::PathBuf {
    let stray = dir.path().join("backup-of-old-key.pem");
    fs::copy(dir.path().join(kid.pem_file_name()), &stray).expect("copied");
    fs::set_permissions(&stray, fs::Permissions::from_mode(0o640)).expect("chmod");
    stray
}

#[test]
fn a_revocation_is_applied_although_an_unlisted_stray_pem_is_bad_and_the_problem_is_reported() {
    let (dir, clock, first) = initialized();
    let ring = load(&dir, &clock);
    clock.advance(Duration::from_secs(1));
    let stray = add_stray_backup(&dir, &first);
    // Revoking the signer writes a replacement that signs at once.
    let revoked = lifecycle::revoke(
        dir.path(),
        &clock,
        &KeyRingConfig::default(),
        &first,
        "leaked",
        true,
        "test",
    )
    .expect("revoked");
    let replacement = revoked.replacement.expect("a fresh key signs").to_string();

    ring.reload()
        .expect("the listed files are good, so the change applies");

    assert_eq!(ring.signing_kid(), Some(replacement.clone()));
    assert_eq!(kids(&ring.jwks()), [replacement]);
    let problem = ring.problem().expect("the stray file is reported");
    assert!(problem.contains("backup-of-old-key.pem"), "{problem}");
    let token = ring
        .sign(&claims(clock.now_millis() / 1000))
        .expect("signs");
    assert_ne!(
        verify_with_jwks(&token, &ring.jwks())["kid"],
        first.as_str()
    );

    fs::remove_file(stray).expect("removed");
    ring.reload().expect("clean again");
    assert_eq!(ring.problem(), None);
}

#[test]
fn a_revocation_in_a_parsing_keys_json_is_applied_even_when_a_listed_key_file_is_bad() {
    let (dir, clock, first) = initialized();
    clock.advance(Duration::from_secs(1));
    let second = lifecycle::rotate(
        dir.path(),
        &clock,
        &KeyRingConfig::default(),
        Duration::from_secs(180),
        false,
        "test",
    )
    .expect("rotated")
    .kid;
    let ring = load(&dir, &clock);
    assert_eq!(kids(&ring.jwks()).len(), 2);
    // The signing key's file becomes group-readable (a listed file: the ring cannot switch)...
    fs::set_permissions(
        dir.path().join(first.pem_file_name()),
        fs::Permissions::from_mode(0o640),
    )
    .expect("chmod");
    // ...and the pending key is revoked.
    lifecycle::revoke(
        dir.path(),
        &clock,
        &KeyRingConfig::default(),
        &second,
        "mistake",
        false,
        "test",
    )
    .expect("revoked");

    let Reload::Invalid(error) = ring.check_for_change() else {
        panic!("a listed key file is bad, and the check saw it");
    };
    assert!(
        matches!(error, KeyError::InsecurePermissions { .. }),
        "{error}"
    );
    assert_eq!(
        kids(&ring.jwks()),
        [first.to_string()],
        "the revoked key left the JWKS anyway"
    );
    assert_eq!(
        ring.signing_kid(),
        Some(first.to_string()),
        "the last good signer keeps signing"
    );
    assert!(ring
        .problem()
        .is_some_and(|p| p.contains(&first.pem_file_name())));
}
