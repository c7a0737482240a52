//! Every account endpoint refuses bad input with a code and changes nothing.

use serde_json::json;

use super::{list_sessions, two_devices, NEW_PASSWORD};
use crate::support::{api_status, assert_code, json_of, post_raw, Store, TestStack, PASSWORD};

#[tokio::test]
async fn every_account_endpoint_refuses_bad_input_with_a_code_and_changes_nothing() {
    let Some(stack) = TestStack::start(Store::Sqlite).await else {
        return;
    };
    let (email, laptop, phone) = two_devices(&stack, "Ivan").await;
    let endpoints = [
        "/api/auth/revoke-session",
        "/api/auth/revoke-sessions",
        "/api/auth/revoke-other-sessions",
        "/api/auth/change-password",
        "/api/auth/update-user",
        "/api/auth/delete-user",
    ];
    for path in endpoints {
        let malformed =
            json_of(post_raw(&laptop, path, "application/json", "{\"token\": ".into()).await).await;
        assert_code(&malformed, 400, "BAD_REQUEST");
        let not_an_object =
            json_of(post_raw(&laptop, path, "application/json", "[1, 2]".into()).await).await;
        assert_code(&not_an_object, 400, "VALIDATION_ERROR");
        let not_json = json_of(post_raw(&laptop, path, "text/plain", "{}".into()).await).await;
        assert_code(&not_json, 415, "UNSUPPORTED_MEDIA_TYPE");
        let huge = json!({"name": "x".repeat(70 * 1024)}).to_string();
        assert_code(
            &json_of(post_raw(&laptop, path, "application/json", huge).await).await,
            413,
            "PAYLOAD_TOO_LARGE",
        );
        let signed_out = stack.browser();
        assert_code(
            &json_of(signed_out.post_json(path, json!({})).await).await,
            401,
            "UNAUTHORIZED",
        );
    }
    assert_code(
        &json_of(stack.browser().get("/api/auth/list-sessions").await).await,
        401,
        "UNAUTHORIZED",
    );

    let invalid = [
        (
            "/api/auth/revoke-session",
            json!({}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/revoke-session",
            json!({"token": 42}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/revoke-session",
            json!({"token": "x".repeat(129)}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/revoke-session",
            json!({"token": ""}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/change-password",
            json!({"newPassword": NEW_PASSWORD}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/change-password",
            json!({"currentPassword": PASSWORD}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/change-password",
            json!({"currentPassword": PASSWORD, "newPassword": 12_345_678}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/change-password",
            json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "revokeOtherSessions": "please"}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/change-password",
            json!({"currentPassword": PASSWORD, "newPassword": "p".repeat(129)}),
            400,
            "PASSWORD_TOO_LONG",
        ),
        (
            "/api/auth/change-password",
            json!({"currentPassword": "x".repeat(129), "newPassword": NEW_PASSWORD}),
            400,
            "INVALID_PASSWORD",
        ),
        (
            "/api/auth/update-user",
            json!({"name": "n".repeat(257)}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/update-user",
            json!({"name": "   "}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/update-user",
            json!({"name": 7}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/update-user",
            json!({"image": {"url": "x"}}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/update-user",
            json!({"name": "Mallory", "email": "m@example.com"}),
            400,
            "EMAIL_CAN_NOT_BE_UPDATED",
        ),
        (
            "/api/auth/delete-user",
            json!({"password": 12_345_678}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/delete-user",
            json!({"password": "p".repeat(129)}),
            400,
            "INVALID_PASSWORD",
        ),
        (
            "/api/auth/delete-user",
            json!({"callbackURL": "https://evil.example/"}),
            403,
            "INVALID_CALLBACK_URL",
        ),
    ];
    for (path, body, status, code) in invalid {
        let answer = json_of(laptop.post_json(path, body.clone()).await).await;
        assert_code(&answer, status, code);
    }

    // Nothing changed: both sessions live, the name, the password and the account are intact.
    assert_eq!(
        (api_status(&laptop).await, api_status(&phone).await),
        (200, 200)
    );
    assert_eq!(list_sessions(&laptop).await.len(), 2);
    let (_, session) = json_of(laptop.get("/api/auth/get-session").await).await;
    assert_eq!(session["user"]["name"], "Ivan");
    assert_eq!(session["user"]["email"], email.as_str());
    assert_eq!(
        stack.browser().sign_in(&email, PASSWORD).await.status(),
        200
    );
}
