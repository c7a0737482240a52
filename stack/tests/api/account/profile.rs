//! update-user changes the name get-session shows; delete-user removes the account and every
//! session.

use serde_json::{json, Value};

use super::two_devices;
use crate::support::{api_status, assert_code, json_of, Store, TestStack, PASSWORD};

async fn update_user_changes_the_name_seen_in_get_session(store: Store) {
    let Some(stack) = TestStack::start(store).await else {
        return;
    };
    let alice = stack.signed_in("Alice").await;
    let updated = alice
        .post_json(
            "/api/auth/update-user",
            json!({"name": "Alice Liddell", "image": "https://example.com/a.png"}),
        )
        .await;
    assert_eq!(json_of(updated).await, (200, json!({"status": true})));
    let (_, session) = json_of(alice.get("/api/auth/get-session").await).await;
    assert_eq!(session["user"]["name"], "Alice Liddell");
    assert_eq!(session["user"]["image"], "https://example.com/a.png");
    let email = session["user"]["email"].clone();

    let refused = json_of(
        alice
            .post_json(
                "/api/auth/update-user",
                json!({"email": "mallory@example.com"}),
            )
            .await,
    )
    .await;
    assert_code(&refused, 400, "EMAIL_CAN_NOT_BE_UPDATED");
    let nothing = json_of(alice.post_json("/api/auth/update-user", json!({})).await).await;
    assert_code(&nothing, 400, "VALIDATION_ERROR");
    assert_eq!(
        alice
            .post_json("/api/auth/update-user", json!({"image": null}))
            .await
            .status(),
        200
    );
    let (_, session) = json_of(alice.get("/api/auth/get-session").await).await;
    assert_eq!(
        (&session["user"]["email"], &session["user"]["image"]),
        (&email, &Value::Null)
    );
    assert_eq!(session["user"]["name"], "Alice Liddell");
}

async fn delete_user_removes_the_account_and_every_session(store: Store) {
    let Some(stack) = TestStack::start(store).await else {
        return;
    };
    let (email, laptop, phone) = two_devices(&stack, "Heidi").await;
    let token = laptop.session_token().unwrap();

    let wrong = json_of(
        laptop
            .post_json(
                "/api/auth/delete-user",
                json!({"password": "not my password"}),
            )
            .await,
    )
    .await;
    assert_code(&wrong, 400, "INVALID_PASSWORD");
    assert_eq!(api_status(&laptop).await, 200);

    let deleted = laptop.post_json("/api/auth/delete-user", json!({})).await;
    assert_eq!(
        json_of(deleted).await,
        (200, json!({"success": true, "message": "User deleted"}))
    );
    assert_eq!(laptop.session_token(), None, "the cookie is cleared");
    let (status, body) = json_of(laptop.get_with_cookie("/api/profile", &token).await).await;
    assert_code(&(status, body), 401, "UNAUTHORIZED");
    assert_eq!(api_status(&phone).await, 401);
    let sign_in = json_of(stack.browser().sign_in(&email, PASSWORD).await).await;
    assert_code(&sign_in, 401, "INVALID_EMAIL_OR_PASSWORD");
}

test_support::on_both_stores!(
    update_user_changes_the_name_seen_in_get_session,
    delete_user_removes_the_account_and_every_session,
);
