//! The password change: the other sessions end (or all, with a new one for the caller), a
//! refused change has no effect, and of two concurrent changes one wins.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{
    as_caller, assert_code, elsewhere_is_alive, is_alive, signed_in_twice, NEW_PASSWORD, STALE,
};
use crate::helpers::{unique_email, Store, TestApp, PASSWORD, USER_AGENT};

async fn changing_the_password_ends_the_other_sessions_and_keeps_the_callers(store: Store) {
    let Some((app, email, browser, other)) = signed_in_twice(store).await else {
        return;
    };
    let change = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
    app.clock.advance(Duration::from_secs(5));

    let (status, answer) = app
        .post_json("/v1/password/change", &as_caller(&browser, change))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["user"]["email"], email.as_str());
    assert_ne!(answer["user"]["updatedAt"], answer["user"]["createdAt"]);
    assert_eq!(
        (&answer["session"], &answer["session_token"]),
        (&Value::Null, &Value::Null)
    );
    assert!(
        !answer.to_string().contains("password_hash") && !answer.to_string().contains("argon2")
    );

    assert!(
        is_alive(&app, &browser.token).await,
        "the caller stays signed in"
    );
    assert!(
        !elsewhere_is_alive(&app, &other).await,
        "every other session ends"
    );
    assert_code(
        &app.try_sign_in(&email, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_EMAIL_OR_PASSWORD",
    );
    assert_eq!(
        app.try_sign_in(&email, NEW_PASSWORD).await.0,
        StatusCode::OK
    );
}

async fn changing_the_password_with_revoke_other_sessions_replaces_the_callers_session(
    store: Store,
) {
    let Some((app, email, browser, other)) = signed_in_twice(store).await else {
        return;
    };
    let change = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD, "revoke_other_sessions": true});

    let (status, answer) = app
        .post_json("/v1/password/change", &as_caller(&browser, change))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let new_token = answer["session_token"].as_str().expect("a new session");
    assert_eq!(answer["session"]["token"], answer["session"]["id"]);
    assert_ne!(answer["session"]["id"], browser.session_id.as_str());
    assert_eq!(answer["session"]["userAgent"], USER_AGENT);
    assert_eq!(answer["cookie_max_age"], 7 * 86_400);
    assert!(
        !is_alive(&app, &browser.token).await,
        "the old session of the caller ends too"
    );
    assert!(!elsewhere_is_alive(&app, &other).await);
    assert!(is_alive(&app, new_token).await);
    assert_eq!(
        app.try_sign_in(&email, NEW_PASSWORD).await.0,
        StatusCode::OK
    );
}

async fn a_password_change_is_refused_without_effect_when_stale_wrong_or_out_of_limits(
    store: Store,
) {
    let Some((app, email, browser, other)) = signed_in_twice(store).await else {
        return;
    };
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});

    let cases = [
        (
            change("wrong password", NEW_PASSWORD),
            StatusCode::BAD_REQUEST,
            "INVALID_PASSWORD",
        ),
        (
            change("short", NEW_PASSWORD),
            StatusCode::BAD_REQUEST,
            "INVALID_PASSWORD",
        ),
        (
            change(PASSWORD, "short"),
            StatusCode::BAD_REQUEST,
            "PASSWORD_TOO_SHORT",
        ),
        (
            change(PASSWORD, &"p".repeat(129)),
            StatusCode::BAD_REQUEST,
            "PASSWORD_TOO_LONG",
        ),
        (
            json!({"new_password": NEW_PASSWORD}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            json!({"current_password": PASSWORD, "new_password": 12345678}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD, "revoke_other_sessions": "yes"}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
    ];
    for (body, status, code) in cases {
        let answer = app
            .post_json("/v1/password/change", &as_caller(&browser, body.clone()))
            .await;
        assert_code(&answer, status, code);
    }
    app.clock.advance(STALE);
    let stale = app
        .post_json(
            "/v1/password/change",
            &as_caller(&browser, change(PASSWORD, NEW_PASSWORD)),
        )
        .await;
    assert_code(&stale, StatusCode::FORBIDDEN, "SESSION_NOT_FRESH");

    assert!(is_alive(&app, &browser.token).await);
    assert!(
        elsewhere_is_alive(&app, &other).await,
        "no refusal revoked anything"
    );
    assert_eq!(
        app.try_sign_in(&email, PASSWORD).await.0,
        StatusCode::OK,
        "the password is unchanged"
    );
    assert_eq!(
        app.try_sign_in(&email, NEW_PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn of_two_concurrent_password_changes_exactly_one_wins(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let email = unique_email();
    let browser = app.sign_up(&email).await;
    let one = as_caller(
        &browser,
        json!({"current_password": PASSWORD, "new_password": "first new password"}),
    );
    let two = as_caller(
        &browser,
        json!({"current_password": PASSWORD, "new_password": "second new password"}),
    );
    let (one, two) = tokio::join!(
        app.post_json("/v1/password/change", &one),
        app.post_json("/v1/password/change", &two)
    );
    let mut statuses = [one.0, two.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::BAD_REQUEST],
        "{} / {}",
        one.1,
        two.1
    );
    let winner = if one.0 == StatusCode::OK {
        "first new password"
    } else {
        "second new password"
    };
    let loser = if one.0 == StatusCode::OK {
        "second new password"
    } else {
        "first new password"
    };
    assert_eq!(app.try_sign_in(&email, winner).await.0, StatusCode::OK);
    assert_eq!(
        app.try_sign_in(&email, loser).await.0,
        StatusCode::UNAUTHORIZED
    );
}

crate::on_both_stores!(
    changing_the_password_ends_the_other_sessions_and_keeps_the_callers,
    changing_the_password_with_revoke_other_sessions_replaces_the_callers_session,
    a_password_change_is_refused_without_effect_when_stale_wrong_or_out_of_limits,
    of_two_concurrent_password_changes_exactly_one_wins,
);
