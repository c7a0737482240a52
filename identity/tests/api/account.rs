//! The account endpoints past sign-in: the caller's sessions (list, revoke one, the others, all),
//! the password change, the profile change and the account's deletion.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{unique_email, Browser, Store, TestApp, CLIENT_IP, PASSWORD, USER_AGENT};

/// A second browser's User-Agent.
const OTHER_AGENT: &str = "Mozilla/5.0 (Macintosh) gatehouse-test-2";
/// Past the default SESSION_FRESH_AGE (1 d) but well inside the default TTL (7 d).
const STALE: Duration = Duration::from_secs(86_400 + 60);
const NEW_PASSWORD: &str = "a whole new password";

/// The caller fields every account endpoint takes, plus `extra`.
fn as_caller(browser: &Browser, extra: Value) -> Value {
    as_agent(&browser.token, USER_AGENT, extra)
}

fn as_agent(token: &str, user_agent: &str, extra: Value) -> Value {
    let mut body =
        json!({"session_token": token, "client_ip": CLIENT_IP, "user_agent": user_agent});
    if let Value::Object(extra) = extra {
        body.as_object_mut().unwrap().extend(extra);
    }
    body
}

/// POSTs to an account endpoint as `browser`.
async fn call(app: &TestApp, path: &str, browser: &Browser, extra: Value) -> (StatusCode, Value) {
    app.post_json(path, &as_caller(browser, extra)).await
}

/// Signs `email` in from another browser (another User-Agent) and returns its secret token.
async fn sign_in_elsewhere(app: &TestApp, email: &str) -> (String, String) {
    let (status, answer) = app
        .post_json(
            "/v1/sign-in",
            &json!({"email": email, "password": PASSWORD, "client_ip": "198.51.100.7", "user_agent": OTHER_AGENT}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    (
        answer["session_token"].as_str().unwrap().to_owned(),
        answer["session"]["id"].as_str().unwrap().to_owned(),
    )
}

/// Whether the other browser's session still works.
async fn elsewhere_is_alive(app: &TestApp, token: &str) -> bool {
    let body =
        json!({"session_token": token, "client_ip": "198.51.100.7", "user_agent": OTHER_AGENT});
    app.post_json("/v1/session", &body).await.0 == StatusCode::OK
}

async fn is_alive(app: &TestApp, token: &str) -> bool {
    app.check_session(token).await.0 == StatusCode::OK
}

fn assert_code((status, body): &(StatusCode, Value), expected_status: StatusCode, code: &str) {
    assert_eq!(
        (*status, body["code"].as_str()),
        (expected_status, Some(code)),
        "{body}"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

async fn the_list_shows_the_users_live_sessions_by_handle_never_by_secret(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let email = unique_email();
    let browser = app.sign_up(&email).await;
    app.clock.advance(Duration::from_secs(1));
    let (other_token, other_id) = sign_in_elsewhere(&app, &email).await;
    let stranger = app.sign_up(&unique_email()).await;
    let (signed_out, _) = sign_in_elsewhere(&app, &email).await;
    app.post_json("/v1/sign-out", &json!({"session_token": signed_out}))
        .await;

    let (status, answer) = app
        .post_json("/v1/sessions/list", &as_caller(&browser, json!({})))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["current_session_id"], browser.session_id.as_str());
    let sessions = answer["sessions"].as_array().unwrap();
    let handles: Vec<&str> = sessions
        .iter()
        .map(|s| s["token"].as_str().unwrap())
        .collect();
    assert_eq!(
        handles,
        [other_id.as_str(), browser.session_id.as_str()],
        "live ones, newest first"
    );
    for session in sessions {
        assert_eq!(session["token"], session["id"]);
        assert_eq!(session["userId"], browser.user_id.as_str());
    }
    assert_eq!(sessions[0]["userAgent"], OTHER_AGENT);
    assert_eq!(sessions[0]["ipAddress"], "198.51.100.7");
    let text = answer.to_string();
    for secret in [&browser.token, &other_token, &stranger.token] {
        assert!(
            !text.contains(secret.as_str()),
            "a secret token leaked: {text}"
        );
    }
    assert!(
        !text.contains(&stranger.session_id),
        "another user's session is listed"
    );
}

async fn listing_and_revoking_all_need_a_fresh_session(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let browser = app.sign_up(&unique_email()).await;
    app.clock.advance(STALE);
    assert!(is_alive(&app, &browser.token).await, "stale, but alive");
    let listed = app
        .post_json("/v1/sessions/list", &as_caller(&browser, json!({})))
        .await;
    assert_code(&listed, StatusCode::FORBIDDEN, "SESSION_NOT_FRESH");
    let all = app
        .post_json("/v1/sessions/revoke-all", &as_caller(&browser, json!({})))
        .await;
    assert_code(&all, StatusCode::FORBIDDEN, "SESSION_NOT_FRESH");
    assert!(is_alive(&app, &browser.token).await, "nothing was revoked");
    // So does revoking the others (DESIGN §6): a stolen old cookie cannot sign the owner out.
    let others = app
        .post_json(
            "/v1/sessions/revoke-others",
            &as_caller(&browser, json!({})),
        )
        .await;
    assert_code(&others, StatusCode::FORBIDDEN, "SESSION_NOT_FRESH");
}

async fn revoking_by_handle_ends_only_that_session_and_only_the_callers_own(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let email = unique_email();
    let browser = app.sign_up(&email).await;
    let (other_token, other_id) = sign_in_elsewhere(&app, &email).await;
    let stranger = app.sign_up(&unique_email()).await;

    let revoked = app
        .post_json(
            "/v1/sessions/revoke",
            &as_caller(&browser, json!({"session_id": other_id})),
        )
        .await;
    assert_eq!(
        revoked,
        (
            StatusCode::OK,
            json!({"status": true, "revoked_current": false})
        )
    );
    assert!(!elsewhere_is_alive(&app, &other_token).await);
    assert_eq!(app.exchange(&other_token).await.1["error"], "invalid_grant");
    assert!(is_alive(&app, &browser.token).await);

    // Another user's session: the same answer, and nothing happens to it.
    let foreign = app
        .post_json(
            "/v1/sessions/revoke",
            &as_caller(&browser, json!({"session_id": stranger.session_id})),
        )
        .await;
    assert_eq!(
        foreign,
        (
            StatusCode::OK,
            json!({"status": true, "revoked_current": false})
        )
    );
    assert!(is_alive(&app, &stranger.token).await);
    let unknown = app
        .post_json(
            "/v1/sessions/revoke",
            &as_caller(&browser, json!({"session_id": "no-such-session"})),
        )
        .await;
    assert_eq!(unknown.0, StatusCode::OK);

    let own = app
        .post_json(
            "/v1/sessions/revoke",
            &as_caller(&browser, json!({"session_id": browser.session_id})),
        )
        .await;
    assert_eq!(
        own,
        (
            StatusCode::OK,
            json!({"status": true, "revoked_current": true})
        )
    );
    assert!(!is_alive(&app, &browser.token).await);
}

async fn revoking_the_others_keeps_the_caller_and_revoking_all_keeps_none(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let email = unique_email();
    let browser = app.sign_up(&email).await;
    let (first, _) = sign_in_elsewhere(&app, &email).await;
    let (second, _) = sign_in_elsewhere(&app, &email).await;
    let stranger = app.sign_up(&unique_email()).await;

    let others = app
        .post_json(
            "/v1/sessions/revoke-others",
            &as_caller(&browser, json!({})),
        )
        .await;
    assert_eq!(
        others,
        (
            StatusCode::OK,
            json!({"status": true, "revoked_current": false})
        )
    );
    assert!(!elsewhere_is_alive(&app, &first).await);
    assert!(!elsewhere_is_alive(&app, &second).await);
    assert!(is_alive(&app, &browser.token).await);

    let (third, _) = sign_in_elsewhere(&app, &email).await;
    let all = app
        .post_json("/v1/sessions/revoke-all", &as_caller(&browser, json!({})))
        .await;
    assert_eq!(
        all,
        (
            StatusCode::OK,
            json!({"status": true, "revoked_current": true})
        )
    );
    assert!(!elsewhere_is_alive(&app, &third).await);
    assert!(!is_alive(&app, &browser.token).await);
    assert!(
        is_alive(&app, &stranger.token).await,
        "other users keep their sessions"
    );
}

async fn changing_the_password_ends_the_other_sessions_and_keeps_the_callers(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let email = unique_email();
    let browser = app.sign_up(&email).await;
    let (other, _) = sign_in_elsewhere(&app, &email).await;
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
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let email = unique_email();
    let browser = app.sign_up(&email).await;
    let (other, _) = sign_in_elsewhere(&app, &email).await;
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
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let email = unique_email();
    let browser = app.sign_up(&email).await;
    let (other, _) = sign_in_elsewhere(&app, &email).await;
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
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let email = unique_email();
    let browser = app.sign_up(&email).await;
    let (other, _) = sign_in_elsewhere(&app, &email).await;
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

async fn every_account_endpoint_refuses_a_bad_caller_or_body_and_changes_nothing(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let email = unique_email();
    let browser = app.sign_up(&email).await;
    let (other, other_id) = sign_in_elsewhere(&app, &email).await;
    let endpoints = [
        ("/v1/sessions/list", json!({})),
        ("/v1/sessions/revoke", json!({"session_id": other_id})),
        ("/v1/sessions/revoke-others", json!({})),
        ("/v1/sessions/revoke-all", json!({})),
        (
            "/v1/password/change",
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        ),
        ("/v1/user/update", json!({"name": "Mallory"})),
        ("/v1/user/delete", json!({"password": PASSWORD})),
    ];
    for (path, extra) in &endpoints {
        let unknown = as_agent(&"A".repeat(43), USER_AGENT, extra.clone());
        assert_code(
            &app.post_json(path, &unknown).await,
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
        );
        let garbage = as_agent("not a token", USER_AGENT, extra.clone());
        assert_code(
            &app.post_json(path, &garbage).await,
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
        );
        let stolen = as_agent(&browser.token, "curl/8.0", extra.clone());
        assert_code(
            &app.post_json(path, &stolen).await,
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
        );

        let malformed = app
            .post_raw(path, "application/json", "{\"session_token\": ")
            .await;
        assert_code(&malformed, StatusCode::BAD_REQUEST, "BAD_REQUEST");
        let mut no_token = as_caller(&browser, extra.clone());
        no_token.as_object_mut().unwrap().remove("session_token");
        assert_code(
            &app.post_json(path, &no_token).await,
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        );
        let mut bad_ip = as_caller(&browser, extra.clone());
        bad_ip["client_ip"] = json!("somewhere");
        assert_code(
            &app.post_json(path, &bad_ip).await,
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        );
        let mut wrong_type = as_caller(&browser, extra.clone());
        wrong_type["session_token"] = json!(42);
        assert_code(
            &app.post_json(path, &wrong_type).await,
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        );
        let huge = as_caller(&browser, json!({"padding": "x".repeat(70 * 1024)}));
        let huge = app
            .post_raw(path, "application/json", huge.to_string())
            .await;
        assert_code(&huge, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert_eq!(
            app.post_raw(path, "text/plain", "hello").await.0,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }
    let missing_handle = app
        .post_json("/v1/sessions/revoke", &as_caller(&browser, json!({})))
        .await;
    assert_code(&missing_handle, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let long_handle = as_caller(&browser, json!({"session_id": "x".repeat(129)}));
    assert_code(
        &app.post_json("/v1/sessions/revoke", &long_handle).await,
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    );
    let empty_handle = as_caller(&browser, json!({"session_id": ""}));
    assert_code(
        &app.post_json("/v1/sessions/revoke", &empty_handle).await,
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    );

    // Nothing changed: both sessions live, same name, same password.
    assert!(is_alive(&app, &browser.token).await);
    assert!(elsewhere_is_alive(&app, &other).await);
    let (_, current) = app.check_session(&browser.token).await;
    assert_eq!(current["user"]["name"], "Ada Lovelace");
    assert_eq!(app.try_sign_in(&email, PASSWORD).await.0, StatusCode::OK);
}

crate::on_both_stores!(
    the_list_shows_the_users_live_sessions_by_handle_never_by_secret,
    listing_and_revoking_all_need_a_fresh_session,
    revoking_by_handle_ends_only_that_session_and_only_the_callers_own,
    revoking_the_others_keeps_the_caller_and_revoking_all_keeps_none,
    changing_the_password_ends_the_other_sessions_and_keeps_the_callers,
    changing_the_password_with_revoke_other_sessions_replaces_the_callers_session,
    a_password_change_is_refused_without_effect_when_stale_wrong_or_out_of_limits,
    of_two_concurrent_password_changes_exactly_one_wins,
    updating_the_profile_changes_name_and_image_never_the_email,
    deleting_the_account_needs_a_fresh_session_or_the_password_and_ends_everything,
    deleting_on_a_fresh_session_needs_no_password,
    every_account_endpoint_refuses_a_bad_caller_or_body_and_changes_nothing,
);
