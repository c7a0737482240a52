//! The token rules against a real (SQLite) store: single use, expiry, purpose binding, hashing
//! at rest, and the quota's SQL.

use test_support::Store;

use super::*;
use crate::test_store::TestStore;

const HOUR: i64 = 3_600_000;

/// A SQLite store with one user; the store must live as long as the pool is used.
async fn store_with_user() -> (TestStore, AnyPool, String) {
    let store = TestStore::open(Store::Sqlite)
        .await
        .expect("SQLite is always available");
    let user = store.user("ada@example.com", "correct horse battery").await;
    let pool = store.pool.clone();
    (store, pool, user.id)
}

#[tokio::test]
async fn a_token_works_once_and_is_stored_only_as_its_hash() {
    let (_dir, pool, user) = store_with_user().await;
    let token = issue(&pool, Purpose::ResetPassword, &user, 0, HOUR)
        .await
        .unwrap();
    let stored: String = sqlx::query_scalar("SELECT token_hash FROM verification_tokens")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_ne!(stored, token.expose_secret());
    assert!(
        is_usable(&pool, token.expose_secret(), Purpose::ResetPassword, 1)
            .await
            .unwrap()
    );
    assert!(
        is_usable(&pool, token.expose_secret(), Purpose::ResetPassword, 1)
            .await
            .unwrap(),
        "checking does not use it"
    );
    assert_eq!(
        consume(&pool, token.expose_secret(), Purpose::ResetPassword, 1)
            .await
            .unwrap(),
        Some(user)
    );
    assert_eq!(
        consume(&pool, token.expose_secret(), Purpose::ResetPassword, 2)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        refusal(&pool, token.expose_secret(), Purpose::ResetPassword, 2)
            .await
            .unwrap(),
        Refusal::Invalid
    );
    assert!(!format!("{token:?}").contains(token.expose_secret()));
}

#[tokio::test]
async fn of_two_concurrent_uses_exactly_one_wins() {
    let (_dir, pool, user) = store_with_user().await;
    let token = issue(&pool, Purpose::ResetPassword, &user, 0, HOUR)
        .await
        .unwrap();
    let (one, two) = tokio::join!(
        consume(&pool, token.expose_secret(), Purpose::ResetPassword, 1),
        consume(&pool, token.expose_secret(), Purpose::ResetPassword, 1),
    );
    let winners = [one.unwrap(), two.unwrap()].into_iter().flatten().count();
    assert_eq!(winners, 1);
}

#[tokio::test]
async fn a_token_expires_at_its_ttl_and_says_so() {
    let (_dir, pool, user) = store_with_user().await;
    let token = issue(&pool, Purpose::VerifyEmail, &user, 0, HOUR)
        .await
        .unwrap();
    assert!(
        is_usable(&pool, token.expose_secret(), Purpose::VerifyEmail, HOUR - 1)
            .await
            .unwrap()
    );
    assert!(
        !is_usable(&pool, token.expose_secret(), Purpose::VerifyEmail, HOUR)
            .await
            .unwrap()
    );
    assert_eq!(
        consume(&pool, token.expose_secret(), Purpose::VerifyEmail, HOUR)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        refusal(&pool, token.expose_secret(), Purpose::VerifyEmail, HOUR)
            .await
            .unwrap(),
        Refusal::Expired
    );
}

#[tokio::test]
async fn a_token_is_good_for_its_purpose_only() {
    let (_dir, pool, user) = store_with_user().await;
    let token = issue(&pool, Purpose::VerifyEmail, &user, 0, HOUR)
        .await
        .unwrap();
    assert_eq!(
        consume(&pool, token.expose_secret(), Purpose::ResetPassword, 1)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        refusal(&pool, token.expose_secret(), Purpose::ResetPassword, 1)
            .await
            .unwrap(),
        Refusal::Invalid
    );
    assert_eq!(
        consume(&pool, token.expose_secret(), Purpose::VerifyEmail, 1)
            .await
            .unwrap(),
        Some(user)
    );
}

#[tokio::test]
async fn garbage_and_retired_tokens_are_refused() {
    let (_dir, pool, user) = store_with_user().await;
    assert_eq!(
        consume(&pool, "short", Purpose::VerifyEmail, 1)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        refusal(&pool, "", Purpose::VerifyEmail, 1).await.unwrap(),
        Refusal::Invalid
    );
    let first = issue(&pool, Purpose::ResetPassword, &user, 0, HOUR)
        .await
        .unwrap();
    let second = issue(&pool, Purpose::ResetPassword, &user, 0, HOUR)
        .await
        .unwrap();
    assert_eq!(
        retire_all(&pool, &user, Purpose::ResetPassword, 1)
            .await
            .unwrap(),
        2
    );
    assert!(
        !is_usable(&pool, first.expose_secret(), Purpose::ResetPassword, 2)
            .await
            .unwrap()
    );
    assert!(
        !is_usable(&pool, second.expose_secret(), Purpose::ResetPassword, 2)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn the_quota_allows_three_mails_per_kind_and_address_per_window() {
    let (_dir, pool, _user) = store_with_user().await;
    let claim = |email: &'static str, purpose, now| quota::claim(&pool, email, purpose, now);
    for minute in 0..3 {
        assert!(
            claim("a@example.com", Purpose::ResetPassword, minute * 60_000)
                .await
                .unwrap()
        );
    }
    assert!(!claim("a@example.com", Purpose::ResetPassword, 5 * 60_000)
        .await
        .unwrap());
    assert!(
        claim("a@example.com", Purpose::VerifyEmail, 5 * 60_000)
            .await
            .unwrap(),
        "kinds count apart"
    );
    assert!(
        claim("b@example.com", Purpose::ResetPassword, 5 * 60_000)
            .await
            .unwrap(),
        "addresses count apart"
    );
    assert!(
        claim("a@example.com", Purpose::ResetPassword, quota::WINDOW_MS)
            .await
            .unwrap()
    );
    assert!(!claim(
        "a@example.com",
        Purpose::ResetPassword,
        quota::WINDOW_MS + 1
    )
    .await
    .unwrap());
}

#[test]
fn callbacks_default_and_are_bounded() {
    assert_eq!(callback_or(None, "/verify-email").unwrap(), "/verify-email");
    assert_eq!(callback_or(Some("/x"), "/verify-email").unwrap(), "/x");
    assert!(callback_or(Some(""), "/d").is_err());
    assert!(callback_or(Some(&"/".repeat(CALLBACK_MAX_CHARS + 1)), "/d").is_err());
}
