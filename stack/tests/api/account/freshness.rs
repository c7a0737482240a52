//! Sensitive changes on a stale session are refused and change nothing.

use std::time::Duration;

use serde_json::json;

use super::{list_sessions, two_devices, NEW_PASSWORD};
use crate::support::{assert_code, json_of, Setup, Store, TestStack, PASSWORD};

/// A stack whose sessions go stale after 10 minutes but live for days.
async fn stack_with_short_freshness(store: Store) -> Option<TestStack> {
    let mut setup = Setup::new(store).await?;
    setup.identity.session_fresh_age = Duration::from_secs(600);
    setup.identity.session_update_age = Duration::from_secs(86_400);
    setup.identity.session_ttl = Duration::from_secs(7 * 86_400);
    Some(setup.start().await)
}

#[tokio::test]
async fn sensitive_changes_on_a_stale_session_are_refused_and_change_nothing() {
    let Some(stack) = stack_with_short_freshness(Store::Sqlite).await else {
        return;
    };
    let (email, laptop, phone) = two_devices(&stack, "Grace").await;
    assert_eq!(
        list_sessions(&laptop).await.len(),
        2,
        "fresh: the list is shown"
    );
    // identity's clock moves on; core-api's does not, so from here on only identity's answers
    // (get-session, sign-in) are checked.
    stack.clock.advance(Duration::from_secs(11 * 60));
    assert!(laptop.is_signed_in().await, "stale, but still signed in");

    let change = json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD});
    let refused = json_of(laptop.post_json("/api/auth/change-password", change).await).await;
    assert_code(&refused, 403, "SESSION_NOT_FRESH");
    assert_code(
        &json_of(laptop.get("/api/auth/list-sessions").await).await,
        403,
        "SESSION_NOT_FRESH",
    );
    assert_code(
        &json_of(
            laptop
                .post_json("/api/auth/revoke-sessions", json!({}))
                .await,
        )
        .await,
        403,
        "SESSION_NOT_FRESH",
    );
    assert_code(
        &json_of(laptop.post_json("/api/auth/delete-user", json!({})).await).await,
        403,
        "SESSION_NOT_FRESH",
    );
    assert!(laptop.session_token().is_some());
    assert!(
        laptop.is_signed_in().await && phone.is_signed_in().await,
        "nothing was revoked"
    );
    let stranger = stack.browser();
    assert_code(
        &json_of(stranger.sign_in(&email, NEW_PASSWORD).await).await,
        401,
        "INVALID_EMAIL_OR_PASSWORD",
    );
    assert_eq!(
        stranger.sign_in(&email, PASSWORD).await.status(),
        200,
        "the password is unchanged"
    );

    // Nor may it end the others (DESIGN §6: a stolen old cookie cannot sign the owner out
    // elsewhere); it may still delete the account with the password.
    assert_code(
        &json_of(
            laptop
                .post_json("/api/auth/revoke-other-sessions", json!({}))
                .await,
        )
        .await,
        403,
        "SESSION_NOT_FRESH",
    );
    assert!(phone.is_signed_in().await);
    let deleted = json_of(
        laptop
            .post_json("/api/auth/delete-user", json!({"password": PASSWORD}))
            .await,
    )
    .await;
    assert_eq!(
        deleted,
        (200, json!({"success": true, "message": "User deleted"}))
    );
    assert!(!laptop.is_signed_in().await);
}
