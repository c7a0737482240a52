//! The account endpoints past sign-in: the caller's sessions (list, revoke one, the others, all),
//! the password change, the profile change and the account's deletion.

mod password;
mod profile;
mod refusals;
mod sessions;

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

/// An app with a user signed up in one browser and signed in from another: the app, the user's
/// email, the first browser and the other browser's secret token.
async fn signed_in_twice(store: Store) -> Option<(TestApp, String, Browser, String)> {
    let app = TestApp::spawn(store).await?;
    let email = unique_email();
    let browser = app.sign_up(&email).await;
    let (other, _) = sign_in_elsewhere(&app, &email).await;
    Some((app, email, browser, other))
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
