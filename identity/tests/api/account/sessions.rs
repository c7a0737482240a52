//! The caller's sessions: the list by handle, revoking one, the others or all, and the
//! freshness listing and revoking all need.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use super::{
    as_caller, assert_code, elsewhere_is_alive, is_alive, sign_in_elsewhere, OTHER_AGENT, STALE,
};
use crate::helpers::{unique_email, Store, TestApp};

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

crate::on_both_stores!(
    the_list_shows_the_users_live_sessions_by_handle_never_by_secret,
    listing_and_revoking_all_need_a_fresh_session,
    revoking_by_handle_ends_only_that_session_and_only_the_callers_own,
    revoking_the_others_keeps_the_caller_and_revoking_all_keeps_none,
);
