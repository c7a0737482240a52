//! Every account endpoint refuses a bad caller or body and changes nothing.

use reqwest::StatusCode;
use serde_json::json;

use super::{
    as_agent, as_caller, assert_code, elsewhere_is_alive, is_alive, sign_in_elsewhere, NEW_PASSWORD,
};
use crate::helpers::{unique_email, Store, TestApp, PASSWORD, USER_AGENT};

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

crate::on_both_stores!(every_account_endpoint_refuses_a_bad_caller_or_body_and_changes_nothing,);
