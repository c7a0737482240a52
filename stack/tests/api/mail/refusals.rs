//! The mail endpoints refuse what they must not act on — bad input, or a question whose answer
//! would tell whether an address has an account — and change nothing.

use serde_json::{json, Value};

use super::*;

#[tokio::test]
async fn every_mail_endpoint_refuses_bad_input_with_a_code_and_changes_nothing() {
    let Some(stack) = TestStack::start(Store::Sqlite).await else {
        return;
    };
    let browser = stack.browser();
    let email = unique_email("Ivy");
    assert_eq!(browser.sign_up("Ivy", &email, PASSWORD).await.status(), 200);
    let before = outbox(&stack).await.len();
    let long_email = format!("{}@example.com", "a".repeat(300));

    for path in [
        "/api/auth/send-verification-email",
        "/api/auth/request-password-reset",
        "/api/auth/reset-password",
    ] {
        assert_code(
            &post_json_raw(&browser, path, "{not json").await,
            400,
            "BAD_REQUEST",
        );
        assert_code(
            &post_json_raw(&browser, path, "{}").await,
            400,
            "VALIDATION_ERROR",
        );
        assert_code(
            &post_json_raw(&browser, path, "[]").await,
            400,
            "VALIDATION_ERROR",
        );
    }
    for path in [
        "/api/auth/send-verification-email",
        "/api/auth/request-password-reset",
    ] {
        assert_code(
            &post_json_raw(&browser, path, r#"{"email": 5}"#).await,
            400,
            "VALIDATION_ERROR",
        );
        let body = json!({ "email": long_email }).to_string();
        assert_code(
            &post_json_raw(&browser, path, &body).await,
            400,
            "INVALID_EMAIL",
        );
    }
    let evil = json!({ "email": email, "callbackURL": "https://evil.example/x" }).to_string();
    assert_code(
        &post_json_raw(&browser, "/api/auth/send-verification-email", &evil).await,
        403,
        "INVALID_CALLBACK_URL",
    );
    let evil = json!({ "email": email, "redirectTo": "//evil.example/x" }).to_string();
    assert_code(
        &post_json_raw(&browser, "/api/auth/request-password-reset", &evil).await,
        403,
        "INVALID_CALLBACK_URL",
    );

    let short = json!({ "token": "x", "newPassword": "short" }).to_string();
    assert_code(
        &post_json_raw(&browser, "/api/auth/reset-password", &short).await,
        400,
        "PASSWORD_TOO_SHORT",
    );
    let long = json!({ "token": "x", "newPassword": "p".repeat(129) }).to_string();
    assert_code(
        &post_json_raw(&browser, "/api/auth/reset-password", &long).await,
        400,
        "PASSWORD_TOO_LONG",
    );
    let no_token = json!({ "newPassword": NEW_PASSWORD }).to_string();
    assert_code(
        &post_json_raw(&browser, "/api/auth/reset-password", &no_token).await,
        400,
        "INVALID_TOKEN",
    );
    let long_token = json!({ "token": "t".repeat(5000), "newPassword": NEW_PASSWORD }).to_string();
    assert_code(
        &post_json_raw(&browser, "/api/auth/reset-password", &long_token).await,
        400,
        "INVALID_TOKEN",
    );

    assert_code(
        &json_of(browser.get("/api/auth/verify-email").await).await,
        400,
        "VALIDATION_ERROR",
    );
    assert_code(
        &json_of(browser.get("/api/auth/verify-email?token=nope").await).await,
        401,
        "INVALID_TOKEN",
    );
    let evil = "/api/auth/verify-email?token=nope&callbackURL=https%3A%2F%2Fevil.example";
    assert_code(
        &json_of(browser.get(evil).await).await,
        403,
        "INVALID_CALLBACK_URL",
    );
    assert_code(
        &json_of(browser.get("/api/auth/reset-password/nope").await).await,
        400,
        "VALIDATION_ERROR",
    );
    let evil = "/api/auth/reset-password/nope?callbackURL=%2F%2Fevil.example";
    assert_code(
        &json_of(browser.get(evil).await).await,
        403,
        "INVALID_CALLBACK_URL",
    );
    let bad = browser
        .get(&format!(
            "/api/auth/reset-password/{}?callbackURL=/reset-password",
            "t".repeat(600)
        ))
        .await;
    assert_eq!(location(&bad), "/reset-password?error=INVALID_TOKEN");

    // identity itself refuses malformed bodies with a code, too.
    let identity = stack.stack.identity.url();
    for path in [
        "/v1/verification/send",
        "/v1/verification/verify",
        "/v1/password/reset/request",
        "/v1/password/reset/check",
        "/v1/password/reset",
    ] {
        let response = reqwest::Client::new()
            .post(format!("{identity}{path}"))
            .header(CONTENT_TYPE, "application/json")
            .body("{\"email\":")
            .send()
            .await
            .expect("identity answers");
        assert_code(&json_of(response).await, 400, "BAD_REQUEST");
    }

    assert_eq!(outbox(&stack).await.len(), before, "no mail went out");
    assert_eq!(
        stack.browser().sign_in(&email, PASSWORD).await.status(),
        200,
        "the password is unchanged"
    );
}

#[tokio::test]
async fn send_verification_email_answers_the_same_for_any_address_and_mails_only_unverified_ones() {
    let Some(stack) = TestStack::start(Store::Sqlite).await else {
        return;
    };
    let browser = stack.browser();
    let email = unique_email("Una");
    assert_eq!(browser.sign_up("Una", &email, PASSWORD).await.status(), 200);
    let send = |address: String| {
        let browser = browser.clone();
        async move {
            let body = json!({ "email": address, "callbackURL": "/welcome" });
            json_of(
                browser
                    .post_json("/api/auth/send-verification-email", body)
                    .await,
            )
            .await
        }
    };
    assert_eq!(
        send(unique_email("Nobody")).await,
        (200, json!({ "status": true }))
    );
    assert_eq!(outbox(&stack).await.len(), 1, "only the sign-up mail");
    assert_eq!(send(email.clone()).await, (200, json!({ "status": true })));
    let messages = outbox_with(&stack, 2).await;
    assert_eq!(messages.len(), 2);
    let link = messages[0]["links"][0].as_str().expect("a link").to_owned();
    assert!(link.ends_with("&callbackURL=/welcome"), "{link}");
    assert_eq!(location(&browser.get(&path_of(&link)).await), "/welcome");
    // Verified now: a further request answers the same and mails nothing.
    assert_eq!(send(email.clone()).await, (200, json!({ "status": true })));
    // A later control mail: once it is in, a verification mail asked for before it would be too.
    assert_eq!(request_reset(&browser, &email).await.0, 200);
    let messages = outbox_with(&stack, 3).await;
    let verification_mails = messages
        .iter()
        .filter(|mail| mail["subject"] == VERIFY_SUBJECT)
        .count();
    assert_eq!((messages.len(), verification_mails), (3, 2));
}

/// Posts `body` as JSON without checking it, and reads the answer.
async fn post_json_raw(browser: &Browser, path: &str, body: &str) -> (u16, Value) {
    json_of(post_raw(browser, path, "application/json", body.to_owned()).await).await
}
