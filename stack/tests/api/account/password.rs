//! The password change: the other sessions and the old password end; revoking the other
//! sessions gives the caller a new cookie.

use serde_json::{json, Value};

use super::{current_handle, list_sessions, two_devices, NEW_PASSWORD};
use crate::support::{api_status, assert_code, json_of, Store, TestStack, PASSWORD};

async fn changing_the_password_ends_the_other_sessions_and_the_old_password(store: Store) {
    let Some(stack) = TestStack::start(store).await else {
        return;
    };
    let (email, laptop, phone) = two_devices(&stack, "Erin").await;
    let change = |current: &str, new: &str| json!({"currentPassword": current, "newPassword": new});

    let wrong = json_of(
        laptop
            .post_json(
                "/api/auth/change-password",
                change("not my password", NEW_PASSWORD),
            )
            .await,
    )
    .await;
    assert_code(&wrong, 400, "INVALID_PASSWORD");
    let short = json_of(
        laptop
            .post_json("/api/auth/change-password", change(PASSWORD, "short"))
            .await,
    )
    .await;
    assert_code(&short, 400, "PASSWORD_TOO_SHORT");
    let long = json_of(
        laptop
            .post_json(
                "/api/auth/change-password",
                change(PASSWORD, &"p".repeat(129)),
            )
            .await,
    )
    .await;
    assert_code(&long, 400, "PASSWORD_TOO_LONG");
    assert_eq!(api_status(&phone).await, 200, "refusals revoke nothing");

    let cookie_before = laptop.session_token();
    let changed = laptop
        .post_json("/api/auth/change-password", change(PASSWORD, NEW_PASSWORD))
        .await;
    assert!(changed.headers().get("set-cookie").is_none());
    let (status, body) = json_of(changed).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token"], Value::Null);
    assert_eq!(body["user"]["email"], email.as_str());
    assert_eq!(laptop.session_token(), cookie_before);

    assert_eq!(api_status(&laptop).await, 200, "the caller stays signed in");
    assert_eq!(
        api_status(&phone).await,
        401,
        "the other session dies on its very next call"
    );
    let stranger = stack.browser();
    let old = json_of(stranger.sign_in(&email, PASSWORD).await).await;
    assert_code(&old, 401, "INVALID_EMAIL_OR_PASSWORD");
    assert_eq!(stranger.sign_in(&email, NEW_PASSWORD).await.status(), 200);
}

async fn changing_the_password_revoking_other_sessions_gives_the_caller_a_new_cookie(store: Store) {
    let Some(stack) = TestStack::start(store).await else {
        return;
    };
    let (email, laptop, phone) = two_devices(&stack, "Frank").await;
    let old_token = laptop.session_token().unwrap();
    let change = json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "revokeOtherSessions": true});

    let (status, body) = json_of(laptop.post_json("/api/auth/change-password", change).await).await;
    assert_eq!(status, 200, "{body}");
    let new_token = laptop.session_token().expect("a new cookie");
    assert_ne!(new_token, old_token);
    assert_eq!(
        body["token"].as_str(),
        Some(current_handle(&laptop).await.as_str())
    );
    assert_ne!(
        body["token"].as_str(),
        Some(new_token.as_str()),
        "the handle, not the secret"
    );
    assert_eq!(
        laptop
            .get_with_cookie("/api/profile", &old_token)
            .await
            .status(),
        401
    );
    assert_eq!(api_status(&laptop).await, 200);
    assert_eq!(api_status(&phone).await, 401);
    assert_eq!(list_sessions(&laptop).await.len(), 1);
    assert_eq!(
        stack.browser().sign_in(&email, NEW_PASSWORD).await.status(),
        200
    );
}

test_support::on_both_stores!(
    changing_the_password_ends_the_other_sessions_and_the_old_password,
    changing_the_password_revoking_other_sessions_gives_the_caller_a_new_cookie,
);
