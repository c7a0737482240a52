//! The profile change (name and image, never the email) and the account's deletion.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{
    as_caller, assert_code, call, elsewhere_is_alive, is_alive, sign_in_elsewhere, signed_in_twice,
    STALE,
};
use crate::helpers::{unique_email, Store, TestApp, PASSWORD};

async fn updating_the_profile_changes_name_and_image_never_the_email(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let email = unique_email();
    let browser = app.sign_up(&email).await;
    let update = |extra: Value| call(&app, "/v1/user/update", &browser, extra);

    let (status, answer) =
        update(json!({"name": "  Ada King  ", "image": "https://example.com/a.png"})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["user"]["name"], "Ada King");
    assert_eq!(answer["user"]["image"], "https://example.com/a.png");
    let (_, answer) = update(json!({"image": null})).await;
    assert_eq!(
        (&answer["user"]["name"], &answer["user"]["image"]),
        (&json!("Ada King"), &Value::Null)
    );
    let (_, answer) = update(json!({"name": "Ada"})).await;
    assert_eq!(answer["user"]["name"], "Ada");

    let refusals = [
        (
            json!({"email": "new@example.com"}),
            "EMAIL_CAN_NOT_BE_UPDATED",
        ),
        (
            json!({"name": "Eve", "email": null}),
            "EMAIL_CAN_NOT_BE_UPDATED",
        ),
        (json!({}), "VALIDATION_ERROR"),
        (json!({"name": "n".repeat(257)}), "VALIDATION_ERROR"),
        (json!({"name": "   "}), "VALIDATION_ERROR"),
        (json!({"name": 5}), "VALIDATION_ERROR"),
        (json!({"image": ["a"]}), "VALIDATION_ERROR"),
    ];
    for (body, code) in refusals {
        assert_code(&update(body).await, StatusCode::BAD_REQUEST, code);
    }
    let (_, current) = app.check_session(&browser.token).await;
    assert_eq!(
        current["user"]["name"], "Ada",
        "no refusal changed anything"
    );
    assert_eq!(current["user"]["email"], email.as_str());
    assert_eq!(current["user"]["image"], Value::Null);
}

async fn deleting_the_account_needs_a_fresh_session_or_the_password_and_ends_everything(
    store: Store,
) {
    let Some((app, email, browser, other)) = signed_in_twice(store).await else {
        return;
    };
    let delete = |extra: Value| call(&app, "/v1/user/delete", &browser, extra);

    assert_code(
        &delete(json!({"password": "wrong password"})).await,
        StatusCode::BAD_REQUEST,
        "INVALID_PASSWORD",
    );
    assert_code(
        &delete(json!({"password": 5})).await,
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    );
    app.clock.advance(STALE);
    assert_code(
        &delete(json!({})).await,
        StatusCode::FORBIDDEN,
        "SESSION_NOT_FRESH",
    );
    assert!(
        is_alive(&app, &browser.token).await,
        "refusals delete nothing"
    );
    assert_eq!(app.try_sign_in(&email, PASSWORD).await.0, StatusCode::OK);
    let (after_sign_in, _) = sign_in_elsewhere(&app, &email).await;

    // The password stands in for freshness.
    assert_eq!(
        delete(json!({"password": PASSWORD})).await,
        (StatusCode::OK, json!({"success": true}))
    );
    for token in [&other, &after_sign_in] {
        assert!(!elsewhere_is_alive(&app, token).await);
        assert_eq!(app.exchange(token).await.1["error"], "invalid_grant");
    }
    assert!(!is_alive(&app, &browser.token).await);
    assert_code(
        &app.try_sign_in(&email, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_EMAIL_OR_PASSWORD",
    );
    // The address is free again.
    app.sign_up(&email).await;
}

async fn deleting_on_a_fresh_session_needs_no_password(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let email = unique_email();
    let browser = app.sign_up(&email).await;
    let deleted = app
        .post_json("/v1/user/delete", &as_caller(&browser, json!({})))
        .await;
    assert_eq!(deleted, (StatusCode::OK, json!({"success": true})));
    assert!(!is_alive(&app, &browser.token).await);
    // A second call: the session is gone with the user.
    let again = app
        .post_json("/v1/user/delete", &as_caller(&browser, json!({})))
        .await;
    assert_code(&again, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

crate::on_both_stores!(
    updating_the_profile_changes_name_and_image_never_the_email,
    deleting_the_account_needs_a_fresh_session_or_the_password_and_ends_everything,
    deleting_on_a_fresh_session_needs_no_password,
);
