//! Sign-up, sign-in, the session check and sign-out, in Better-Auth's shapes.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{sign_up_body, unique_email, Store, TestApp, CLIENT_IP, PASSWORD, USER_AGENT};

async fn sign_up_creates_the_user_and_signs_them_in(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let email = unique_email();
    let mut body = sign_up_body(&format!("  {}  ", email.to_uppercase()));
    body["image"] = json!("https://example.com/ada.png");
    let (status, answer) = app.post_json("/v1/sign-up", &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let user = &answer["user"];
    assert_eq!(
        user["email"],
        email.as_str(),
        "stored trimmed and lower-cased"
    );
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["emailVerified"], false);
    assert_eq!(user["image"], "https://example.com/ada.png");
    assert!(user["createdAt"].as_str().unwrap().ends_with('Z'));
    let session = &answer["session"];
    assert_eq!(
        session["token"], session["id"],
        "the session JSON carries the public id, not the secret"
    );
    assert_eq!(session["userId"], user["id"]);
    assert_eq!(session["ipAddress"], CLIENT_IP);
    assert_eq!(session["userAgent"], USER_AGENT);
    let secret = answer["session_token"].as_str().unwrap();
    assert_eq!(secret.len(), 43);
    assert_ne!(session["id"], secret);
    assert_eq!(answer["cookie_max_age"], 7 * 86_400);

    let (status, current) = app.check_session(secret).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(current["user"]["id"], user["id"]);
    assert_eq!(current["session"]["id"], session["id"]);
    assert_eq!(current["refreshed"], false);
    assert!(
        !current.to_string().contains(secret),
        "the secret never comes back from /v1/session"
    );
}

async fn remember_me_false_gives_a_browser_session_cookie(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let mut body = sign_up_body(&unique_email());
    body["remember_me"] = json!(false);
    let (status, answer) = app.post_json("/v1/sign-up", &body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["cookie_max_age"], Value::Null);
}

async fn unknown_email_and_wrong_password_get_the_same_answer(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let email = unique_email();
    app.sign_up(&email).await;
    let wrong_password = app.try_sign_in(&email, "not the password").await;
    let unknown_email = app.try_sign_in(&unique_email(), PASSWORD).await;
    assert_eq!(wrong_password.0, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password.1["code"], "INVALID_EMAIL_OR_PASSWORD");
    assert_eq!(wrong_password, unknown_email);
    let too_short = app.try_sign_in(&email, "short").await;
    assert_eq!(too_short, wrong_password);
}

async fn signing_up_twice_with_one_email_is_422(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let email = unique_email();
    app.sign_up(&email).await;
    let (status, body) = app
        .post_json("/v1/sign-up", &sign_up_body(&email.to_uppercase()))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["code"], "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
}

async fn concurrent_sign_ups_with_one_email_create_one_user(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let body = sign_up_body(&unique_email());
    let (one, two) = tokio::join!(
        app.post_json("/v1/sign-up", &body),
        app.post_json("/v1/sign-up", &body)
    );
    let mut statuses = [one.0, two.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::UNPROCESSABLE_ENTITY],
        "{} / {}",
        one.1,
        two.1
    );
}

async fn sign_in_revokes_the_session_it_replaces(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let email = unique_email();
    let old = app.sign_up(&email).await;
    let (status, answer) = app
        .post_json(
            "/v1/sign-in",
            &json!({"email": email, "password": PASSWORD, "client_ip": CLIENT_IP, "user_agent": USER_AGENT,
                    "previous_session_token": old.token}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let new_token = answer["session_token"].as_str().unwrap();
    assert_ne!(new_token, old.token);
    assert_ne!(answer["session"]["id"], old.session_id.as_str());

    assert_eq!(app.exchange(&old.token).await.1["error"], "invalid_grant");
    let (status, body) = app.check_session(&old.token).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("UNAUTHORIZED"))
    );
    assert_eq!(app.exchange(new_token).await.0, StatusCode::OK);
}

async fn invalid_sign_up_input_is_400_and_creates_nothing(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let email = unique_email();
    let with = |field: &str, value: Value| {
        let mut body = sign_up_body(&email);
        body[field] = value;
        body
    };
    let cases = [
        (
            "short password",
            with("password", json!("1234567")),
            "PASSWORD_TOO_SHORT",
        ),
        (
            "long password",
            with("password", json!("p".repeat(129))),
            "PASSWORD_TOO_LONG",
        ),
        (
            "bad email",
            with("email", json!("not-an-email")),
            "INVALID_EMAIL",
        ),
        (
            "long email",
            with("email", json!(format!("{}@example.com", "a".repeat(250)))),
            "INVALID_EMAIL",
        ),
        (
            "long name",
            with("name", json!("n".repeat(257))),
            "VALIDATION_ERROR",
        ),
        ("empty name", with("name", json!("   ")), "VALIDATION_ERROR"),
        (
            "email of the wrong type",
            with("email", json!(42)),
            "VALIDATION_ERROR",
        ),
        (
            "bad client IP",
            with("client_ip", json!("somewhere")),
            "VALIDATION_ERROR",
        ),
        (
            "password missing",
            {
                let mut body = sign_up_body(&email);
                body.as_object_mut().unwrap().remove("password");
                body
            },
            "VALIDATION_ERROR",
        ),
    ];
    for (case, body, code) in cases {
        let (status, answer) = app.post_json("/v1/sign-up", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {answer}");
        assert_eq!(answer["code"], code, "{case}");
        assert!(
            answer["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{case}"
        );
    }

    let (status, answer) = app
        .post_raw("/v1/sign-up", "application/json", "{\"name\": ")
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("BAD_REQUEST"))
    );
    let huge = serde_json::to_string(&with("image", json!("i".repeat(70 * 1024)))).unwrap();
    let (status, answer) = app.post_raw("/v1/sign-up", "application/json", huge).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("VALIDATION_ERROR"))
    );
    let (status, _) = app.post_raw("/v1/sign-up", "text/plain", "hello").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Nothing was created: the address is still free.
    assert_eq!(
        app.try_sign_in(&email, PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    app.sign_up(&email).await;
}

async fn sign_out_always_succeeds_and_ends_the_session(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let browser = app.sign_up(&unique_email()).await;
    let success = (StatusCode::OK, json!({"success": true}));
    assert_eq!(
        app.post_json("/v1/sign-out", &json!({"session_token": browser.token}))
            .await,
        success
    );
    assert_eq!(
        app.post_json("/v1/sign-out", &json!({"session_token": browser.token}))
            .await,
        success
    );
    assert_eq!(
        app.post_json("/v1/sign-out", &json!({"session_token": "whatever"}))
            .await,
        success
    );
    assert_eq!(app.post_json("/v1/sign-out", &json!({})).await, success);
    let (status, _) = app.check_session(&browser.token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn the_session_check_refuses_another_user_agent(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let browser = app.sign_up(&unique_email()).await;
    let (status, body) = app
        .post_json(
            "/v1/session",
            &json!({"session_token": browser.token, "client_ip": CLIENT_IP, "user_agent": "curl/8.0"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("UNAUTHORIZED"))
    );
}

async fn required_email_verification_blocks_sign_in_until_verified(store: Store) {
    let Some(app) = TestApp::spawn_with(store, &["--require-email-verification", "true"]).await
    else {
        return;
    };
    let email = unique_email();
    let (status, answer) = app.post_json("/v1/sign-up", &sign_up_body(&email)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["session"], Value::Null);
    assert_eq!(answer["session_token"], Value::Null);
    let (status, body) = app.try_sign_in(&email, PASSWORD).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("EMAIL_NOT_VERIFIED"))
    );
}

async fn unknown_routes_are_404(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let response = app.get("/v1/nothing-here").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

crate::on_both_stores!(
    sign_up_creates_the_user_and_signs_them_in,
    remember_me_false_gives_a_browser_session_cookie,
    unknown_email_and_wrong_password_get_the_same_answer,
    signing_up_twice_with_one_email_is_422,
    concurrent_sign_ups_with_one_email_create_one_user,
    sign_in_revokes_the_session_it_replaces,
    invalid_sign_up_input_is_400_and_creates_nothing,
    sign_out_always_succeeds_and_ends_the_session,
    the_session_check_refuses_another_user_agent,
    required_email_verification_blocks_sign_in_until_verified,
    unknown_routes_are_404,
);
