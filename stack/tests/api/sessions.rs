//! Sessions end when they should: sign-out, a new sign-in over an old cookie, a stolen cookie
//! replayed from another browser.

use crate::support::{unique_email, Browser, Store, TestStack, PASSWORD};

async fn signing_out_stops_the_very_next_api_call(store: Store) {
    let Some(stack) = TestStack::start(store).await else {
        return;
    };
    let alice = stack.signed_in("Alice").await;
    let token = alice.session_token().unwrap();
    assert_eq!(alice.get("/api/profile").await.status(), 200);

    let signed_out = alice.sign_out().await;
    assert_eq!(signed_out.status(), 200);
    assert_eq!(alice.session_token(), None, "sign-out clears the cookie");
    assert_eq!(
        alice.get_with_cookie("/api/profile", &token).await.status(),
        401
    );
    assert!(!alice.is_signed_in().await);
}

#[tokio::test]
async fn signing_out_stops_the_very_next_api_call_on_sqlite() {
    signing_out_stops_the_very_next_api_call(Store::Sqlite).await;
}

#[tokio::test]
async fn signing_out_stops_the_very_next_api_call_on_postgres() {
    signing_out_stops_the_very_next_api_call(Store::Postgres).await;
}

#[tokio::test]
async fn a_cookie_presented_to_sign_in_is_dead_afterwards() {
    let Some(stack) = TestStack::start(Store::Sqlite).await else {
        return;
    };
    let browser = stack.browser();
    let email = unique_email("dave");
    assert_eq!(
        browser.sign_up("Dave", &email, PASSWORD).await.status(),
        200
    );
    let before = browser.session_token().unwrap();

    assert_eq!(browser.sign_in(&email, PASSWORD).await.status(), 200);
    let after = browser.session_token().unwrap();
    assert_ne!(before, after, "every sign-in creates a new session");
    assert_eq!(
        browser
            .get_with_cookie("/api/profile", &before)
            .await
            .status(),
        401
    );
    assert_eq!(
        browser
            .get_with_cookie("/api/profile", &after)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_session_cookie_replayed_with_another_user_agent_is_refused() {
    let Some(stack) = TestStack::start(Store::Sqlite).await else {
        return;
    };
    let alice = stack.signed_in("Alice").await;
    let token = alice.session_token().unwrap();
    let thief = Browser::new(
        &stack.edge(),
        &stack.public_url,
        "curl/8.0 (somewhere else)",
    );
    assert_eq!(
        thief.get_with_cookie("/api/profile", &token).await.status(),
        401
    );
    assert_eq!(
        alice.get("/api/profile").await.status(),
        200,
        "the owner is not affected"
    );
}

#[tokio::test]
async fn a_session_slides_while_used_but_never_past_its_absolute_maximum() {
    use std::time::Duration;
    let Some(mut setup) = crate::support::Setup::new(Store::Sqlite).await else {
        return;
    };
    setup.identity.session_ttl = Duration::from_secs(3_600);
    setup.identity.session_update_age = Duration::from_secs(600);
    setup.identity.session_max_age = Duration::from_secs(3 * 3_600);
    let stack = setup.start().await;
    let alice = stack.signed_in("Alice").await;
    let expires_at =
        |session: &serde_json::Value| session["session"]["expiresAt"].as_str().unwrap().to_owned();
    let first: serde_json::Value = alice
        .get("/api/auth/get-session")
        .await
        .json()
        .await
        .unwrap();

    // Used every 50 minutes, the one-hour session lives on past its first expiry...
    for _ in 0..3 {
        stack.clock.advance(Duration::from_secs(50 * 60));
        let session: serde_json::Value = alice
            .get("/api/auth/get-session")
            .await
            .json()
            .await
            .unwrap();
        assert!(session.is_object(), "a session in use slides");
        assert!(expires_at(&session) > expires_at(&first));
    }
    // ...but not past three hours after sign-in.
    stack.clock.advance(Duration::from_secs(40 * 60));
    assert!(!alice.is_signed_in().await);
}

#[tokio::test]
async fn an_unused_session_expires() {
    let Some(stack) = TestStack::start(Store::Sqlite).await else {
        return;
    };
    let alice = stack.signed_in("Alice").await;
    let token = alice.session_token().unwrap();
    stack
        .clock
        .advance(std::time::Duration::from_secs(7 * 86_400 + 1));
    assert_eq!(
        alice.get_with_cookie("/api/profile", &token).await.status(),
        401
    );
}
